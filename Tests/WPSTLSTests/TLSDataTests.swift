import Testing
import WPSTLS

@Suite struct TLSDataTests {
    let fixture = TLSFixture.shared

    @Test(arguments: [TLSVersion.v1_2, .v1_3])
    func oneMebibyteBothWaysSplitArbitrarily(version: TLSVersion) throws {
        let (c, s) = connectedPair(
            server: try fixture.serverContext(), client: try fixture.clientContext(maximumVersion: version)
        )
        let up = patternBytes(count: 1 << 20, seed: 7)
        let down = patternBytes(count: 1 << 20, seed: 11)
        s.chunkSizes = [1, 7, 4096, 100_000, 13, 16_389, 3]
        c.chunkSizes = [65_536, 2, 17_000, 5]
        try c.send(up)
        try s.send(down)
        pump(c, s)
        #expect(s.plaintext.count == up.count)
        #expect(s.plaintext == up)
        #expect(c.plaintext == down)
        #expect(c.failures.isEmpty && s.failures.isEmpty)
    }

    @Test func manySmallMessagesInOneReceive() throws {
        let (c, s) = connectedPair(server: try fixture.serverContext(), client: try fixture.clientContext())
        var expected: [UInt8] = []
        for index in 0..<200 {
            let message = Array("message \(index);".utf8)
            expected += message
            try c.send(message)
        }
        pump(c, s)
        #expect(s.plaintext == expected)
    }

    @Test func plaintextSentDuringHandshakeIsDeliveredAfterIt() throws {
        let server = try fixture.serverContext()
        let c = Endpoint(try fixture.clientContext().makeSession(serverName: "localhost"))
        let s = Endpoint(server.makeSession())
        try c.send(Array("early from client".utf8))
        try s.send(Array("early from server".utf8))
        c.session.startHandshake()
        pump(c, s)
        #expect(s.plaintext == Array("early from client".utf8))
        #expect(c.plaintext == Array("early from server".utf8))
    }

    @Test func emptySendWritesNothing() throws {
        let (c, _) = connectedPair(server: try fixture.serverContext(), client: try fixture.clientContext())
        try c.send([])
        #expect(!c.session.hasOutput)
    }

    @Test(arguments: [TLSVersion.v1_2, .v1_3])
    func closeNotifyIsSeenAsClosedAndAnswered(version: TLSVersion) throws {
        let (c, s) = connectedPair(
            server: try fixture.serverContext(), client: try fixture.clientContext(maximumVersion: version)
        )
        try c.send(Array("last words".utf8))
        c.session.shutdown()
        #expect(c.session.state == .closed)
        #expect(c.session.hasOutput)
        s.feed(c.takeOutput())
        #expect(s.plaintext == Array("last words".utf8))
        #expect(s.results.last == .closed)
        #expect(s.session.state == .closed)
        // The server answered with its own close_notify.
        #expect(s.session.hasOutput)
        // Shutting down again adds nothing.
        c.session.shutdown()
        #expect(!c.session.hasOutput)
        #expect(throws: TLSError.self) { try c.send([1]) }
    }

    @Test func closeNotifyInSameBufferAsDataDeliversDataFirst() throws {
        let (c, s) = connectedPair(server: try fixture.serverContext(), client: try fixture.clientContext())
        try s.send(Array("a".utf8))
        try s.send(Array("b".utf8))
        s.session.shutdown()
        c.results = []
        c.feed(s.takeOutput())
        #expect(c.plaintext == Array("ab".utf8))
        #expect(c.results == [.closed])
    }

    @Test func shutdownFromPlaintextCallbackStopsReading() throws {
        let (c, s) = connectedPair(server: try fixture.serverContext(), client: try fixture.clientContext())
        try c.send(Array("first".utf8))
        try c.send(Array("second".utf8))
        var delivered: [UInt8] = []
        let output = c.takeOutput()
        let result = output.withUnsafeBytes { raw in
            s.session.receive(raw) { plain in
                delivered += plain
                s.session.shutdown()
            }
        }
        #expect(result == .closed)
        #expect(delivered == Array("first".utf8))
        #expect(s.session.hasOutput)
    }

    @Test func shutdownDuringHandshakeJustCloses() throws {
        let c = Endpoint(try fixture.clientContext().makeSession(serverName: "localhost"))
        c.session.startHandshake()
        _ = c.takeOutput()
        c.session.shutdown()
        #expect(c.session.state == .closed)
        #expect(!c.session.hasOutput)
    }

    @Test func outputIsTakenOnce() throws {
        let (c, _) = connectedPair(server: try fixture.serverContext(), client: try fixture.clientContext())
        try c.send(patternBytes(count: 50_000, seed: 3))
        #expect(c.session.outputByteCount > 50_000)
        var calls = 0
        c.session.takeOutput { _ in calls += 1 }
        c.session.takeOutput { _ in calls += 1 }
        #expect(calls == 1)
        #expect(c.session.outputByteCount == 0)
    }
}
