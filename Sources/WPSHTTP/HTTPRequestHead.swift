/// An HTTP protocol version; the parser accepts only 1.0 and 1.1.
public struct HTTPVersion: Sendable, Hashable, CustomStringConvertible {
    /// Major version digit.
    public var major: Int
    /// Minor version digit.
    public var minor: Int

    /// Creates a version.
    public init(major: Int, minor: Int) {
        self.major = major
        self.minor = minor
    }

    /// HTTP/1.0.
    public static let http1_0 = HTTPVersion(major: 1, minor: 0)
    /// HTTP/1.1.
    public static let http1_1 = HTTPVersion(major: 1, minor: 1)

    /// "HTTP/1.1" style rendering.
    public var description: String { "HTTP/\(major).\(minor)" }
}

/// A complete, validated request head (protocol-spec/http.md §2).
public struct HTTPRequestHead: Sendable {
    /// The method token, case preserved (methods are case-sensitive).
    public var method: String
    /// The raw request-target as received.
    public var target: String
    /// The percent-decoded path, without the query; "*" for an asterisk-form target.
    public var path: String
    /// The path exactly as received (still percent-encoded).
    public var rawPath: String
    /// The decoded query parameters in order ("+" decoded as space); empty if none.
    public var query: [(name: String, value: String)] {
        get {
            if let decodedQuery { return decodedQuery }
            guard var encoded = encodedQuery else { return [] }
            return encoded.withUTF8 { HTTPQuery.decode(bytes: UnsafeRawBufferPointer($0)) } ?? []
        }
        set {
            decodedQuery = newValue
            encodedQuery = nil
        }
    }
    /// The query as decoded parameters, when the head was built from them or they were set.
    private var decodedQuery: [(name: String, value: String)]?
    /// The query still encoded: a slice of `target` whose escapes the parser has checked.
    /// Parameters are decoded only as they are read, so a long access token is verified from
    /// the request's own bytes.
    private var encodedQuery: Substring?
    /// The encoded query has no "%" and no "+": each part is its own decoding.
    private var encodedQueryIsPlain = false
    /// The protocol version (1.0 or 1.1).
    public var version: HTTPVersion
    /// The header fields in order.
    public var headers: HTTPHeaders
    /// The Content-Length, or 0 if absent (also 0 when chunked).
    public var contentLength: Int
    /// True when the body uses `Transfer-Encoding: chunked`.
    public var isChunked: Bool
    /// Whether the connection stays open after this request (protocol-spec/http.md §4).
    public var keepAlive: Bool

    /// Creates a head from its parts; `keepAlive` follows the version and Connection rules.
    public init(
        method: String,
        target: String,
        path: String,
        rawPath: String,
        query: [(name: String, value: String)] = [],
        version: HTTPVersion = .http1_1,
        headers: HTTPHeaders = HTTPHeaders(),
        contentLength: Int = 0,
        isChunked: Bool = false
    ) {
        self.method = method
        self.target = target
        self.path = path
        self.rawPath = rawPath
        self.decodedQuery = query
        self.version = version
        self.headers = headers
        self.contentLength = contentLength
        self.isChunked = isChunked
        self.keepAlive = HTTPRequestHead.defaultKeepAlive(version: version, headers: headers)
    }

    /// Memberwise, as the parser builds it: `keepAlive` already decided from the bytes, and
    /// the query left encoded (`encodedQuery` is part of `target`, its escapes are valid;
    /// `plain` when it has no "%" and no "+").
    init(
        method: String, target: String, path: String, rawPath: String, encodedQuery: Substring?, plain: Bool,
        version: HTTPVersion, headers: HTTPHeaders, contentLength: Int, isChunked: Bool, keepAlive: Bool
    ) {
        self.method = method
        self.target = target
        self.path = path
        self.rawPath = rawPath
        self.encodedQuery = encodedQuery
        self.encodedQueryIsPlain = plain
        self.version = version
        self.headers = headers
        self.contentLength = contentLength
        self.isChunked = isChunked
        self.keepAlive = keepAlive
    }

    /// The first decoded value of the query parameter `name` (case-sensitive), or nil.
    public func queryValue(_ name: String) -> String? {
        withQueryValue(name) { String(decoding: $0, as: UTF8.self) }
    }

    /// Calls `body` with the decoded bytes of the first value of query parameter `name`
    /// (case-sensitive); nil when there is none. The bytes are valid only inside `body`.
    @inlinable
    public func withQueryValue<R>(_ name: String, _ body: (UnsafeRawBufferPointer) -> R) -> R? {
        // The generic part stays in the caller's module, where it is specialized.
        var result: R?
        guard readQueryValue(name, { result = body($0) }) else { return nil }
        return result
    }

    /// `withQueryValue` without a result type: false when the parameter is absent.
    public func readQueryValue(_ name: String, _ body: (UnsafeRawBufferPointer) -> Void) -> Bool {
        if let decodedQuery {
            guard var value = decodedQuery.first(where: { $0.name == name })?.value else { return false }
            value.withUTF8 { body(UnsafeRawBufferPointer($0)) }
            return true
        }
        guard var encoded = encodedQuery else { return false }
        let plain = encodedQueryIsPlain
        return encoded.withUTF8 { HTTPQuery.readValue(named: name, in: UnsafeRawBufferPointer($0), plain: plain, body) }
    }

    /// True if the request carries a body to read (Content-Length > 0 or chunked).
    public var hasBody: Bool { contentLength > 0 || isChunked }

    /// 1.1 stays open unless `Connection: close`; 1.0 closes unless `Connection: keep-alive`.
    public static func defaultKeepAlive(version: HTTPVersion, headers: HTTPHeaders) -> Bool {
        if version.minor >= 1 && version.major == 1 {
            return !headers.containsToken("Connection", "close")
        }
        return headers.containsToken("Connection", "keep-alive")
            && !headers.containsToken("Connection", "close")
    }
}
