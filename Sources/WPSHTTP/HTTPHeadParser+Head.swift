import WPSBytes

/// Framing checks on a complete head and the step from byte ranges to a `HTTPRequestHead`.
extension HTTPHeadParser {
    /// Validates Host, Content-Length and Transfer-Encoding, then materializes the head
    /// (protocol-spec/http.md §3).
    func finish(_ buffer: UnsafeRawBufferPointer, headLength: Int) -> HTTPHeadParseResult {
        var hostCount = 0
        var lengthDigits: Range<Int>?
        var sawTransferEncoding = false
        var chunkedCount = 0
        var otherCodingCount = 0
        var connectionClose = false
        var connectionKeepAlive = false
        for field in layout.fields {
            let name = field.name
            if buffer.equalsLowercased(name, "connection") {
                forEachElement(buffer, field.value) { element in
                    if buffer.equalsLowercased(element, "close") {
                        connectionClose = true
                    } else if buffer.equalsLowercased(element, "keep-alive") {
                        connectionKeepAlive = true
                    }
                }
            } else if buffer.equalsLowercased(name, "host") {
                hostCount += 1
            } else if buffer.equalsLowercased(name, "content-length") {
                guard let digits = significantDigits(buffer, field.value) else {
                    return .failure(.badRequest("invalid Content-Length"))
                }
                if let previous = lengthDigits, !buffer.slice(previous).elementsEqual(buffer.slice(digits)) {
                    return .failure(.badRequest("conflicting Content-Length values"))
                }
                lengthDigits = digits
            } else if buffer.equalsLowercased(name, "transfer-encoding") {
                sawTransferEncoding = true
                forEachElement(buffer, field.value) { element in
                    if buffer.equalsLowercased(element, "chunked") {
                        chunkedCount += 1
                    } else {
                        otherCodingCount += 1
                    }
                }
            }
        }
        if lengthDigits != nil && sawTransferEncoding {
            return .failure(.badRequest("both Content-Length and Transfer-Encoding"))
        }
        if sawTransferEncoding && (chunkedCount != 1 || otherCodingCount != 0) {
            return .failure(HTTPParseError(status: .notImplemented, reason: "unsupported Transfer-Encoding"))
        }
        if hostCount == 0 && layout.minorVersion == 1 { return .failure(.badRequest("missing Host")) }
        if hostCount > 1 { return .failure(.badRequest("multiple Host fields")) }
        var contentLength = 0
        if let digits = lengthDigits {
            // More digits than any allowed body can have means too large; no overflow possible.
            guard digits.count <= 18 else { return .failure(.bodyTooLarge) }
            for index in digits { contentLength = contentLength * 10 + Int(buffer[index] - UInt8(ascii: "0")) }
            if contentLength > limits.maxBodyBytes { return .failure(.bodyTooLarge) }
        }
        // protocol-spec/http.md §4.
        let keepAlive = layout.minorVersion == 1 ? !connectionClose : connectionKeepAlive && !connectionClose
        return materialize(
            buffer, headLength: headLength, contentLength: contentLength, isChunked: sawTransferEncoding,
            keepAlive: keepAlive)
    }

    /// Builds the Strings of a head that passed every check.
    func materialize(
        _ buffer: UnsafeRawBufferPointer, headLength: Int, contentLength: Int, isChunked: Bool, keepAlive: Bool
    ) -> HTTPHeadParseResult {
        guard let (pathRange, queryRange) = splitTarget(buffer, layout.target) else {
            return .failure(.badRequest("unsupported request-target form"))
        }
        let rawPath = pathRange.isEmpty ? "/" : buffer.string(pathRange)
        let path: String
        if pathRange.isEmpty || ByteScan.firstIndex(of: UInt8(ascii: "%"), in: buffer.slice(pathRange)) == nil {
            // Nothing to decode (the target is visible ASCII): both share one string.
            path = rawPath
        } else {
            guard let decoded = HTTPPercent.decode(bytes: buffer.slice(pathRange), plusAsSpace: false) else {
                return .failure(.badRequest("invalid percent-encoding in path"))
            }
            path = decoded
        }
        // The query is checked now and decoded only as it is read. Without a "%" every part
        // decodes: the target's bytes are visible ASCII, so there is no NUL and no bad UTF-8.
        var plainQuery = true
        if let queryRange {
            let query = buffer.slice(queryRange)
            let hasPercent = ByteScan.firstIndex(of: UInt8(ascii: "%"), in: query) != nil
            if hasPercent, HTTPQuery.decode(bytes: query) == nil {
                return .failure(.badRequest("invalid percent-encoding in query"))
            }
            plainQuery = !hasPercent && ByteScan.firstIndex(of: UInt8(ascii: "+"), in: query) == nil
        }
        let target = buffer.string(layout.target)
        var encodedQuery: Substring?
        if let queryRange {
            let utf8 = target.utf8
            let start = utf8.index(utf8.startIndex, offsetBy: queryRange.lowerBound - layout.target.lowerBound)
            let end = utf8.index(start, offsetBy: queryRange.count)
            encodedQuery = Substring(utf8[start..<end])
        }
        let fields = rawFields(buffer)
        let head = HTTPRequestHead(
            method: buffer.string(layout.method),
            target: target,
            path: path,
            rawPath: rawPath,
            encodedQuery: encodedQuery,
            plain: plainQuery,
            version: HTTPVersion(major: 1, minor: layout.minorVersion),
            headers: HTTPHeaders(raw: fields),
            contentLength: contentLength,
            isChunked: isChunked,
            keepAlive: keepAlive
        )
        return .complete(head, headLength: headLength)
    }

    /// The field lines' bytes in one copy, with each name and value placed in it.
    func rawFields(_ buffer: UnsafeRawBufferPointer) -> RawHeaderFields {
        guard let first = layout.fields.first, let last = layout.fields.last else {
            return RawHeaderFields(bytes: [], bounds: [])
        }
        let base = first.name.lowerBound
        let bytes = Array(buffer.slice(base..<last.value.upperBound))
        var bounds: [Int32] = []
        bounds.reserveCapacity(layout.fields.count * 4)
        for field in layout.fields {
            bounds.append(Int32(field.name.lowerBound - base))
            bounds.append(Int32(field.name.upperBound - base))
            bounds.append(Int32(field.value.lowerBound - base))
            bounds.append(Int32(field.value.upperBound - base))
        }
        return RawHeaderFields(bytes: bytes, bounds: bounds)
    }

    /// Splits a target into its path and query ranges: origin-form ("/p?q"), absolute-form
    /// ("http://host/p?q", path may be empty) or asterisk-form ("*"). Nil for anything else.
    func splitTarget(_ buffer: UnsafeRawBufferPointer, _ target: Range<Int>) -> (Range<Int>, Range<Int>?)? {
        if buffer.equalsExactly(target, "*") { return (target, nil) }
        var pathStart = target.lowerBound
        if buffer[pathStart] != UInt8(ascii: "/") {
            // absolute-form: scheme "://" authority, then the path.
            var index = target.lowerBound
            guard isAlpha(buffer[index]) else { return nil }
            while index < target.upperBound, isSchemeByte(buffer[index]) { index += 1 }
            guard target.upperBound - index >= 3, buffer.equalsExactly(index..<index + 3, "://") else { return nil }
            index += 3
            while index < target.upperBound, buffer[index] != UInt8(ascii: "/"), buffer[index] != UInt8(ascii: "?") {
                index += 1
            }
            pathStart = index
        }
        var index = pathStart
        while index < target.upperBound, buffer[index] != UInt8(ascii: "?") { index += 1 }
        let path = pathStart..<index
        guard index < target.upperBound else { return (path, nil) }
        return (path, index + 1..<target.upperBound)
    }

    /// The digits of a Content-Length value without leading zeros (empty for 0); nil if not all digits.
    func significantDigits(_ buffer: UnsafeRawBufferPointer, _ value: Range<Int>) -> Range<Int>? {
        guard !value.isEmpty else { return nil }
        var firstSignificant = value.upperBound
        for index in value {
            guard HTTPBytes.isDigit(buffer[index]) else { return nil }
            if firstSignificant == value.upperBound && buffer[index] != UInt8(ascii: "0") { firstSignificant = index }
        }
        return firstSignificant..<value.upperBound
    }

    /// Calls `body` with each non-empty, trimmed comma-separated element of a value.
    func forEachElement(_ buffer: UnsafeRawBufferPointer, _ value: Range<Int>, _ body: (Range<Int>) -> Void) {
        var start = value.lowerBound
        var index = value.lowerBound
        while index <= value.upperBound {
            if index == value.upperBound || buffer[index] == HTTPBytes.comma {
                let element = buffer.trimmingOWS(start..<index)
                if !element.isEmpty { body(element) }
                start = index + 1
            }
            index += 1
        }
    }

    private func isAlpha(_ byte: UInt8) -> Bool {
        let lowered = HTTPBytes.lower(byte)
        return lowered >= UInt8(ascii: "a") && lowered <= UInt8(ascii: "z")
    }

    private func isSchemeByte(_ byte: UInt8) -> Bool {
        isAlpha(byte) || HTTPBytes.isDigit(byte) || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "-")
            || byte == UInt8(ascii: ".")
    }
}
