public import WPSLoop
public import WPSTLS

/// TLS for an outgoing connection, as the loop's stream transform: the loop feeds it what it
/// reads and writes what it produces, exactly as for the server's connections. The client
/// library and the server's event-handler client both use it.
public final class TLSClientTransform: StreamTransform {
    let session: TLSSession

    /// Starts the handshake at once: the ClientHello goes out as soon as TCP connects.
    public init(context: TLSClientContext, serverName: String) {
        session = context.makeSession(serverName: serverName)
        session.startHandshake()
    }

    public func inbound(_ bytes: UnsafeMutableRawBufferPointer, _ deliver: (UnsafeMutableRawBufferPointer) -> Void)
        -> StreamTransformStatus
    {
        switch session.receive(UnsafeRawBufferPointer(bytes), onPlaintext: deliver) {
        case .ok: return .ok
        case .closed: return .finished
        case .failed: return .failed
        }
    }

    public func outbound(_ bytes: UnsafeRawBufferPointer) -> Bool {
        do {
            try session.send(bytes)
            return true
        } catch {
            return false
        }
    }

    public var pendingOutput: Int { session.outputByteCount }

    public func takeOutput(_ body: (UnsafeRawBufferPointer) -> Void) { session.takeOutput(body) }

    public func finish() { session.shutdown() }
}
