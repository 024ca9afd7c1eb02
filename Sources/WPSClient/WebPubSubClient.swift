import Synchronization
import WPSBytes
import WPSLoop
import WPSProtocol

/// A client of the Web PubSub JSON subprotocols, shaped like the official SDKs: acks with
/// retries on the same ackId, reliable recovery, group rejoin (protocol-spec/client-library.md).
///
/// The client owns one loop thread; all state lives there, and the async methods post to it.
public final class WebPubSubClient: Sendable {
    private let group: EventLoopGroup
    private let inbox: LoopInbox
    private let core: ClientCore
    /// Connection events and received messages, in order (one consumer).
    public let events: AsyncStream<ClientEvent>

    /// Creates a client; nothing is connected until `start()`.
    public convenience init(url: ClientURLProvider, options: WebPubSubClientOptions = .init()) {
        self.init(url: url, options: options, makeSocket: nil)
    }

    /// Creates a client whose sockets come from `makeSocket` (nil: real WebSocket connections).
    init(url: ClientURLProvider, options: WebPubSubClientOptions, makeSocket: ClientCore.SocketFactory?) {
        let (stream, continuation) = AsyncStream<ClientEvent>.makeStream(bufferingPolicy: .unbounded)
        events = stream
        let core = ClientCore(
            options: options, urlProvider: url, events: continuation,
            tls: options.tls ?? (try? ClientTLS()), makeSocket: makeSocket)
        self.core = core
        do {
            group = try EventLoopGroup(threads: 1) { loop in core.attach(loop) }
        } catch {
            fatalError("the client's event loop could not start: \(error)")
        }
        inbox = group.inboxes[0]
    }

    deinit {
        let core = self.core
        inbox.post { _ in core.shutDown() }
        group.shutdown(graceNanos: 1_000_000_000)
        // Nobody waits for the loop thread (this may run on it); it frees itself when it ends.
        group.detach()
    }

    /// Connects; returns once the server's `connected` message arrived.
    public func start() async throws {
        let core = self.core
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            inbox.post { _ in core.start(continuation) }
        }
    }

    /// Closes with 1000 and does not reconnect; `.stopped` is reported.
    public func stop() async {
        let core = self.core
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            inbox.post { _ in core.stop(continuation) }
        }
    }

    /// The id of the current logical connection, if any.
    public var connectionId: String? {
        get async {
            let core = self.core
            return await withCheckedContinuation { (continuation: CheckedContinuation<String?, Never>) in
                inbox.post { _ in continuation.resume(returning: core.connectionId) }
            }
        }
    }

    /// Joins `group`; the group is joined again on every new connection.
    public func joinGroup(_ group: String, ackId: UInt64? = nil) async throws {
        try await perform(ackId: ackId, fireAndForget: false, effect: .join(group)) { id, out in
            ClientRequestEncoder.joinGroup(group: group, ackId: id, into: &out)
        }
    }

    /// Leaves `group`.
    public func leaveGroup(_ group: String, ackId: UInt64? = nil) async throws {
        try await perform(ackId: ackId, fireAndForget: false, effect: .leave(group)) { id, out in
            ClientRequestEncoder.leaveGroup(group: group, ackId: id, into: &out)
        }
    }

    /// Publishes `data` to `group`; `fireAndForget` sends without an ackId and returns once written.
    public func sendToGroup(
        _ group: String, data: MessageData, noEcho: Bool = false, ackId: UInt64? = nil, fireAndForget: Bool = false
    ) async throws {
        let (dataType, raw) = Self.encode(data)
        try await perform(ackId: ackId, fireAndForget: fireAndForget, effect: .none) { id, out in
            raw.withUnsafeBytes {
                ClientRequestEncoder.sendToGroup(
                    group: group, ackId: id, noEcho: noEcho, dataType: dataType, data: $0, into: &out)
            }
        }
    }

    /// Sends a user event to the server's event handler.
    public func sendEvent(_ event: String, data: MessageData, ackId: UInt64? = nil, fireAndForget: Bool = false)
        async throws
    {
        let (dataType, raw) = Self.encode(data)
        try await perform(ackId: ackId, fireAndForget: fireAndForget, effect: .none) { id, out in
            raw.withUnsafeBytes {
                ClientRequestEncoder.event(event: event, ackId: id, dataType: dataType, data: $0, into: &out)
            }
        }
    }

    /// Sends a user event and waits for the event handler's answer (`invoke`): its data, or
    /// nil when it answered without any. Throws `InvocationError` when the handler fails, no
    /// answer comes within `timeout`, the connection carrying it is lost, or the task is
    /// cancelled (the server is then told with `cancelInvocation`). Not retried: the handler
    /// may have acted already.
    public func invoke(
        _ event: String, data: MessageData, invocationId: String? = nil, timeout: Duration = .seconds(30)
    ) async throws -> MessageData? {
        let (dataType, raw) = Self.encode(data)
        let core = self.core
        let inbox = self.inbox
        let chosen = Mutex<String?>(invocationId)
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<MessageData?, any Error>) in
                inbox.post { _ in
                    let id = chosen.withLock { id in
                        if id == nil { id = core.takeInvocationId() }
                        return id!
                    }
                    var out = OutputBuffer(capacity: raw.count + 96)
                    raw.withUnsafeBytes {
                        ClientRequestEncoder.invoke(
                            invocationId: id, event: event, dataType: dataType, data: $0, into: &out)
                    }
                    core.invoke(id: id, frame: out.bytes, timeoutNanos: timeout.nanos, continuation: continuation)
                }
            }
        } onCancel: {
            inbox.post { _ in
                guard let id = chosen.withLock({ $0 }) else { return }
                core.cancelInvocation(
                    id,
                    error: InvocationError(invocationId: id, errorName: "Cancelled", message: "The task was cancelled.")
                )
            }
        }
    }

    private func perform(
        ackId: UInt64?, fireAndForget: Bool, effect: ClientOperation.Effect,
        _ build: @escaping @Sendable (UInt64?, inout OutputBuffer) -> Void
    ) async throws {
        let core = self.core
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            inbox.post { _ in
                let id = fireAndForget ? nil : (ackId ?? core.takeAckId())
                var out = OutputBuffer(capacity: 128)
                build(id, &out)
                core.submit(
                    ClientOperation(
                        ackId: id, frame: out.bytes, effect: effect,
                        retriesLeft: core.options.messageRetries, continuation: continuation))
            }
        }
    }

    /// The data type and the raw JSON value carrying `data`.
    static func encode(_ data: MessageData) -> (DataType, [UInt8]) {
        var out = OutputBuffer(capacity: 64)
        switch data {
        case .text(let text):
            ClientRequestEncoder.appendData(text: text, to: &out)
            return (.text, out.bytes)
        case .json(let bytes):
            return (.json, bytes)
        case .binary(let bytes):
            ClientRequestEncoder.appendData(binary: bytes, to: &out)
            return (.binary, out.bytes)
        }
    }
}
