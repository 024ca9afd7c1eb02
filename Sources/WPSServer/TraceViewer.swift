import WPSLoop
import WPSWebSocket

/// `/admin/trace`: one viewer of the live trace, living on the loop that accepted it. Events
/// arrive from every loop; when more than `maxQueuedBytes` wait to be written, the viewer is
/// closed with 1008 rather than the server held back (protocol-spec/admin.md §4.2).
final class TraceViewer: WebSocketApplication {
    let id: UInt64
    let filter: TraceFilter
    let maxQueuedBytes: Int
    let trace: LoopTrace
    private weak var session: WebSocketSession?
    private var attached = false

    init(trace: LoopTrace, filter: TraceFilter, maxQueuedBytes: Int) {
        self.trace = trace
        self.filter = filter
        self.maxQueuedBytes = maxQueuedBytes
        id = trace.makeViewerId()
    }

    func opened(_ session: WebSocketSession) {
        self.session = session
        attached = true
        trace.attach(self)
    }

    /// Viewers only listen; what they send is ignored.
    func received(_ opcode: WebSocketOpcode, _ payload: UnsafeRawBufferPointer, on session: WebSocketSession) {}

    func closed(_ session: WebSocketSession) {
        stop()
    }

    func push(_ bytes: [UInt8]) {
        guard attached, let session, !session.closeSent else { return }
        if session.connection.queuedBytes + bytes.count > maxQueuedBytes {
            stop()
            session.close(.policyViolation, reason: "trace viewer too slow: over \(maxQueuedBytes) bytes queued")
            return
        }
        bytes.withUnsafeBytes { session.send(.text, $0) }
    }

    private func stop() {
        guard attached else { return }
        attached = false
        trace.detach(id)
    }
}
