internal import WPSBytes

/// Tokens for the admin routes (protocol-spec/admin.md §2): `aud` = `<http(s) endpoint>/admin`.
public enum AdminToken {
    /// A signed token for the admin routes of `endpoint`, valid for `lifetime` seconds.
    public static func make(endpoint: String, key: AccessKey, now: Int64, lifetime: Int64, subject: String? = nil)
        -> String
    {
        var payload = OutputBuffer(capacity: 160)
        payload.append(#"{"aud":"#)
        JSONWriter.appendString(ClientToken.httpEndpoint(endpoint) + "/admin", to: &payload)
        payload.append(#","iat":"#)
        payload.appendDecimal(now)
        payload.append(#","exp":"#)
        payload.appendDecimal(now.addingSaturating(lifetime))
        if let subject, !subject.isEmpty {
            payload.append(#","sub":"#)
            JSONWriter.appendString(subject, to: &payload)
        }
        payload.append("}")
        return JWT.sign(payload: payload.bytes, key: key)
    }
}
