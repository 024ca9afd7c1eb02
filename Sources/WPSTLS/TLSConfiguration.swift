/// Protocol versions the TLS layer speaks; older ones are never negotiated (protocol-spec/tls.md §1).
public enum TLSVersion: Sendable, Hashable, CaseIterable {
    /// TLS 1.2 (RFC 5246).
    case v1_2
    /// TLS 1.3 (RFC 8446).
    case v1_3

    /// The value the C shim expects (12 or 13).
    var shimValue: Int32 {
        switch self {
        case .v1_2: 12
        case .v1_3: 13
        }
    }
}

/// Everything a server TLS context is built from; the files are read again on `reload()`.
public struct TLSConfiguration: Sendable, Hashable {
    /// PEM file with the leaf certificate first, then any intermediates.
    public var certificateChainPath: String
    /// PEM file with the private key matching the leaf certificate.
    public var privateKeyPath: String
    /// Lowest version accepted; TLS 1.2 by default because many clients still lack 1.3.
    public var minimumVersion: TLSVersion
    /// Application protocols offered in server preference order; `http/1.1` because
    /// WebSocket upgrades and the REST API both ride on HTTP/1.1.
    public var alpn: [String]
    /// PEM CA certificates: when set, clients are asked for a certificate, which must chain
    /// to one of them (mutual TLS).
    public var clientCAPath: String?
    /// With `clientCAPath`: a client without a certificate fails the handshake.
    public var requireClientCertificate: Bool

    /// Makes a configuration; see the properties for the defaults.
    public init(
        certificateChainPath: String,
        privateKeyPath: String,
        minimumVersion: TLSVersion = .v1_2,
        alpn: [String] = ["http/1.1"],
        clientCAPath: String? = nil,
        requireClientCertificate: Bool = false
    ) {
        self.certificateChainPath = certificateChainPath
        self.privateKeyPath = privateKeyPath
        self.minimumVersion = minimumVersion
        self.alpn = alpn
        self.clientCAPath = clientCAPath
        self.requireClientCertificate = requireClientCertificate
    }
}

/// ALPN protocol lists in their RFC 7301 wire form.
enum ALPNWire {
    /// Encodes names as length-prefixed strings; each name must be 1–255 bytes.
    static func encode(_ names: [String]) throws(TLSError) -> [UInt8] {
        var wire: [UInt8] = []
        for name in names {
            let bytes = Array(name.utf8)
            guard (1...255).contains(bytes.count) else {
                throw TLSError("invalid ALPN protocol name \"\(name)\": must be 1 to 255 bytes")
            }
            wire.append(UInt8(bytes.count))
            wire.append(contentsOf: bytes)
        }
        guard wire.count <= 255 else {
            throw TLSError("ALPN protocol list is \(wire.count) bytes; at most 255 are supported")
        }
        return wire
    }
}
