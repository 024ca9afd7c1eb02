/// A byte transform between the socket and the WebSocket codec: plain TCP passes bytes
/// through, a TLS session (WPSTLS, added later) encrypts and decrypts.
///
/// All calls happen on the client's loop thread.
public protocol ClientStreamTransform: AnyObject {
    /// Bytes to write as soon as the socket is connected (a TLS ClientHello); empty for TCP.
    func start() -> [UInt8]
    /// Network bytes in: calls `deliver` with the plaintext they carry, and returns bytes that
    /// must be written back to the network (TLS handshake records). Throws when the stream is
    /// corrupt; the connection is then dropped.
    func receive(
        _ bytes: UnsafeMutableRawBufferPointer, deliver: (UnsafeMutableRawBufferPointer) -> Void
    ) throws -> [UInt8]
    /// Plaintext out: the network bytes to write for it (possibly buffered until a handshake ends).
    func send(_ plaintext: [UInt8]) -> [UInt8]
}

/// The identity transform for plain `ws://` connections.
public final class PlainStreamTransform: ClientStreamTransform {
    /// Creates the identity transform.
    public init() {}

    /// Nothing to write first.
    public func start() -> [UInt8] { [] }

    /// Hands the bytes on unchanged.
    public func receive(
        _ bytes: UnsafeMutableRawBufferPointer, deliver: (UnsafeMutableRawBufferPointer) -> Void
    ) throws -> [UInt8] {
        deliver(bytes)
        return []
    }

    /// Writes the bytes unchanged.
    public func send(_ plaintext: [UInt8]) -> [UInt8] { plaintext }
}
