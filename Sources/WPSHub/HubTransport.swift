public import WPSBytes

/// The socket side of one connection as the hub sees it: whole WebSocket frames out, and
/// a close. The server implements it over its loop; tests record what it is given.
///
/// A class rather than a protocol so the hub can deliver through an unretained reference
/// (`HubSession.deliveryTarget`): a protocol existential is retained and released around
/// every call, once per recipient of every broadcast.
open class HubTransport {
    public init() {}

    /// Set by transports that build reliable frames at the end of the loop turn: the hub
    /// then only buffers each message and calls `sequencedFramesPending`, and the transport
    /// calls `LoopHub.writeUnsent` before its flush.
    public final var defersSequencedFrames = false

    /// Bytes waiting to be written to this client.
    open var queuedBytes: Int { 0 }
    /// Queues shared bytes (whole frames or parts of one), without copying. `endsFrame` is
    /// false when more bytes of the same frame follow.
    open func send(_ shared: SharedBytes, endsFrame: Bool) {}
    /// Queues a copy of `bytes`.
    open func send(_ bytes: UnsafeRawBufferPointer, endsFrame: Bool) {}
    /// Queues a copy of one whole frame given in two parts, after everything queued.
    open func send(_ header: UnsafeRawBufferPointer, _ payload: UnsafeRawBufferPointer) {
        send(header, endsFrame: false)
        send(payload, endsFrame: true)
    }
    /// Queues one small whole frame (`header` then `payload`) ahead of queued data: acks and
    /// pongs never wait behind a backlog.
    open func sendUrgent(_ header: UnsafeRawBufferPointer, _ payload: UnsafeRawBufferPointer) {}
    /// The server window (bits) of permessage-deflate on this connection; nil: not negotiated.
    open var deflateWindowBits: Int? { nil }
    /// Sends a close frame with `code` and `reason`, then closes the socket.
    open func close(code: UInt16, reason: String) {}
    /// Queues one data frame: `head` copied, the whole of `shared`, then `tail` copied
    /// (either may be empty); returns the bytes now queued for this client. A broadcast
    /// makes exactly this one call per recipient.
    /// Reliable messages were buffered for this client and await `LoopHub.writeUnsent`;
    /// returns the bytes already queued. Only called when `defersSequencedFrames` is set.
    open func sequencedFramesPending() -> Int { queuedBytes }

    /// Queues whole frames of `byteCount` bytes that `write` builds in place; returns the
    /// bytes now queued.
    open func sendBuilt(byteCount: Int, _ write: (UnsafeMutableRawPointer) -> Void) -> Int {
        withUnsafeTemporaryAllocation(byteCount: byteCount, alignment: 8) { buffer in
            write(buffer.baseAddress!)
            send(UnsafeRawBufferPointer(buffer), endsFrame: true)
        }
        return queuedBytes
    }

    open func sendFrame(head: UnsafeRawBufferPointer, shared: SharedBytes, tail: UnsafeRawBufferPointer) -> Int {
        if !head.isEmpty { send(head, endsFrame: false) }
        send(shared, endsFrame: tail.isEmpty)
        if !tail.isEmpty { send(tail, endsFrame: true) }
        return queuedBytes
    }
}

/// The other loops of this process, reached by posting.
public protocol HubPeers: AnyObject {
    /// Hands `broadcast` to every other loop, which delivers it to its own members.
    func publish(_ broadcast: Broadcast)
}
