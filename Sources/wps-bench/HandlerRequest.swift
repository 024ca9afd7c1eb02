/// Just enough HTTP/1.1 for the bench's event handler: a request is its head up to the blank
/// line plus a `Content-Length` body (the server never chunks a request body, upstream.md §3).
/// Pure: bytes in, a verdict out.
struct HandlerRequest: Equatable {
    enum Method: Equatable { case options, post, other }

    var method: Method
    /// Head and body together: what the request takes from the input.
    var length: Int
    /// The target's last path segment starts with `reply` (`/reply` from `/{event}` for the
    /// bench's `reply` event): the handler answers 200 with a body instead of 204.
    var wantsReply: Bool

    enum Scan: Equatable {
        case needMore
        case request(HandlerRequest)
        /// Not a request this handler can frame (no method, a bad length, a huge head).
        case invalid
    }

    /// A head longer than this without its blank line is refused.
    static let maxHeadBytes = 16 * 1024
    /// A body longer than this is refused (the server's events are far smaller here).
    static let maxBodyBytes = 4 << 20

    /// The request at the start of `bytes`, if all of it is there.
    static func scan(_ bytes: UnsafeRawBufferPointer) -> Scan {
        let count = bytes.count
        guard let headEnd = headEnd(bytes) else { return count > maxHeadBytes ? .invalid : .needMore }
        // Request line: METHOD SP TARGET SP VERSION.
        var space = 0
        while space < headEnd, bytes[space] != 0x20 { space += 1 }
        guard space > 0, space < headEnd else { return .invalid }
        let method: Method
        if matches(bytes, at: 0, "OPTIONS"), space == 7 {
            method = .options
        } else if matches(bytes, at: 0, "POST"), space == 4 {
            method = .post
        } else {
            method = .other
        }
        var targetEnd = space + 1
        var segmentStart = targetEnd
        while targetEnd < headEnd, bytes[targetEnd] != 0x20, bytes[targetEnd] != 0x3F {
            if bytes[targetEnd] == 0x2F { segmentStart = targetEnd + 1 }
            targetEnd += 1
        }
        let wantsReply = matches(bytes, at: segmentStart, "reply")
        guard let body = contentLength(bytes, headEnd: headEnd) else { return .invalid }
        let total = headEnd + body
        guard count >= total else { return .needMore }
        return .request(HandlerRequest(method: method, length: total, wantsReply: wantsReply))
    }

    /// Index just past `\r\n\r\n`, or nil when the head is not complete.
    static func headEnd(_ bytes: UnsafeRawBufferPointer) -> Int? {
        let count = bytes.count
        guard count >= 4 else { return nil }
        var index = 3
        while index < count {
            // Step by the last byte: anything but LF cannot end the blank line here.
            if bytes[index] == 0x0A {
                if bytes[index - 1] == 0x0D, bytes[index - 2] == 0x0A, bytes[index - 3] == 0x0D { return index + 1 }
                index += 2
            } else {
                index += 1
            }
        }
        return nil
    }

    /// The `Content-Length` of the head (0 when absent), or nil when it is not a number in range.
    static func contentLength(_ bytes: UnsafeRawBufferPointer, headEnd: Int) -> Int? {
        let name: StaticString = "\r\ncontent-length:"
        let nameCount = name.utf8CodeUnitCount
        var index = 0
        while index + nameCount <= headEnd {
            if bytes[index] == 0x0D, matchesLowercased(bytes, at: index, name) {
                var position = index + nameCount
                while position < headEnd, bytes[position] == 0x20 || bytes[position] == 0x09 { position += 1 }
                var value = 0
                var digits = 0
                while position < headEnd, bytes[position] >= 0x30, bytes[position] <= 0x39 {
                    value = value * 10 + Int(bytes[position] - 0x30)
                    digits += 1
                    guard value <= maxBodyBytes else { return nil }
                    position += 1
                }
                while position < headEnd, bytes[position] == 0x20 || bytes[position] == 0x09 { position += 1 }
                guard digits > 0, position < headEnd, bytes[position] == 0x0D else { return nil }
                return value
            }
            index += 1
        }
        return 0
    }

    /// `bytes[at...]` begins with `literal`, byte for byte.
    private static func matches(_ bytes: UnsafeRawBufferPointer, at start: Int, _ literal: StaticString) -> Bool {
        let count = literal.utf8CodeUnitCount
        guard start + count <= bytes.count else { return false }
        let text = literal.utf8Start
        for offset in 0..<count where bytes[start + offset] != text[offset] { return false }
        return true
    }

    /// Like `matches`, with the input's ASCII letters lower-cased (`literal` is lower case).
    private static func matchesLowercased(_ bytes: UnsafeRawBufferPointer, at start: Int, _ literal: StaticString)
        -> Bool
    {
        let count = literal.utf8CodeUnitCount
        guard start + count <= bytes.count else { return false }
        let text = literal.utf8Start
        for offset in 0..<count {
            var byte = bytes[start + offset]
            if byte >= 0x41, byte <= 0x5A { byte |= 0x20 }
            if byte != text[offset] { return false }
        }
        return true
    }
}

/// A connection's input as requests: bytes straight from the read buffer are scanned in
/// place, and only an incomplete request's bytes are kept until the rest arrives.
struct HandlerRequestBuffer {
    private var pending: [UInt8] = []

    /// Bytes of an incomplete request held back.
    var pendingBytes: Int { pending.count }

    /// Calls `answer` for each complete request in order; false when the input cannot be
    /// framed (the connection should be dropped).
    mutating func feed(_ bytes: UnsafeRawBufferPointer, _ answer: (HandlerRequest) -> Void) -> Bool {
        if pending.isEmpty {
            guard let used = Self.drain(bytes, answer) else { return false }
            if used < bytes.count { pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[used...])) }
            return true
        }
        pending.append(contentsOf: bytes)
        guard let used = pending.withUnsafeBytes({ Self.drain($0, answer) }) else { return false }
        if used == pending.count {
            pending.removeAll(keepingCapacity: pending.capacity <= 64 * 1024)
        } else if used > 0 {
            pending.removeFirst(used)
        }
        return true
    }

    /// Answers every complete request at the start of `bytes`; returns the bytes they took,
    /// or nil on input that cannot be framed.
    private static func drain(_ bytes: UnsafeRawBufferPointer, _ answer: (HandlerRequest) -> Void) -> Int? {
        var offset = 0
        while offset < bytes.count {
            switch HandlerRequest.scan(UnsafeRawBufferPointer(rebasing: bytes[offset...])) {
            case .needMore:
                return offset
            case .invalid:
                return nil
            case .request(let request):
                answer(request)
                offset += request.length
            }
        }
        return offset
    }
}
