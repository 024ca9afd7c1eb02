import Testing
import WPSTLS

@Suite struct TLSContextTests {
    let fixture = TLSFixture.shared

    @Test func wrongCAFailsVerification() throws {
        let client = try fixture.clientContext(caFile: fixture.otherCAPath)
        let (c, s) = connectedPair(server: try fixture.serverContext(), client: client)
        #expect(c.session.state == .closed)
        let error = try #require(c.failures.first)
        #expect(error.description.contains("certificate verify failed"))
        #expect(error.description.contains("unable to get local issuer certificate"))
        #expect(s.session.state == .closed)
    }

    @Test(arguments: ["localhost", "127.0.0.1"])
    func rightCAAndNameSucceed(serverName: String) throws {
        let (c, _) = connectedPair(
            server: try fixture.serverContext(), client: try fixture.clientContext(), serverName: serverName
        )
        #expect(c.session.state == .established, "\(c.failures)")
    }

    @Test(arguments: ["example.com", "10.0.0.1"])
    func rightCAWrongNameFails(serverName: String) throws {
        let (c, _) = connectedPair(
            server: try fixture.serverContext(), client: try fixture.clientContext(), serverName: serverName
        )
        #expect(c.session.state == .closed)
        let error = try #require(c.failures.first)
        #expect(error.description.contains("mismatch"))
    }

    @Test(arguments: ["", "local\u{0}host"])
    func unusableServerNameIsRefused(serverName: String) throws {
        let session = try fixture.clientContext().makeSession(serverName: serverName)
        #expect(session.state == .closed)
        #expect(session.failure != nil)
        session.startHandshake()
        #expect(!session.hasOutput)
        #expect(throws: TLSError.self) { try session.send(UnsafeRawBufferPointer(start: nil, count: 0)) }
        let result = session.receive(UnsafeRawBufferPointer(start: nil, count: 0)) { _ in }
        #expect(result != .ok)
    }

    @Test func insecureClientAcceptsUnknownCA() throws {
        let client = try TLSClientContext(caFile: nil, insecure: true)
        let (c, _) = connectedPair(server: try fixture.serverContext(), client: client)
        #expect(c.session.state == .established)
    }

    @Test func systemStoreDoesNotTrustTestCA() throws {
        let client = try TLSClientContext(caFile: nil)
        let (c, _) = connectedPair(server: try fixture.serverContext(), client: client)
        #expect(c.session.state == .closed)
    }

    @Test func missingFilesThrowReadableErrors() throws {
        let missing = TLSConfiguration(
            certificateChainPath: "/nonexistent/cert.pem", privateKeyPath: "/nonexistent/key")
        let error = #expect(throws: TLSError.self) { try TLSServerContext(missing) }
        #expect(error?.description.contains("/nonexistent/cert.pem") == true)
        #expect(throws: TLSError.self) { try TLSClientContext(caFile: "/nonexistent/ca.pem") }
    }

    @Test func mismatchedKeyIsRejected() throws {
        let config = TLSConfiguration(
            certificateChainPath: fixture.serverCertPath, privateKeyPath: fixture.otherKeyPath
        )
        let error = #expect(throws: TLSError.self) { try TLSServerContext(config) }
        #expect(error?.description.contains("error:") == true)
    }

    @Test(arguments: [[""], [String(repeating: "x", count: 256)]])
    func invalidALPNNamesAreRejected(alpn: [String]) throws {
        #expect(throws: TLSError.self) { try fixture.serverContext(alpn: alpn) }
        #expect(throws: TLSError.self) { try fixture.clientContext(alpn: alpn) }
    }

    @Test func reloadSwapsCertificateForNewSessionsOnly() throws {
        let dir = try fixture.makeScratchDirectory()
        let certPath = dir + "/cert.pem"
        let keyPath = dir + "/key.pem"
        try TLSFixture.run("cp \(fixture.serverCertPath) \(certPath) && cp \(fixture.serverKeyPath) \(keyPath)")
        let server = try TLSServerContext(TLSConfiguration(certificateChainPath: certPath, privateKeyPath: keyPath))
        let trustsFirst = try fixture.clientContext()
        let trustsSecond = try fixture.clientContext(caFile: fixture.otherCAPath)

        let (oldClient, oldServer) = connectedPair(server: server, client: trustsFirst)
        #expect(oldClient.session.state == .established)

        try TLSFixture.run("cp \(fixture.otherCertPath) \(certPath) && cp \(fixture.otherKeyPath) \(keyPath)")
        try server.reload()

        let (newGood, _) = connectedPair(server: server, client: trustsSecond)
        #expect(newGood.session.state == .established)
        let (newBad, _) = connectedPair(server: server, client: trustsFirst)
        #expect(newBad.session.state == .closed)

        // The session made before the reload keeps its context and still works both ways.
        try oldClient.send(Array("still here".utf8))
        try oldServer.send(Array("me too".utf8))
        pump(oldClient, oldServer)
        #expect(oldServer.plaintext == Array("still here".utf8))
        #expect(oldClient.plaintext == Array("me too".utf8))
    }

    @Test func failedReloadKeepsPreviousContext() throws {
        let dir = try fixture.makeScratchDirectory()
        let certPath = dir + "/cert.pem"
        let keyPath = dir + "/key.pem"
        try TLSFixture.run("cp \(fixture.serverCertPath) \(certPath) && cp \(fixture.serverKeyPath) \(keyPath)")
        let server = try TLSServerContext(TLSConfiguration(certificateChainPath: certPath, privateKeyPath: keyPath))
        try TLSFixture.write("not a pem", to: certPath)
        #expect(throws: TLSError.self) { try server.reload() }
        let (c, _) = connectedPair(server: server, client: try fixture.clientContext())
        #expect(c.session.state == .established)
    }

    @Test func sessionsFromManyThreadsWhileReloading() async throws {
        let server = try fixture.serverContext()
        let client = try fixture.clientContext()
        try await withThrowingTaskGroup(of: Bool.self) { group in
            for task in 0..<8 {
                group.addTask {
                    if task == 0 {
                        for _ in 0..<5 { try server.reload() }
                        return true
                    }
                    let (c, s) = connectedPair(server: server, client: client)
                    return c.session.state == .established && s.session.state == .established
                }
            }
            for try await ok in group { #expect(ok) }
        }
    }
}
