import WPSBytes
import WPSProtocol

/// `invoke` / `invokeResponse` / `cancelInvocation`: user events whose handler's answer
/// comes back under the client's invocation id (protocol-spec/upstream.md §9). They share
/// the one-at-a-time queue of `event` requests.
extension LoopHub {
    /// An `invoke` with `target` `event`, acted on in its turn.
    func invoke(
        _ name: String, invocationId: String, dataType: DataType, data: UnsafeRawBufferPointer?, on session: HubSession
    ) {
        guard let upstream, upstream.handlesUserEvent(hub: session.hub, name: name) else {
            let message = "No event handler is configured for event '\(name)' in hub '\(session.hub)'."
            return invokeResponse(session, invocationId, error: AckError(name: .notFound, message: message))
        }
        var event = UserEvent(
            name: name, dataType: dataType.isBase64 ? .binary : .text, body: [], invocationId: invocationId)
        if let data {
            guard let (_, body) = RawClientPayload.frame(dataType: dataType, data: data) else {
                let error = AckError(name: .badRequest, message: "data does not match dataType")
                return invokeResponse(session, invocationId, error: error)
            }
            event.dataType = dataType.isBase64 ? .binary : dataType
            event.body = body
        }
        dispatch(event, session)
    }

    /// Whether `invocationId` is with the handler (and not cancelled) or waits in the queue.
    func isInvocationInFlight(_ invocationId: String, on session: HubSession) -> Bool {
        if let pending = session.pendingEvent, !pending.cancelled, pending.invocationId == invocationId { return true }
        return session.heldInvocations.contains(invocationId)
    }

    /// The client gave up on `invocationId`: a waiting one is dropped, the one with the
    /// handler is answered to no one; an unknown id is ignored.
    func cancelInvocation(_ invocationId: String, on session: HubSession) {
        if let pending = session.pendingEvent, !pending.cancelled, pending.invocationId == invocationId {
            session.pendingEvent?.cancelled = true
            return
        }
        guard session.heldInvocations.remove(invocationId) != nil,
            let index = session.heldFrames[session.heldNext...].firstIndex(where: { $0.invocationId == invocationId })
        else { return }
        session.heldBytes -= session.heldFrames[index].bytes.count
        session.heldFrames.remove(at: index)
        if session.heldNext == session.heldFrames.count {
            session.heldFrames.removeAll()
            session.heldNext = 0
        }
    }

    /// The handler answered 2xx: the reply as `data`, or no data for an empty one (or a
    /// JSON `null`, which clients must never get as `data`).
    func invocationSucceeded(_ session: HubSession, _ invocationId: String, reply: UpstreamAnswer.Reply?) {
        guard let reply, !reply.body.isEmpty, !Self.isJSONNull(reply) else {
            sendText(to: session, urgent: true) {
                ServerMessageEncoder.invokeResponse(
                    invocationId: invocationId, dataType: nil, data: Self.nothing, into: &$0)
            }
            return
        }
        switch Self.replyValue(reply) {
        case .failure(let error):
            invokeResponse(session, invocationId, error: error)
        case .success(let value):
            // Carrying data, it queues behind what was sent before, as a reply to `event` does.
            value.bytes.withUnsafeBytes { data in
                sendText(to: session) {
                    ServerMessageEncoder.invokeResponse(
                        invocationId: invocationId, dataType: reply.dataType, data: data, into: &$0)
                }
            }
        }
    }

    static func isJSONNull(_ reply: UpstreamAnswer.Reply) -> Bool {
        reply.dataType == .json && reply.body.withUnsafeBytes { (try? JSON.validate($0))?.kind == .null }
    }

    /// A failed `invokeResponse`; like an ack it goes ahead of queued data and is never
    /// sequenced.
    func invokeResponse(_ session: HubSession, _ invocationId: String, error: AckError) {
        sendText(to: session, urgent: true) {
            ServerMessageEncoder.invokeResponse(invocationId: invocationId, error: error, into: &$0)
        }
    }
}
