import WPSBytes
import WPSProtocol

/// Requests out, server messages in.
extension ClientCore {
    // MARK: requests

    /// Allocates the next ackId of this client (1, 2, 3, … across reconnects).
    func takeAckId() -> UInt64 {
        defer { nextAckId &+= 1 }
        return nextAckId
    }

    /// Sends `operation` now when connected, queues it while (re)connecting, fails it when idle.
    func submit(_ operation: ClientOperation) {
        var operation = operation
        switch phase {
        case .open:
            write(operation)
        case .idle, .stopping:
            if let id = operation.invocationId {
                cancelInvocation(
                    id,
                    error: InvocationError(
                        invocationId: id, errorName: "NotStarted", message: "The client is not started."))
            }
            operation.complete(
                SendMessageError(
                    ackId: operation.ackId ?? 0, errorName: "NotStarted", message: "The client is not started."))
        default:
            outbox.append(operation)
        }
    }

    func write(_ operation: ClientOperation) {
        var operation = operation
        socket?.sendText(operation.frame)
        if let id = operation.invocationId { invocationWritten(id) }
        guard let ackId = operation.ackId else {
            operation.complete(nil)
            return
        }
        operation.deadline = now &+ options.ackTimeout.nanos
        pending[ackId] = operation
    }

    /// On a dropped socket: requests still waiting for an ack go back to the front of the
    /// queue (same frame, same ackId) while retries remain; the others fail.
    func requeueInFlight() {
        let inFlight = pending.values.sorted { ($0.ackId ?? 0) < ($1.ackId ?? 0) }
        pending = [:]
        var again: [ClientOperation] = []
        for var operation in inFlight {
            if operation.retriesLeft > 0 {
                operation.retriesLeft -= 1
                again.append(operation)
            } else {
                operation.complete(
                    SendMessageError(
                        ackId: operation.ackId ?? 0, errorName: "ConnectionLost",
                        message: "Connection is disconnected before receive ack from the service."))
            }
        }
        outbox = again + outbox
    }

    func failAll(errorName: String, message: String) {
        let operations = Array(pending.values) + outbox
        pending = [:]
        outbox = []
        for var operation in operations {
            operation.complete(SendMessageError(ackId: operation.ackId ?? 0, errorName: errorName, message: message))
        }
        failAllInvocations(errorName: errorName, message: message)
    }

    func expireAcks(now: UInt64) {
        guard !pending.isEmpty else { return }
        for (ackId, operation) in pending where operation.deadline <= now {
            var expired = operation
            pending[ackId] = nil
            expired.complete(
                SendMessageError(ackId: ackId, errorName: "Timeout", message: "Timeout while waiting for ack message."))
        }
    }

    func sendSequenceAck() {
        var out = OutputBuffer(capacity: 48)
        ClientRequestEncoder.sequenceAck(sequenceId: maxSequenceId, into: &out)
        socket?.sendText(out.bytes)
        sequenceChanged = false
    }

    /// Joins every group joined so far again, after a new connection.
    func rejoinGroups() {
        guard options.autoRejoinGroups else { return }
        for group in joinedGroups {
            let ackId = takeAckId()
            var out = OutputBuffer(capacity: 64)
            ClientRequestEncoder.joinGroup(group: group, ackId: ackId, into: &out)
            write(
                ClientOperation(
                    ackId: ackId, frame: out.bytes, effect: .join(group), retriesLeft: options.messageRetries))
        }
    }

    // MARK: messages from the server

    func webSocket(_ socket: any ClientSocket, receivedText payload: UnsafeRawBufferPointer) {
        guard socket === self.socket else { return }
        guard case .success(let message) = ServerMessageDecoder.decode(payload) else { return }
        switch message {
        case .connected(let userId, let id, let token):
            connected(userId: userId, connectionId: id, reconnectionToken: token)
        case .disconnected(let message):
            disconnectMessage = message
        case .ack(let ackId, let success, let error):
            guard var operation = pending.removeValue(forKey: ackId) else { return }
            if success || error?.name == .duplicate {
                switch operation.effect {
                case .join(let group): if !joinedGroups.contains(group) { joinedGroups.append(group) }
                case .leave(let group): joinedGroups.removeAll { $0 == group }
                case .none: break
                }
                operation.complete(nil)
            } else {
                operation.complete(
                    SendMessageError(
                        ackId: ackId, errorName: error?.name.rawValue ?? "", message: error?.message ?? ""))
            }
        case .groupMessage(let group, let fromUserId, let dataType, let data, let sequenceId):
            guard accept(sequenceId) else { return }
            events.yield(
                .groupMessage(
                    group: group, fromUserId: fromUserId, data: Self.data(payload, dataType, data),
                    sequenceId: sequenceId))
        case .serverMessage(let dataType, let data, let sequenceId):
            guard accept(sequenceId) else { return }
            events.yield(.serverMessage(data: Self.data(payload, dataType, data), sequenceId: sequenceId))
        case .invokeResponse(let id, let success, let dataType, let data, let error):
            receivedInvokeResponse(payload, id: id, success: success, dataType: dataType, data: data, error: error)
        case .pong, .unknown:
            break
        }
    }

    func connected(userId: String?, connectionId id: String, reconnectionToken token: String?) {
        let recovered = phase == .connecting(recovery: true) && id == connectionId
        phase = .open
        reconnectionToken = token
        if !recovered {
            connectionId = id
            maxSequenceId = 0
            sequenceChanged = false
            events.yield(.connected(connectionId: id, userId: userId))
            let waiters = startWaiters
            startWaiters = []
            for waiter in waiters { waiter.resume() }
            rejoinGroups()
        }
        let queued = outbox
        outbox = []
        for operation in queued { write(operation) }
    }

    /// Reliable dedupe: a data message at or below the highest sequence id seen is a replay.
    func accept(_ sequenceId: UInt64?) -> Bool {
        guard let sequenceId, sequenceId > 0 else { return true }
        sequenceChanged = true
        guard sequenceId > maxSequenceId else { return false }
        maxSequenceId = sequenceId
        return true
    }

    static func data(_ frame: UnsafeRawBufferPointer, _ dataType: DataType, _ range: Range<Int>) -> MessageData {
        switch dataType {
        case .text: .text(ServerMessageDecoder.text(frame, data: range) ?? "")
        case .json: .json(ServerMessageDecoder.json(frame, data: range))
        default: .binary(ServerMessageDecoder.binary(frame, data: range) ?? [])
        }
    }
}
