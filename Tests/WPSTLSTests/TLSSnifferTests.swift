import Testing
import WPSTLS

@Suite struct TLSSnifferTests {
    @Test(arguments: [
        ([UInt8](), TLSSniffer.Verdict.needMore),
        ([0x16], .needMore),
        ([0x16, 0x03], .needMore),
        ([0x16, 0x03, 0x01], .tls),
        ([0x16, 0x03, 0x03, 0x00, 0x2f], .tls),
        ([0x16, 0x03, 0x05], .notTLS),
        ([0x16, 0x02, 0x00], .notTLS),
        ([0x17, 0x03, 0x03], .notTLS),
        (Array("GET / HTTP/1.1\r\n".utf8), .notTLS),
        (Array("G".utf8), .notTLS),
        (Array("PRI * HTTP/2.0".utf8), .notTLS),
    ])
    func classifies(bytes: [UInt8], verdict: TLSSniffer.Verdict) {
        #expect(bytes.withUnsafeBytes { TLSSniffer.classify($0) } == verdict)
        #expect(TLSSniffer.looksLikeTLS(bytes) == (verdict == .tls))
    }

    @Test func realClientHelloLooksLikeTLS() throws {
        let session = try TLSFixture.shared.clientContext().makeSession(serverName: "localhost")
        session.startHandshake()
        var hello: [UInt8] = []
        session.takeOutput { hello.append(contentsOf: $0) }
        #expect(hello.count > 100)
        #expect(TLSSniffer.looksLikeTLS(hello))
    }
}
