internal import WPSBytes

/// A client's valid upgrade request, reduced to what the server needs to answer it.
public struct WebSocketUpgradeRequest: Sendable, Equatable {
    /// The `Sec-WebSocket-Key` value, trimmed; input to `WebSocketHandshake.acceptValue(forKey:)`.
    public var key: String
    /// `Sec-WebSocket-Protocol` tokens in the order offered, across all header lines.
    public var offeredProtocols: [String]
    /// Raw `Sec-WebSocket-Extensions` values, one per header line, for the extension negotiator.
    public var extensionOffers: [String]

    /// Creates a request value (normally made by `WebSocketHandshake.validateUpgrade`).
    public init(key: String, offeredProtocols: [String], extensionOffers: [String]) {
        self.key = key
        self.offeredProtocols = offeredProtocols
        self.extensionOffers = extensionOffers
    }
}

/// Why a handshake failed: the HTTP status and headers to answer with (server side), or the
/// status the server answered with (client side).
public struct WebSocketHandshakeError: Error, Sendable {
    /// The HTTP status: 400, 426 (server side), or the server's status (client side).
    public var status: Int
    /// A short reason for the response body or the log.
    public var reason: String
    /// Extra response headers, such as `Sec-WebSocket-Version: 13` with a 426.
    public var headers: [(name: String, value: String)]

    /// Creates an error with its status, reason and any extra response headers.
    public init(status: Int, reason: String, headers: [(name: String, value: String)] = []) {
        self.status = status
        self.reason = reason
        self.headers = headers
    }
}

extension WebSocketHandshakeError: Equatable {
    /// Equal when status, reason and headers (in order) match.
    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.status == rhs.status && lhs.reason == rhs.reason
            && lhs.headers.elementsEqual(rhs.headers) { $0.name == $1.name && $0.value == $1.value }
    }
}

/// ASCII helpers for header names and token lists (RFC 9110 §5.6.1); no Foundation.
/// They work on UTF-8 bytes, never on Characters: every upgrade request runs them.
enum HeaderText {
    /// Case-insensitive ASCII equality.
    static func equalsIgnoringCase(_ lhs: Substring, _ rhs: String) -> Bool {
        guard lhs.utf8.count == rhs.utf8.count else { return false }
        var left = lhs
        var right = rhs
        return left.withUTF8 { leftBytes in
            right.withUTF8 {
                ByteScan.equalIgnoringASCIICase(UnsafeRawBufferPointer(leftBytes), UnsafeRawBufferPointer($0))
            }
        }
    }

    static func equalsIgnoringCase(_ lhs: String, _ rhs: String) -> Bool {
        equalsIgnoringCase(lhs[...], rhs)
    }

    /// The value without leading and trailing spaces and tabs.
    static func trimmed(_ value: Substring) -> Substring {
        let bytes = value.utf8
        var start = bytes.startIndex
        var end = bytes.endIndex
        while start < end, isSpace(bytes[start]) { bytes.formIndex(after: &start) }
        while start < end {
            let before = bytes.index(before: end)
            guard isSpace(bytes[before]) else { break }
            end = before
        }
        return value[start..<end]
    }

    /// The non-empty comma-separated elements of a list value, trimmed.
    static func tokens(_ value: String) -> [Substring] {
        var result: [Substring] = []
        forEachToken(value) { result.append($0) }
        return result
    }

    /// Calls `body` with each non-empty trimmed element of a list value, without allocating;
    /// `body` returns true to stop.
    @discardableResult
    static func forEachToken(_ value: String, _ body: (Substring) -> Bool) -> Bool {
        let whole = value[...]
        let bytes = whole.utf8
        var start = bytes.startIndex
        var index = start
        while true {
            let atEnd = index == bytes.endIndex
            if atEnd || bytes[index] == UInt8(ascii: ",") {
                let token = trimmed(whole[start..<index])
                if !token.isEmpty, body(token) { return true }
                if atEnd { return false }
                bytes.formIndex(after: &index)
                start = index
            } else {
                bytes.formIndex(after: &index)
            }
        }
    }

    static func forEachToken(_ value: String, _ body: (Substring) -> Void) {
        forEachToken(value) { (token: Substring) -> Bool in
            body(token)
            return false
        }
    }

    /// Whether a list value contains `token`, ignoring case.
    static func listContains(_ value: String, _ token: String) -> Bool {
        forEachToken(value) { (element: Substring) -> Bool in equalsIgnoringCase(element, token) }
    }

    /// All values of the header `name` (case-insensitive), in order.
    static func values(_ headers: [(name: String, value: String)], _ name: String) -> [String] {
        headers.compactMap { equalsIgnoringCase($0.name, name) ? $0.value : nil }
    }

    private static func isSpace(_ byte: UInt8) -> Bool { byte == 32 || byte == 9 }

    /// Appends `name: value\r\n`, dropping CR, LF and NUL so a value cannot inject headers.
    static func appendHeader(_ name: String, _ value: String, to out: inout [UInt8]) {
        appendFiltered(name, dropColon: true, to: &out)
        out.append(58)
        out.append(32)
        appendFiltered(value, dropColon: false, to: &out)
        out.append(13)
        out.append(10)
    }

    /// Appends `text` without CR, LF, NUL (and `:` when asked); clean text, the usual case,
    /// goes in one copy.
    static func appendFiltered(_ text: String, dropColon: Bool, to out: inout [UInt8]) {
        var text = text
        text.withUTF8 { bytes in
            // Eight bytes at a time: any control byte sends the text the careful way.
            let raw = UnsafeRawBufferPointer(bytes)
            let clean =
                ByteScan.firstControl(in: raw, from: 0, to: raw.count) == nil
                && !(dropColon && ByteScan.firstIndex(of: 58, in: raw) != nil)
            if clean {
                out.append(contentsOf: bytes)
            } else {
                for byte in bytes where byte != 13 && byte != 10 && byte != 0 && !(dropColon && byte == 58) {
                    out.append(byte)
                }
            }
        }
    }
}
