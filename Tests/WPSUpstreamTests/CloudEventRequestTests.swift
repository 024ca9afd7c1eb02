import Testing
import WPSAuth
import WPSUpstream

@Suite struct CloudEventRequestTests {
    func head(_ bytes: [UInt8]) -> (lines: [String], body: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        let parts = text.split(separator: "\r\n\r\n", maxSplits: 1, omittingEmptySubsequences: false)
        let lines = parts[0].split(separator: "\r\n").map(String.init)
        let headLength = parts[0].utf8.count + 4
        return (lines, Array(bytes[headLength...]))
    }

    @Test func userEventCarriesEveryAttribute() throws {
        let handler = EventHandler(
            urlTemplate: try URLTemplate("http://127.0.0.1:9/api/{hub}/{event}"),
            headers: [.init(name: "x-functions-key", value: "k")])
        let source = EventSource(
            hub: "chat", connectionId: "c1", userId: "alice", subprotocol: "json.webpubsub.azure.v1",
            connectionState: "s")
        let body: [UInt8] = [1, 2, 3]
        let request = body.withUnsafeBytes {
            CloudEventRequest.event(
                handler: handler, source: source, type: CloudEventRequest.type(userEvent: "submit"),
                eventName: "submit",
                id: 7, time: 0, signature: "sha256=ab", requestOrigin: "wps.example",
                contentType: "application/octet-stream",
                body: $0)
        }
        let (lines, sent) = head(request)
        #expect(lines[0] == "POST /api/chat/submit HTTP/1.1")
        let expected = [
            "Host: 127.0.0.1:9", "Content-Type: application/octet-stream", "Content-Length: 3",
            "WebHook-Request-Origin: wps.example", "ce-specversion: 1.0", "ce-type: azure.webpubsub.user.submit",
            "ce-source: /hubs/chat/client/c1", "ce-id: 7", "ce-time: 1970-01-01T00:00:00Z", "ce-signature: sha256=ab",
            "ce-userId: alice", "ce-connectionId: c1", "ce-hub: chat", "ce-eventName: submit",
            "ce-subprotocol: json.webpubsub.azure.v1", "ce-connectionState: s", "ce-awpsversion: 1.0",
            "x-functions-key: k",
        ]
        #expect(Array(lines.dropFirst()) == expected)
        #expect(sent == body)
    }

    @Test func absentAttributesAreLeftOutAndControlBytesDropped() throws {
        let handler = EventHandler(urlTemplate: try URLTemplate("http://h/"))
        let source = EventSource(
            hub: "chat", connectionId: "c1", userId: nil, subprotocol: nil, connectionState: "a\r\nX: y")
        let request = [UInt8]().withUnsafeBytes {
            CloudEventRequest.event(
                handler: handler, source: source, type: CloudEventRequest.type(system: .connected),
                eventName: "connected",
                id: 1, time: 0, signature: "", requestOrigin: "o", contentType: UpstreamContent.systemEvent, body: $0)
        }
        let (lines, _) = head(request)
        #expect(!lines.contains { $0.hasPrefix("ce-userId") || $0.hasPrefix("ce-subprotocol") })
        #expect(lines.contains("ce-connectionState: aX: y"))
        #expect(!lines.contains("X: y"))
    }

    @Test func preflightIsOptionsAtValidate() throws {
        let handler = EventHandler(urlTemplate: try URLTemplate("http://h:8080/{hub}/{event}"))
        let (lines, body) = head(
            CloudEventRequest.validation(handler: handler, hub: "chat", requestOrigin: "wps.example"))
        #expect(lines[0] == "OPTIONS /chat/validate HTTP/1.1")
        #expect(lines.contains("WebHook-Request-Origin: wps.example"))
        #expect(lines.contains("ce-awpsversion: 1.0"))
        #expect(body.isEmpty)
    }
}

@Suite struct ConnectEventTests {
    @Test func bodyHoldsEveryMapAndBothQuerySpellings() {
        let body = ConnectEvent.body(
            claims: [("sub", ["alice"]), ("role", ["r1", "r2"])],
            query: [("access_token", "t"), ("id", "A"), ("id", "B")],
            headers: [("Host", "h"), ("host", "h2")], subprotocols: ["json.webpubsub.azure.v1"])
        let text = String(decoding: body, as: UTF8.self)
        #expect(
            text
                == #"{"claims":{"sub":["alice"],"role":["r1","r2"]},"query":{"access_token":["t"],"id":["A","B"]},"queries":{"access_token":["t"],"id":["A","B"]},"headers":{"Host":["h","h2"]},"subprotocols":["json.webpubsub.azure.v1"],"clientCertificates":[]}"#
        )
    }

    func parse(_ text: String) throws -> ConnectEvent.Answer {
        let bytes = Array(text.utf8)
        return try bytes.withUnsafeBytes { try ConnectEvent.parseAnswer($0) }
    }

    @Test func answersParse() throws {
        #expect(try parse("") == ConnectEvent.Answer())
        #expect(try parse(" null ") == ConnectEvent.Answer())
        #expect(
            try parse(#"{"userId":"bob","groups":["g"],"roles":[],"subprotocol":"p","other":1}"#)
                == ConnectEvent.Answer(userId: "bob", groups: ["g"], roles: [], subprotocol: "p"))
        #expect(try parse(#"{"userId":null,"subprotocol":""}"#) == ConnectEvent.Answer())
    }

    @Test(arguments: [#"{"userId":1}"#, #"{"groups":"g"}"#, #"{"roles":[1]}"#, "[1]", "{", #""x""#])
    func badAnswersFail(_ text: String) {
        #expect(throws: ConnectEvent.Failure.self) { try parse(text) }
    }

    @Test func mergeRules() throws {
        let token = ConnectIdentity(
            userId: "alice", roles: ["r"], groups: ["t"], subprotocol: "json.webpubsub.azure.v1")
        let offered = ["json.webpubsub.azure.v1", "custom"]
        #expect(try token.merged(with: ConnectEvent.Answer(), offered: offered) == token)
        let changed = try token.merged(
            with: ConnectEvent.Answer(userId: "bob", groups: [], roles: [], subprotocol: "custom"), offered: offered)
        #expect(changed == ConnectIdentity(userId: "bob", roles: [], groups: ["t"], subprotocol: "custom"))
        #expect(try token.merged(with: ConnectEvent.Answer(groups: ["g"]), offered: offered).groups == ["g"])
        #expect(try token.merged(with: ConnectEvent.Answer(userId: ""), offered: offered).userId == nil)
        #expect(throws: ConnectEvent.Failure.self) {
            try token.merged(
                with: ConnectEvent.Answer(subprotocol: "json.reliable.webpubsub.azure.v1"), offered: offered)
        }
    }
}
