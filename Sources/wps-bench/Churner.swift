import WPSLoop

/// Runs connection cycles back to back: connect (the server verifies the token), join a
/// group, leave it, close with 1000; each finished cycle counts, and its duration is
/// recorded as the cycle latency.
final class Churner: BenchPeer, BenchTicker {
    private enum Step { case connecting, joining, leaving, closing }

    private unowned let context: LoopContext
    private let path: String
    private let group: String
    private var socket: BenchSocket?
    private var step = Step.connecting
    private var cycleStart: UInt64 = 0
    /// Completed cycles.
    private(set) var cycles = 0
    private var needsRetry = false

    init(context: LoopContext, path: String, group: String) {
        self.context = context
        self.path = path
        self.group = group
    }

    /// Starts the next cycle unless the run is stopping.
    func next() {
        guard !context.shared.isStopped else { return }
        let socket = BenchSocket(peer: self, transport: context.config.transport)
        self.socket = socket
        step = .connecting
        cycleStart = ProcessControl.monotonicNanos
        let config = context.config
        if !socket.start(
            loop: context.loop, host: config.host, port: config.port, sourceHost: context.nextSourceHost(),
            path: path, subprotocol: config.subprotocol)
        {
            context.stats.recordFailure("connect failed at once")
            // Retried by the next tick rather than spinning here.
            self.socket = nil
            needsRetry = true
        }
    }

    func tick(now: UInt64) {
        if needsRetry {
            needsRetry = false
            next()
        }
    }

    func socketUpgraded(_ socket: BenchSocket) {}

    func socketMessage(_ socket: BenchSocket, _ payload: UnsafeRawBufferPointer, now: UInt64) {
        switch BenchPayload.kind(payload) {
        case .system:
            guard step == .connecting, BenchPayload.isConnected(payload) else { return }
            step = .joining
            socket.sendText(BenchPayload.groupRequest(join: true, group: group, ackId: 1))
        case .ack:
            guard let ack = BenchPayload.ack(in: payload) else { return }
            if !ack.success { context.stats.failedAcks += 1 }
            if step == .joining, ack.id == 1 {
                step = .leaving
                socket.sendText(BenchPayload.groupRequest(join: false, group: group, ackId: 2))
            } else if step == .leaving, ack.id == 2 {
                step = .closing
                socket.closeNormally()
            }
        case .message, .pong, .other:
            break
        }
    }

    func socketClosed(_ socket: BenchSocket, failure: String?) {
        guard socket === self.socket else { return }
        self.socket = nil
        if step == .closing, failure == nil {
            cycles += 1
            context.shared.cycles.add(1, ordering: .relaxed)
            let now = ProcessControl.monotonicNanos
            _ = context.stats.latency.record(now &- cycleStart)
        } else {
            context.stats.recordFailure("churn: " + (failure ?? "closed early"))
        }
        next()
    }
}
