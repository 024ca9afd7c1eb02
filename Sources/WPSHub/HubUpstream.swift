public import WPSProtocol

/// A user event on its way to the application's event handler (protocol-spec/upstream.md §6).
public struct UserEvent: Sendable {
    public var name: String
    /// How `body` is typed: text, json or binary (protobuf travels as binary).
    public var dataType: DataType
    /// The payload as the handler receives it: UTF-8 text, JSON text or raw bytes.
    public var body: [UInt8]
    public var ackId: UInt64?
    /// Set for `invoke` requests, answered with `invokeResponse` instead of an ack.
    public var invocationId: String?

    public init(name: String, dataType: DataType, body: [UInt8], ackId: UInt64? = nil, invocationId: String? = nil) {
        self.name = name
        self.dataType = dataType
        self.body = body
        self.ackId = ackId
        self.invocationId = invocationId
    }
}

/// What became of a user event.
public enum UpstreamAnswer: Sendable, Equatable {
    /// The handler answered 2xx: `reply` goes back to the sender first (nil: nothing to
    /// send); `connectionState` replaces the stored state when not nil (empty clears it).
    case success(reply: Reply?, connectionState: String?)
    /// No handler answer usable: the sender gets this error.
    case failure(AckError)

    public struct Reply: Sendable, Equatable {
        public var dataType: DataType
        public var body: [UInt8]

        public init(dataType: DataType, body: [UInt8]) {
            self.dataType = dataType
            self.body = body
        }
    }
}

/// The application side as the hub sees it. The server implements it with its HTTP
/// client; the answer to `userEvent` comes back through `LoopHub.upstreamAnswered`, on the
/// same loop, exactly once.
public protocol HubUpstream: AnyObject {
    /// Whether some handler of `hub` takes user event `name`.
    func handlesUserEvent(hub: String, name: String) -> Bool
    /// Sends a blocking user event.
    func userEvent(_ event: UserEvent, from session: HubSession)
    /// A new logical connection is open (fire and forget).
    func connected(_ session: HubSession)
    /// A logical connection ended for good (fire and forget).
    func disconnected(_ session: HubSession, reason: String)
}

/// A client message that arrived while the connection's previous user event was still
/// with the handler: kept, in order, until it is answered.
struct HeldFrame {
    var bytes: [UInt8]
    var isText: Bool
    /// Set for an `invoke`, so `cancelInvocation` can find it.
    var invocationId: String? = nil
}

/// The user event a session waits on.
struct PendingEvent {
    var ackId: UInt64?
    var invocationId: String?
    /// The client cancelled the invocation: its answer is not sent.
    var cancelled = false
}
