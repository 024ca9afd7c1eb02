/// A byte-stream transform between a socket and its handler — TLS. The loop feeds it what
/// it reads and hands the handler the result; what the handler sends passes through it on
/// the way out. It is owned by one loop at a time.
public protocol StreamTransform: AnyObject {
    /// Bytes read from the socket; `deliver` receives the decoded bytes (possibly several
    /// times, possibly none).
    func inbound(_ bytes: UnsafeMutableRawBufferPointer, _ deliver: (UnsafeMutableRawBufferPointer) -> Void)
        -> StreamTransformStatus
    /// Bytes the handler sends; the encoded form becomes available through `takeOutput`.
    /// Returns false when the stream can no longer send.
    func outbound(_ bytes: UnsafeRawBufferPointer) -> Bool
    /// Encoded bytes waiting for the socket.
    var pendingOutput: Int { get }
    /// Hands over (and forgets) the encoded bytes waiting for the socket.
    func takeOutput(_ body: (UnsafeRawBufferPointer) -> Void)
    /// Ends the stream politely (TLS close_notify); the farewell comes out of `takeOutput`.
    func finish()
}

/// What a transform made of the bytes it was given.
public enum StreamTransformStatus: Sendable, Equatable {
    case ok
    /// The peer ended the stream (close_notify): treat as end of input.
    case finished
    /// The stream is broken (bad record, failed handshake): the connection is cut.
    case failed
    /// Not now (a handshake budget is spent): the loop keeps the bytes and offers them again
    /// on its next turn, before anything newer from this socket.
    case later
}
