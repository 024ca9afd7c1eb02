import WPSLoop

/// How a publisher paces its sends.
enum PublishPace: Sendable {
    /// A fixed number of publishes per second.
    case rate(Double)
    /// As fast as acks come back, with at most `window` un-acked publishes in flight.
    case saturation(window: Int)
}

/// Limits shared by both publisher kinds.
struct PublishPlan: Sendable {
    var group: String
    var pace: PublishPace
    /// Stop after this many publishes (0: until the run's stop flag).
    var maxCount: Int
    /// Subscribers in the group, for the delivery window.
    var subscribers: Int
    /// Publishes that may be sent but not yet delivered to every subscriber, so the server's
    /// outbound queues (and its slow-consumer limit) never fill up under saturation.
    var deliveryWindow: Int
}

/// Publishes stamped payloads to one group over WebSocket `sendToGroup` with ack ids.
final class GroupPublisher: BenchPeer, BenchTicker {
    private unowned let context: LoopContext
    private var socket: BenchSocket!
    let plan: PublishPlan
    private var isConnected = false
    private var startedAt: UInt64 = 0
    private(set) var sent = 0
    private(set) var acked = 0
    private var running = false

    init(context: LoopContext, plan: PublishPlan) {
        self.context = context
        self.plan = plan
        socket = BenchSocket(peer: self, transport: context.config.transport)
    }

    /// Connects; `shared.opened` counts it once the server says `connected`.
    func connect(path: String) {
        let config = context.config
        context.enqueueConnect { [self] in
            if !socket.start(
                loop: context.loop, host: config.host, port: config.port, sourceHost: nil, path: path,
                subprotocol: config.subprotocol)
            {
                context.shared.failedConnects.add(1, ordering: .relaxed)
                context.handshakeFinished()
            }
        }
    }

    /// Starts publishing now.
    func begin() {
        running = true
        startedAt = context.loop.now
        pump(now: startedAt)
    }

    /// Un-acked publishes.
    var inFlight: Int { sent - acked }

    func close() { socket.closeNormally() }

    func tick(now: UInt64) {
        if running { pump(now: now) }
    }

    private func pump(now: UInt64) {
        guard isConnected else { return }
        if context.shared.isStopped || (plan.maxCount > 0 && sent >= plan.maxCount) {
            running = false
            return
        }
        let budget: Int
        switch plan.pace {
        case .rate(let perSecond):
            let due = Int(Double(now &- startedAt) * perSecond / 1e9) + 1
            budget = min(due - sent, 10_000 - inFlight)
        case .saturation(let window):
            let delivered = context.shared.delivered.load(ordering: .relaxed)
            let undelivered = sent * plan.subscribers - delivered
            let byDelivery = (plan.deliveryWindow * plan.subscribers - undelivered) / max(1, plan.subscribers)
            let slowest = context.shared.slowestDelivered
            let bySlowest = slowest == Int.max ? byDelivery : plan.deliveryWindow - (sent - slowest)
            budget = min(window - inFlight, byDelivery, bySlowest)
        }
        guard budget > 0 else { return }
        let limit = plan.maxCount > 0 ? min(budget, plan.maxCount - sent) : budget
        for _ in 0..<limit {
            sent += 1
            let data = BenchPayload.make(
                sentNanos: ProcessControl.monotonicNanos, publisher: 0, sequence: UInt64(sent),
                size: context.config.payloadBytes, style: context.config.payloadStyle)
            socket.sendText(BenchPayload.sendToGroup(group: plan.group, ackId: UInt64(sent), data: data))
        }
        context.stats.published += limit
        context.shared.published.add(limit, ordering: .relaxed)
    }

    // MARK: BenchPeer

    func socketUpgraded(_ socket: BenchSocket) {}

    func socketMessage(_ socket: BenchSocket, _ payload: UnsafeRawBufferPointer, now: UInt64) {
        switch BenchPayload.kind(payload) {
        case .ack:
            guard let ack = BenchPayload.ack(in: payload) else { return }
            acked += 1
            context.shared.acked.add(1, ordering: .relaxed)
            if !ack.success { context.stats.failedAcks += 1 }
            if running, case .saturation = plan.pace { pump(now: now) }
        case .system:
            if !isConnected, BenchPayload.isConnected(payload) {
                isConnected = true
                context.shared.opened.add(1, ordering: .relaxed)
                context.handshakeFinished()
            }
        case .message, .pong, .other:
            break
        }
    }

    func socketClosed(_ socket: BenchSocket, failure: String?) {
        if !isConnected {
            context.shared.failedConnects.add(1, ordering: .relaxed)
            context.handshakeFinished()
        }
        isConnected = false
        running = false
        if let failure { context.stats.recordFailure("publisher: " + failure) }
    }
}
