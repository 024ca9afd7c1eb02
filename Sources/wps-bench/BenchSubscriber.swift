import WPSBytes
import WPSLoop

/// A client that joins its group through the token's group claim and checks every delivery.
/// As a chat member it also publishes to its group at a fixed rate.
final class BenchSubscriber: BenchPeer, BenchTicker {
    private unowned let context: LoopContext
    private var socket: BenchSocket!
    let group: String
    /// This member's publisher slot within its group (chat), -1 when it only listens.
    let slot: Int
    /// Publishes per second for a chat member; 0 for a pure subscriber.
    let ratePerSecond: Double
    private(set) var isConnected = false
    /// TCP segments with data this subscriber's socket has received.
    var dataSegmentsReceived: Int? { socket?.dataSegmentsReceived }
    private var closing = false
    private var order = DeliveryOrder()
    private var lastSequenceId: UInt64 = 0
    private var ackedSequenceId: UInt64 = 0
    private var startedAt: UInt64 = 0
    private(set) var publishedCount = 0
    /// Schedule slots given up because the member fell behind.
    private var skippedSlots = 0

    init(context: LoopContext, group: String, slot: Int = -1, ratePerSecond: Double = 0) {
        self.context = context
        self.group = group
        self.slot = slot
        self.ratePerSecond = ratePerSecond
        socket = BenchSocket(peer: self, transport: context.config.transport)
    }

    /// Distinct data messages received.
    var uniqueReceived: Int { order.unique }

    /// Messages (of any kind) that arrived compressed.
    var inflatedMessages: Int { socket.inflatedMessages }

    /// Queues the connection on the loop's connect pacer (to `port`, default the server's).
    func start(path: String, port: Int? = nil) {
        context.connectPaced(socket, path: path, port: port)
    }

    /// Sends a final sequence ack (reliable) and closes with 1000.
    func close() {
        guard !closing else { return }
        closing = true
        if context.config.reliable, lastSequenceId > ackedSequenceId {
            socket.sendText(BenchPayload.sequenceAck(lastSequenceId))
        }
        socket.closeNormally()
    }

    // MARK: BenchPeer

    func socketUpgraded(_ socket: BenchSocket) {}

    func socketMessage(_ socket: BenchSocket, _ payload: UnsafeRawBufferPointer, now: UInt64) {
        switch BenchPayload.kind(payload) {
        case .message:
            if let stamp = BenchPayload.stamp(in: payload) {
                context.stats.record(stamp, now: now, order: &order)
            }
            if context.config.reliable, let sequenceId = BenchPayload.sequenceId(in: payload) {
                lastSequenceId = sequenceId
                if sequenceId &- ackedSequenceId >= context.config.sequenceAckEvery {
                    ackedSequenceId = sequenceId
                    socket.sendText(BenchPayload.sequenceAck(sequenceId))
                }
            }
        case .system:
            if !isConnected, BenchPayload.isConnected(payload) {
                isConnected = true
                context.shared.opened.add(1, ordering: .relaxed)
                context.handshakeFinished()
            }
        case .ack:
            if let ack = BenchPayload.ack(in: payload), !ack.success { context.stats.failedAcks += 1 }
        case .pong, .other:
            break
        }
    }

    func socketClosed(_ socket: BenchSocket, failure: String?) {
        if !isConnected {
            context.shared.failedConnects.add(1, ordering: .relaxed)
            context.stats.recordFailure(failure ?? "closed before connected")
            context.handshakeFinished()
            return
        }
        isConnected = false
        if !closing {
            context.shared.lostConnections.add(1, ordering: .relaxed)
            context.stats.recordFailure(failure ?? "connection lost")
        }
    }

    // MARK: chat publishing

    func tick(now: UInt64) {
        guard ratePerSecond > 0, isConnected, !closing, !context.shared.isStopped,
            context.shared.publishing.load(ordering: .relaxed)
        else { return }
        if startedAt == 0 {
            // A random phase spreads the members' sends over the period instead of bursts.
            startedAt = now &- UInt64.random(in: 0..<UInt64(max(1, 1e9 / ratePerSecond)))
        }
        var due = Int(Double(now &- startedAt) * ratePerSecond / 1e9) + 1 - skippedSlots
        // More than a second behind (a busy machine): give up those slots rather than burst.
        let perSecond = max(1, Int(ratePerSecond))
        if due - publishedCount > perSecond {
            skippedSlots += due - publishedCount - perSecond
            due = publishedCount + perSecond
        }
        while publishedCount < due, socket.queuedBytes < 1 << 20 {
            publishedCount += 1
            let data = BenchPayload.make(
                sentNanos: ProcessControl.monotonicNanos, publisher: slot, sequence: UInt64(publishedCount),
                size: context.config.payloadBytes, style: context.config.payloadStyle)
            socket.sendText(BenchPayload.sendToGroup(group: group, ackId: nil, data: data))
            context.stats.published += 1
            context.shared.published.add(1, ordering: .relaxed)
        }
    }
}
