import WPSBytes
import WPSHub
import WPSLoop
import WPSWebSocket

/// Connects one upgraded WebSocket to the loop's hub: it is the hub's transport for that
/// connection and feeds the hub the client's messages.
final class HubApplication: HubTransport, WebSocketApplication, TurnProducer {
    enum Start: Sendable {
        case open(connectionId: String, identity: ClientIdentity, reconnectionToken: String?)
        case resume(connectionId: String)
        /// Accept, then close at once with this code and reason (refused recovery, unsupported mode).
        case refuse(code: WebSocketCloseCode, reason: String)
    }

    /// The session's connection, for deliveries: used as a guaranteed reference, so the
    /// per-recipient call costs no retain or release. A closing connection refuses data,
    /// which covers the session's close-sent check. Declared first: it is what a delivery
    /// reads, and sits on the object's first cache line.
    var deliveryConnection: Unmanaged<Connection>?
    /// Registered to build this session's deferred reliable frames before the turn's flush.
    var producing = false
    let hub: LoopHub
    let start: Start
    /// Set in `opened`. Not retained (the session owns this application) and not weak
    /// either: a weak load per send showed up in profiles, and the session outlives every
    /// use — the hub drops this transport in `transportClosed`, called from `closed`.
    unowned(unsafe) var session: WebSocketSession?
    var hubSession: HubSession?
    /// This connection's place in the server's connection count, handed to the session.
    var admission: ConnectionTicket?
    /// Messages per second this socket may send; 0: no limit.
    let maxMessagesPerSecond: Int
    var rate: MessageRate?

    init(hub: LoopHub, start: Start, admission: ConnectionTicket? = nil, maxMessagesPerSecond: Int = 0) {
        self.hub = hub
        self.start = start
        self.admission = admission
        self.maxMessagesPerSecond = maxMessagesPerSecond
        super.init()
        defersSequencedFrames = true
    }

    /// Builds the reliable frames the hub deferred during this turn, before the flush.
    func produce() {
        producing = false
        guard let hubSession, hubSession.transport === self else { return }
        hub.writeUnsent(hubSession)
    }

    /// Anything sent now goes after the deferred frames already due. `producing` is checked
    /// first: it is on this object's hot line, and false for every non-reliable client.
    @inline(__always) func writeUnsentFirst() {
        if producing, let hubSession, hubSession.unsent > 0 { hub.writeUnsent(hubSession) }
    }

    func opened(_ session: WebSocketSession) {
        self.session = session
        deliveryConnection = Unmanaged.passUnretained(session.connection)
        switch start {
        case .open(let connectionId, let identity, let token):
            hubSession = hub.open(
                connectionId: connectionId, identity: identity, reconnectionToken: token, transport: self)
            hubSession?.admission = admission
            admission = nil
        case .resume(let connectionId):
            hubSession = hub.resume(connectionId: connectionId, transport: self, now: session.connection.loop.now)
            if hubSession == nil {
                session.close(.policyViolation, reason: "the connection cannot be recovered")
            }
        case .refuse(let code, let reason):
            session.close(code, reason: reason)
        }
    }

    func received(_ opcode: WebSocketOpcode, _ payload: UnsafeRawBufferPointer, on session: WebSocketSession) {
        guard let hubSession else { return }
        if maxMessagesPerSecond > 0 {
            let now = session.connection.loop.now
            if rate == nil { rate = MessageRate(perSecond: maxMessagesPerSecond, now: now) }
            guard rate!.take(now: now) else {
                hub.end(
                    hubSession, code: WebSocketCloseCode.policyViolation.rawValue,
                    reason: "More than \(maxMessagesPerSecond) messages per second.")
                return
            }
        }
        hub.received(payload, isText: opcode == .text, on: hubSession)
    }

    /// JSON clients learn why in `system/disconnected` before the close frame; the session ends.
    func failed(_ session: WebSocketSession, _ failure: WebSocketProtocolError) {
        guard let hubSession else {
            session.close(failure.code, reason: failure.reason)
            return
        }
        hub.end(hubSession, code: failure.code.rawValue, reason: failure.reason)
        if !session.closeSent { session.close(failure.code, reason: failure.reason) }
    }

    func closed(_ session: WebSocketSession) {
        deliveryConnection = nil
        guard let hubSession else { return }
        // A close frame without a code is a client stopping on purpose, like 1000.
        let code = session.peerSentClose ? (session.peerCloseCode ?? WebSocketCloseCode.normal.rawValue) : nil
        hub.transportClosed(hubSession, transport: self, clientCloseCode: code, now: session.connection.loop.now)
        self.hubSession = nil
    }

    // MARK: HubTransport

    override var queuedBytes: Int { session?.connection.queuedBytes ?? 0 }

    override var deflateWindowBits: Int? { session?.deflate?.serverMaxWindowBits }

    override func sequencedFramesPending() -> Int {
        guard let deliveryConnection else { return 0 }
        return deliveryConnection._withUnsafeGuaranteedRef { connection in
            if !producing {
                producing = true
                connection.loop.produceBeforeFlush(self)
            }
            return connection.queuedBytes
        }
    }

    override func sendBuilt(byteCount: Int, _ write: (UnsafeMutableRawPointer) -> Void) -> Int {
        guard let deliveryConnection else { return 0 }
        return deliveryConnection._withUnsafeGuaranteedRef { $0.sendBuilt(byteCount: byteCount, write) }
    }

    override func send(_ shared: SharedBytes, endsFrame: Bool) {
        writeUnsentFirst()
        guard let session, !session.closeSent else { return }
        session.connection.send(shared, endsFrame: endsFrame)
    }

    override func send(_ bytes: UnsafeRawBufferPointer, endsFrame: Bool) {
        writeUnsentFirst()
        guard let session, !session.closeSent else { return }
        session.connection.send(bytes, endsFrame: endsFrame)
    }

    override func sendFrame(head: UnsafeRawBufferPointer, shared: SharedBytes, tail: UnsafeRawBufferPointer) -> Int {
        guard let deliveryConnection else { return 0 }
        writeUnsentFirst()
        return deliveryConnection._withUnsafeGuaranteedRef { $0.sendFrame(head: head, shared, tail: tail) }
    }

    override func send(_ header: UnsafeRawBufferPointer, _ payload: UnsafeRawBufferPointer) {
        writeUnsentFirst()
        guard let session, !session.closeSent else { return }
        session.connection.send(header, payload)
    }

    override func sendUrgent(_ header: UnsafeRawBufferPointer, _ payload: UnsafeRawBufferPointer) {
        guard let session, !session.closeSent else { return }
        session.connection.sendUrgent(header, payload)
    }

    override func close(code: UInt16, reason: String) {
        writeUnsentFirst()
        session?.close(WebSocketCloseCode(rawValue: code), reason: reason)
    }
}
