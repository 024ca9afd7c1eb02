internal import CWPSOpenSSL
import WPSBytes

/// The opening handshake (RFC 6455 §4) for both roles; see protocol-spec/websocket.md ("Handshake").
public enum WebSocketHandshake {
    /// The GUID appended to the key before hashing (RFC 6455 §1.3).
    public static let acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

    /// `Sec-WebSocket-Accept` for a key: base64(SHA-1(key + GUID)).
    public static func acceptValue(forKey key: String) -> String {
        var input = Array(key.utf8)
        input.append(contentsOf: acceptGUID.utf8)
        var digest = [UInt8](repeating: 0, count: 20)
        input.withUnsafeBytes { source in
            digest.withUnsafeMutableBufferPointer { out in
                wps_sha1(source.baseAddress, source.count, out.baseAddress)
            }
        }
        return Base64.encode(digest)
    }

    /// Checks a client's upgrade request; on failure gives the status and headers to answer with.
    ///
    /// Checks, in order: GET (else 400; the router answers 405 only for routes that are not
    /// upgrades), `Upgrade: websocket` and `Connection: upgrade` tokens (400),
    /// `Sec-WebSocket-Version: 13` (426 with `Sec-WebSocket-Version: 13`, also when missing),
    /// one `Sec-WebSocket-Key` decoding to 16 bytes (400).
    public static func validateUpgrade(
        method: String, headers: [(name: String, value: String)]
    ) -> Result<WebSocketUpgradeRequest, WebSocketHandshakeError> {
        guard method == "GET" else {
            return .failure(WebSocketHandshakeError(status: 400, reason: "WebSocket upgrade needs GET"))
        }
        guard HeaderText.values(headers, "Upgrade").contains(where: { HeaderText.listContains($0, "websocket") })
        else {
            return .failure(WebSocketHandshakeError(status: 400, reason: "Missing Upgrade: websocket"))
        }
        guard HeaderText.values(headers, "Connection").contains(where: { HeaderText.listContains($0, "upgrade") })
        else {
            return .failure(WebSocketHandshakeError(status: 400, reason: "Missing Connection: upgrade"))
        }
        let versions = HeaderText.values(headers, "Sec-WebSocket-Version")
        guard versions.count == 1, HeaderText.trimmed(versions[0][...]) == "13" else {
            return .failure(
                WebSocketHandshakeError(
                    status: 426, reason: "Unsupported WebSocket version",
                    headers: [("Sec-WebSocket-Version", "13")]))
        }
        let keys = HeaderText.values(headers, "Sec-WebSocket-Key")
        guard keys.count == 1 else {
            return .failure(WebSocketHandshakeError(status: 400, reason: "Need exactly one Sec-WebSocket-Key"))
        }
        let key = String(HeaderText.trimmed(keys[0][...]))
        guard let decoded = Base64.decode(key), decoded.count == 16 else {
            return .failure(WebSocketHandshakeError(status: 400, reason: "Sec-WebSocket-Key is not 16 bytes of base64"))
        }
        let protocols = HeaderText.values(headers, "Sec-WebSocket-Protocol")
            .flatMap { HeaderText.tokens($0).map(String.init) }
        let extensions = HeaderText.values(headers, "Sec-WebSocket-Extensions")
            .map { String(HeaderText.trimmed($0[...])) }
        return .success(WebSocketUpgradeRequest(key: key, offeredProtocols: protocols, extensionOffers: extensions))
    }

    /// The first offered subprotocol matching a supported one (ASCII case-insensitive), spelled
    /// as offered because it is echoed back; nil when none match.
    public static func selectProtocol(offered: [String], supported: [String]) -> String? {
        offered.first { candidate in
            supported.contains { HeaderText.equalsIgnoringCase(candidate, $0) }
        }
    }

    /// The complete `101 Switching Protocols` response head, ending with the blank line.
    public static func responseHead(
        accept: String, protocol selected: String?, extraHeaders: [(String, String)] = []
    ) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(160)
        out.append(contentsOf: "HTTP/1.1 101 Switching Protocols\r\n".utf8)
        HeaderText.appendHeader("Upgrade", "websocket", to: &out)
        HeaderText.appendHeader("Connection", "Upgrade", to: &out)
        HeaderText.appendHeader("Sec-WebSocket-Accept", accept, to: &out)
        if let selected { HeaderText.appendHeader("Sec-WebSocket-Protocol", selected, to: &out) }
        for (name, value) in extraHeaders { HeaderText.appendHeader(name, value, to: &out) }
        out.append(contentsOf: "\r\n".utf8)
        return out
    }

    /// A fresh client key: 16 random bytes, base64-encoded.
    public static func randomKey() -> String {
        var bytes = [UInt8](repeating: 0, count: 16)
        fillRandom(&bytes)
        return Base64.encode(bytes)
    }

    /// A fresh mask key for a client frame, from a cryptographic random source.
    public static func randomMaskKey() -> UInt32 {
        var bytes = [UInt8](repeating: 0, count: 4)
        fillRandom(&bytes)
        return bytes.reduce(0) { $0 << 8 | UInt32($1) }
    }

    /// Fills `bytes` from OpenSSL's CSPRNG, falling back to the system generator (getrandom).
    static func fillRandom(_ bytes: inout [UInt8]) {
        let status = bytes.withUnsafeMutableBufferPointer { wps_random_bytes($0.baseAddress, $0.count) }
        if status != 0 {
            var generator = SystemRandomNumberGenerator()
            for index in bytes.indices { bytes[index] = generator.next() }
        }
    }
}
