/// A parsed HTTP/1.x response head: status line and header fields (client side).
public struct HTTPResponseHead: Sendable {
    /// The minor HTTP version (0 or 1).
    public var minorVersion: Int
    /// The three-digit status code.
    public var status: Int
    /// The reason phrase, possibly empty.
    public var reason: String
    /// The header fields in arrival order.
    public var headers: HTTPHeaders

    /// Creates a response head.
    public init(minorVersion: Int, status: Int, reason: String, headers: HTTPHeaders) {
        self.minorVersion = minorVersion
        self.status = status
        self.reason = reason
        self.headers = headers
    }

    /// The body length announced by `Content-Length`, or nil when absent or invalid.
    public var contentLength: Int? {
        guard let value = headers["Content-Length"], !value.isEmpty, value.utf8.count <= 18 else { return nil }
        var total = 0
        for byte in value.utf8 {
            guard HTTPBytes.isDigit(byte) else { return nil }
            total = total * 10 + Int(byte - UInt8(ascii: "0"))
        }
        return total
    }

    /// Whether the body uses chunked transfer coding.
    public var isChunked: Bool { headers.containsToken("Transfer-Encoding", "chunked") }
}

/// The outcome of one `HTTPResponseHeadParser.parse` call.
public enum HTTPResponseHeadParseResult: Sendable {
    /// The head is not complete yet; call again with the same buffer once it has grown.
    case needMore
    /// The head is complete; it occupies the first `headLength` bytes of the buffer.
    case complete(HTTPResponseHead, headLength: Int)
    /// The head is malformed or over a limit; the connection must be dropped.
    case failure(HTTPParseError)
}
