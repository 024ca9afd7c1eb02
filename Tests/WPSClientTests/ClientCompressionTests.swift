import Testing
import WPSClient

/// permessage-deflate between WPSClient and the server, mixed with a client that does not offer it.
@Suite(.timeLimit(.minutes(1))) struct ClientCompressionTests {
    @Test(arguments: [WebPubSubClientOptions.ClientProtocol.jsonReliable, .json])
    func largeMessagesCrossCompressedAndPlainClients(_ proto: WebPubSubClientOptions.ClientProtocol) async throws {
        let server = try TestServer()
        defer { server.shutdown() }
        var compressed = fastOptions(proto)
        compressed.compression = true
        var plain = fastOptions(proto)
        plain.compression = false
        let a = WebPubSubClient(url: .fixed(server.url(userId: "alice")), options: compressed)
        let b = WebPubSubClient(url: .fixed(server.url(userId: "bob")), options: plain)
        let logA = EventLog(a)
        let logB = EventLog(b)
        try await a.start()
        try await b.start()
        try await a.joinGroup("g")
        try await b.joinGroup("g")
        let big = String(repeating: "compressible text ", count: 500)
        let json = Array(
            ("{\"rows\":[" + Array(repeating: "{\"k\":\"v\"}", count: 300).joined(separator: ",") + "]}").utf8)
        try await a.sendToGroup("g", data: .text(big))
        try await b.sendToGroup("g", data: .json(json))
        try await a.sendToGroup("g", data: .text("small"))
        let expected: [MessageData] = [.text(big), .json(json), .text("small")]
        #expect(await logA.wait { $0.groupData == expected })
        #expect(await logB.wait { $0.groupData == expected })
        await a.stop()
        await b.stop()
    }
}
