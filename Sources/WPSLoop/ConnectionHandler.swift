/// What a connection's owner hears from the loop. All calls arrive on the loop's own thread.
public protocol ConnectionHandler: AnyObject {
    /// Bytes arrived. The buffer is the loop's shared read buffer: valid only during the call,
    /// and mutable so codecs can unmask in place.
    func received(_ bytes: UnsafeMutableRawBufferPointer, on connection: Connection)
    /// The peer closed its sending side. The default closes the connection.
    func receivedEOF(on connection: Connection)
    /// The deadline set with `Connection.setTimer(at:)` has passed.
    func timerFired(on connection: Connection, now: UInt64)
    /// The loop is shutting down; the default closes the connection.
    func shutdownRequested(on connection: Connection)
    /// The file descriptor is gone; the connection must not be used after this.
    func closed(_ connection: Connection)
    /// An outgoing connection is established (queued bytes are being written now).
    func connected(_ connection: Connection)
}

extension ConnectionHandler {
    public func receivedEOF(on connection: Connection) { connection.close() }
    public func timerFired(on connection: Connection, now: UInt64) {}
    public func shutdownRequested(on connection: Connection) { connection.close() }
    public func closed(_ connection: Connection) {}
    public func connected(_ connection: Connection) {}
}
