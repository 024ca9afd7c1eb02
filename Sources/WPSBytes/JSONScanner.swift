/// A strict RFC 8259 validating scanner over a borrowed buffer.
///
/// Recursive descent over `[position, end)`; it never allocates and never reads outside
/// the buffer. Nesting is bounded by `maxDepth` so recursion depth (and stack use) is too.
struct JSONScanner {
    /// Hard ceiling on nesting so that no caller-supplied depth can exhaust the stack.
    static let depthCeiling = 1024

    let bytes: UnsafeRawBufferPointer
    let end: Int
    var position: Int
    let maxDepth: Int

    init(_ bytes: UnsafeRawBufferPointer, start: Int = 0, end: Int? = nil, maxDepth: Int) {
        self.bytes = bytes
        self.end = min(end ?? bytes.count, bytes.count)
        self.position = max(0, start)
        self.maxDepth = min(maxDepth, Self.depthCeiling)
    }

    @inline(__always)
    func failure(_ message: String) -> JSONError {
        JSONError(offset: position, message: message)
    }

    /// The byte at `position`, or nil at the end of input.
    @inline(__always)
    var current: UInt8? { position < end ? bytes[position] : nil }

    /// Skips the four insignificant whitespace bytes of RFC 8259 §2.
    @inline(__always)
    mutating func skipWhitespace() {
        while position < end {
            switch bytes[position] {
            case 0x20, 0x0A, 0x0D, 0x09: position += 1
            default: return
            }
        }
    }

    /// Requires that only whitespace remains.
    mutating func expectEnd() throws(JSONError) {
        skipWhitespace()
        if position < end { throw failure("unexpected data after the JSON value") }
    }

    /// Scans one value (after optional whitespace); `depth` is the depth of its container.
    mutating func scanValue(depth: Int) throws(JSONError) -> JSONToken {
        skipWhitespace()
        guard let byte = current else { throw failure("unexpected end of input, expected a value") }
        let start = position
        let kind: JSONKind
        switch byte {
        case UInt8(ascii: "{"):
            try scanObject(depth: depth + 1) { (_, _) throws(JSONError) in }
            kind = .object
        case UInt8(ascii: "["):
            try scanArray(depth: depth + 1)
            kind = .array
        case UInt8(ascii: "\""):
            try scanString()
            kind = .string
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            try scanNumber()
            kind = .number
        case UInt8(ascii: "t"):
            try scanLiteral("true")
            kind = .bool
        case UInt8(ascii: "f"):
            try scanLiteral("false")
            kind = .bool
        case UInt8(ascii: "n"):
            try scanLiteral("null")
            kind = .null
        default:
            throw failure("unexpected character, expected a value")
        }
        return JSONToken(kind: kind, range: start..<position)
    }

    /// Scans an object starting at `{`, reporting each member in order.
    mutating func scanObject(
        depth: Int,
        _ member: (_ key: JSONToken, _ value: JSONToken) throws(JSONError) -> Void
    ) throws(JSONError) {
        guard depth <= maxDepth else { throw failure("nesting deeper than \(maxDepth)") }
        position += 1  // "{"
        skipWhitespace()
        if current == UInt8(ascii: "}") {
            position += 1
            return
        }
        while true {
            skipWhitespace()
            guard current == UInt8(ascii: "\"") else { throw failure("expected a string key") }
            let keyStart = position
            try scanString()
            let key = JSONToken(kind: .string, range: keyStart..<position)
            skipWhitespace()
            guard current == UInt8(ascii: ":") else { throw failure("expected ':' after key") }
            position += 1
            let value = try scanValue(depth: depth)
            try member(key, value)
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): position += 1
            case UInt8(ascii: "}"):
                position += 1
                return
            case nil: throw failure("unexpected end of input in object")
            default: throw failure("expected ',' or '}' in object")
            }
        }
    }

    /// Scans an array starting at `[`, reporting each element in order.
    mutating func scanArray(
        depth: Int,
        _ element: (JSONToken) throws(JSONError) -> Void = { (_) throws(JSONError) in }
    ) throws(JSONError) {
        guard depth <= maxDepth else { throw failure("nesting deeper than \(maxDepth)") }
        position += 1  // "["
        skipWhitespace()
        if current == UInt8(ascii: "]") {
            position += 1
            return
        }
        while true {
            let value = try scanValue(depth: depth)
            try element(value)
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): position += 1
            case UInt8(ascii: "]"):
                position += 1
                return
            case nil: throw failure("unexpected end of input in array")
            default: throw failure("expected ',' or ']' in array")
            }
        }
    }

    /// Scans a string starting at its opening quote, checking escapes and UTF-8.
    mutating func scanString() throws(JSONError) {
        position += 1  // opening quote
        while true {
            // Plain ASCII runs are skipped eight bytes at a time.
            position = ByteScan.firstStringBreak(in: bytes, from: position, to: end) ?? end
            guard position < end else { throw failure("unterminated string") }
            let byte = bytes[position]
            if byte == UInt8(ascii: "\"") {
                position += 1
                return
            }
            if byte == UInt8(ascii: "\\") {
                try scanEscape()
            } else if byte < 0x20 {
                throw failure("control character in string")
            } else if byte < 0x80 {
                position += 1
            } else {
                let length = JSONUTF8.sequenceLength(bytes, at: position, end: end)
                guard length > 0 else { throw failure("invalid UTF-8 in string") }
                position += length
            }
        }
    }

    /// Scans one escape sequence at a backslash (RFC 8259 §7).
    ///
    /// Lone surrogates (`\uD800` without a low half, or a bare low half) are rejected: they
    /// have no UTF-8 form, so accepting them would make `JSON.string` lossy.
    private mutating func scanEscape() throws(JSONError) {
        position += 1  // backslash
        guard let byte = current else { throw failure("unterminated escape") }
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"),
            UInt8(ascii: "f"), UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
            position += 1
        case UInt8(ascii: "u"):
            guard let unit = JSONUTF8.hex4(bytes, at: position + 1, end: end) else {
                throw failure("invalid \\u escape")
            }
            position += 5
            if unit >= 0xDC00, unit <= 0xDFFF { throw failure("lone low surrogate escape") }
            if unit >= 0xD800, unit <= 0xDBFF {
                guard position + 1 < end, bytes[position] == UInt8(ascii: "\\"),
                    bytes[position + 1] == UInt8(ascii: "u"),
                    let low = JSONUTF8.hex4(bytes, at: position + 2, end: end),
                    low >= 0xDC00, low <= 0xDFFF
                else { throw failure("lone high surrogate escape") }
                position += 6
            }
        default:
            throw failure("invalid escape")
        }
    }

    /// Scans `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    private mutating func scanNumber() throws(JSONError) {
        if current == UInt8(ascii: "-") { position += 1 }
        guard let first = current, isDigit(first) else { throw failure("expected a digit") }
        position += 1
        if first == UInt8(ascii: "0") {
            if let next = current, isDigit(next) { throw failure("leading zero in number") }
        } else {
            skipDigits()
        }
        if current == UInt8(ascii: ".") {
            position += 1
            guard let next = current, isDigit(next) else { throw failure("expected a digit after '.'") }
            skipDigits()
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            position += 1
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { position += 1 }
            guard let next = current, isDigit(next) else { throw failure("expected a digit in exponent") }
            skipDigits()
        }
    }

    @inline(__always)
    private func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    @inline(__always)
    private mutating func skipDigits() {
        while let byte = current, isDigit(byte) { position += 1 }
    }

    /// Scans `true`, `false` or `null` exactly.
    private mutating func scanLiteral(_ literal: StaticString) throws(JSONError) {
        let count = literal.utf8CodeUnitCount
        guard position + count <= end else { throw failure("invalid literal") }
        let start = literal.utf8Start
        for offset in 0..<count where bytes[position + offset] != start[offset] {
            position += offset
            throw failure("invalid literal")
        }
        position += count
    }
}
