internal import WPSBytes

/// A Web PubSub access key: the HMAC-SHA256 secret for tokens (protocol-spec/auth.md §1).
///
/// The secret is the UTF-8 bytes of the key string, not its base64 decoding, because that
/// is what every official server SDK signs with.
public struct AccessKey: Sendable, Hashable {
    /// The HMAC key bytes.
    public let secret: [UInt8]

    /// Wraps a key string as it appears after `AccessKey=` in a connection string.
    public init(_ key: String) {
        secret = Array(key.utf8)
    }

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
}
