public import WPSBytes

/// What the hub says to one connection, in messages: deliver a data message (sequenced or
/// not), send a system message, close. The server turns these into frames (its `Outbox`);
/// tests record them as they are.
///
/// A class rather than a protocol so the hub can deliver through an unretained reference
/// (`HubSession.deliveryTarget`): a protocol existential is retained and released around
/// every call, once per recipient of every broadcast.
open class HubTransport {
    public init() {}

    /// Bytes waiting to be written to this client.
    open var queuedBytes: Int { 0 }
    /// Bytes that may wait for this client before it counts as a slow consumer.
    open var maxOutboundBytes: Int { .max }

    /// Queues one data message of `broadcast` in the form this client takes (JSON, raw, or
    /// reliable with `sequenceId`; 0 for clients without sequence ids). Returns true when
    /// the client's queue is now over `maxOutboundBytes`.
    open func deliver(_ broadcast: Broadcast, sequenceId: UInt64) -> Bool { false }

    /// Queues one JSON system message (connected, disconnected, ack, pong, invokeResponse)
    /// built by `ServerMessageEncoder`. `urgent` ones (acks, pongs) go ahead of queued data.
    /// Returns true when the client's queue is now over `maxOutboundBytes`.
    open func sendSystem(_ message: UnsafeRawBufferPointer, urgent: Bool) -> Bool { false }

    /// Sends a close with `code` and `reason` after what is queued, then closes the socket.
    open func close(code: WebSocketCloseCode, reason: String) {}
}

/// The other loops of this process, reached by posting.
public protocol HubPeers: AnyObject {
    /// Hands `broadcast` to every other loop, which delivers it to its own members (and, in
    /// a cluster, to the other nodes).
    func publish(_ broadcast: Broadcast)
    /// False while a message published here cannot reach every node of the cluster (its
    /// link to Redis is down); always true for a single node.
    var reachesEveryNode: Bool { get }
}

extension HubPeers {
    public var reachesEveryNode: Bool { true }
}

/// Hears, per loop, which groups and users have members here: the first member of a group
/// or user arriving and the last one leaving. A cluster subscribes to what its nodes need.
public protocol HubMembership: AnyObject {
    func groupOpened(hub: String, group: String)
    func groupClosed(hub: String, group: String)
    /// A connection of `user` opened (called for each; the listener counts).
    func userArrived(hub: String, user: String)
    /// A connection of `user` ended.
    func userLeft(hub: String, user: String)
    /// Calls `done` (on this loop) once the subscriptions asked for so far are in effect, so
    /// other nodes' messages for them arrive; also when that cannot be known.
    func whenSubscribed(_ done: @escaping () -> Void)
}
