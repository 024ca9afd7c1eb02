import Testing
import WPSWebSocket

typealias Headers = [(name: String, value: String)]

let goodHeaders: Headers = [
    ("Host", "example.com"), ("Upgrade", "websocket"), ("Connection", "Upgrade"),
    ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="), ("Sec-WebSocket-Version", "13"),
]

func replacing(_ name: String, with value: String?) -> Headers {
    var headers = goodHeaders.filter { $0.name != name }
    if let value { headers.append((name, value)) }
    return headers
}

/// (name, method, headers, expected status or nil for success)
let upgradeCases: [(String, String, Headers, Int?)] = [
    ("valid", "GET", goodHeaders, nil),
    ("POST", "POST", goodHeaders, 400),
    ("lowercase get", "get", goodHeaders, 400),
    ("upgrade in a list, any case", "GET", replacing("Upgrade", with: "h2c, WebSocket"), nil),
    ("upgrade missing", "GET", replacing("Upgrade", with: nil), 400),
    ("upgrade wrong", "GET", replacing("Upgrade", with: "h2c"), 400),
    ("connection list", "GET", replacing("Connection", with: "keep-alive, Upgrade"), nil),
    ("connection lowercase", "GET", replacing("Connection", with: "upgrade"), nil),
    ("connection missing", "GET", replacing("Connection", with: nil), 400),
    ("connection keep-alive", "GET", replacing("Connection", with: "keep-alive"), 400),
    ("version missing", "GET", replacing("Sec-WebSocket-Version", with: nil), 426),
    ("version 8", "GET", replacing("Sec-WebSocket-Version", with: "8"), 426),
    ("version twice", "GET", goodHeaders + [("Sec-WebSocket-Version", "13")], 426),
    ("key missing", "GET", replacing("Sec-WebSocket-Key", with: nil), 400),
    ("key twice", "GET", goodHeaders + [("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")], 400),
    ("key not base64", "GET", replacing("Sec-WebSocket-Key", with: "not base64!!"), 400),
    ("key 15 bytes", "GET", replacing("Sec-WebSocket-Key", with: "AAAAAAAAAAAAAAAAAAAA"), 400),
    ("key 17 bytes", "GET", replacing("Sec-WebSocket-Key", with: "AAAAAAAAAAAAAAAAAAAAAAA="), 400),
    ("header names any case", "GET", goodHeaders.map { ($0.name.lowercased(), $0.value) }, nil),
]

@Suite struct HandshakeTests {
    @Test func rfcAcceptExample() {
        #expect(WebSocketHandshake.acceptValue(forKey: "dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        // Values from Python's hashlib and base64; the second key is a slice of a longer string.
        #expect(WebSocketHandshake.acceptValue(forKey: "x3JJHMbDL1EzLkh9GBhXDw==") == "HSmrc0sMlYUkAGmm5OPpG2HaGWk=")
        let line = "Sec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEA==\r\n"
        let key = String(line.dropFirst(19).dropLast())  // "\r\n" is one Character
        #expect(WebSocketHandshake.acceptValue(forKey: key) == "C/0nmHhBztSRGR1CwL6Tf4ZjwpY=")
    }

    @Test(arguments: upgradeCases)
    func validateUpgrade(_ name: String, _ method: String, _ headers: Headers, _ status: Int?) {
        switch WebSocketHandshake.validateUpgrade(method: method, headers: headers) {
        case .success(let request):
            #expect(status == nil, "\(name)")
            #expect(request.key == "dGhlIHNhbXBsZSBub25jZQ==")
        case .failure(let error):
            #expect(error.status == status, "\(name)")
            if error.status == 426 {
                #expect(
                    error.headers.count == 1 && error.headers[0].name == "Sec-WebSocket-Version"
                        && error.headers[0].value == "13")
            }
        }
    }

    @Test func offersAreCollected() throws {
        let headers =
            goodHeaders + [
                ("Sec-WebSocket-Protocol", "json.webpubsub.azure.v1, json.reliable.webpubsub.azure.v1"),
                ("sec-websocket-protocol", " chat ,,"),
                ("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits"),
                ("Sec-WebSocket-Extensions", "x-other"),
            ]
        let request = try WebSocketHandshake.validateUpgrade(method: "GET", headers: headers).get()
        #expect(request.offeredProtocols == ["json.webpubsub.azure.v1", "json.reliable.webpubsub.azure.v1", "chat"])
        #expect(request.extensionOffers == ["permessage-deflate; client_max_window_bits", "x-other"])
    }

    @Test(
        arguments: [
            (["a", "B"], ["b"], "B"), (["x", "y"], ["z"], nil), ([], ["z"], nil),
            (["Json.V1", "json.v1"], ["JSON.v1"], "Json.V1"),
            (["p2", "p1"], ["p1", "p2"], "p2"),
        ] as [([String], [String], String?)])
    func selectProtocol(_ offered: [String], _ supported: [String], _ expected: String?) {
        #expect(WebSocketHandshake.selectProtocol(offered: offered, supported: supported) == expected)
    }

    @Test func responseHead() {
        let head = WebSocketHandshake.responseHead(
            accept: "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", protocol: "chat", extraHeaders: [("X-Id", "1\r\nEvil: 1")])
        #expect(
            String(decoding: head, as: UTF8.self)
                == "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: chat\r\n"
                + "X-Id: 1Evil: 1\r\n\r\n")
        let plain = String(decoding: WebSocketHandshake.responseHead(accept: "abc", protocol: nil), as: UTF8.self)
        #expect(!plain.contains("Sec-WebSocket-Protocol") && plain.hasSuffix("abc\r\n\r\n"))
        // A colon leaves names only; a tab stays; NUL, CR and LF go, wherever they sit in a
        // text longer than one eight-byte step.
        let extra = WebSocketHandshake.responseHead(
            accept: "a", protocol: nil,
            extraHeaders: [("X-Long:Name-Here", "tab\there:and-more-text"), ("X-Nul", "0123456789\u{0}abc\n")])
        #expect(
            String(decoding: extra, as: UTF8.self).hasSuffix(
                "X-LongName-Here: tab\there:and-more-text\r\nX-Nul: 0123456789abc\r\n\r\n"))
    }

    /// The response built from a key carries the same accept value as the one built from it.
    @Test func responseHeadForKey() {
        for key in [
            "dGhlIHNhbXBsZSBub25jZQ==", "x3JJHMbDL1EzLkh9GBhXDw==", "", "a", String(repeating: "k", count: 200),
        ] {
            for selected in [nil, "json.webpubsub.azure.v1"] as [String?] {
                let extra = selected == nil ? [] : [("Sec-WebSocket-Extensions", "permessage-deflate")]
                let expected = WebSocketHandshake.responseHead(
                    accept: WebSocketHandshake.acceptValue(forKey: key), protocol: selected, extraHeaders: extra)
                #expect(
                    WebSocketHandshake.responseHead(forKey: key, protocol: selected, extraHeaders: extra) == expected)
            }
        }
        let sample = WebSocketHandshake.responseHead(forKey: "dGhlIHNhbXBsZSBub25jZQ==", protocol: nil)
        #expect(
            String(decoding: sample, as: UTF8.self).contains(
                "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"))
    }

    @Test func randomValues() {
        let key = WebSocketHandshake.randomKey()
        #expect(key.utf8.count == 24)
        #expect(
            WebSocketHandshake.validateUpgrade(method: "GET", headers: replacing("Sec-WebSocket-Key", with: key))
                .isSuccess)
        #expect(key != WebSocketHandshake.randomKey())
        let masks = (0..<8).map { _ in WebSocketHandshake.randomMaskKey() }
        #expect(Set(masks).count > 1)
    }

    @Test func clientRequestIsAcceptedByTheServerSide() {
        let key = WebSocketHandshake.randomKey()
        let head = WebSocketHandshake.clientRequestHead(
            host: "localhost:8080", path: "/client/hubs/chat?access_token=x", key: key, protocols: ["a", "b"],
            extraHeaders: [("Sec-WebSocket-Extensions", "permessage-deflate")])
        let text = String(decoding: head, as: UTF8.self)
        #expect(text.hasPrefix("GET /client/hubs/chat?access_token=x HTTP/1.1\r\nHost: localhost:8080\r\n"))
        #expect(text.hasSuffix("\r\n\r\n"))
        let lines = text.split(separator: "\r\n").dropFirst()
        let headers: Headers = lines.map { line in
            let parts = line.split(separator: ":", maxSplits: 1)
            return (String(parts[0]), String(parts[1].dropFirst()))
        }
        let request = try? WebSocketHandshake.validateUpgrade(method: "GET", headers: headers).get()
        #expect(request?.offeredProtocols == ["a", "b"])
        #expect(request?.extensionOffers == ["permessage-deflate"])
    }

    static let key = "dGhlIHNhbXBsZSBub25jZQ=="
    static let accept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    static let base: Headers = [("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Accept", accept)]

    /// (name, status, headers, expected protocol, or "fail")
    @Test(
        arguments: [
            ("no protocol", 101, base, nil),
            ("protocol", 101, base + [("Sec-WebSocket-Protocol", "B")], "b"),
            ("not 101", 200, base, "fail"),
            (
                "wrong accept", 101,
                [("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Accept", "x")], "fail"
            ),
            ("missing accept", 101, [("Upgrade", "websocket"), ("Connection", "Upgrade")], "fail"),
            ("missing upgrade", 101, [("Connection", "Upgrade"), ("Sec-WebSocket-Accept", accept)], "fail"),
            ("missing connection", 101, [("Upgrade", "websocket"), ("Sec-WebSocket-Accept", accept)], "fail"),
            ("unoffered protocol", 101, base + [("Sec-WebSocket-Protocol", "c")], "fail"),
            ("two protocols", 101, base + [("Sec-WebSocket-Protocol", "a, b")], "fail"),
        ] as [(String, Int, Headers, String?)])
    func verifyServerResponse(_ name: String, _ status: Int, _ headers: Headers, _ expected: String?) {
        let result = WebSocketHandshake.verifyServerResponse(
            status: status, headers: headers, key: Self.key, offeredProtocols: ["a", "b"])
        switch result {
        case .success(let selected): #expect(selected == expected && expected != "fail", "\(name)")
        case .failure(let error):
            #expect(expected == "fail", "\(name)")
            #expect(error.status == status)
        }
    }
}

extension Result {
    var isSuccess: Bool {
        if case .success = self { return true }
        return false
    }
}
