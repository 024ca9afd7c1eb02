import WPSBytes
import WPSLoop

/// What every upstream client sends.
struct UpstreamPlan: Sendable {
    /// `event` requests with ack ids each client keeps in flight.
    var inFlight = 1
    /// The user event's name: `bench` (the handler answers 204) or `reply` (200 with a body).
    var event = "bench"
    /// Bytes of the text `data`.
    var dataBytes = 100

    /// The handler answers this event with a body, which must reach the client before its ack.
    var expectsReply: Bool { event.hasPrefix("reply") }
}

/// One JSON client that keeps `plan.inFlight` user events (`{"type":"event",…,"ackId":n}`)
/// with the server's event handler: each ack is a round trip (client → server → handler →
/// server → client), timed from the send, and starts the next event.
final class UpstreamSender: BenchPeer {
    private unowned let context: LoopContext
    private var socket: BenchSocket!
    private let plan: UpstreamPlan
    /// The request up to the ack id, and after it; the id goes between.
    private let requestHead: [UInt8]
    private var isConnected = false
    private var running = false
    private var nextAckId: UInt64 = 0
    private var expectedAckId: UInt64 = 1
    /// Send times by ack id modulo `plan.inFlight`.
    private var sentAt: [UInt64]
    private var unmatchedReplies = 0
    private(set) var sent = 0
    private(set) var acked = 0
    private var closing = false

    init(context: LoopContext, plan: UpstreamPlan) {
        self.context = context
        self.plan = plan
        sentAt = Array(repeating: 0, count: max(1, plan.inFlight))
        var head = OutputBuffer(capacity: plan.dataBytes + 96)
        head.append(#"{"type":"event","event":"#)
        JSONWriter.appendString(plan.event, to: &head)
        head.append(#","dataType":"text","data":""#)
        head.append(contentsOf: repeatElement(UInt8(ascii: "x"), count: max(0, plan.dataBytes)))
        head.append(#"","ackId":"#)
        requestHead = head.bytes
        socket = BenchSocket(peer: self, transport: context.config.transport)
    }

    /// Queues the connection on the loop's connect pacer; `shared.opened` counts it once
    /// the server says `connected` (after the handler allowed `connect`).
    func start(path: String) {
        context.connectPaced(socket, path: path)
    }

    /// Fills the window.
    func begin() {
        running = true
        while running, sent - acked < plan.inFlight { sendOne() }
    }

    /// Events sent and not acked yet.
    var inFlight: Int { sent - acked }

    func close() {
        guard !closing else { return }
        closing = true
        running = false
        socket.closeNormally()
    }

    private func sendOne() {
        guard isConnected, !context.shared.isStopped else {
            running = false
            return
        }
        nextAckId += 1
        var frame = OutputBuffer(capacity: requestHead.count + 24)
        frame.append(contentsOf: requestHead)
        frame.appendDecimal(nextAckId)
        frame.append("}")
        sentAt[Int(nextAckId % UInt64(sentAt.count))] = ProcessControl.monotonicNanos
        socket.sendText(frame.bytes)
        sent += 1
        context.stats.published += 1
        context.shared.published.add(1, ordering: .relaxed)
    }

    // MARK: BenchPeer

    func socketUpgraded(_ socket: BenchSocket) {}

    func socketMessage(_ socket: BenchSocket, _ payload: UnsafeRawBufferPointer, now: UInt64) {
        switch BenchPayload.kind(payload) {
        case .ack:
            guard let ack = BenchPayload.ack(in: payload) else {
                context.stats.recordFailure("upstream: unreadable ack")
                return
            }
            // One event at a time per connection is with the handler (upstream.md §6.3), so
            // acks come back in the order the events went out.
            if ack.id != expectedAckId { context.stats.outOfOrder += 1 }
            expectedAckId = ack.id &+ 1
            let sentNanos = sentAt[Int(ack.id % UInt64(sentAt.count))]
            _ = context.stats.latency.record(now > sentNanos ? now &- sentNanos : 0)
            acked += 1
            context.shared.acked.add(1, ordering: .relaxed)
            if !ack.success { context.stats.failedAcks += 1 }
            if plan.expectsReply {
                if unmatchedReplies > 0 {
                    unmatchedReplies -= 1
                } else {
                    context.stats.recordFailure("upstream: ack before the handler's reply")
                }
            }
            if running { sendOne() }
        case .message:
            // `{"type":"message","from":"server",…}`: the handler's answer, before its ack.
            unmatchedReplies += 1
            context.stats.delivered &+= 1
            context.stats.unreported &+= 1
        case .system:
            if !isConnected, BenchPayload.isConnected(payload) {
                isConnected = true
                context.shared.opened.add(1, ordering: .relaxed)
                context.handshakeFinished()
            }
        case .pong, .other:
            break
        }
    }

    func socketClosed(_ socket: BenchSocket, failure: String?) {
        if !isConnected {
            context.shared.failedConnects.add(1, ordering: .relaxed)
            context.handshakeFinished()
        } else if !closing {
            context.shared.lostConnections.add(1, ordering: .relaxed)
        }
        isConnected = false
        running = false
        if let failure { context.stats.recordFailure("upstream: " + failure) }
    }
}
