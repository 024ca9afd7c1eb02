import WPSBytes
import WPSProtocol

extension LoopHub {
    /// Sends one broadcast to one member; a reliable member numbers and buffers it first.
    /// One transport call per recipient, which also answers the slow-consumer check.
    func send(_ broadcast: Broadcast, to session: HubSession) {
        let sequenceId: UInt64
        if session.kind.isReliable {
            if session.handover != nil, heldDuringHandover(broadcast, for: session) { return }
            // A reliable session without a socket still numbers and buffers for replay.
            guard let numbered = bufferReliable(broadcast, for: session) else { return }
            sequenceId = numbered
        } else {
            sequenceId = 0
        }
        guard let target = session.deliveryTarget else { return }
        if target._withUnsafeGuaranteedRef({ $0.deliver(broadcast, sequenceId: sequenceId) }) {
            cutSlowConsumer(session)
        }
    }

    /// Numbers and buffers the message for a reliable session; nil when that overflowed the
    /// buffer and ended the session.
    func bufferReliable(_ broadcast: Broadcast, for session: HubSession) -> UInt64? {
        let sequenceId = session.nextSequenceId
        session.nextSequenceId += 1
        session.buffer(sequenceId: sequenceId, broadcast)
        if (configuration.reliableMaxMessages > 0 && session.unackedCount > configuration.reliableMaxMessages)
            || session.unackedBytes > configuration.reliableMaxBytes
        {
            end(session, code: .policyViolation, reason: "The reliable message buffer is full.", cause: .bufferOverflow)
            return nil
        }
        return sequenceId
    }

    /// Cuts a client whose queue passed its transport's `maxOutboundBytes`: a reliable one
    /// keeps its session so it can resume; any other ends (protocol-spec/reliability.md,
    /// slow consumers).
    func cutSlowConsumer(_ session: HubSession) {
        guard let transport = session.transport else { return }
        let limit = transport.maxOutboundBytes
        if session.replayAllowance > 0, transport.queuedBytes <= limit + session.replayAllowance {
            return  // Still reading its replay, which does not count (LoopHub.resume).
        }
        let reason = "slow consumer: more than \(limit) bytes queued"
        observer?.hubEvent(.slowConsumer(session, queuedBytes: transport.queuedBytes, limitBytes: limit))
        if session.kind.isReliable {
            session.transport = nil
            transport.close(code: .internalError, reason: reason)
            session.detachedAt = now
            detached.insert(session.connectionId)
            observer?.hubEvent(.detached(session, cause: .slowConsumer))
        } else {
            end(session, code: .policyViolation, reason: reason, cause: .slowConsumer)
        }
    }

    /// Builds a small JSON system message in the scratch buffer and sends it; `urgent` ones
    /// (acks, pongs) go ahead of queued data.
    func sendText(to session: HubSession, urgent: Bool = false, _ build: (inout OutputBuffer) -> Void) {
        guard let transport = session.transport else { return }
        if sendText(to: transport, urgent: urgent, build) { cutSlowConsumer(session) }
    }

    /// Returns true when the client's queue is now over its limit.
    @discardableResult
    func sendText(to transport: HubTransport, urgent: Bool = false, _ build: (inout OutputBuffer) -> Void) -> Bool {
        scratch.removeAll()
        build(&scratch)
        return scratch.bytes.withUnsafeBytes { transport.sendSystem($0, urgent: urgent) }
    }

    func sendConnected(_ session: HubSession) {
        guard session.kind.isJSON else { return }
        sendText(to: session) {
            ServerMessageEncoder.connected(
                userId: session.userId, connectionId: session.connectionId,
                reconnectionToken: session.reconnectionToken, into: &$0)
        }
    }

    func sendDisconnected(_ reason: String, to transport: HubTransport) {
        sendText(to: transport) { ServerMessageEncoder.disconnected(message: reason, into: &$0) }
    }

    static var nothing: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: nil, count: 0) }
}
