/// Cheap check of a connection's first bytes: TLS handshake record or something else.
///
/// Lets a TLS port answer a plaintext HTTP request with a clear error instead of a TLS alert
/// (protocol-spec/tls.md §5).
public enum TLSSniffer {
    /// What the first bytes look like.
    public enum Verdict: Sendable, Hashable {
        /// Too few bytes to tell yet.
        case needMore
        /// A TLS handshake record (ClientHello).
        case tls
        /// Anything else, e.g. `GET / HTTP/1.1`.
        case notTLS
    }

    /// Bytes needed for a definite verdict: content type plus the record version.
    public static let bytesNeeded = 3

    /// Classifies the first bytes: `0x16` (handshake) followed by version major `0x03`, minor `0x00`–`0x04`.
    public static func classify(_ firstBytes: UnsafeRawBufferPointer) -> Verdict {
        if firstBytes.count >= 1, firstBytes[0] != 0x16 { return .notTLS }
        if firstBytes.count >= 2, firstBytes[1] != 0x03 { return .notTLS }
        if firstBytes.count >= 3, firstBytes[2] > 0x04 { return .notTLS }
        return firstBytes.count >= bytesNeeded ? .tls : .needMore
    }

    /// True when the bytes start like a TLS handshake record; false also when there are too few to tell.
    public static func looksLikeTLS(_ firstBytes: UnsafeRawBufferPointer) -> Bool {
        classify(firstBytes) == .tls
    }

    /// Array convenience for `looksLikeTLS(_:)`.
    public static func looksLikeTLS(_ firstBytes: [UInt8]) -> Bool {
        firstBytes.withUnsafeBytes { looksLikeTLS($0) }
    }
}
