import WPSBytes
import WPSProtocol

/// One `invoke` the client waits on (protocol-spec/client-library.md, invocations).
struct InvocationWaiter {
    var continuation: CheckedContinuation<MessageData?, any Error>
    /// When the caller stops waiting (monotonic ns).
    var deadline: UInt64
    /// The request went out on a socket; a lost socket then loses its answer too.
    var written = false
}

/// Invocations: one `invokeResponse` answers each `invoke`, under its id.
extension ClientCore {
    /// The next automatic invocation id ("1", "2", … per client).
    func takeInvocationId() -> String {
        defer { nextInvocationId &+= 1 }
        return String(nextInvocationId)
    }

    /// Registers and sends an invocation; it waits in the outbox while (re)connecting.
    func invoke(
        id: String, frame: [UInt8], timeoutNanos: UInt64, continuation: CheckedContinuation<MessageData?, any Error>
    ) {
        guard invocations[id] == nil else {
            continuation.resume(
                throwing: InvocationError(
                    invocationId: id, errorName: "Duplicate", message: "An invocation with this id is in progress."))
            return
        }
        if phase == .idle || phase == .stopping {
            continuation.resume(
                throwing: InvocationError(
                    invocationId: id, errorName: "NotStarted", message: "The client is not started."))
            return
        }
        invocations[id] = InvocationWaiter(continuation: continuation, deadline: now &+ timeoutNanos)
        submit(ClientOperation(ackId: nil, frame: frame, effect: .none, retriesLeft: 0, invocationId: id))
    }

    func invocationWritten(_ id: String) {
        invocations[id]?.written = true
    }

    func receivedInvokeResponse(
        _ frame: UnsafeRawBufferPointer, id: String, success: Bool, dataType: DataType?, data: Range<Int>?,
        error: AckError?
    ) {
        guard let waiter = invocations.removeValue(forKey: id) else { return }
        if success {
            waiter.continuation.resume(returning: dataType.flatMap { type in data.map { Self.data(frame, type, $0) } })
        } else {
            waiter.continuation.resume(
                throwing: InvocationError(
                    invocationId: id, errorName: error?.name.rawValue ?? "", message: error?.message ?? ""))
        }
    }

    /// The caller gave up (timeout or task cancellation): the server is told, the caller is not kept waiting.
    func cancelInvocation(_ id: String, error: InvocationError) {
        guard let waiter = invocations.removeValue(forKey: id) else { return }
        if waiter.written, phase == .open {
            var out = OutputBuffer(capacity: 64)
            ClientRequestEncoder.cancelInvocation(invocationId: id, into: &out)
            socket?.sendText(out.bytes)
        } else {
            outbox.removeAll { $0.invocationId == id }
        }
        waiter.continuation.resume(throwing: error)
    }

    func expireInvocations(now: UInt64) {
        guard !invocations.isEmpty else { return }
        for (id, waiter) in invocations where waiter.deadline <= now {
            cancelInvocation(
                id,
                error: InvocationError(invocationId: id, errorName: "Timeout", message: "No invokeResponse in time."))
        }
    }

    /// A socket went away: answers to invocations written on it are lost with it (the server
    /// never buffers them), so their callers fail; unwritten ones stay queued.
    func failWrittenInvocations() {
        for (id, waiter) in invocations where waiter.written {
            invocations[id] = nil
            waiter.continuation.resume(
                throwing: InvocationError(
                    invocationId: id, errorName: "ConnectionLost",
                    message: "The connection was lost before the invokeResponse arrived."))
        }
    }

    /// Every waiting invocation fails (the client stops or gives up on the connection).
    func failAllInvocations(errorName: String, message: String) {
        let all = invocations
        invocations = [:]
        for (id, waiter) in all {
            waiter.continuation.resume(
                throwing: InvocationError(invocationId: id, errorName: errorName, message: message))
        }
    }
}

/// An invocation that got no successful answer: the handler failed or refused it (`errorName`
/// from the server), or the client gave up: `Timeout`, `ConnectionLost`, `Cancelled`,
/// `NotStarted`, `Duplicate` (the id is in use).
public struct InvocationError: Error, Sendable, Equatable {
    public var invocationId: String
    public var errorName: String
    public var message: String

    public init(invocationId: String, errorName: String, message: String) {
        self.invocationId = invocationId
        self.errorName = errorName
        self.message = message
    }
}
