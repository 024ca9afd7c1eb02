internal import CWPSOpenSSL
public import WPSBytes

/// The opening handshake (RFC 6455 §4) for both roles; see protocol-spec/websocket.md ("Handshake").
public enum WebSocketHandshake {
    /// The GUID appended to the key before hashing (RFC 6455 §1.3).
    public static let acceptGUID: StaticString = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

    /// Length of every `Sec-WebSocket-Accept` value: base64 of a 20-byte SHA-1 digest.
    public static let acceptValueBytes = 28

    /// `Sec-WebSocket-Accept` for a key: base64(SHA-1(key + GUID)).
    public static func acceptValue(forKey key: String) -> String {
        String(unsafeUninitializedCapacity: acceptValueBytes) { out in
            writeAcceptValue(forKey: key, to: UnsafeMutableRawPointer(out.baseAddress!))
            return acceptValueBytes
        }
    }

    /// Writes the accept value for `key` at `out` (room for `acceptValueBytes`).
    static func writeAcceptValue(forKey key: String, to out: UnsafeMutableRawPointer) {
        var key = key
        key.withUTF8 { keyBytes in
            let guid = acceptGUID
            let length = keyBytes.count + guid.utf8CodeUnitCount
            withUnsafeTemporaryAllocation(byteCount: length + 20, alignment: 1) { scratch in
                // Copied whole: iterating a String's bytes one by one cost more than the hash.
                let base = scratch.baseAddress!
                if let source = keyBytes.baseAddress { base.copyMemory(from: source, byteCount: keyBytes.count) }
                (base + keyBytes.count).copyMemory(from: guid.utf8Start, byteCount: guid.utf8CodeUnitCount)
                let digest = base + length
                wps_sha1(base, length, digest)
                Base64.write(UnsafeRawBufferPointer(start: digest, count: 20), to: out)
            }
        }
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
        validateUpgrade(method: method, fields: RawHeaderFields(headers))
    }

    /// The same checks over fields still held as bytes: only the key and the offered
    /// subprotocols and extensions become strings.
    public static func validateUpgrade(
        method: String, fields: RawHeaderFields
    ) -> Result<WebSocketUpgradeRequest, WebSocketHandshakeError> {
        guard method == "GET" else {
            return .failure(WebSocketHandshakeError(status: 400, reason: "WebSocket upgrade needs GET"))
        }
        // One pass over the fields; the checks below keep their order, so each request gets
        // the same answer as checking header by header.
        var upgrade = false
        var connection = false
        var versionCount = 0
        var versionIs13 = false
        var keyCount = 0
        var keyRange = 0..<0
        var protocols: [String] = []
        var extensions: [String] = []
        fields.bytes.withUnsafeBufferPointer { buffer in
            for index in 0..<fields.count {
                let name = fields.name(index)
                let value = fields.value(index)
                switch name.count {
                case 7 where RawHeaderFields.equalsIgnoringCase(buffer, name, "upgrade"):
                    if !upgrade { upgrade = listContains(buffer, value, "websocket") }
                case 10 where RawHeaderFields.equalsIgnoringCase(buffer, name, "connection"):
                    if !connection { connection = listContains(buffer, value, "upgrade") }
                case 21 where RawHeaderFields.equalsIgnoringCase(buffer, name, "sec-websocket-version"):
                    versionCount += 1
                    let version = RawHeaderFields.trimmed(buffer, value)
                    versionIs13 =
                        version.count == 2 && buffer[version.lowerBound] == UInt8(ascii: "1")
                        && buffer[version.lowerBound + 1] == UInt8(ascii: "3")
                case 17 where RawHeaderFields.equalsIgnoringCase(buffer, name, "sec-websocket-key"):
                    keyCount += 1
                    keyRange = RawHeaderFields.trimmed(buffer, value)
                case 22 where RawHeaderFields.equalsIgnoringCase(buffer, name, "sec-websocket-protocol"):
                    RawHeaderFields.forEachElement(buffer, value) { element in
                        protocols.append(fields.string(element))
                        return false
                    }
                case 24 where RawHeaderFields.equalsIgnoringCase(buffer, name, "sec-websocket-extensions"):
                    extensions.append(fields.string(RawHeaderFields.trimmed(buffer, value)))
                default:
                    break
                }
            }
        }
        guard upgrade else {
            return .failure(WebSocketHandshakeError(status: 400, reason: "Missing Upgrade: websocket"))
        }
        guard connection else {
            return .failure(WebSocketHandshakeError(status: 400, reason: "Missing Connection: upgrade"))
        }
        guard versionCount == 1, versionIs13 else {
            return .failure(
                WebSocketHandshakeError(
                    status: 426, reason: "Unsupported WebSocket version",
                    headers: [("Sec-WebSocket-Version", "13")]))
        }
        guard keyCount == 1 else {
            return .failure(WebSocketHandshakeError(status: 400, reason: "Need exactly one Sec-WebSocket-Key"))
        }
        let keyIs16Bytes = fields.bytes.withUnsafeBytes { bytes in
            let key = UnsafeRawBufferPointer(rebasing: bytes[keyRange])
            return Base64.isValid(key) && Base64.decodedCount(key) == 16
        }
        guard keyIs16Bytes else {
            return .failure(WebSocketHandshakeError(status: 400, reason: "Sec-WebSocket-Key is not 16 bytes of base64"))
        }
        return .success(
            WebSocketUpgradeRequest(
                key: fields.string(keyRange), offeredProtocols: protocols, extensionOffers: extensions))
    }

    /// Whether a list value contains `token` (lowercase), ignoring case.
    private static func listContains(_ buffer: UnsafeBufferPointer<UInt8>, _ value: Range<Int>, _ token: StaticString)
        -> Bool
    {
        let wanted = UnsafeBufferPointer(start: token.utf8Start, count: token.utf8CodeUnitCount)
        return RawHeaderFields.forEachElement(buffer, value) { element in
            RawHeaderFields.equalsIgnoringCase(buffer, element, wanted)
        }
    }

    /// The first offered subprotocol matching a supported one (ASCII case-insensitive), spelled
    /// as offered because it is echoed back; nil when none match.
    public static func selectProtocol(offered: [String], supported: [String]) -> String? {
        offered.first { candidate in
            supported.contains { HeaderText.equalsIgnoringCase(candidate, $0) }
        }
    }

    /// Every 101 response starts the same, up to the accept value.
    static let responseHeadStart = Array(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ".utf8)

    /// The complete `101 Switching Protocols` response head, ending with the blank line.
    public static func responseHead(
        accept: String, protocol selected: String?, extraHeaders: [(String, String)] = []
    ) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(192)
        out.append(contentsOf: responseHeadStart)
        HeaderText.appendFiltered(accept, dropColon: false, to: &out)
        finishResponseHead(protocol: selected, extraHeaders: extraHeaders, into: &out)
        return out
    }

    /// The same response for a client's key, with the accept value computed straight into it
    /// (it is base64, so it needs no filtering).
    public static func responseHead(
        forKey key: String, protocol selected: String?, extraHeaders: [(String, String)] = []
    ) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(192)
        out.append(contentsOf: responseHeadStart)
        withUnsafeTemporaryAllocation(byteCount: acceptValueBytes, alignment: 1) { accept in
            writeAcceptValue(forKey: key, to: accept.baseAddress!)
            out.append(contentsOf: UnsafeRawBufferPointer(accept))
        }
        finishResponseHead(protocol: selected, extraHeaders: extraHeaders, into: &out)
        return out
    }

    /// The protocol header's name, written as bytes: only its value needs filtering.
    static let protocolHeaderStart = Array("\r\nSec-WebSocket-Protocol: ".utf8)

    private static func finishResponseHead(
        protocol selected: String?, extraHeaders: [(String, String)], into out: inout [UInt8]
    ) {
        if let selected {
            out.append(contentsOf: protocolHeaderStart)
            HeaderText.appendFiltered(selected, dropColon: false, to: &out)
        }
        out.append(13)
        out.append(10)
        for (name, value) in extraHeaders { HeaderText.appendHeader(name, value, to: &out) }
        out.append(13)
        out.append(10)
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
