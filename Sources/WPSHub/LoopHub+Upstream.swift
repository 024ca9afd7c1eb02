import WPSBytes
import WPSProtocol
import WPSWebSocket

/// User events go to the application one at a time per connection, in the order sent;
/// what the client sends meanwhile waits (protocol-spec/upstream.md §6.3).
extension LoopHub {
    /// An `event` request of a JSON client.
    func sendEvent(
        _ name: String, ackId: UInt64?, dataType: DataType, data: UnsafeRawBufferPointer, on session: HubSession
    ) {
        guard !isDuplicate(session, ackId) else { return }
        guard let upstream, upstream.handlesUserEvent(hub: session.hub, name: name) else {
            if let ackId {
                let message = "No event handler is configured for event '\(name)' in hub '\(session.hub)'."
                ack(session, ackId, error: AckError(name: .notFound, message: message))
            }
            return
        }
        guard let (_, body) = RawClientPayload.frame(dataType: dataType, data: data) else {
            if let ackId {
                ack(session, ackId, error: AckError(name: .badRequest, message: "data does not match dataType"))
            }
            return
        }
        dispatch(
            UserEvent(name: name, dataType: dataType.isBase64 ? .binary : dataType, body: body, ackId: ackId), session)
    }

    /// A frame of a simple client in `sendEvent` mode: the `message` event.
    func sendRawEvent(_ frame: UnsafeRawBufferPointer, isText: Bool, on session: HubSession) {
        guard let upstream, upstream.handlesUserEvent(hub: session.hub, name: "message") else { return }
        dispatch(UserEvent(name: "message", dataType: isText ? .text : .binary, body: Array(frame)), session)
    }

    func dispatch(_ event: UserEvent, _ session: HubSession) {
        session.pendingEvent = PendingEvent(ackId: event.ackId, invocationId: event.invocationId)
        upstream?.userEvent(event, from: session)
    }

    /// Keeps a frame that came while an event waits. Pings and sequence acks do not depend
    /// on order and are handled at once; past `maxWaitingMessages` the client is told.
    func hold(_ frame: UnsafeRawBufferPointer, isText: Bool, on session: HubSession) {
        var ackId: UInt64?
        if session.kind.isJSON, isText, case .success(let request) = ClientRequestDecoder.decode(frame) {
            switch request {
            case .ping, .sequenceAck:
                return handle(request, frame: frame, on: session)
            default:
                ackId = request.ackId
            }
        }
        guard session.heldFrames.count - session.heldNext < configuration.maxWaitingMessages,
            session.heldBytes + frame.count <= configuration.maxWaitingBytes
        else {
            let reason =
                "Over \(configuration.maxWaitingMessages) messages or \(configuration.maxWaitingBytes) bytes are waiting for the event handler on this connection."
            if let ackId {
                ack(session, ackId, error: AckError(name: .internalServerError, message: reason + " Retry later."))
            } else {
                end(session, code: WebSocketCloseCode.policyViolation.rawValue, reason: reason)
            }
            return
        }
        session.heldFrames.append(HeldFrame(bytes: Array(frame), isText: isText))
        session.heldBytes += frame.count
    }

    /// The handler answered the event `session` waits on (or it failed). The reply goes
    /// first, then the ack; then the frames that waited are handled, in order.
    public func upstreamAnswered(_ session: HubSession, _ answer: UpstreamAnswer) {
        guard let pending = session.pendingEvent else { return }
        session.pendingEvent = nil
        guard !session.isEnded else { return }
        switch answer {
        case .success(let reply, let state):
            if let state { session.connectionState = state.isEmpty ? nil : state }
            var failed: AckError?
            var replied = false
            if let reply, !reply.body.isEmpty {
                failed = sendReply(reply, to: session)
                replied = failed == nil
            }
            if let ackId = pending.ackId {
                // After a reply the ack queues behind it, so the client sees the reply first.
                if let failed {
                    ack(session, ackId, error: failed)
                } else {
                    session.ackHistory.insert(ackId)
                    ack(session, ackId, error: nil, urgent: !replied)
                }
            }
        case .failure(let error):
            if let ackId = pending.ackId { ack(session, ackId, error: error) }
        }
        while session.pendingEvent == nil, session.heldNext < session.heldFrames.count, !session.isEnded {
            // Taken by index: a long backlog is not shifted once per message.
            let held = session.heldFrames[session.heldNext]
            session.heldFrames[session.heldNext].bytes = []
            session.heldNext += 1
            if session.heldNext == session.heldFrames.count {
                session.heldFrames.removeAll()
                session.heldNext = 0
            }
            session.heldBytes -= held.bytes.count
            held.bytes.withUnsafeBytes { process($0, isText: held.isText, on: session) }
        }
    }

    /// Sends the handler's reply to the sender as a server message (a bare frame to simple
    /// clients; sequenced on reliable ones); an error when the reply does not fit its type.
    func sendReply(_ reply: UpstreamAnswer.Reply, to session: HubSession) -> AckError? {
        var value = OutputBuffer(capacity: reply.body.count * 4 / 3 + 16)
        let valid: Bool = reply.body.withUnsafeBytes { body in
            switch reply.dataType {
            case .json:
                guard (try? JSON.validate(body)) != nil else { return false }
                value.append(body)
            case .text:
                guard UTF8Validator.isValid(body) else { return false }
                JSONWriter.appendString(body, to: &value)
            default:
                var encoded: [UInt8] = []
                Base64.encode(body, into: &encoded)
                value.append(UInt8(ascii: "\""))
                value.append(contentsOf: encoded)
                value.append(UInt8(ascii: "\""))
            }
            return true
        }
        guard valid else {
            return AckError(
                name: .internalServerError,
                message: "The event handler's reply is not valid \(reply.dataType == .json ? "JSON" : "UTF-8 text").")
        }
        let selector = ConnectionSelector(hub: session.hub, target: .connection(session.connectionId))
        let broadcast = value.bytes.withUnsafeBytes {
            Broadcast(selector: selector, dataType: reply.dataType, data: $0)
        }
        guard let broadcast else {
            return AckError(name: .internalServerError, message: "The event handler's reply could not be encoded.")
        }
        send(broadcast, to: session)
        return nil
    }
}
