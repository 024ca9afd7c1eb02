public import WPSClient

/// Where and how the apps connect: the server, its negotiate key and the hub.
public struct JobServer: Sendable {
    /// `http://host:port` of wps-server.
    public var url: String
    /// The `x-api-key` for `/negotiate`.
    public var negotiateKey: String
    /// The hub.
    public var hub: String

    /// Creates a server description.
    public init(url: String, negotiateKey: String, hub: String = JobGroups.defaultHub) {
        self.url = url
        self.negotiateKey = negotiateKey
        self.hub = hub
    }
}

/// One `WebPubSubClient` bound to one group (negotiated for it, so it may join and send there
/// and is joined on connect), with an ordered send queue.
///
/// Sends go out one at a time in the order they were queued, each waiting for its ack, so the
/// group sees them in that order; the client retries them over reconnects (client-library.md §3).
public final class JobConnection: Sendable {
    /// The group this connection publishes to.
    public let group: String
    /// The underlying client; read `client.events` (one consumer).
    public let client: WebPubSubClient
    private let queue: AsyncStream<Item>.Continuation
    private let items: AsyncStream<Item>
    let closedSignal: (stream: AsyncStream<Void>, continuation: AsyncStream<Void>.Continuation)

    /// How often one message is handed to the client before the send is reported failed.
    static let sendAttempts = 5

    enum Item: Sendable {
        case send([UInt8])
        case close
    }

    /// Creates the connection; nothing happens until `start`.
    public init(server: JobServer, userId: String, group: String, options: WebPubSubClientOptions = .init()) {
        self.group = group
        client = WebPubSubClient(
            url: WebPubSubClient.negotiateURLProvider(
                server: server.url, userId: userId, group: group, hub: server.hub, apiKey: server.negotiateKey),
            options: options)
        (items, queue) = AsyncStream<Item>.makeStream(bufferingPolicy: .unbounded)
        closedSignal = AsyncStream<Void>.makeStream()
    }

    /// Connects (throws if the first attempt fails) and starts the sender; `acked` is called
    /// after each successful send, `failed` with a reason when a send gives up.
    public func start(acked: @escaping @Sendable () -> Void, failed: @escaping @Sendable (String) -> Void)
        async throws
    {
        try await client.start()
        let items = self.items
        let client = self.client
        let group = self.group
        let closed = closedSignal.continuation
        Task {
            for await item in items {
                switch item {
                case .send(let bytes):
                    // The client already retries over reconnects with the same ackId; when it
                    // gives up (retries used, ack timeout), send again with a new ackId: the
                    // job protocol tolerates duplicates (jobs.md §6), not gaps.
                    var attempt = 1
                    while true {
                        do {
                            try await client.sendToGroup(group, data: .json(bytes), noEcho: true)
                            acked()
                            break
                        } catch {
                            guard attempt < Self.sendAttempts else {
                                failed("\(error)")
                                break
                            }
                            attempt += 1
                            try? await Task.sleep(for: .milliseconds(500))
                        }
                    }
                case .close:
                    await client.stop()
                    closed.yield()
                    closed.finish()
                    return
                }
            }
        }
    }

    /// Queues a message for the group.
    public func send(_ message: JobMessage) { queue.yield(.send(message.encoded())) }

    /// Closes after the queued sends.
    public func close() {
        queue.yield(.close)
        queue.finish()
    }
}

/// Runs `operation` but returns after `limit` at the latest (the operation keeps running).
public func withDeadline(_ limit: Duration, _ operation: @escaping @Sendable () async -> Void) async {
    let (stream, continuation) = AsyncStream<Void>.makeStream()
    Task {
        await operation()
        continuation.yield()
    }
    Task {
        try? await Task.sleep(for: limit)
        continuation.yield()
    }
    for await _ in stream { break }
}

/// A decoded job message from a client event, if the event is a group message that holds one.
public func jobMessage(in event: ClientEvent) -> Result<JobMessage, JobMessageError>? {
    guard case .groupMessage(_, _, let data, _) = event else { return nil }
    let bytes: [UInt8]
    switch data {
    case .json(let raw): bytes = raw
    case .text(let text): bytes = Array(text.utf8)
    case .binary(let raw): bytes = raw
    }
    do throws(JobMessageError) {
        return .success(try JobMessage.decode(bytes))
    } catch {
        return .failure(error)
    }
}

extension JobConnection {
    /// Waits until `close` has stopped the client (one caller).
    public func closed() async {
        for await _ in closedSignal.stream { break }
    }
}
