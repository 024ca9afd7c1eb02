/// Size limits enforced while reading a request head and body (protocol-spec/http.md §1).
public struct HTTPLimits: Sendable, Hashable {
    /// Bytes of the head, from the first byte read through the empty line that ends it.
    /// 16 KiB: browsers send well under 8 KiB even with large cookies; nginx's default
    /// large-header buffers are 4 x 8 KiB. Over this → 431.
    public var maxHeadBytes: Int
    /// Header fields in one head. 100 matches Node.js and Go's practical defaults. Over → 431.
    public var maxHeaderCount: Int
    /// Bytes of the request-target. 8 KiB matches common proxies (nginx, Apache). Over → 414.
    public var maxURIBytes: Int
    /// Bytes of a request body (Content-Length or chunked total). 1 MiB is the largest
    /// REST payload the server accepts. Over → 413.
    public var maxBodyBytes: Int

    /// Creates limits; every parameter defaults to the value documented on its property.
    public init(
        maxHeadBytes: Int = 16 * 1024,
        maxHeaderCount: Int = 100,
        maxURIBytes: Int = 8 * 1024,
        maxBodyBytes: Int = 1024 * 1024
    ) {
        self.maxHeadBytes = maxHeadBytes
        self.maxHeaderCount = maxHeaderCount
        self.maxURIBytes = maxURIBytes
        self.maxBodyBytes = maxBodyBytes
    }
}

/// A request the server refuses: the status to answer with and a short human-readable reason.
public struct HTTPParseError: Error, Sendable, Equatable {
    /// The status of the error response (always followed by closing the connection).
    public var status: HTTPStatus
    /// A short reason, safe to send as the plain-text body.
    public var reason: String

    /// Creates an error with a status and reason.
    public init(status: HTTPStatus, reason: String) {
        self.status = status
        self.reason = reason
    }

    static func badRequest(_ reason: String) -> HTTPParseError {
        HTTPParseError(status: .badRequest, reason: reason)
    }

    static let headTooLarge = HTTPParseError(
        status: .headersTooLarge, reason: "request head too large")
    static let tooManyHeaders = HTTPParseError(
        status: .headersTooLarge, reason: "too many header fields")
    static let uriTooLong = HTTPParseError(status: .uriTooLong, reason: "request-target too long")
    static let bodyTooLarge = HTTPParseError(
        status: .payloadTooLarge, reason: "request body too large")
}

/// The outcome of one `HTTPHeadParser.parse` call.
public enum HTTPHeadParseResult: Sendable {
    /// The head is not complete yet; call again with the same buffer once it has grown.
    case needMore
    /// The head is complete and valid; it occupies the first `headLength` bytes of the buffer.
    case complete(HTTPRequestHead, headLength: Int)
    /// The head is invalid or over a limit; answer with the error's status and close.
    case failure(HTTPParseError)
}
