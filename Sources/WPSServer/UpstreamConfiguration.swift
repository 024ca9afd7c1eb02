public import WPSUpstream

/// Event handlers and the limits of talking to them (protocol-spec/upstream.md).
public struct UpstreamConfiguration: Sendable {
    /// Every hub's handlers; empty: no upstream, events answered as without handlers.
    public var handlers = EventHandlerTable()
    /// How long a `connect` or user event may wait for its handler's answer, and each
    /// attempt of `connected`/`disconnected`. The emulator waits 100 s; a client waiting
    /// on an upgrade or an ack is better told sooner.
    public var requestTimeout: Duration = .seconds(30)
    /// How long one abuse-protection preflight may take (the emulator's value).
    public var validationTimeout: Duration = .seconds(10)
    /// `WebHook-Request-Origin`; nil: the host clients reach the server at.
    public var requestOrigin: String?
    /// Connections one loop keeps to one handler origin.
    public var maxConnectionsPerOrigin = 64
    /// Largest handler response body.
    public var maxResponseBodyBytes = 1 << 20
    /// Largest `ce-connectionState` a handler may store for a connection.
    public var maxConnectionStateBytes = 8 * 1024
    /// Retries of `connected`/`disconnected`.
    public var retry = RetrySchedule()
    /// Retries of a failed preflight: short, since a `connect` may be waiting on it.
    public var validationRetry = RetrySchedule(delaysNanos: [500_000_000, 1_500_000_000])
    /// How long a handler that failed its preflight is left alone before it is tried again.
    public var validationRetryAfter: Duration = .seconds(10)
    /// CA file for https handlers; nil: the system's trust store.
    public var tlsCAFile: String?
    /// Skip certificate checks of https handlers (local tests only).
    public var tlsInsecure = false

    public init() {}

    public var isEnabled: Bool { !handlers.isEmpty }
}
