internal import WPSBytes

/// The `ce-signature` header of upstream events (protocol-spec/upstream.md §3): one
/// `sha256=<hex>` per access key, so a handler that knows either key during a rotation
/// accepts the request.
public enum EventSignature {
    /// `sha256=<hex(HMAC-SHA256(key, connectionId))>` for each key, comma-separated, in key order.
    public static func header(connectionId: String, keys: [AccessKey]) -> String {
        var out = ""
        out.reserveCapacity(keys.count * 72)
        for (index, key) in keys.enumerated() {
            if index > 0 { out += "," }
            out += "sha256="
            out += Crypto.hex(Crypto.hmacSHA256(key: key, data: connectionId.utf8))
        }
        return out
    }
}
