import WPSBytes
import WPSProtocol

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

    /// Keeps a frame that came while an event waits. Pings, sequence acks and cancels do
    /// not depend on order and are handled at once; past `maxWaitingMessages` the client is
    /// told.
    func hold(_ frame: UnsafeRawBufferPointer, isText: Bool, on session: HubSession) {
        var ackId: UInt64?
        var invocationId: String?
        var heldInvocation: String?
        if session.kind.isJSON, isText {
            switch ClientRequestDecoder.decode(frame) {
            case .success(let request):
                switch request {
                case .ping, .sequenceAck, .cancelInvocation:
                    return handle(request, frame: frame, on: session)
                case .invoke(let id, _, _, _):
                    guard !isInvocationInFlight(id, on: session) else {
                        let message = "An invocation with id '\(id)' is already in progress on this connection."
                        return invokeResponse(session, id, error: AckError(name: .badRequest, message: message))
                    }
                    invocationId = id
                    heldInvocation = id
                default:
                    ackId = request.ackId
                }
            case .failure(let error):
                invocationId = error.invocationError?.invocationId
            }
        }
        guard session.heldFrames.count - session.heldNext < configuration.maxWaitingMessages,
            session.heldBytes + frame.count <= configuration.maxWaitingBytes
        else {
            let reason =
                "Over \(configuration.maxWaitingMessages) messages or \(configuration.maxWaitingBytes) bytes are waiting for the event handler on this connection."
            if let ackId {
                ack(session, ackId, error: AckError(name: .internalServerError, message: reason + " Retry later."))
            } else if let invocationId {
                let error = AckError(name: .internalServerError, message: reason + " Retry later.")
                invokeResponse(session, invocationId, error: error)
            } else {
                end(session, code: .policyViolation, reason: reason, cause: .protocolViolation)
            }
            return
        }
        session.heldFrames.append(HeldFrame(bytes: Array(frame), isText: isText, invocationId: heldInvocation))
        session.heldBytes += frame.count
        if let heldInvocation { session.heldInvocations.insert(heldInvocation) }
    }

    /// The handler answered the event `session` waits on (or it failed). The reply goes
    /// first, then the ack; then the frames that waited are handled, in order.
    public func upstreamAnswered(_ session: HubSession, _ answer: UpstreamAnswer) {
        guard let pending = session.pendingEvent else { return }
        session.pendingEvent = nil
        guard !session.isEnded else { return }
        switch answer {
        case .success(let reply, let state) where pending.invocationId != nil:
            // The handler acted on a cancelled invocation too: its state counts, its reply not.
            if let state { session.connectionState = state.isEmpty ? nil : state }
            if let invocationId = pending.invocationId, !pending.cancelled {
                invocationSucceeded(session, invocationId, reply: reply)
            }
        case .failure(let error) where pending.invocationId != nil:
            if let invocationId = pending.invocationId, !pending.cancelled {
                invokeResponse(session, invocationId, error: error)
            }
        case .success(let reply, let state):
            if let state { session.connectionState = state.isEmpty ? nil : state }
            var failed: AckError?
            var replied = false
            // A JSON `null` reply is no reply: `"data":null` breaks the .NET client.
            if let reply, !reply.body.isEmpty, !Self.isJSONNull(reply) {
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
            if let id = held.invocationId { session.heldInvocations.remove(id) }
            held.bytes.withUnsafeBytes { process($0, isText: held.isText, on: session) }
        }
    }

    /// Sends the handler's reply to the sender as a server message (a bare frame to simple
    /// clients; sequenced on reliable ones); an error when the reply does not fit its type.
    func sendReply(_ reply: UpstreamAnswer.Reply, to session: HubSession) -> AckError? {
        let value: OutputBuffer
        switch Self.replyValue(reply) {
        case .failure(let error): return error
        case .success(let built): value = built
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

    /// The handler's reply as the JSON value of a `data` field of its type; an error when the
    /// body does not fit the type (protocol-spec/upstream.md §6.2).
    static func replyValue(_ reply: UpstreamAnswer.Reply) -> Result<OutputBuffer, AckError> {
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
            let expected = reply.dataType == .json ? "JSON" : "UTF-8 text"
            return .failure(
                AckError(name: .internalServerError, message: "The event handler's reply is not valid \(expected)."))
        }
        return .success(value)
    }
}
