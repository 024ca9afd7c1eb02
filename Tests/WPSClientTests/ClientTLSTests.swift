import Glibc
import Testing
import WPSAuth
import WPSClient
import WPSTLS

/// The client over `wss://` and `https://` against the server with a certificate made here.
@Suite(.serialized) struct ClientTLSTests {
    /// A self-signed certificate for localhost and 127.0.0.1 in a fresh directory.
    static func certificate() throws -> (cert: String, key: String) {
        var template = Array("/tmp/wps-client-tls-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { buffer -> String? in
            guard let base = buffer.baseAddress, let path = mkdtemp(base) else { return nil }
            return String(cString: path)
        }
        let directory = try #require(made)
        let cert = directory + "/cert.pem"
        let key = directory + "/key.pem"
        try TLSCertificateFactory.makeSelfSigned(
            commonName: "localhost", dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"], certificatePath: cert,
            keyPath: key)
        return (cert, key)
    }

    static func secureURL(port: Int, userId: String) -> String {
        let endpoint = "https://localhost:\(port)"
        let token = ClientToken.make(
            endpoint: endpoint, hub: "hub", userId: userId,
            roles: ["webpubsub.joinLeaveGroup", "webpubsub.sendToGroup"],
            groups: [], key: TestServer.key, now: Int64(time(nil)))
        return ClientToken.clientURL(endpoint: endpoint, hub: "hub", token: token)
    }

    @Test func groupMessagesFlowOverWSS() async throws {
        let files = try Self.certificate()
        let server = try TestServer(
            negotiateKey: "nk",
            tls: TLSServerContext(TLSConfiguration(certificateChainPath: files.cert, privateKeyPath: files.key)))
        defer { server.shutdown() }
        var options = WebPubSubClientOptions()
        options.tls = try ClientTLS(caFile: files.cert)
        let sender = WebPubSubClient(url: .fixed(Self.secureURL(port: server.port, userId: "a")), options: options)
        let receiver = WebPubSubClient(
            url: WebPubSubClient.negotiateURLProvider(
                server: "https://localhost:\(server.port)", userId: "b", group: "room", hub: nil, apiKey: "nk",
                tls: options.tls),
            options: options)
        let log = EventLog(receiver)
        try await receiver.start()
        try await sender.start()
        try await sender.sendToGroup("room", data: .text("over tls"))
        #expect(await log.wait { $0.groupTexts == ["over tls"] })
        await sender.stop()
        await receiver.stop()
    }

    @Test func untrustedServersAreRefused() async throws {
        let files = try Self.certificate()
        let other = try Self.certificate()
        let server = try TestServer(
            tls: TLSServerContext(TLSConfiguration(certificateChainPath: files.cert, privateKeyPath: files.key)))
        defer { server.shutdown() }
        var options = WebPubSubClientOptions()
        options.tls = try ClientTLS(caFile: other.cert)
        options.autoReconnect = false
        options.handshakeTimeout = .seconds(3)
        let client = WebPubSubClient(url: .fixed(Self.secureURL(port: server.port, userId: "a")), options: options)
        await #expect(throws: (any Error).self) { try await client.start() }
        await client.stop()
    }
}
