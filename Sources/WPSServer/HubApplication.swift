import WPSBytes
import WPSHub
import WPSLoop
import WPSWebSocket

/// Connects one upgraded WebSocket to the loop's hub: it feeds the hub the client's
/// messages, and is the hub's transport for that connection, handing what the hub says to
/// the loop's `Outbox` together with what the Outbox keeps per connection.
final class HubApplication: HubTransport, WebSocketApplication {
    /// How the connection begins. Indirect, so it costs one pointer here (freed once used)
    /// rather than an identity's worth of bytes for the connection's whole life.
    indirect enum Start: Sendable {
        case open(connectionId: String, identity: ClientIdentity, reconnectionToken: String?)
        case resume(connectionId: String)
        /// Accept, then close at once with this code and reason (refused recovery, unsupported mode).
        case refuse(code: WebSocketCloseCode, reason: String)
        /// Already begun.
        case started
    }

    /// The form data messages take on this connection.
    enum Form { case json, reliable, raw }

    // What a delivery reads comes first, on the object's first cache line.
    /// The session's connection, used as a guaranteed reference, so a delivery costs no
    /// retain or release. A closing connection refuses data, which covers the session's
    /// close-sent check.
    var deliveryConnection: Unmanaged<Connection>?
    var form: Form
    /// The server window of permessage-deflate on this connection; 0: not negotiated.
    var deflateWindowBits: UInt8 = 0
    /// This connection's reliable frames waiting for the end of the turn (`Outbox.pending`):
    /// the first and last entry (-1: none) and the bytes they will take.
    var pendingFirst: Int32 = -1
    var pendingLast: Int32 = -1
    var pendingBytes = 0
    let outbox: Outbox
    let hub: LoopHub
    /// This loop's part of the cluster, for recoveries of sessions held by other nodes.
    let cluster: ClusterLoop?
    /// The session this socket waits to take over from another node.
    var awaitedSession: String?
    var start: Start
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

    init(context: LoopContext, start: Start, admission: ConnectionTicket? = nil, maxMessagesPerSecond: Int = 0) {
        hub = context.hub
        outbox = context.outbox
        cluster = context.cluster
        self.start = start
        self.admission = admission
        self.maxMessagesPerSecond = maxMessagesPerSecond
        switch start {
        case .open(_, let identity, _):
            switch identity.kind {
            case .json: form = .json
            case .jsonReliable: form = .reliable
            case .raw: form = .raw
            }
        case .resume: form = .reliable  // Only reliable sessions resume.
        case .refuse, .started: form = .raw
        }
        super.init()
    }

    func opened(_ session: WebSocketSession) {
        self.session = session
        deliveryConnection = Unmanaged.passUnretained(session.connection)
        deflateWindowBits = UInt8(truncatingIfNeeded: session.deflate?.serverMaxWindowBits ?? 0)
        let start = self.start
        self.start = .started
        switch start {
        case .open(let connectionId, let identity, let token):
            hubSession = hub.open(
                connectionId: connectionId, identity: identity, reconnectionToken: token, transport: self)
            hubSession?.admission = admission
            hubSession?.openedAt = session.connection.loop.now
            admission = nil
        case .resume(let connectionId):
            // Not here: in a cluster another node may hold it and hand it over.
            if let cluster, !hub.hasSession(connectionId) {
                awaitedSession = connectionId
                cluster.requestHandover(connectionId, for: self)
                return
            }
            hubSession = hub.resume(connectionId: connectionId, transport: self, now: session.connection.loop.now)
            if hubSession == nil {
                session.close(.policyViolation, reason: "the connection cannot be recovered")
            }
        case .refuse(let code, let reason):
            session.close(code, reason: reason)
        case .started:
            break
        }
    }

    /// Another node handed the awaited session over; it is this socket's now.
    func adopted(_ hubSession: HubSession) {
        awaitedSession = nil
        self.hubSession = hubSession
    }

    /// No node could hand the awaited session over.
    func handoverRefused(reason: String) {
        guard let id = awaitedSession else { return }
        awaitedSession = nil
        outbox.events.report(.recoveryRefused(connectionId: id, reason: reason))
        session?.close(.policyViolation, reason: "the connection cannot be recovered")
    }

    func received(_ opcode: WebSocketOpcode, _ payload: UnsafeRawBufferPointer, on session: WebSocketSession) {
        guard let hubSession else { return }
        if maxMessagesPerSecond > 0 {
            let now = session.connection.loop.now
            if rate == nil { rate = MessageRate(perSecond: maxMessagesPerSecond, now: now) }
            guard rate!.take(now: now) else {
                hub.end(
                    hubSession, code: .policyViolation,
                    reason: "More than \(maxMessagesPerSecond) messages per second.",
                    cause: .protocolViolation)
                return
            }
        }
        outbox.countReceived(bytes: payload.count)
        hub.received(payload, isText: opcode == .text, on: hubSession)
    }

    /// JSON clients learn why in `system/disconnected` before the close frame; the session ends.
    func failed(_ session: WebSocketSession, _ failure: WebSocketProtocolError) {
        guard let hubSession else {
            session.close(failure.code, reason: failure.reason)
            return
        }
        hub.end(hubSession, code: failure.code, reason: failure.reason, cause: .protocolViolation)
        if !session.closeSent { session.close(failure.code, reason: failure.reason) }
    }

    func closed(_ session: WebSocketSession) {
        deliveryConnection = nil
        if let id = awaitedSession {
            awaitedSession = nil
            cluster?.handoverSocketClosed(id)
        }
        if !outbox.events.isEmpty {
            let byPeer = session.peerStartedClose || !session.closeSent
            let code =
                session.peerStartedClose
                ? session.peerCloseCode.map { WebSocketCloseCode(rawValue: $0) } : session.sentCloseCode
            outbox.events.report(
                .socketClosed(
                    session: hubSession, code: code, reason: session.peerStartedClose ? "" : session.sentCloseReason,
                    byPeer: byPeer))
        }
        guard let hubSession else { return }
        // A close frame without a code is a client stopping on purpose, like 1000.
        let code = session.peerSentClose ? WebSocketCloseCode(rawValue: session.peerCloseCode ?? 1000) : nil
        hub.transportClosed(hubSession, transport: self, clientCloseCode: code, now: session.connection.loop.now)
        self.hubSession = nil
    }

    // MARK: HubTransport

    override var queuedBytes: Int { (session?.connection.queuedBytes ?? 0) + pendingBytes }

    override var maxOutboundBytes: Int { outbox.maxOutboundBytes }

    override func deliver(_ broadcast: Broadcast, sequenceId: UInt64) -> Bool {
        outbox.deliver(broadcast, sequenceId: sequenceId, to: self)
    }

    override func sendSystem(_ message: UnsafeRawBufferPointer, urgent: Bool) -> Bool {
        outbox.sendSystem(message, urgent: urgent, to: self)
    }

    override func close(code: WebSocketCloseCode, reason: String) {
        outbox.close(self, code: code, reason: reason)
    }
}
