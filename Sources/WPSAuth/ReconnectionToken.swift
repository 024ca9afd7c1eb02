internal import WPSBytes

/// Reconnection tokens for the reliable protocol's recovery (protocol-spec/auth.md §6).
///
/// Format: `base64url("<expiry>:<connectionId>") "." base64url(HMAC-SHA256(key, label ‖ first
/// part))`. Clients treat it as opaque; the label keeps a reconnection MAC from ever being
/// valid as a JWT signature and vice versa.
public enum ReconnectionToken {
    /// One week, the lifetime the service documents.
    public static let defaultLifetime: Int64 = 7 * 86_400

    static let label = Array("wps-reconnection-token-v1\n".utf8)

    /// A token that lets a client recover `connectionId` until `now + lifetime`.
    public static func issue(
        connectionId: String, key: AccessKey, now: Int64, lifetime: Int64 = defaultLifetime
    ) -> String {
        let (expiry, overflow) = now.addingReportingOverflow(lifetime)
        let body = Array("\(overflow ? Int64.max : expiry):\(connectionId)".utf8)
        var out: [UInt8] = []
        Base64URL.encode(body, into: &out)
        let signed = out
        out.append(UInt8(ascii: "."))
        Base64URL.encode(Crypto.hmacSHA256(key: key, data: label + signed), into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Whether `token` was issued by one of `keys` for exactly `connectionId` and has not
    /// expired at `now` (valid while `now < expiry`).
    public static func verify(_ token: String, connectionId: String, keys: [AccessKey], now: Int64) -> Bool {
        let bytes = Array(token.utf8)
        guard let dot = bytes.firstIndex(of: UInt8(ascii: ".")),
            let mac = Base64URL.decode(bytes[(dot + 1)...]), mac.count == Crypto.macBytes,
            let body = Base64URL.decode(bytes[..<dot])
        else { return false }
        let signed = label + bytes[..<dot]
        // Check every key without stopping early, so timing does not reveal which key matched.
        var authentic = false
        for key in keys where Crypto.constantTimeEquals(Crypto.hmacSHA256(key: key, data: signed), mac) {
            authentic = true
        }
        guard authentic, let colon = body.firstIndex(of: UInt8(ascii: ":")),
            let expiry = Int64(String(decoding: body[..<colon], as: UTF8.self))
        else { return false }
        return now < expiry && body[(colon + 1)...].elementsEqual(connectionId.utf8)
    }
}
