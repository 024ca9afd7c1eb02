/// A shared secret a caller must present (the `/negotiate` key), kept as a keyed digest so that
/// checking an offered value takes the same time wherever it differs and whatever its length
/// (protocol-spec/security.md §1).
///
/// Both sides are hashed with HMAC-SHA256 under a key drawn once per process, then the two
/// 32-byte tags are compared with `CRYPTO_memcmp`. The expected secret is hashed once, here, so
/// its length does not show in the time of a check either.
public struct SecretDigest: Sendable {
    /// Drawn from the CSPRNG at first use; never leaves the process.
    static let blindingKey = HMACKey(Crypto.randomBytes(32))

    private let tag: [UInt8]

    /// Digests `secret` (its UTF-8 bytes).
    public init(_ secret: String) {
        tag = Self.digest(secret)
    }

    /// Whether `offered` is exactly the secret, compared in constant time.
    public func matches(_ offered: some StringProtocol) -> Bool {
        Crypto.constantTimeEquals(Self.digest(offered), tag)
    }

    static func digest(_ text: some StringProtocol) -> [UInt8] {
        Array(text.utf8).withUnsafeBytes { Crypto.hmacSHA256(key: blindingKey, data: $0) }
    }
}
