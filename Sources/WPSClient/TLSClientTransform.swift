public import WPSLoop
import WPSTLS

/// TLS for an outgoing connection, as the loop's stream transform: the loop feeds it what it
/// reads and writes what it produces, exactly as for the server's connections.
final class TLSClientTransform: StreamTransform {
    let session: TLSSession

    /// Starts the handshake at once: the ClientHello goes out as soon as TCP connects.
    init(context: TLSClientContext, serverName: String) {
        session = context.makeSession(serverName: serverName)
        session.startHandshake()
    }

    func inbound(_ bytes: UnsafeMutableRawBufferPointer, _ deliver: (UnsafeMutableRawBufferPointer) -> Void)
        -> StreamTransformStatus
    {
        switch session.receive(UnsafeRawBufferPointer(bytes), onPlaintext: deliver) {
        case .ok: return .ok
        case .closed: return .finished
        case .failed: return .failed
        }
    }

    func outbound(_ bytes: UnsafeRawBufferPointer) -> Bool {
        do {
            try session.send(bytes)
            return true
        } catch {
            return false
        }
    }

    var pendingOutput: Int { session.outputByteCount }

    func takeOutput(_ body: (UnsafeRawBufferPointer) -> Void) { session.takeOutput(body) }

    func finish() { session.shutdown() }
}

/// How the client makes TLS sessions for `wss://` and `https://`.
public struct ClientTLS: Sendable {
    let context: TLSClientContext

    /// Verifies servers against the system's trust store, or only `caFile` when given;
    /// `insecure` skips verification (for local tests only).
    public init(caFile: String? = nil, insecure: Bool = false) throws {
        context = try TLSClientContext(caFile: caFile, insecure: insecure)
    }

    /// A fresh TLS session for one connection to `serverName` (sent as SNI and, unless
    /// insecure, verified), as the transform to set on a `Connection` right after `connect`.
    public func transform(serverName: String) -> StreamTransform {
        TLSClientTransform(context: context, serverName: serverName)
    }
}
