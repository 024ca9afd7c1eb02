import Testing
import WPSClient

@Suite(.timeLimit(.minutes(1))) struct WebPubSubClientTests {
    @Test(arguments: [WebPubSubClientOptions.ClientProtocol.jsonReliable, .json])
    func groupMessagesReachAnotherClient(_ proto: WebPubSubClientOptions.ClientProtocol) async throws {
        let server = try TestServer()
        defer { server.shutdown() }
        let a = WebPubSubClient(url: .fixed(server.url(userId: "alice")), options: fastOptions(proto))
        let b = WebPubSubClient(url: .fixed(server.url(userId: "bob")), options: fastOptions(proto))
        let logA = EventLog(a)
        let logB = EventLog(b)
        try await a.start()
        try await b.start()
        let id = await a.connectionId
        #expect(id?.utf8.count == 32)
        #expect(await logA.wait { $0.all.first == .connected(connectionId: id ?? "", userId: "alice") })
        try await a.joinGroup("g")
        try await b.joinGroup("g")
        try await b.sendToGroup("g", data: .text("hi"))
        try await b.sendToGroup("g", data: .json(Array(#"{"a": [1, 2]}"#.utf8)))
        try await b.sendToGroup("g", data: .binary([0, 1, 255]))
        try await b.sendToGroup("g", data: .text("quiet"), noEcho: true)
        try await b.sendToGroup("g", data: .text("fire"), fireAndForget: true)
        let expected: [MessageData] = [
            .text("hi"), .json(Array(#"{"a": [1, 2]}"#.utf8)), .binary([0, 1, 255]), .text("quiet"), .text("fire"),
        ]
        #expect(await logA.wait { $0.groupData == expected })
        #expect(await logB.wait { $0.groupData.count == 4 })
        #expect(logB.groupData == [expected[0], expected[1], expected[2], expected[4]])
        if case .groupMessage(_, let from, _, let sequenceId) = logA.all.last {
            #expect(from == "bob")
            #expect((sequenceId != nil) == (proto == .jsonReliable))
        }
        await a.stop()
        await b.stop()
    }

    @Test func forbiddenFailsAndDuplicateSucceeds() async throws {
        let server = try TestServer()
        defer { server.shutdown() }
        let guest = WebPubSubClient(url: .fixed(server.url(userId: "guest", roles: [])), options: fastOptions())
        try await guest.start()
        await #expect(throws: SendMessageError.self) { try await guest.sendToGroup("g", data: .text("x")) }
        do {
            try await guest.joinGroup("g")
            Issue.record("join without a role succeeded")
        } catch let error as SendMessageError {
            #expect(error.errorName == "Forbidden")
            #expect(error.ackId == 2)
        }
        let member = WebPubSubClient(url: .fixed(server.url(userId: "m")), options: fastOptions())
        try await member.start()
        try await member.joinGroup("g", ackId: 100)
        try await member.joinGroup("g", ackId: 100)
        try await member.sendToGroup("g", data: .text("once"), ackId: 7)
        try await member.sendToGroup("g", data: .text("twice"), ackId: 7)
        await guest.stop()
        await member.stop()
    }

    @Test func stopReportsStoppedAndDoesNotReconnect() async throws {
        let server = try TestServer()
        defer { server.shutdown() }
        let client = WebPubSubClient(url: .fixed(server.url(userId: "s")), options: fastOptions())
        let log = EventLog(client)
        try await client.start()
        await client.stop()
        #expect(await log.wait { $0.all.last == .stopped })
        try await Task.sleep(for: .milliseconds(400))
        #expect(log.connectedIds.count == 1)
        #expect(log.all.last == .stopped)
        #expect(await client.connectionId == nil)
        await #expect(throws: SendMessageError.self) { try await client.joinGroup("g") }
    }

    @Test func negotiateProviderFetchesAURL() async throws {
        let server = try TestServer(negotiateKey: "nk")
        defer { server.shutdown() }
        let provider = WebPubSubClient.negotiateURLProvider(
            server: "http://127.0.0.1:\(server.port)", userId: "neg", group: "ng", hub: nil, apiKey: "nk")
        let client = WebPubSubClient(url: provider, options: fastOptions())
        let log = EventLog(client)
        try await client.start()
        #expect(
            await log.wait { $0.all.first.map { if case .connected(_, "neg") = $0 { true } else { false } } ?? false })
        try await client.sendToGroup("ng", data: .text("via negotiate"))
        #expect(await log.wait { $0.groupTexts == ["via negotiate"] })
        await client.stop()

        let wrong = WebPubSubClient.negotiateURLProvider(
            server: "http://127.0.0.1:\(server.port)", userId: "neg", group: nil, hub: nil, apiKey: "bad")
        let refused = WebPubSubClient(url: wrong, options: fastOptions())
        await #expect(throws: ClientConnectError.self) { try await refused.start() }
    }
}
