import WPSHTTP

/// The parts of a `ws://` or `http://` URL the client needs to open a connection.
struct ClientURL: Sendable, Equatable {
    /// Whether the scheme asks for TLS (`wss`, `https`).
    var secure: Bool
    var host: String
    var port: Int
    /// Path and query, as written in the request line.
    var target: String

    /// The `Host` header value.
    var hostHeader: String {
        let defaultPort = secure ? 443 : 80
        return port == defaultPort ? host : "\(host):\(port)"
    }

    /// Parses `scheme://host[:port][/path][?query]`; nil for anything else.
    init?(_ text: String) {
        guard let colon = text.firstIndex(of: ":"), text[colon...].hasPrefix("://") else { return nil }
        let scheme = text[..<colon].lowercased()
        switch scheme {
        case "ws", "http": secure = false
        case "wss", "https": secure = true
        default: return nil
        }
        let rest = text[text.index(colon, offsetBy: 3)...]
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        var target = String(rest[authorityEnd...])
        if target.isEmpty || target.first == "?" { target = "/" + target }
        self.target = target
        if authority.first == "[" {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            host = String(authority[authority.index(after: authority.startIndex)..<close])
            let after = authority[authority.index(after: close)...]
            if after.isEmpty {
                port = secure ? 443 : 80
            } else {
                guard after.first == ":", let value = Int(after.dropFirst()) else { return nil }
                port = value
            }
        } else if let colon = authority.lastIndex(of: ":") {
            host = String(authority[..<colon])
            guard let value = Int(authority[authority.index(after: colon)...]) else { return nil }
            port = value
        } else {
            host = String(authority)
            port = secure ? 443 : 80
        }
        guard !host.isEmpty, (1...65535).contains(port) else { return nil }
    }

    /// The recovery URL of reliable.md §5: the original URL plus the connection id and
    /// reconnection token, each percent-encoded.
    static func recoveryURL(_ original: String, connectionId: String, reconnectionToken: String) -> String {
        let separator = original.contains("?") ? "&" : "?"
        return original + separator + "awps_connection_id=" + HTTPPercent.encodeSegment(connectionId)
            + "&awps_reconnection_token=" + HTTPPercent.encodeSegment(reconnectionToken)
    }
}
