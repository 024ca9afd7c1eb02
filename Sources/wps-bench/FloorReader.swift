import WPSLoop
import WPSWebSocket

/// One client socket of the floor workload: a plain TCP connection to the bench's own
/// listener, whose frames it parses and checks exactly as a fan-out subscriber does.
final class FloorReader: ConnectionHandler {
    private unowned let context: LoopContext
    private var connection: Connection?
    private var reader = WebSocketReader(role: .client, maxMessageBytes: BenchSocket.maxMessageBytes)
    private var order = DeliveryOrder()
    private(set) var isConnected = false
    private var closing = false

    init(context: LoopContext) {
        self.context = context
    }

    /// Distinct data messages received.
    var uniqueReceived: Int { order.unique }

    /// Queues a connect to `127.0.0.1:port` on the loop's connect pacer.
    func start(port: Int) {
        context.enqueueConnect { [self] in
            guard let made = context.loop.connect(host: context.config.host, port: port, handler: self) else {
                context.shared.failedConnects.add(1, ordering: .relaxed)
                context.stats.recordFailure("connect failed at once")
                context.handshakeFinished()
                return
            }
            connection = made
        }
    }

    /// Closes the socket; the writer side sees EOF.
    func close() {
        closing = true
        connection?.close()
    }

    // MARK: ConnectionHandler

    func connected(_ connection: Connection) {
        isConnected = true
        context.shared.opened.add(1, ordering: .relaxed)
        context.handshakeFinished()
    }

    func received(_ bytes: UnsafeMutableRawBufferPointer, on connection: Connection) {
        let now = ProcessControl.monotonicNanos
        let error = reader.feed(bytes) { event in
            switch event {
            case .message(_, let payload, _):
                if BenchPayload.kind(payload) == .message, let stamp = BenchPayload.stamp(in: payload) {
                    context.stats.record(stamp, now: now, order: &order)
                } else {
                    context.stats.recordFailure("floor: message without a stamp")
                }
                return .continue
            case .ping, .pong:
                return .continue
            case .close:
                context.stats.recordFailure("floor: close frame")
                return .stop
            }
        }
        if let error {
            context.stats.recordFailure("floor: \(error)")
            connection.close()
        }
    }

    func closed(_ connection: Connection) {
        self.connection = nil
        if !isConnected {
            context.shared.failedConnects.add(1, ordering: .relaxed)
            context.stats.recordFailure("floor: connect failed")
            context.handshakeFinished()
            return
        }
        isConnected = false
        if !closing {
            context.shared.lostConnections.add(1, ordering: .relaxed)
            context.stats.recordFailure("floor: connection lost")
        }
    }
}

/// The floor readers of one loop: publishes the slowest one's count for the writer's
/// delivery window, and counts what each missed at the end.
final class FloorReaders: BenchTicker {
    private unowned let context: LoopContext
    private(set) var readers: [FloorReader] = []

    init(context: LoopContext) {
        self.context = context
    }

    /// Adds a reader and starts its connect.
    func add(port: Int) {
        let reader = FloorReader(context: context)
        readers.append(reader)
        reader.start(port: port)
    }

    func tick(now: UInt64) {
        guard !readers.isEmpty else { return }
        var fewest = Int.max
        for reader in readers where reader.uniqueReceived < fewest { fewest = reader.uniqueReceived }
        context.shared.slowest[context.loop.index % context.shared.slowest.count].received.store(
            fewest, ordering: .relaxed)
    }

    /// Messages missing over all readers when each should have received `expected`.
    func lost(expected: Int) -> Int {
        readers.reduce(0) { $0 + max(0, expected - $1.uniqueReceived) }
    }

    func closeAll() {
        for reader in readers { reader.close() }
    }
}
