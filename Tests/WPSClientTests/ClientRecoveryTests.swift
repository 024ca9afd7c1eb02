import Testing
import WPSClient

@Suite(.timeLimit(.minutes(1))) struct ClientRecoveryTests {
    @Test func recoveryKeepsTheConnectionAndDeliversEveryMessageOnce() async throws {
        let server = try TestServer()
        defer { server.shutdown() }
        let proxy = try TCPProxy(upstreamPort: server.port)
        defer { proxy.shutdown() }
        let a = WebPubSubClient(url: .fixed(TestServer.url(port: proxy.port, userId: "a")), options: fastOptions())
        let b = WebPubSubClient(url: .fixed(server.url(userId: "b")), options: fastOptions())
        let log = EventLog(a)
        try await a.start()
        try await b.start()
        let id = await a.connectionId
        try await a.joinGroup("g")
        let count = 60
        for index in 1...count {
            try await b.sendToGroup("g", data: .text("m\(index)"))
            if index % 15 == 0 { proxy.cutAll() }
            if index % 5 == 0 { try await Task.sleep(for: .milliseconds(30)) }
        }
        let expected = (1...count).map { "m\($0)" }
        #expect(await log.wait { $0.groupTexts.count >= count })
        try await Task.sleep(for: .milliseconds(200))
        #expect(log.groupTexts == expected)
        #expect(await a.connectionId == id)
        #expect(log.connectedIds == [id ?? ""])
        #expect(proxy.connectionCount >= 3)
        try await a.sendToGroup("g", data: .text("after"))
        #expect(await log.wait { $0.groupTexts.last == "after" })
        await a.stop()
        await b.stop()
    }

    @Test func acknowledgedMessagesAreNotReplayed() async throws {
        let server = try TestServer()
        defer { server.shutdown() }
        let proxy = try TCPProxy(upstreamPort: server.port)
        defer { proxy.shutdown() }
        let a = WebPubSubClient(url: .fixed(TestServer.url(port: proxy.port, userId: "a")), options: fastOptions())
        let b = WebPubSubClient(url: .fixed(server.url(userId: "b")), options: fastOptions())
        let log = EventLog(a)
        try await a.start()
        try await b.start()
        try await a.joinGroup("g")
        for index in 1...3 { try await b.sendToGroup("g", data: .text("m\(index)")) }
        #expect(await log.wait { $0.groupTexts.count == 3 })
        try await Task.sleep(for: .milliseconds(500))  // several sequenceAck intervals
        proxy.cutAll()
        #expect(await log.wait { _ in proxy.serverText(1).contains(#""event":"connected""#) })
        try await b.sendToGroup("g", data: .text("m4"))
        #expect(await log.wait { $0.groupTexts.count == 4 })
        let replay = proxy.serverText(1)
        #expect(!replay.contains("\"m1\"") && !replay.contains("\"m3\""))
        #expect(replay.contains("\"m4\""))
        #expect(log.connectedIds.count == 1)
        await a.stop()
        await b.stop()
    }

    @Test func refusedRecoveryStartsAFreshConnectionAndRejoins() async throws {
        let first = try TestServer()
        defer { first.shutdown() }
        let second = try TestServer()
        defer { second.shutdown() }
        let proxy = try TCPProxy(upstreamPort: first.port)
        defer { proxy.shutdown() }
        let a = WebPubSubClient(url: .fixed(TestServer.url(port: proxy.port, userId: "a")), options: fastOptions())
        let log = EventLog(a)
        try await a.start()
        let oldId = await a.connectionId
        try await a.joinGroup("g")
        proxy.setUpstream(second.port)  // a "restarted" server that knows no session
        proxy.cutAll()
        #expect(await log.wait { $0.connectedIds.count == 2 })
        #expect(log.connectedIds.last != oldId)
        #expect(log.all.contains { if case .disconnected = $0 { true } else { false } })
        let b = WebPubSubClient(url: .fixed(second.url(userId: "b")), options: fastOptions())
        try await b.start()
        // The rejoin is in flight right after `connected`; publish until it lands.
        var delivered = false
        for attempt in 0..<50 where !delivered {
            try await b.sendToGroup("g", data: .text("new\(attempt)"))
            delivered = await log.wait(timeout: .milliseconds(100)) { !$0.groupTexts.isEmpty }
        }
        #expect(delivered)
        await a.stop()
        await b.stop()
    }

    @Test func nonReliableDropReconnectsFresh() async throws {
        let server = try TestServer()
        defer { server.shutdown() }
        let proxy = try TCPProxy(upstreamPort: server.port)
        defer { proxy.shutdown() }
        let a = WebPubSubClient(url: .fixed(TestServer.url(port: proxy.port, userId: "a")), options: fastOptions(.json))
        let log = EventLog(a)
        try await a.start()
        try await a.joinGroup("g")
        proxy.cutAll()
        #expect(await log.wait { $0.connectedIds.count == 2 })
        try await Task.sleep(for: .milliseconds(100))
        try await a.sendToGroup("g", data: .text("back"))
        #expect(await log.wait { $0.groupTexts == ["back"] })
        await a.stop()
    }
}
