import Glibc
import Testing
import WPSTLS

@Suite struct TLSCertificateFactoryTests {
    let fixture = TLSFixture.shared

    @Test(arguments: [TLSCertificateFactory.KeyType.ecP256, .rsa2048])
    func selfSignedCertificateServesAndVerifies(keyType: TLSCertificateFactory.KeyType) throws {
        let dir = try fixture.makeScratchDirectory()
        let cert = dir + "/self.pem"
        let key = dir + "/self.key"
        try TLSCertificateFactory.makeSelfSigned(
            commonName: "wps dev", dnsNames: ["localhost", "*.example.test"], ipAddresses: ["127.0.0.1", "::1"],
            days: 30, keyType: keyType, certificatePath: cert, keyPath: key
        )
        let server = try TLSServerContext(TLSConfiguration(certificateChainPath: cert, privateKeyPath: key))
        let client = try TLSClientContext(caFile: cert)
        for name in ["localhost", "a.example.test", "127.0.0.1", "::1"] {
            let (c, s) = connectedPair(server: server, client: client, serverName: name)
            #expect(c.session.state == .established, "\(name): \(c.failures)")
            #expect(s.session.state == .established)
        }
        let (wrong, _) = connectedPair(server: server, client: client, serverName: "other.test")
        #expect(wrong.session.state == .closed)

        var info = stat()
        #expect(stat(key, &info) == 0)
        #expect(info.st_mode & 0o777 == 0o600)
    }

    @Test(arguments: [
        (["bad name"], [String]()),
        (["a,DNS:evil"], []),
        (["x*"], []),
        ([], ["127.0.0.1,DNS:evil"]),
        ([], ["localhost"]),
        ([], ["999.1.1.1"]),
    ])
    func invalidNamesAreRejected(dnsNames: [String], ipAddresses: [String]) throws {
        let dir = try fixture.makeScratchDirectory()
        #expect(throws: TLSError.self) {
            try TLSCertificateFactory.makeSelfSigned(
                commonName: "x", dnsNames: dnsNames, ipAddresses: ipAddresses,
                certificatePath: dir + "/c.pem", keyPath: dir + "/k.pem"
            )
        }
    }

    @Test(arguments: [0, TLSCertificateFactory.maxValidityDays + 1])
    func validityOutOfRangeIsRejected(days: Int) throws {
        #expect(throws: TLSError.self) {
            try TLSCertificateFactory.makeSelfSigned(
                commonName: "x", days: days, certificatePath: "/tmp/unused.pem", keyPath: "/tmp/unused.key"
            )
        }
    }

    @Test func unwritablePathThrows() {
        let error = #expect(throws: TLSError.self) {
            try TLSCertificateFactory.makeSelfSigned(
                commonName: "x", certificatePath: "/nonexistent/c.pem", keyPath: "/nonexistent/k.pem"
            )
        }
        #expect(error?.description.contains("/nonexistent/c.pem") == true)
    }
}

@Suite struct TLSCertificateInfoTests {
    @Test func daysLeftReadsTheExpiry() throws {
        let directory = "/tmp/wps-cert-info-\(getpid())"
        _ = mkdir(directory, 0o700)
        let cert = directory + "/c.pem"
        let key = directory + "/k.pem"
        try TLSCertificateFactory.makeSelfSigned(commonName: "x", days: 30, certificatePath: cert, keyPath: key)
        let days = try #require(TLSCertificateInfo.daysLeft(certificatePath: cert))
        #expect((29...30).contains(days))
        #expect(TLSCertificateInfo.daysLeft(certificatePath: directory + "/missing.pem") == nil)
    }
}
