import Synchronization
import WPSLoop

/// Settings every loop needs, fixed before the run starts.
struct BenchConfig: Sendable {
    var host = "127.0.0.1"
    var port: Int
    var hub = "bench"
    var subprotocol: String
    var reliable: Bool
    var payloadBytes = 100
    var payloadStyle = BenchPayload.PayloadStyle.x
    /// TLS and deflate for every bench socket.
    var transport = BenchTransport()
    /// Local addresses to connect from, used in turn; empty means the kernel's choice.
    var sourceHosts: [String] = []
    /// A reliable subscriber acks after this many messages (the server buffers 1000).
    var sequenceAckEvery: UInt64 = 300
    /// Connection attempts in flight per loop, so the listen backlog never overflows.
    var maxHandshakesPerLoop = 64
}

/// Counters every thread reads or bumps; atomics only, no locks on the delivery path.
final class BenchShared: Sendable {
    /// Per bench loop: the fewest messages any of its fan-out subscribers has received.
    let slowest: [LoopProgress]

    init(loops: Int = 1) {
        slowest = (0..<max(1, loops)).map { _ in LoopProgress() }
    }

    /// The fewest messages any fan-out subscriber has received, over all loops.
    var slowestDelivered: Int { slowest.reduce(Int.max) { min($0, $1.received.load(ordering: .relaxed)) } }

    /// Connections that received `system/connected`.
    let opened = Atomic<Int>(0)
    /// Connection attempts that ended before `connected`.
    let failedConnects = Atomic<Int>(0)
    /// Data messages received by all subscribers (updated in batches).
    let delivered = Atomic<Int>(0)
    /// Messages published so far (acked or not).
    let published = Atomic<Int>(0)
    /// Publishes the server acknowledged.
    let acked = Atomic<Int>(0)
    /// Churn cycles completed.
    let cycles = Atomic<Int>(0)
    /// Chat members publish only while this is set.
    let publishing = Atomic<Bool>(false)
    /// Publishers and churners stop starting new work once this is set.
    let stop = Atomic<Bool>(false)
    /// Subscribers that lost their connection during the run.
    let lostConnections = Atomic<Int>(0)

    var isStopped: Bool { stop.load(ordering: .relaxed) }
}

/// One loop's slowest fan-out subscriber, published for the publisher's window.
final class LoopProgress: Sendable {
    /// Int.max while the loop has no fan-out subscribers.
    let received = Atomic<Int>(Int.max)
}

/// A peer that wants a call about every millisecond (publishers, chat members).
protocol BenchTicker: AnyObject {
    func tick(now: UInt64)
}

/// Per-loop state of the bench: its stats, its peers and the pacing of new connections.
final class LoopContext {
    unowned let loop: EventLoop
    let shared: BenchShared
    let config: BenchConfig
    let stats = LoopStats()
    /// Subscribers on this loop (also chat members and idle connections).
    var subscribers: [BenchSubscriber] = []
    /// Chat groups whose members all live on this loop, for loss accounting.
    var chatGroups: [[BenchSubscriber]] = []
    var tickers: [BenchTicker] = []
    /// Anything else the loop must keep alive (publishers, churners).
    var keep: [AnyObject] = []
    private var pending: [() -> Void] = []
    private var pendingStart = 0
    private var handshaking = 0
    private var sourceTurn = 0

    init(loop: EventLoop, shared: BenchShared, config: BenchConfig) {
        self.loop = loop
        self.shared = shared
        self.config = config
    }

    /// The local address for the next connection, or nil for the kernel's choice.
    func nextSourceHost() -> String? {
        guard !config.sourceHosts.isEmpty else { return nil }
        sourceTurn &+= 1
        return config.sourceHosts[sourceTurn % config.sourceHosts.count]
    }

    /// Queues a connection attempt; at most `maxHandshakesPerLoop` run at once.
    func enqueueConnect(_ start: @escaping () -> Void) {
        pending.append(start)
        pumpConnects()
    }

    /// Queues `socket`'s connection from the next source address; a connect that fails at
    /// once is counted and frees its place.
    func connectPaced(_ socket: BenchSocket, path: String, port: Int? = nil) {
        enqueueConnect { [self] in
            if !socket.start(
                loop: loop, host: config.host, port: port ?? config.port, sourceHost: nextSourceHost(), path: path,
                subprotocol: config.subprotocol)
            {
                shared.failedConnects.add(1, ordering: .relaxed)
                stats.recordFailure("connect failed at once")
                handshakeFinished()
            }
        }
    }

    /// A connection attempt finished (opened or failed); lets the next one start.
    func handshakeFinished() {
        handshaking -= 1
        pumpConnects()
    }

    private func pumpConnects() {
        while handshaking < config.maxHandshakesPerLoop, pendingStart < pending.count {
            let start = pending[pendingStart]
            pendingStart += 1
            handshaking += 1
            start()
        }
        if pendingStart == pending.count, pendingStart > 0 {
            pending.removeAll(keepingCapacity: false)
            pendingStart = 0
        }
    }

    /// Runs every millisecond: publishes deliveries to the shared counter and ticks peers.
    func tick() {
        reportDeliveries()
        if tracksSlowest { reportSlowest() }
        let now = loop.now
        for ticker in tickers { ticker.tick(now: now) }
    }

    /// Fan-out: publish the slowest subscriber's count, so the publisher's delivery window
    /// bounds every subscriber's lag, not only the average (a reliable client far behind
    /// would otherwise fill its server-side buffer and be closed).
    var tracksSlowest = false

    func reportSlowest() {
        var fewest = Int.max
        for subscriber in subscribers where subscriber.uniqueReceived < fewest { fewest = subscriber.uniqueReceived }
        shared.slowest[loop.index % shared.slowest.count].received.store(fewest, ordering: .relaxed)
    }

    func reportDeliveries() {
        if stats.unreported > 0 {
            shared.delivered.add(stats.unreported, ordering: .relaxed)
            stats.unreported = 0
        }
    }

    /// The end-of-run copy of this loop's stats. `fanoutPublished` is what every fan-out
    /// subscriber should have received; chat members expect their group's publishes.
    func snapshot(fanoutPublished: Int) -> StatsSnapshot {
        reportDeliveries()
        var lost = 0
        var chatMembers = Set<ObjectIdentifier>()
        for group in chatGroups {
            let expected = group.reduce(0) { $0 + $1.publishedCount }
            for member in group {
                chatMembers.insert(ObjectIdentifier(member))
                lost += max(0, expected - member.uniqueReceived)
            }
        }
        if fanoutPublished > 0 {
            for subscriber in subscribers where !chatMembers.contains(ObjectIdentifier(subscriber)) {
                lost += max(0, fanoutPublished - subscriber.uniqueReceived)
            }
        }
        let inflated = subscribers.reduce(0) { $0 + $1.inflatedMessages }
        return stats.snapshot(lost: lost, subscribers: subscribers.count, inflated: inflated)
    }

    /// Closes every bench connection on this loop cleanly.
    /// TCP segments with data all of this loop's subscribers have received; nil when the
    /// kernel does not report them.
    func dataSegmentsReceived() -> Int? {
        var total = 0
        for subscriber in subscribers {
            guard let count = subscriber.dataSegmentsReceived else { return nil }
            total += count
        }
        return total
    }

    func closeAll() {
        for subscriber in subscribers { subscriber.close() }
    }
}
