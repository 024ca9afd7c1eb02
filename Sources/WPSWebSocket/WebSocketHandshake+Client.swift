/// The client side of the opening handshake (RFC 6455 §4.1).
extension WebSocketHandshake {
    /// The complete upgrade request head, ending with the blank line; `key` from `randomKey()`.
    public static func clientRequestHead(
        host: String, path: String, key: String, protocols: [String],
        extraHeaders: [(String, String)] = []
    ) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(200)
        out.append(contentsOf: "GET ".utf8)
        for byte in path.utf8 where byte > 32 && byte != 127 { out.append(byte) }
        out.append(contentsOf: " HTTP/1.1\r\n".utf8)
        HeaderText.appendHeader("Host", host, to: &out)
        HeaderText.appendHeader("Upgrade", "websocket", to: &out)
        HeaderText.appendHeader("Connection", "Upgrade", to: &out)
        HeaderText.appendHeader("Sec-WebSocket-Key", key, to: &out)
        HeaderText.appendHeader("Sec-WebSocket-Version", "13", to: &out)
        if !protocols.isEmpty {
            HeaderText.appendHeader("Sec-WebSocket-Protocol", protocols.joined(separator: ", "), to: &out)
        }
        for (name, value) in extraHeaders { HeaderText.appendHeader(name, value, to: &out) }
        out.append(contentsOf: "\r\n".utf8)
        return out
    }

    /// Checks the server's answer; returns the selected subprotocol (offered spelling) or nil.
    ///
    /// Requires status 101, `Upgrade: websocket`, `Connection: upgrade`, exactly one matching
    /// `Sec-WebSocket-Accept`, and at most one `Sec-WebSocket-Protocol` naming an offered
    /// protocol. The error's `status` is the status the server sent. Extensions are left to
    /// the caller's negotiator.
    public static func verifyServerResponse(
        status: Int, headers: [(name: String, value: String)], key: String, offeredProtocols: [String]
    ) -> Result<String?, WebSocketHandshakeError> {
        func failure(_ reason: String) -> Result<String?, WebSocketHandshakeError> {
            .failure(WebSocketHandshakeError(status: status, reason: reason))
        }
        guard status == 101 else { return failure("Server answered \(status), not 101") }
        guard HeaderText.values(headers, "Upgrade").contains(where: { HeaderText.listContains($0, "websocket") })
        else { return failure("Missing Upgrade: websocket") }
        guard HeaderText.values(headers, "Connection").contains(where: { HeaderText.listContains($0, "upgrade") })
        else { return failure("Missing Connection: upgrade") }
        let accepts = HeaderText.values(headers, "Sec-WebSocket-Accept")
        guard accepts.count == 1, HeaderText.trimmed(accepts[0][...]) == acceptValue(forKey: key)[...] else {
            return failure("Sec-WebSocket-Accept does not match the key")
        }
        let selected = HeaderText.values(headers, "Sec-WebSocket-Protocol").flatMap(HeaderText.tokens)
        switch selected.count {
        case 0:
            return .success(nil)
        case 1:
            guard let match = offeredProtocols.first(where: { HeaderText.equalsIgnoringCase(selected[0], $0) })
            else { return failure("Server selected a subprotocol that was not offered") }
            return .success(match)
        default:
            return failure("Server selected more than one subprotocol")
        }
    }
}
