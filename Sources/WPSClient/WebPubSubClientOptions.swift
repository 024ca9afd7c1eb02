/// Settings of a `WebPubSubClient`; the defaults are the official SDKs' (reference §3.4–§3.6).
public struct WebPubSubClientOptions: Sendable {
    /// The JSON subprotocol a client speaks.
    public enum ClientProtocol: Sendable, Equatable {
        /// `json.reliable.webpubsub.azure.v1`: sequence ids and recovery (the SDK default).
        case jsonReliable
        /// `json.webpubsub.azure.v1`: no recovery; a dropped socket means a new connection.
        case json

        /// The subprotocol name offered in the handshake.
        public var name: String {
            self == .jsonReliable ? "json.reliable.webpubsub.azure.v1" : "json.webpubsub.azure.v1"
        }
    }

    /// TLS for `wss://` URLs; nil: verify against the system's trust store.
    public var tls: ClientTLS?
    /// Offer permessage-deflate (RFC 7692); messages of 256 bytes and more are then compressed.
    public var compression = true

    /// The subprotocol; reliable by default, as in every SDK.
    public var `protocol`: ClientProtocol = .jsonReliable
    /// Open a new connection when the logical connection is lost.
    public var autoReconnect = true
    /// Join again, on a new connection, every group joined so far.
    public var autoRejoinGroups = true
    /// Pause between connection attempts (recovery and new); the SDKs use 1 s.
    public var reconnectDelay: Duration = .seconds(1)
    /// How long recovery of a reliable connection is tried before starting a new one (30 s, the
    /// least the service keeps a dropped session).
    public var maxRecoveryDuration: Duration = .seconds(30)
    /// Least time between two `sequenceAck`s; the SDKs ack once a second.
    public var sequenceAckInterval: Duration = .seconds(1)
    /// How long an ack may take before the request fails with `Timeout` (the Python SDK's 30 s).
    public var ackTimeout: Duration = .seconds(30)
    /// How often a request interrupted by a dropped connection is sent again (same ackId).
    public var messageRetries = 3
    /// Bound on the WebSocket opening handshake.
    public var handshakeTimeout: Duration = .seconds(10)
    /// Largest message accepted from the server (the server's own default is 1 MiB).
    public var maxMessageBytes = 16 << 20

    /// Creates options with the defaults above.
    public init() {}
}

extension Duration {
    /// The duration in whole nanoseconds, clamped to zero or above.
    var nanos: UInt64 {
        let (seconds, attoseconds) = components
        guard seconds >= 0 else { return 0 }
        return UInt64(seconds) &* 1_000_000_000 &+ UInt64(attoseconds / 1_000_000_000)
    }
}
