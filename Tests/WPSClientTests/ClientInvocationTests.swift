import Testing
import WPSClient

/// `sendEvent` and `invoke` through a real server to a real (small) event handler.
@Suite(.timeLimit(.minutes(1))) struct ClientInvocationTests {
    @Test(arguments: [WebPubSubClientOptions.ClientProtocol.jsonReliable, .json])
    func sendEventGetsTheHandlersReplyBeforeItsAck(_ proto: WebPubSubClientOptions.ClientProtocol) async throws {
        let handler = try TestEventHandler()
        defer { handler.stop() }
        let server = try TestServer(eventHandler: handler.template)
        defer { server.shutdown() }
        let client = WebPubSubClient(url: .fixed(server.url(userId: "alice")), options: fastOptions(proto))
        let log = EventLog(client)
        try await client.start()
        try await client.sendEvent("echo", data: .text("hello"))
        // The reply came before the ack, so it is already in the log or right behind.
        #expect(
            await log.wait {
                $0.all.contains { if case .serverMessage(.text("hello"), _) = $0 { true } else { false } }
            })
        await #expect(throws: SendMessageError.self) { try await client.sendEvent("fail", data: .text("x")) }
        await client.stop()
    }

    @Test(arguments: [WebPubSubClientOptions.ClientProtocol.jsonReliable, .json])
    func invokeReturnsTheAnswer(_ proto: WebPubSubClientOptions.ClientProtocol) async throws {
        let handler = try TestEventHandler()
        defer { handler.stop() }
        let server = try TestServer(eventHandler: handler.template)
        defer { server.shutdown() }
        let client = WebPubSubClient(url: .fixed(server.url(userId: "alice")), options: fastOptions(proto))
        try await client.start()
        #expect(try await client.invoke("echo", data: .text("ping")) == .text("ping"))
        #expect(try await client.invoke("other", data: .text("x")) == nil)
        do {
            _ = try await client.invoke("fail", data: .text("x"), invocationId: "mine")
            Issue.record("a failing handler must throw")
        } catch let error as InvocationError {
            #expect(error.invocationId == "mine" && error.errorName == "InternalServerError")
        }
        await client.stop()
    }

    @Test func timeoutCancelsAndTheConnectionGoesOn() async throws {
        let handler = try TestEventHandler()
        defer { handler.stop() }
        let server = try TestServer(eventHandler: handler.template)
        defer { server.shutdown() }
        let client = WebPubSubClient(url: .fixed(server.url(userId: "alice")), options: fastOptions(.jsonReliable))
        try await client.start()
        do {
            _ = try await client.invoke("slow", data: .text("x"), timeout: .milliseconds(200))
            Issue.record("the invocation must time out")
        } catch let error as InvocationError {
            #expect(error.errorName == "Timeout")
        }
        // The next invocation waits behind the slow one on the server, then succeeds.
        #expect(try await client.invoke("echo", data: .text("after")) == .text("after"))
        #expect(handler.events.suffix(2) == ["slow", "echo"])
        await client.stop()
    }

    @Test func cancellingTheTaskCancelsTheInvocation() async throws {
        let handler = try TestEventHandler()
        defer { handler.stop() }
        let server = try TestServer(eventHandler: handler.template)
        defer { server.shutdown() }
        let client = WebPubSubClient(url: .fixed(server.url(userId: "alice")), options: fastOptions(.json))
        try await client.start()
        let task = Task { try await client.invoke("slow", data: .text("x")) }
        try await Task.sleep(for: .milliseconds(200))
        task.cancel()
        do {
            _ = try await task.value
            Issue.record("a cancelled invocation must throw")
        } catch let error as InvocationError {
            #expect(error.errorName == "Cancelled")
        }
        await client.stop()
    }
}
