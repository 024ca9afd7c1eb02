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
enum HeaderText {
    /// Case-insensitive ASCII equality.
    static func equalsIgnoringCase(_ lhs: Substring, _ rhs: String) -> Bool {
        let left = lhs.utf8
        let right = rhs.utf8
        guard left.count == right.count else { return false }
        return zip(left, right).allSatisfy { lower($0) == lower($1) }
    }

    static func equalsIgnoringCase(_ lhs: String, _ rhs: String) -> Bool {
        equalsIgnoringCase(lhs[...], rhs)
    }

    /// The value without leading and trailing spaces and tabs.
    static func trimmed(_ value: Substring) -> Substring {
        var result = value
        while let first = result.first, first == " " || first == "\t" { result.removeFirst() }
        while let last = result.last, last == " " || last == "\t" { result.removeLast() }
        return result
    }

    /// The non-empty comma-separated elements of a list value, trimmed.
    static func tokens(_ value: String) -> [Substring] {
        value.split(separator: ",", omittingEmptySubsequences: false)
            .map(trimmed)
            .filter { !$0.isEmpty }
    }

    /// Whether a list value contains `token`, ignoring case.
    static func listContains(_ value: String, _ token: String) -> Bool {
        tokens(value).contains { equalsIgnoringCase($0, token) }
    }

    /// All values of the header `name` (case-insensitive), in order.
    static func values(_ headers: [(name: String, value: String)], _ name: String) -> [String] {
        headers.compactMap { equalsIgnoringCase($0.name, name) ? $0.value : nil }
    }

    /// Appends `name: value\r\n`, dropping CR, LF and NUL so a value cannot inject headers.
    static func appendHeader(_ name: String, _ value: String, to out: inout [UInt8]) {
        for byte in name.utf8 where byte != 13 && byte != 10 && byte != 0 && byte != 58 { out.append(byte) }
        out.append(contentsOf: ": ".utf8)
        for byte in value.utf8 where byte != 13 && byte != 10 && byte != 0 { out.append(byte) }
        out.append(contentsOf: "\r\n".utf8)
    }

    private static func lower(_ byte: UInt8) -> UInt8 {
        byte >= 65 && byte <= 90 ? byte | 0x20 : byte
    }
}
