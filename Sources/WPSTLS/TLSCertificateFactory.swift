internal import CWPSOpenSSL

/// Makes self-signed server certificates for development (`wps-server --tls` without files).
///
/// The certificate is its own trust anchor: a client trusts it by using the certificate file
/// as its CA file. It is marked `CA:FALSE`, `serverAuth`, and backdated five minutes.
public enum TLSCertificateFactory {
    /// Key algorithm for the new certificate.
    public enum KeyType: Sendable, Hashable {
        /// RSA 2048: the widest client support.
        case rsa2048
        /// ECDSA on P-256: small and fast; every TLS 1.2+ client supports it.
        case ecP256
    }

    /// Longest validity accepted, in days (about 100 years), so the seconds fit any `long`.
    public static let maxValidityDays = 36_500

    /// Writes a new key (mode 0600) and a self-signed certificate for `commonName` plus the
    /// given DNS names and IP addresses as subject alternative names.
    ///
    /// Throws when a name has characters outside host-name or IP-literal syntax, `days` is out
    /// of range, or a file cannot be written.
    public static func makeSelfSigned(
        commonName: String,
        dnsNames: [String] = [],
        ipAddresses: [String] = [],
        days: Int = 365,
        keyType: KeyType = .ecP256,
        certificatePath: String,
        keyPath: String
    ) throws(TLSError) {
        guard (1...maxValidityDays).contains(days) else {
            throw TLSError("certificate validity must be 1 to \(maxValidityDays) days, got \(days)")
        }
        guard (1...64).contains(commonName.utf8.count), !commonName.utf8.contains(0) else {
            throw TLSError("certificate common name must be 1 to 64 bytes without NUL")
        }
        var entries: [String] = []
        for name in dnsNames {
            guard isHostName(name) else { throw TLSError("invalid DNS name for a certificate: \"\(name)\"") }
            entries.append("DNS:" + name)
        }
        for address in ipAddresses {
            guard isIPLiteral(address) else { throw TLSError("invalid IP address for a certificate: \"\(address)\"") }
            entries.append("IP:" + address)
        }
        let alternativeNames = entries.joined(separator: ",")
        wps_tls_error_clear()
        let status = commonName.withCString { cn in
            alternativeNames.withCString { san in
                certificatePath.withCString { cert in
                    keyPath.withCString { key in
                        wps_tls_make_self_signed(cn, san, Int32(days), keyType == .rsa2048 ? 1 : 0, cert, key)
                    }
                }
            }
        }
        guard status == 0 else {
            throw TLSError.fromQueue("cannot write self-signed certificate \(certificatePath) and key \(keyPath)")
        }
    }

    /// Letters, digits, `-`, `.` and a leading `*.` wildcard label; 1–253 bytes.
    static func isHostName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard (1...253).contains(bytes.count) else { return false }
        for (index, byte) in bytes.enumerated() {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."):
                continue
            case UInt8(ascii: "*") where index == 0 && bytes.count > 2 && bytes[1] == UInt8(ascii: "."):
                continue
            default:
                return false
            }
        }
        return true
    }

    /// Hex digits, `.` and `:` only; OpenSSL then rejects anything that is not a real address.
    static func isIPLiteral(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard (2...45).contains(bytes.count) else { return false }
        return bytes.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "f"),
                UInt8(ascii: "A")...UInt8(ascii: "F"), UInt8(ascii: "."), UInt8(ascii: ":"):
                true
            default:
                false
            }
        }
    }
}
