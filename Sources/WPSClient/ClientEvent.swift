/// The data of a message sent or received, by `dataType` (protocol-spec/client-protocol.md §4).
public enum MessageData: Sendable, Equatable {
    /// `dataType` text: a string.
    case text(String)
    /// `dataType` json: the raw bytes of one JSON value, forwarded as is.
    case json([UInt8])
    /// `dataType` binary: arbitrary bytes, base64 on the wire.
    case binary([UInt8])
}

/// What the client reports on `WebPubSubClient.events`, in order.
public enum ClientEvent: Sendable, Equatable {
    /// A new logical connection is up (not repeated after a recovery of the same one).
    case connected(connectionId: String, userId: String?)
    /// The logical connection ended; `message` is the server's `system/disconnected` reason.
    case disconnected(message: String?)
    /// The client stopped and will not reconnect.
    case stopped
    /// A message published to a group this connection is in.
    case groupMessage(group: String, fromUserId: String?, data: MessageData, sequenceId: UInt64?)
    /// A message sent by the server (REST API).
    case serverMessage(data: MessageData, sequenceId: UInt64?)
}

/// A request that did not succeed: a failed ack (any error but `Duplicate`, which counts as
/// success), an ack that did not come in time, or a request the connection could not carry.
public struct SendMessageError: Error, Sendable, Equatable {
    /// The request's ackId (0 for a fire-and-forget request).
    public var ackId: UInt64
    /// The ack's error name (`Forbidden`, `BadRequest`, …), or the client's own: `Timeout`,
    /// `ConnectionLost` (retries used up), `Stopped`, `NotStarted`.
    public var errorName: String
    /// Human-readable detail.
    public var message: String

    /// Creates an error.
    public init(ackId: UInt64, errorName: String, message: String) {
        self.ackId = ackId
        self.errorName = errorName
        self.message = message
    }
}

/// Why a connection attempt failed when `start()` was waiting for it.
public struct ClientConnectError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A short description.
    public var reason: String

    /// Creates an error.
    public init(_ reason: String) { self.reason = reason }

    /// The reason.
    public var description: String { reason }
}
