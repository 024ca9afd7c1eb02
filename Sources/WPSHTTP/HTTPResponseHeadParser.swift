/// Incremental HTTP/1.1 response-head parser for the client side (status line + fields).
///
/// Same shape as `HTTPHeadParser`: it scans a caller-owned, growing buffer, keeps its
/// position between calls and makes strings only once the head is complete. Limits:
/// `maxHeadBytes` (the blank line must end inside it) and `maxHeaderCount`; the other
/// fields of `HTTPLimits` do not apply to responses.
public struct HTTPResponseHeadParser: Sendable {
    /// The limits enforced by this parser.
    public var limits: HTTPLimits

    struct FieldLayout: Sendable {
        var name: Range<Int>
        var value: Range<Int>
    }

    var sawStatusLine = false
    var lineStart = 0
    var scanOffset = 0
    var minorVersion = 1
    var status = 0
    var reason = 0..<0
    var fields: [FieldLayout] = []
    var finished: HTTPResponseHeadParseResult?

    /// Creates a parser with the given limits.
    public init(limits: HTTPLimits = .init()) {
        self.limits = limits
    }

    /// Forgets the current head.
    public mutating func reset() {
        sawStatusLine = false
        lineStart = 0
        scanOffset = 0
        minorVersion = 1
        status = 0
        reason = 0..<0
        fields.removeAll(keepingCapacity: true)
        finished = nil
    }

    /// Parses the head at the start of `buffer`; call again with the same, grown buffer after
    /// `.needMore`. After `.complete` or `.failure` the same result is returned until `reset()`.
    public mutating func parse(_ buffer: UnsafeRawBufferPointer) -> HTTPResponseHeadParseResult {
        if let finished { return finished }
        if buffer.count < scanOffset { reset() }
        let result = scan(buffer)
        if case .needMore = result { return result }
        finished = result
        return result
    }

    mutating func scan(_ buffer: UnsafeRawBufferPointer) -> HTTPResponseHeadParseResult {
        let searchEnd = min(buffer.count, max(limits.maxHeadBytes, 0))
        var index = scanOffset
        while index < searchEnd {
            if buffer[index] != HTTPBytes.lf {
                index += 1
                continue
            }
            var contentEnd = index
            if contentEnd > lineStart && buffer[contentEnd - 1] == HTTPBytes.cr { contentEnd -= 1 }
            let line = lineStart..<contentEnd
            index += 1
            lineStart = index
            scanOffset = index
            if !sawStatusLine {
                if let error = parseStatusLine(buffer, line) { return .failure(error) }
                sawStatusLine = true
            } else if line.isEmpty {
                return finish(buffer, headLength: index)
            } else if let error = parseField(buffer, line) {
                return .failure(error)
            }
        }
        scanOffset = index
        if buffer.count >= limits.maxHeadBytes { return .failure(.responseHeadTooLarge) }
        return .needMore
    }

    /// Parses `HTTP/1.x SP 3DIGIT SP reason-phrase` (the space before an empty reason may be missing).
    mutating func parseStatusLine(_ buffer: UnsafeRawBufferPointer, _ line: Range<Int>) -> HTTPParseError? {
        let start = line.lowerBound
        guard line.count >= 12, buffer.equalsExactly(start..<start + 7, "HTTP/1."),
            HTTPBytes.isDigit(buffer[start + 7]), buffer[start + 8] == HTTPBytes.sp
        else { return .badResponse("malformed status line") }
        let minor = Int(buffer[start + 7] - UInt8(ascii: "0"))
        guard minor <= 1 else { return .badResponse("unsupported HTTP version") }
        var code = 0
        for position in start + 9..<start + 12 {
            guard HTTPBytes.isDigit(buffer[position]) else { return .badResponse("malformed status code") }
            code = code * 10 + Int(buffer[position] - UInt8(ascii: "0"))
        }
        guard code >= 100 else { return .badResponse("malformed status code") }
        var reasonStart = start + 12
        if reasonStart < line.upperBound {
            guard buffer[reasonStart] == HTTPBytes.sp else { return .badResponse("malformed status line") }
            reasonStart += 1
        }
        for position in reasonStart..<line.upperBound where !HTTPBytes.isFieldValueByte(buffer[position]) {
            return .badResponse("control character in reason phrase")
        }
        minorVersion = minor
        status = code
        reason = reasonStart..<line.upperBound
        return nil
    }

    /// Parses `field-name ":" OWS field-value OWS`.
    mutating func parseField(_ buffer: UnsafeRawBufferPointer, _ line: Range<Int>) -> HTTPParseError? {
        let start = line.lowerBound
        let end = line.upperBound
        if HTTPBytes.isOWS(buffer[start]) { return .badResponse("obsolete line folding") }
        var index = start
        while index < end, HTTPBytes.isToken(buffer[index]) { index += 1 }
        guard index > start, index < end, buffer[index] == HTTPBytes.colon else {
            return .badResponse("malformed header field name")
        }
        let value = buffer.trimmingOWS(index + 1..<end)
        for position in value where !HTTPBytes.isFieldValueByte(buffer[position]) {
            return .badResponse("control character in header field value")
        }
        if fields.count >= limits.maxHeaderCount { return .responseTooManyHeaders }
        fields.append(FieldLayout(name: start..<index, value: value))
        return nil
    }

    func finish(_ buffer: UnsafeRawBufferPointer, headLength: Int) -> HTTPResponseHeadParseResult {
        var headers = HTTPHeaders()
        headers.fields.reserveCapacity(fields.count)
        for field in fields {
            headers.add(name: buffer.string(field.name), value: buffer.string(field.value))
        }
        let head = HTTPResponseHead(
            minorVersion: minorVersion, status: status, reason: buffer.string(reason), headers: headers)
        return .complete(head, headLength: headLength)
    }
}

extension HTTPParseError {
    static func badResponse(_ reason: String) -> HTTPParseError {
        HTTPParseError(status: HTTPStatus(code: 502), reason: reason)
    }

    static let responseHeadTooLarge = HTTPParseError(status: HTTPStatus(code: 502), reason: "response head too large")
    static let responseTooManyHeaders = HTTPParseError(status: HTTPStatus(code: 502), reason: "too many header fields")
}
