import Testing
import WPSTLS

@Suite struct TLSHandshakeTests {
    let fixture = TLSFixture.shared

    @Test(arguments: [(TLSVersion.v1_2, "TLSv1.2"), (TLSVersion.v1_3, "TLSv1.3")])
    func handshakeCompletesWithALPN(version: TLSVersion, name: String) throws {
        let server = try fixture.serverContext()
        let client = try fixture.clientContext(maximumVersion: version)
        let (c, s) = connectedPair(server: server, client: client)
        #expect(c.session.state == .established)
        #expect(s.session.state == .established)
        #expect(c.session.protocolVersion == name)
        #expect(s.session.protocolVersion == name)
        #expect(c.session.negotiatedALPN == "http/1.1")
        #expect(s.session.negotiatedALPN == "http/1.1")
        #expect(c.failures.isEmpty && s.failures.isEmpty)
        #expect(!c.session.hasOutput && !s.session.hasOutput)
    }

    @Test func clientCanRequireTLS13() throws {
        let server = try fixture.serverContext()
        let client = try fixture.clientContext(minimumVersion: .v1_3)
        let (c, s) = connectedPair(server: server, client: client)
        #expect(c.session.protocolVersion == "TLSv1.3")
        #expect(s.session.state == .established)
    }

    @Test func serverMinimumAboveClientMaximumFailsOnBothSides() throws {
        let server = try fixture.serverContext(minimumVersion: .v1_3)
        let client = try fixture.clientContext(maximumVersion: .v1_2)
        let (c, s) = connectedPair(server: server, client: client)
        #expect(s.session.state == .closed)
        #expect(c.session.state == .closed)
        let serverError = try #require(s.failures.first)
        #expect(serverError.description.contains("unsupported protocol"))
        #expect(c.failures.count == 1)
    }

    @Test func byteByByteHandshakeAndMessage() throws {
        let server = try fixture.serverContext()
        let client = try fixture.clientContext()
        let c = Endpoint(client.makeSession(serverName: "localhost"))
        let s = Endpoint(server.makeSession())
        c.chunkSizes = [1]
        s.chunkSizes = [1]
        c.session.startHandshake()
        pump(c, s)
        #expect(c.session.state == .established)
        #expect(s.session.state == .established)
        let hello = Array("hello, byte by byte".utf8)
        try c.send(hello)
        try s.send(Array(hello.reversed()))
        pump(c, s)
        #expect(s.plaintext == hello)
        #expect(c.plaintext == Array(hello.reversed()))
        #expect(c.failures.isEmpty && s.failures.isEmpty)
    }

    @Test func startHandshakeOnServerDoesNothing() throws {
        let session = try fixture.serverContext().makeSession()
        session.startHandshake()
        #expect(session.state == .handshaking)
        #expect(!session.hasOutput)
    }

    @Test func clientWithoutCommonALPNStillConnectsWithoutProtocol() throws {
        let server = try fixture.serverContext()
        let client = try fixture.clientContext(alpn: ["h2"])
        let (c, s) = connectedPair(server: server, client: client)
        #expect(c.session.state == .established)
        #expect(s.session.negotiatedALPN == nil)
        #expect(c.session.negotiatedALPN == nil)
    }

    @Test func serverPrefersItsOwnALPNOrder() throws {
        let server = try fixture.serverContext(alpn: ["http/1.1", "h2"])
        let client = try fixture.clientContext(alpn: ["h2", "http/1.1"])
        let (c, s) = connectedPair(server: server, client: client)
        #expect(s.session.negotiatedALPN == "http/1.1")
        #expect(c.session.negotiatedALPN == "http/1.1")
    }

    @Test func garbageBeforeHandshakeFailsReadably() throws {
        let s = Endpoint(try fixture.serverContext().makeSession())
        s.feed(Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        let error = try #require(s.failures.first)
        #expect(error.description.contains("handshake failed"))
        #expect(error.description.contains("error:"))
        #expect(s.session.state == .closed)
        // Reported once; later input is ignored as closed.
        s.feed([0x16, 0x03, 0x01])
        #expect(s.results.last == .closed)
        #expect(throws: TLSError.self) { try s.send([1, 2, 3]) }
    }

    @Test func garbageAfterHandshakeFails() throws {
        let (c, s) = connectedPair(server: try fixture.serverContext(), client: try fixture.clientContext())
        // A well-formed application-data record header with a body that cannot authenticate.
        s.feed([0x17, 0x03, 0x03, 0x00, 0x20] + [UInt8](repeating: 0xAB, count: 32))
        let error = try #require(s.failures.first)
        #expect(error.description.contains("TLS record failed"))
        #expect(s.session.state == .closed)
        // The server's alert reaches the client, which fails too.
        pump(c, s)
        #expect(c.session.state == .closed)
    }

    @Test(arguments: [0, 1, 5, 100, 4096])
    func randomBytesNeverCrash(count: Int) throws {
        for seed in UInt64(1)...8 {
            let s = Endpoint(try fixture.serverContext().makeSession())
            s.feed(patternBytes(count: count, seed: seed))
            let c = Endpoint(try fixture.clientContext().makeSession(serverName: "localhost"))
            c.session.startHandshake()
            _ = c.takeOutput()
            c.feed([0x16, 0x03, 0x03] + patternBytes(count: count, seed: seed))
            #expect(s.session.state != .established)
            #expect(c.session.state != .established)
        }
    }
}
