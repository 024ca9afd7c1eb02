/// An `aud` URL split into the parts the lenient audience rules compare
/// (protocol-spec/auth.md §3.3). Slices of the text's own UTF-8 bytes, not Strings or
/// copies: every client connection runs this, and malformed input costs nothing.
struct AudienceURL {
    typealias Bytes = Slice<UnsafeBufferPointer<UInt8>>

    /// Host as written (compared ignoring case), without brackets for IPv6 literals.
    var host: Bytes
    /// Explicit port, or nil when the URL omits it.
    var port: Int?
    /// Path as written, starting with "/" (or empty when the URL has none).
    var path: Bytes
    /// Query after "?", or nil when there is none.
    var query: Bytes?

    /// Schemes treated as one: SDKs sign the http(s) endpoint while clients dial ws(s), and a
    /// TLS-terminating proxy changes what the server itself sees.
    static let schemes: [[UInt8]] = ["http", "https", "ws", "wss"].map { Array($0.utf8) }

    /// Calls `body` with `text` parsed, or with nil for other schemes, user info, a fragment,
    /// a bad port or an empty host. The parts are valid only inside `body`.
    static func parse<Result>(_ text: String, _ body: (AudienceURL?) -> Result) -> Result {
        var text = text
        return text.withUTF8 { body(AudienceURL($0[...])) }
    }

    /// Parses `scheme://authority[path][?query]`.
    init?(_ bytes: Bytes) {
        guard let colon = bytes.firstIndex(of: UInt8(ascii: ":")),
            Self.schemes.contains(where: { ASCII.equalsIgnoringCase(bytes[..<colon], $0) }),
            bytes.endIndex - colon >= 3, bytes[colon + 1] == UInt8(ascii: "/"), bytes[colon + 2] == UInt8(ascii: "/")
        else { return nil }
        guard !bytes.contains(UInt8(ascii: "#")) else { return nil }
        let authorityStart = colon + 3
        let pathStart =
            bytes[authorityStart...].firstIndex { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") }
            ?? bytes.endIndex
        guard let (host, port) = Self.parseAuthority(bytes[authorityStart..<pathStart]) else { return nil }
        self.host = host
        self.port = port
        if let question = bytes[pathStart...].firstIndex(of: UInt8(ascii: "?")) {
            path = bytes[pathStart..<question]
            query = bytes[(question + 1)...]
        } else {
            path = bytes[pathStart...]
            query = nil
        }
    }

    /// Splits `host[:port]` or `[v6]:port`; nil on user info, an empty host, or a port that is
    /// not 1–65535 in plain digits.
    static func parseAuthority<Part: RandomAccessCollection<UInt8>>(_ authority: Part) -> (
        host: Part.SubSequence, port: Int?
    )? {
        guard !authority.contains(UInt8(ascii: "@")) else { return nil }
        var hostPart = authority[...]
        var portPart: Part.SubSequence?
        if authority.first == UInt8(ascii: "[") {
            guard let close = authority.firstIndex(of: UInt8(ascii: "]")) else { return nil }
            hostPart = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.first == UInt8(ascii: ":") else { return nil }
                portPart = after.dropFirst()
            }
        } else if let colon = authority.firstIndex(of: UInt8(ascii: ":")) {
            hostPart = authority[..<colon]
            portPart = authority[authority.index(after: colon)...]
        }
        guard !hostPart.isEmpty else { return nil }
        var port: Int?
        if let portPart {
            guard let value = ASCII.port(portPart) else { return nil }
            port = value
        }
        return (hostPart, port)
    }

    /// Host equal ignoring case; ports equal, where an omitted port on either side stands for
    /// a default port (80 or 443) and so matches an explicit 80 or 443 on the other.
    ///
    /// The request's own scheme is deliberately not consulted: behind a TLS-terminating proxy
    /// the server sees plain HTTP for an `https` audience.
    func sameOrigin(requestHost: String) -> Bool {
        var requestHost = requestHost
        return requestHost.withUTF8 { sameOrigin(requestHost: $0) }
    }

    /// `sameOrigin` for a Host header given as its bytes.
    func sameOrigin(requestHost raw: UnsafeBufferPointer<UInt8>) -> Bool {
        let bytes = raw[...]
        guard let first = bytes.firstIndex(where: { !ASCII.isSpace($0) }),
            let last = bytes.lastIndex(where: { !ASCII.isSpace($0) }),
            let (otherHost, otherPort) = Self.parseAuthority(bytes[first...last]),
            ASCII.equalsIgnoringCase(otherHost, host)
        else { return false }
        switch (port, otherPort) {
        case (nil, nil): return true
        case (let explicit?, nil), (nil, let explicit?): return explicit == 80 || explicit == 443
        case (let left?, let right?): return left == right
        }
    }
}
