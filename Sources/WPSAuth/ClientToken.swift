internal import WPSBytes

/// Client access tokens and URLs as the server SDKs' `get_client_access_token` makes them
/// (protocol-spec/auth.md §3.2), for the negotiate route, `:generateToken` and tests.
public enum ClientToken {
    /// One hour, the SDKs' default `minutes_to_expire`.
    public static let defaultLifetime: Int64 = 3600

    /// A signed token with `aud` = `<http(s) endpoint>/client/hubs/<hub>`, `iat`, `exp`, and
    /// `sub`, `role` and `webpubsub.group` when non-empty, in the Python SDK's claim order.
    /// A ws(s) endpoint is signed as its http(s) form, since audiences name the HTTP endpoint.
    public static func make(
        endpoint: String, hub: String, userId: String?, roles: [String], groups: [String], key: AccessKey,
        now: Int64, lifetime: Int64 = defaultLifetime
    ) -> String {
        var payload = OutputBuffer(capacity: 256)
        payload.append(#"{"aud":"#)
        JSONWriter.appendString(httpEndpoint(endpoint) + "/client/hubs/" + hub, to: &payload)
        payload.append(#","iat":"#)
        payload.appendDecimal(now)
        payload.append(#","exp":"#)
        payload.appendDecimal(now.addingSaturating(lifetime))
        if let userId, !userId.isEmpty {
            payload.append(#","sub":"#)
            JSONWriter.appendString(userId, to: &payload)
        }
        appendArray("role", roles, to: &payload)
        appendArray("webpubsub.group", groups, to: &payload)
        payload.append("}")
        return JWT.sign(payload: payload.bytes, key: key)
    }

    /// `ws(s)://host[:port]/client/hubs/<hub>?access_token=<token>` (http→ws, https→wss).
    /// The token is base64url with dots, so it needs no escaping.
    public static func clientURL(endpoint: String, hub: String, token: String) -> String {
        let base = httpEndpoint(endpoint)
        let webSocketBase: String
        if base.utf8.starts(with: "https://".utf8) {
            webSocketBase = "wss://" + base.dropFirst("https://".count)
        } else if base.utf8.starts(with: "http://".utf8) {
            webSocketBase = "ws://" + base.dropFirst("http://".count)
        } else {
            webSocketBase = base
        }
        return webSocketBase + "/client/hubs/" + hub + "?access_token=" + token
    }

    /// `endpoint` without trailing slashes, with a ws(s) scheme mapped to http(s) and the
    /// scheme lower-cased.
    static func httpEndpoint(_ endpoint: String) -> String {
        var bytes = Array(endpoint.utf8)
        while bytes.last == UInt8(ascii: "/") { bytes.removeLast() }
        guard let marker = ConnectionString.find(Array("://".utf8), in: bytes) else {
            return String(decoding: bytes, as: UTF8.self)
        }
        let scheme = String(decoding: ASCII.lowercased(bytes[..<marker]), as: UTF8.self)
        let rest = String(decoding: bytes[marker...], as: UTF8.self)
        switch scheme {
        case "ws": return "http" + rest
        case "wss": return "https" + rest
        default: return scheme + rest
        }
    }

    private static func appendArray(_ name: String, _ values: [String], to payload: inout OutputBuffer) {
        guard !values.isEmpty else { return }
        payload.append(",")
        JSONWriter.appendString(name, to: &payload)
        payload.append(":[")
        for (index, value) in values.enumerated() {
            if index > 0 { payload.append(",") }
            JSONWriter.appendString(value, to: &payload)
        }
        payload.append("]")
    }
}
