internal import WPSBytes

/// A Web PubSub access key: the HMAC-SHA256 secret for tokens (protocol-spec/auth.md §1).
///
/// The secret is the UTF-8 bytes of the key string, not its base64 decoding, because that
/// is what every official server SDK signs with.
public struct AccessKey: Sendable, Hashable {
    /// The HMAC key bytes.
    public let secret: [UInt8]
    /// The secret prepared once, so each token check hashes only the token.
    let mac: HMACKey

    /// Wraps a key string as it appears after `AccessKey=` in a connection string.
    public init(_ key: String) {
        secret = Array(key.utf8)
        mac = HMACKey(secret)
    }

    /// Constant time: the bytes are secret, so the comparison must not stop at the first difference.
    public static func == (lhs: AccessKey, rhs: AccessKey) -> Bool { Crypto.constantTimeEquals(lhs.secret, rhs.secret) }
    public func hash(into hasher: inout Hasher) { hasher.combine(secret) }

    /// The key string, as written in a connection string.
    public var string: String { String(decoding: secret, as: UTF8.self) }

    /// A fresh key: 32 random bytes in padded base64, 44 characters like Azure's keys.
    public static func generate() -> AccessKey {
        AccessKey(Base64.encode(Crypto.randomBytes(32)))
    }
}

/// Connection ids handed to clients in the `connected` message.
public enum ConnectionID {
    /// 32 lowercase hex characters from 16 CSPRNG bytes; unguessable, URL- and header-safe.
    public static func generate() -> String {
        Crypto.hex(Crypto.randomBytes(16))
    }

    /// Like `generate()`, but the last two hex digits spell `tag` (120 random bits remain).
    public static func generate(tag: UInt8) -> String {
        var bytes = (UInt64(0), UInt64(0))
        withUnsafeMutableBytes(of: &bytes) { Crypto.fillRandom($0) }
        bytes.1 = bytes.1 & ~(UInt64(0xFF) << 56) | UInt64(tag) << 56
        return withUnsafeBytes(of: &bytes) { Crypto.hex($0) }
    }
}
