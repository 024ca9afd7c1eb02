internal import CWPSOpenSSL

/// A certificate the client presented (mutual TLS), as the `connect` event carries it.
public struct TLSPeerCertificate: Sendable, Equatable {
    /// SHA-1 of the DER certificate, upper-case hex: the thumbprint Azure reports.
    public var thumbprint: String
    /// The certificate in PEM.
    public var pem: String

    public init(thumbprint: String, pem: String) {
        self.thumbprint = thumbprint
        self.pem = pem
    }
}

extension TLSSession {
    /// The client's certificate once the handshake is done; nil when it sent none.
    public var peerCertificate: TLSPeerCertificate? {
        guard let handle = sessionHandle else { return nil }
        var digest = [UInt8](repeating: 0, count: 20)
        guard wps_tls_peer_certificate_sha1(handle, &digest) == 1 else { return nil }
        let hex = Array("0123456789ABCDEF".utf8)
        var thumbprint: [UInt8] = []
        for byte in digest {
            thumbprint.append(hex[Int(byte >> 4)])
            thumbprint.append(hex[Int(byte & 15)])
        }
        // A PEM certificate of a realistic chain member fits in 16 KiB.
        var buffer = [CChar](repeating: 0, count: 16 * 1024)
        let length = wps_tls_peer_certificate_pem(handle, &buffer, buffer.count)
        guard length > 0 else { return nil }
        let pem = buffer[0..<length].withUnsafeBufferPointer {
            String(decoding: UnsafeRawBufferPointer($0), as: UTF8.self)
        }
        return TLSPeerCertificate(thumbprint: String(decoding: thumbprint, as: UTF8.self), pem: pem)
    }
}
