/// Parses RESP2 and RESP3 replies from bytes as they arrive. Pure: bytes in, at most one
/// value out, or a request for more, or a protocol error; the caller keeps unconsumed bytes
/// and calls again once more have arrived.
///
/// A reply split across reads is parsed again from its start when the rest comes; limits on
/// string length, element count and nesting are checked from the headers before anything
/// is kept, so a hostile or broken peer cannot make the parser hold more than the limits.
public struct RESPParser: Sendable {
    public enum Result: Equatable {
        /// A whole value and how many bytes it took.
        case value(RESPValue, consumed: Int)
        /// The bytes end inside a value.
        case needMore
        /// The bytes are not RESP (or pass a limit); the connection cannot continue.
        case failure(RESPProtocolError)
    }

    /// Longest bulk string accepted (Redis's own limit is 512 MiB).
    public var maxBulkBytes: Int
    /// Most elements in one array, set, map or push.
    public var maxElements: Int
    /// Deepest nesting of aggregates.
    public var maxDepth: Int

    public init(maxBulkBytes: Int = 64 << 20, maxElements: Int = 1 << 20, maxDepth: Int = 32) {
        self.maxBulkBytes = maxBulkBytes
        self.maxElements = maxElements
        self.maxDepth = maxDepth
    }

    /// The first value in `bytes`.
    public func parse(_ bytes: UnsafeRawBufferPointer) -> Result {
        var cursor = 0
        do {
            guard let value = try parseValue(bytes, &cursor, depth: 0) else { return .needMore }
            return .value(value, consumed: cursor)
        } catch {
            return .failure(error)
        }
    }

    private func parseValue(_ bytes: UnsafeRawBufferPointer, _ cursor: inout Int, depth: Int) throws(RESPProtocolError)
        -> RESPValue?
    {
        guard cursor < bytes.count else { return nil }
        let type = bytes[cursor]
        // Simple strings, errors, doubles and big numbers are text up to CRLF, bounded like a
        // bulk string; every other line is a short header.
        let isText =
            type == UInt8(ascii: "+") || type == UInt8(ascii: "-") || type == UInt8(ascii: ",")
            || type == UInt8(ascii: "(")
        guard let line = try Self.line(bytes, from: cursor + 1) else {
            // Incomplete: refused as soon as it is longer than it may ever be (a CR may
            // already sit at the end, hence the one byte more).
            let seen = bytes.count - cursor - 1
            if isText, seen > maxBulkBytes + 1 { throw RESPProtocolError("line over \(maxBulkBytes) bytes") }
            if !isText, seen > Self.maxLineBytes { throw RESPProtocolError("header line too long") }
            return nil
        }
        if isText, line - cursor - 1 > maxBulkBytes { throw RESPProtocolError("line over \(maxBulkBytes) bytes") }
        let body = UnsafeRawBufferPointer(rebasing: bytes[(cursor + 1)..<line])
        let next = line + 2
        switch type {
        case UInt8(ascii: "+"):
            cursor = next
            return .simpleString(Array(body))
        case UInt8(ascii: "-"):
            cursor = next
            return .error(Array(body))
        case UInt8(ascii: ":"):
            cursor = next
            return .integer(try Self.integer(body))
        case UInt8(ascii: "_"):
            guard body.isEmpty else { throw RESPProtocolError("null with a body") }
            cursor = next
            return .null
        case UInt8(ascii: "#"):
            guard body.count == 1, body[0] == UInt8(ascii: "t") || body[0] == UInt8(ascii: "f") else {
                throw RESPProtocolError("bad boolean")
            }
            cursor = next
            return .boolean(body[0] == UInt8(ascii: "t"))
        case UInt8(ascii: ","):
            cursor = next
            return .double(Array(body))
        case UInt8(ascii: "("):
            cursor = next
            return .bigNumber(Array(body))
        case UInt8(ascii: "$"), UInt8(ascii: "!"), UInt8(ascii: "="):
            let length = try Self.integer(body)
            if length == -1, type == UInt8(ascii: "$") {
                cursor = next
                return .null
            }
            guard length >= 0 else { throw RESPProtocolError("negative length") }
            guard length <= maxBulkBytes else { throw RESPProtocolError("bulk string over \(maxBulkBytes) bytes") }
            let end = next + Int(length)
            guard end + 2 <= bytes.count else { return nil }
            guard bytes[end] == 0x0D, bytes[end + 1] == 0x0A else {
                throw RESPProtocolError("bulk string not ended by CRLF")
            }
            var content = Array(UnsafeRawBufferPointer(rebasing: bytes[next..<end]))
            cursor = end + 2
            if type == UInt8(ascii: "!") { return .error(content) }
            if type == UInt8(ascii: "=") {
                // `txt:` or `mkd:` comes first.
                guard content.count >= 4, content[3] == UInt8(ascii: ":") else {
                    throw RESPProtocolError("verbatim string without a format")
                }
                content.removeFirst(4)
            }
            return .bulkString(content)
        case UInt8(ascii: "*"), UInt8(ascii: "~"), UInt8(ascii: ">"), UInt8(ascii: "%"):
            let count = try Self.integer(body)
            if count == -1, type == UInt8(ascii: "*") {
                cursor = next
                return .null
            }
            guard count >= 0 else { throw RESPProtocolError("negative count") }
            guard count <= maxElements else { throw RESPProtocolError("aggregate over \(maxElements) elements") }
            guard depth < maxDepth else { throw RESPProtocolError("nested deeper than \(maxDepth)") }
            var position = next
            if type == UInt8(ascii: "%") {
                var pairs: [(RESPValue, RESPValue)] = []
                pairs.reserveCapacity(min(Int(count), 1024))
                for _ in 0..<count {
                    guard let key = try parseValue(bytes, &position, depth: depth + 1),
                        let value = try parseValue(bytes, &position, depth: depth + 1)
                    else { return nil }
                    pairs.append((key, value))
                }
                cursor = position
                return .map(pairs)
            }
            var values: [RESPValue] = []
            values.reserveCapacity(min(Int(count), 1024))
            for _ in 0..<count {
                guard let value = try parseValue(bytes, &position, depth: depth + 1) else { return nil }
                values.append(value)
            }
            cursor = position
            return type == UInt8(ascii: ">") ? .push(values) : .array(values)
        default:
            throw RESPProtocolError("unknown type byte \(type)")
        }
    }

    /// Headers (type byte, length or number, CRLF) are never longer than this.
    static let maxLineBytes = 64

    /// The index of the CR of the first CRLF at or after `start`; nil when none yet. A CR
    /// not followed by LF, or a bare LF, cannot be in a line.
    static func line(_ bytes: UnsafeRawBufferPointer, from start: Int) throws(RESPProtocolError) -> Int? {
        var index = start
        while index < bytes.count {
            switch bytes[index] {
            case 0x0D:
                guard index + 1 < bytes.count else { return nil }
                guard bytes[index + 1] == 0x0A else { throw RESPProtocolError("CR without LF") }
                return index
            case 0x0A:
                throw RESPProtocolError("LF without CR")
            default:
                index += 1
            }
        }
        return nil
    }

    static func integer(_ text: UnsafeRawBufferPointer) throws(RESPProtocolError) -> Int64 {
        guard !text.isEmpty, text.count <= 20 else { throw RESPProtocolError("bad integer") }
        var index = 0
        var negative = false
        if text[0] == UInt8(ascii: "-") || text[0] == UInt8(ascii: "+") {
            negative = text[0] == UInt8(ascii: "-")
            index = 1
            guard text.count > 1 else { throw RESPProtocolError("bad integer") }
        }
        var value: Int64 = 0
        while index < text.count {
            let digit = text[index] &- UInt8(ascii: "0")
            guard digit < 10 else { throw RESPProtocolError("bad integer") }
            let (times, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times.addingReportingOverflow(Int64(digit))
            guard !overflow1, !overflow2 else { throw RESPProtocolError("integer out of range") }
            value = sum
            index += 1
        }
        return negative ? -value : value
    }
}

/// Bytes from Redis that are not RESP, or pass a limit.
public struct RESPProtocolError: Error, Sendable, Equatable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Writes commands as RESP arrays of bulk strings, the form Redis expects from clients.
public enum RESPEncoder {
    /// Appends one command to `out`.
    public static func command(_ arguments: [RESPArgument], into out: inout [UInt8]) {
        out.append(UInt8(ascii: "*"))
        appendDecimal(arguments.count, to: &out)
        out.append(0x0D)
        out.append(0x0A)
        for argument in arguments {
            argument.withBytes { bytes in
                out.append(UInt8(ascii: "$"))
                appendDecimal(bytes.count, to: &out)
                out.append(0x0D)
                out.append(0x0A)
                out.append(contentsOf: bytes)
                out.append(0x0D)
                out.append(0x0A)
            }
        }
    }

    static func appendDecimal(_ value: Int, to out: inout [UInt8]) {
        if value == 0 {
            out.append(UInt8(ascii: "0"))
            return
        }
        var digits: [UInt8] = []
        var rest = value
        while rest > 0 {
            digits.append(UInt8(ascii: "0") + UInt8(rest % 10))
            rest /= 10
        }
        out.append(contentsOf: digits.reversed())
    }
}

/// One argument of a command: text, or bytes as they are (a payload is never re-encoded).
public enum RESPArgument: Sendable, ExpressibleByStringLiteral {
    case text(String)
    case bytes([UInt8])

    public init(stringLiteral value: String) { self = .text(value) }

    func withBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        switch self {
        case .text(let text):
            var copy = text
            return copy.withUTF8 { body(UnsafeRawBufferPointer($0)) }
        case .bytes(let bytes):
            return bytes.withUnsafeBytes(body)
        }
    }
}
