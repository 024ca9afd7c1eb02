public import WPSAuth

/// Limits of the hub; each has a unit in its name and the reason for its default.
public struct HubConfiguration: Sendable {
    /// Un-acked messages kept per reliable connection; 0: no count limit, only bytes. Azure
    /// ends a session at 1000 (reference §3.3), which costs a client that is slow to
    /// acknowledge its session while the memory it protects is small; set 1000 to match.
    public var reliableMaxMessages = 0
    /// Bytes of un-acked messages kept per reliable connection; Azure keeps 16 MB.
    public var reliableMaxBytes = 16 << 20
    /// How long a dropped reliable session waits for its client; SDKs retry for 30 s.
    public var resumeWindow: Duration = .seconds(60)
    /// Successful ackIds remembered per logical connection for `Duplicate` answers.
    public var ackHistoryCount = 10_000
    /// Messages of one connection that may wait while its previous user event is with the
    /// event handler; past it the client gets an error ack, or a close when it asked for none.
    public var maxWaitingMessages = 4096
    /// Bytes of those waiting messages; the two bound the memory one client can make the
    /// server hold behind a slow handler.
    public var maxWaitingBytes = 4 << 20

    public init() {}

    /// `resumeWindow` in the hub's clock unit (ns); 0 for a negative window.
    var resumeWindowNanos: UInt64 {
        let (seconds, attoseconds) = resumeWindow.components
        guard seconds >= 0 else { return 0 }
        return UInt64(seconds) &* 1_000_000_000 &+ UInt64(attoseconds / 1_000_000_000)
    }
}

/// The kind of client on a connection, fixed at upgrade (protocol-spec/client-protocol.md).
public enum ClientKind: Sendable, Equatable {
    /// `json.webpubsub.azure.v1`
    case json
    /// `json.reliable.webpubsub.azure.v1`
    case jsonReliable
    /// A simple WebSocket client; with a group it publishes every frame there.
    case raw(publishGroup: String?)

    public var isReliable: Bool { self == .jsonReliable }

    /// JSON clients get system messages and acks; raw clients get bare data frames only.
    public var isJSON: Bool {
        if case .raw = self { return false }
        return true
    }
}

/// Who a new connection is, as established by its token.
public struct ClientIdentity: Sendable {
    public var hub: String
    public var userId: String?
    /// What the token's roles grant at connect.
    public var permissions: Permissions
    /// Groups joined at connect (the token's `webpubsub.group`), regardless of roles.
    public var groups: [String]
    public var kind: ClientKind
    /// State the `connect` event handler stored (`ce-connectionState`).
    public var connectionState: String?

    public init(hub: String, userId: String?, permissions: Permissions, groups: [String], kind: ClientKind) {
        self.hub = hub
        self.userId = userId
        self.permissions = permissions
        self.groups = groups
        self.kind = kind
    }

    public init(hub: String, userId: String?, roles: [String], groups: [String], kind: ClientKind) {
        self.init(hub: hub, userId: userId, permissions: Permissions(roles: roles), groups: groups, kind: kind)
    }
}
