import WPSBytes
import WPSProtocol

extension LoopHub {
    /// A complete WebSocket message from `session`'s client.
    public func received(_ frame: UnsafeRawBufferPointer, isText: Bool, on session: HubSession) {
        guard !session.isEnded, session.transport != nil else { return }
        if session.pendingEvent != nil { return hold(frame, isText: isText, on: session) }
        process(frame, isText: isText, on: session)
    }

    /// Acts on one client message; held messages come here once the event before them is answered.
    func process(_ frame: UnsafeRawBufferPointer, isText: Bool, on session: HubSession) {
        switch session.kind {
        case .raw(let publishGroup):
            receivedRaw(frame, isText: isText, on: session, group: publishGroup)
        case .json, .jsonReliable:
            guard isText else {
                let close = ClientProtocolClose.binaryFrame
                end(session, code: close.code, reason: close.reason, cause: .protocolViolation)
                return
            }
            switch ClientRequestDecoder.decode(frame) {
            case .success(let request):
                handle(request, frame: frame, on: session)
            case .failure(let error):
                // protocol-spec/client-protocol.md: bad JSON or type closes; a bad field with an ackId is acked.
                if let close = error.close {
                    end(session, code: close.code, reason: close.reason, cause: .protocolViolation)
                } else if let (ackId, ackError) = error.ackError {
                    ack(session, ackId, error: ackError)
                } else if let (invocationId, invokeError) = error.invocationError {
                    invokeResponse(session, invocationId, error: invokeError)
                }
            }
        }
    }

    func handle(_ request: ClientRequest, frame: UnsafeRawBufferPointer, on session: HubSession) {
        if let tracer { tracer.received(request, frame: frame, on: session) }
        switch request {
        case .ping:
            sendText(to: session, urgent: true) { ServerMessageEncoder.pong(into: &$0) }
        case .sequenceAck(let sequenceId):
            if session.kind.isReliable {
                session.acknowledge(upTo: sequenceId)
                session.lastSequenceAck = sequenceId
            }
        case .joinGroup(let group, let ackId):
            guard !isDuplicate(session, ackId) else { return }
            guard session.mayJoinLeave(group) else {
                return forbidden(session, ackId, "The client has no permission to join or leave group '\(group)'.")
            }
            let opened = join(session, group)
            if opened, let ackId, let membership {
                // In a cluster the ack waits until messages for the group from other nodes
                // reach this node, so a message sent once the client has its ack reaches it.
                session.ackHistory.insert(ackId)
                membership.whenSubscribed { [weak self, weak session] in
                    guard let self, let session, !session.isEnded else { return }
                    self.ack(session, ackId, error: nil)
                }
                return
            }
            succeeded(session, ackId)
        case .leaveGroup(let group, let ackId):
            guard !isDuplicate(session, ackId) else { return }
            guard session.mayJoinLeave(group) else {
                return forbidden(session, ackId, "The client has no permission to join or leave group '\(group)'.")
            }
            leave(session, group)
            succeeded(session, ackId)
        case .sendToGroup(let group, let ackId, let noEcho, let dataType, let data):
            guard !isDuplicate(session, ackId) else { return }
            guard session.maySend(to: group) else {
                return forbidden(session, ackId, "The client has no permission to send message to group '\(group)'.")
            }
            // An acknowledged send is all or nothing: while other nodes cannot be reached it
            // is refused, so the client may retry without duplicates. Without an ackId the
            // message still reaches this node's members.
            if let ackId, let peers, !peers.reachesEveryNode {
                ack(session, ackId, error: AckError(name: .internalServerError, message: Self.unreachableNodes))
                return
            }
            let value = UnsafeRawBufferPointer(rebasing: frame[data])
            guard
                let broadcast = Broadcast(
                    hub: session.hub, group: group, fromUserId: session.userId, dataType: dataType, data: value,
                    excluding: noEcho ? session.connectionId : nil)
            else {
                if let ackId {
                    ack(session, ackId, error: AckError(name: .badRequest, message: "data does not match dataType"))
                }
                return
            }
            publish(broadcast)
            succeeded(session, ackId)
        case .event(let event, let ackId, let dataType, let data):
            sendEvent(
                event, ackId: ackId, dataType: dataType, data: UnsafeRawBufferPointer(rebasing: frame[data]),
                on: session)
        case .invoke(let invocationId, let event, let dataType, let data):
            invoke(
                event, invocationId: invocationId, dataType: dataType,
                data: data.map { UnsafeRawBufferPointer(rebasing: frame[$0]) }, on: session)
        case .cancelInvocation(let invocationId):
            cancelInvocation(invocationId, on: session)
        }
    }

    func receivedRaw(_ frame: UnsafeRawBufferPointer, isText: Bool, on session: HubSession, group: String?) {
        if let tracer { tracer.receivedRaw(frame, isText: isText, group: group, on: session) }
        guard let group else { return sendRawEvent(frame, isText: isText, on: session) }
        guard session.maySend(to: group) else { return }
        publish(Broadcast(hub: session.hub, group: group, fromUserId: session.userId, isText: isText, payload: frame))
    }

    static let unreachableNodes = "The message was not sent: the other nodes of the cluster cannot be reached."

    // MARK: - acks

    /// True (and answered) when `ackId` already succeeded on this logical connection.
    func isDuplicate(_ session: HubSession, _ ackId: UInt64?) -> Bool {
        guard let ackId, session.ackHistory.contains(ackId) else { return false }
        ack(session, ackId, error: .duplicate(ackId: ackId))
        return true
    }

    func succeeded(_ session: HubSession, _ ackId: UInt64?) {
        guard let ackId else { return }
        session.ackHistory.insert(ackId)
        ack(session, ackId, error: nil)
    }

    func forbidden(_ session: HubSession, _ ackId: UInt64?, _ message: String) {
        guard let ackId else { return }
        ack(session, ackId, error: AckError(name: .forbidden, message: message))
    }

    /// Acks go ahead of queued data unless they must follow a reply sent just before.
    func ack(_ session: HubSession, _ ackId: UInt64, error: AckError?, urgent: Bool = true) {
        if let tracer { tracer.acked(session, ackId: ackId, error: error) }
        acks.record(error)
        sendText(to: session, urgent: urgent) { ServerMessageEncoder.ack(ackId: ackId, error: error, into: &$0) }
    }
}
