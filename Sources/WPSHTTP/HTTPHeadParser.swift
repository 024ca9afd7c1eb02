internal import WPSBytes

/// Incremental HTTP/1.1 request-head parser over a caller-owned, growing buffer.
///
/// The scan works on byte ranges into the buffer and keeps its position between calls, so a
/// head that arrives in pieces is scanned once in total. Strings are made only after the head
/// is complete and valid. Rules and limits: protocol-spec/http.md §§1–3.
public struct HTTPHeadParser: Sendable {
    /// The limits enforced by this parser.
    public var limits: HTTPLimits

    enum Phase: Sendable {
        case requestLine
        case fields
    }

    /// Byte ranges of one header field inside the buffer.
    struct FieldLayout: Sendable {
        var name: Range<Int>
        var value: Range<Int>
    }

    /// Where the parts of the head sit inside the buffer.
    struct HeadLayout: Sendable {
        var method: Range<Int> = 0..<0
        var target: Range<Int> = 0..<0
        var minorVersion = 1
        var fields: [FieldLayout] = []
    }

    var phase = Phase.requestLine
    /// First byte of the line being scanned.
    var lineStart = 0
    /// Next byte to examine in the search for LF.
    var scanOffset = 0
    var layout = HeadLayout()
    /// The final result, repeated until `reset()`.
    var finished: HTTPHeadParseResult?
    /// `parseNext` returned a final result; the state is cleared when the next head starts,
    /// so a connection that never sends another (an upgrade) never pays for clearing it.
    var spent = false

    /// Creates a parser with the given limits.
    public init(limits: HTTPLimits = .init()) {
        self.limits = limits
        layout.fields.reserveCapacity(16)
    }

    /// Forgets the current head; call before parsing the next request on the connection.
    public mutating func reset() {
        phase = .requestLine
        lineStart = 0
        scanOffset = 0
        layout.method = 0..<0
        layout.target = 0..<0
        layout.minorVersion = 1
        layout.fields.removeAll(keepingCapacity: true)
        finished = nil
        spent = false
    }

    /// Parses the head at the start of `buffer`.
    ///
    /// Called again with the same, grown buffer after `.needMore`; keeps its scan position so
    /// the end-of-head search is not restarted from 0 (incremental). After `.complete` or
    /// `.failure` the same result is returned until `reset()`, which must be called before the
    /// next request on a keep-alive connection (whose bytes start at `headLength` + body).
    public mutating func parse(_ buffer: UnsafeRawBufferPointer) -> HTTPHeadParseResult {
        if spent { reset() }
        if let finished { return finished }
        if buffer.count < scanOffset { reset() }  // Not the same buffer: start over.
        let result = scan(buffer)
        if case .needMore = result { return result }
        finished = result
        return result
    }

    /// Like `parse(_:)`, for a connection that reads head after head: a complete or failed
    /// result is not kept (which would retain the head's strings a second time), and the
    /// next call starts a new head.
    public mutating func parseNext(_ buffer: UnsafeRawBufferPointer) -> HTTPHeadParseResult {
        if spent || finished != nil || buffer.count < scanOffset { reset() }
        let result = scan(buffer)
        if case .needMore = result { return result }
        spent = true
        return result
    }

    /// Scans complete lines from `scanOffset`, parsing each into the layout as it ends.
    mutating func scan(_ buffer: UnsafeRawBufferPointer) -> HTTPHeadParseResult {
        // The LF ending the head must lie inside the first maxHeadBytes bytes.
        let searchEnd = min(buffer.count, max(limits.maxHeadBytes, 0))
        let searched = UnsafeRawBufferPointer(rebasing: buffer[..<searchEnd])
        var index = scanOffset
        while index < searchEnd {
            guard let lf = ByteScan.firstIndex(of: HTTPBytes.lf, in: searched, from: index) else {
                index = searchEnd
                break
            }
            index = lf
            var contentEnd = index
            if contentEnd > lineStart && buffer[contentEnd - 1] == HTTPBytes.cr { contentEnd -= 1 }
            let line = lineStart..<contentEnd
            index += 1
            lineStart = index
            scanOffset = index
            switch phase {
            case .requestLine:
                if line.isEmpty { continue }  // RFC 9112 §2.2: leading empty lines are skipped.
                if let error = parseRequestLine(buffer, line) { return .failure(error) }
                phase = .fields
            case .fields:
                if line.isEmpty { return finish(buffer, headLength: index) }
                if let error = parseField(buffer, line) { return .failure(error) }
            }
        }
        scanOffset = index
        if phase == .requestLine, let error = checkPartialRequestLine(buffer) {
            return .failure(error)
        }
        if buffer.count >= limits.maxHeadBytes { return .failure(.headTooLarge) }
        return .needMore
    }

    /// Parses `METHOD SP request-target SP HTTP-version`.
    mutating func parseRequestLine(_ buffer: UnsafeRawBufferPointer, _ line: Range<Int>) -> HTTPParseError? {
        let end = line.upperBound
        var index = line.lowerBound
        while index < end, HTTPBytes.isToken(buffer[index]) { index += 1 }
        guard index > line.lowerBound, index < end, buffer[index] == HTTPBytes.sp else {
            return .badRequest("malformed method")
        }
        let method = line.lowerBound..<index
        index += 1
        let targetStart = index
        // One scan usually finds both the target's end and that every byte before it is
        // allowed: it stops at the space after a valid target (or at the line's end).
        let stop = ByteScan.firstNotVisible(except: UInt8(ascii: "#"), in: buffer, from: index, to: end) ?? end
        let valid = stop == end || buffer[stop] == HTTPBytes.sp
        index =
            valid
            ? stop
            : ByteScan.firstIndex(of: HTTPBytes.sp, in: UnsafeRawBufferPointer(rebasing: buffer[..<end]), from: index)
                ?? end
        let target = targetStart..<index
        // Length first, so the answer matches the early check on an incomplete line.
        if target.count > limits.maxURIBytes { return .uriTooLong }
        guard !target.isEmpty else { return .badRequest("empty request-target") }
        if !valid { return .badRequest("invalid byte in request-target") }
        guard index < end else {
            return HTTPParseError(status: .versionNotSupported, reason: "HTTP/0.9 is not supported")
        }
        let version = index + 1..<end
        guard version.count == 8, buffer.equalsExactly(version.lowerBound..<version.lowerBound + 5, "HTTP/"),
            HTTPBytes.isDigit(buffer[version.lowerBound + 5]), buffer[version.lowerBound + 6] == UInt8(ascii: "."),
            HTTPBytes.isDigit(buffer[version.lowerBound + 7])
        else {
            return .badRequest("malformed HTTP version")
        }
        let major = Int(buffer[version.lowerBound + 5] - UInt8(ascii: "0"))
        let minor = Int(buffer[version.lowerBound + 7] - UInt8(ascii: "0"))
        guard major == 1, minor <= 1 else {
            return HTTPParseError(status: .versionNotSupported, reason: "only HTTP/1.0 and HTTP/1.1 are supported")
        }
        layout.method = method
        layout.target = target
        layout.minorVersion = minor
        return nil
    }

    /// Parses `field-name ":" OWS field-value OWS`.
    mutating func parseField(_ buffer: UnsafeRawBufferPointer, _ line: Range<Int>) -> HTTPParseError? {
        let start = line.lowerBound
        let end = line.upperBound
        if HTTPBytes.isOWS(buffer[start]) { return .badRequest("obsolete line folding") }
        var index = start
        while index < end, HTTPBytes.isToken(buffer[index]) { index += 1 }
        guard index > start, index < end, buffer[index] == HTTPBytes.colon else {
            return .badRequest("malformed header field name")
        }
        let name = start..<index
        let value = buffer.trimmingOWS(index + 1..<end)
        var position = value.lowerBound
        while let control = ByteScan.firstControl(in: buffer, from: position, to: value.upperBound) {
            // HTAB is the one control a value may hold.
            guard buffer[control] == HTTPBytes.ht else {
                return .badRequest("control character in header field value")
            }
            position = control + 1
        }
        if layout.fields.count >= limits.maxHeaderCount { return .tooManyHeaders }
        layout.fields.append(FieldLayout(name: name, value: value))
        return nil
    }

    /// Early 414: the request line is incomplete but its target already exceeds maxURIBytes.
    func checkPartialRequestLine(_ buffer: UnsafeRawBufferPointer) -> HTTPParseError? {
        // Only the bytes the head may occupy decide, so the answer is the same however the
        // buffer grew (protocol-spec/http.md §1).
        let end = min(buffer.count, max(limits.maxHeadBytes, 0))
        let uriLimit = max(limits.maxURIBytes, 0)
        guard end - lineStart > uriLimit else { return nil }
        var index = lineStart
        while index < end, HTTPBytes.isToken(buffer[index]) { index += 1 }
        // Only decide when the full parse would reach the length check too.
        guard index > lineStart, index < end, buffer[index] == HTTPBytes.sp else { return nil }
        let targetStart = index + 1
        guard end - targetStart > uriLimit else { return nil }
        for position in targetStart...(targetStart + uriLimit) {
            let byte = buffer[position]
            if byte == HTTPBytes.sp || byte == HTTPBytes.cr || byte == HTTPBytes.lf { return nil }
        }
        return .uriTooLong
    }
}
