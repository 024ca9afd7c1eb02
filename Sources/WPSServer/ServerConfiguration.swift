public import WPSAuth
public import WPSDeflate
public import WPSHTTP
public import WPSHub
public import WPSTLS

/// Everything the server can be told at start-up; every limit has a unit and a default.
public struct ServerConfiguration: Sendable {
    /// Address to listen on; loopback by default so a first run exposes nothing.
    public var host = "127.0.0.1"
    public var port = 8080
    /// Event loops (threads); one per core uses the machine without contention.
    public var threads = 1
    /// HTTP request head, URI and body limits.
    public var http = HTTPLimits()
    /// Largest WebSocket message accepted, summed over fragments (close 1009 above it).
    /// 1 MiB matches the Azure Web PubSub client message limit.
    public var maxMessageBytes = 1 << 20
    /// Bytes that may wait in one connection's outbound queue before it is cut as too slow.
    public var maxOutboundBytes = 16 << 20
    /// A request head (or the first one after a keep-alive response) must arrive within this.
    public var handshakeTimeout: Duration = .seconds(10)
    /// Server pings on WebSockets; Azure's default keep-alive interval is 20 s.
    public var pingInterval: Duration = .seconds(20)
    /// A WebSocket peer silent this long is closed (three missed pings).
    public var idleTimeout: Duration = .seconds(60)
    /// How long a closing connection may drain input before the socket is cut.
    public var lingerTimeout: Duration = .seconds(2)
    /// Time given to connections to close on SIGTERM before they are cut.
    public var shutdownGrace: Duration = .seconds(4)
    /// Enables the `/echo` WebSocket test route.
    public var enableEcho = false
    /// Keys that sign and verify tokens; several allow rotation, the first signs.
    public var accessKeys: [AccessKey] = []
    /// Reliable-session and slow-consumer limits.
    public var hub = HubConfiguration()
    /// The `x-api-key` that `/negotiate` requires; nil disables `/negotiate`.
    public var negotiateKey: String?
    /// Hub for `/negotiate/{userId}/{group}` and `/negotiate` without `hub`.
    public var defaultHub = "hub"
    /// Origin (scheme://host[:port]) put into URLs the server hands out; nil: from `Host`.
    public var publicURL: String?
    /// Roles `/negotiate` grants per hub beyond the default group roles.
    public var negotiateRoles: [String: [String]] = [:]
    /// When set, `port` speaks TLS with this context.
    public var tls: TLSServerContext?
    /// An extra plaintext port beside a TLS one; nil: none.
    public var plainPort: Int?
    /// A plaintext listener serving only `/metrics`, without authentication; nil: none (then
    /// `/metrics` on `port` asks for a REST token). Loopback by default: anyone who reaches
    /// it reads the counts.
    public var metricsPort: Int?
    public var metricsHost = "127.0.0.1"
    /// Cluster mode on Redis; nil: a single node.
    public var cluster: ClusterConfiguration?
    /// TLS handshake steps one loop runs per turn before the rest wait a turn.
    public var tlsHandshakesPerTurn = 32
    /// permessage-deflate policy (protocol-spec/deflate.md); `enabled` false turns it off.
    public var deflate = DeflateConfiguration()
    /// Connections per user, address and token, and messages per second (0: off).
    public var limits = ConnectionLimits()
    /// Event handlers of the application side (protocol-spec/upstream.md).
    public var upstream = UpstreamConfiguration()
    /// Bytes of trace events that may wait for one `/admin/trace` viewer before it is closed
    /// with 1008: a second or two of a busy server's events, and never the server held back.
    public var traceMaxQueuedBytes = 1 << 20

    public init() {}
}

extension Duration {
    /// Whole nanoseconds, saturating; negative durations count as zero.
    var nanoseconds: UInt64 {
        let (seconds, attoseconds) = components
        guard seconds >= 0 else { return 0 }
        let (scaled, overflow) = UInt64(seconds).multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return .max }
        return scaled &+ UInt64(attoseconds / 1_000_000_000)
    }
}
