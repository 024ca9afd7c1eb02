import Logging
import WPSHub
import WPSLoop

/// What the server keeps per event loop: its shard of the hub and its outbox.
final class LoopContext {
    /// The loop this context belongs to; it outlives the context's every use.
    unowned let loop: EventLoop
    let hub: LoopHub
    let outbox: Outbox
    /// Where this loop's session and connection events go (logs, metrics, trace).
    let events = LoopEvents()
    /// The live trace's subscriptions on this loop (protocol-spec/admin.md §4).
    let trace: LoopTrace
    let index: Int
    let handshakeBudget: HandshakeBudget
    let deflate: DeflatePool?
    let tlsStats = TLSStats()
    /// This loop's counts for `/metrics`.
    let metrics = LoopMetrics()
    /// The application side; nil when no event handler is configured.
    var upstream: UpstreamDispatcher?
    /// The other loops of this process, and through `cluster` the other nodes.
    let peers: LoopPeers
    /// This loop's part of the cluster; nil without `--redis`.
    let cluster: ClusterLoop?

    init(
        loop: EventLoop, configuration: ServerConfiguration, upstream: UpstreamShared? = nil, logger: Logger? = nil,
        cluster: ClusterShared? = nil
    ) {
        self.loop = loop
        index = loop.index
        handshakeBudget = HandshakeBudget(perTurn: configuration.tlsHandshakesPerTurn, loop: loop)
        deflate = configuration.deflate.enabled ? DeflatePool(configuration: configuration.deflate) : nil
        hub = LoopHub(configuration: configuration.hub)
        outbox = Outbox(
            loop: loop, maxOutboundBytes: configuration.maxOutboundBytes, compressors: deflate, events: events)
        // Registered only when some of its lines would be written: otherwise the loop keeps
        // no listener and skips building events at all.
        if let logger, logger.logLevel <= .info {
            let log = ConnectionLog(logger: logger, loopIndex: loop.index)
            events.add(log as HubObserver)
            events.add(log as ServerObserver)
        }
        hub.observer = events
        trace = LoopTrace(loop: loop, hub: hub)
        events.add(trace as HubObserver)
        events.add(trace as ServerObserver)
        events.add(metrics as HubObserver)
        events.add(metrics as ServerObserver)
        peers = LoopPeers(inboxes: loop.siblings, own: loop.index)
        if let cluster {
            // Messages are numbered in a cluster, so a session moving between nodes gets each
            // once; the loop's index (plus one: never 0) keeps the numbers unique on the node.
            hub.serialBase = UInt64(loop.index + 1) << 48
            let part = ClusterLoop(loop: loop, hub: hub, shared: cluster)
            self.cluster = part
            peers.cluster = part
            hub.membership = part
        } else {
            self.cluster = nil
        }
        hub.peers = peers
        let hub = self.hub
        if let upstream, configuration.upstream.isEnabled {
            let dispatcher = UpstreamDispatcher(
                configuration: configuration.upstream, keys: configuration.accessKeys,
                requestOrigin: upstream.requestOrigin, loop: loop, hub: hub, tls: upstream.tls, logger: upstream.logger,
                reports: upstream.reports)
            self.upstream = dispatcher
            hub.upstream = dispatcher
            loop.every(Self.upstreamTickNanos) { [unowned loop] in dispatcher.tick(now: loop.now) }
            loop.whenEnded { dispatcher.dropPendingWork() }
        }
        loop.every(Self.hubTickNanos) { [unowned loop] in hub.tick(now: loop.now) }
    }

    /// How often the hub looks for reliable sessions whose resume window has passed; the
    /// window is a minute, so a quarter second late is nothing.
    static let hubTickNanos: UInt64 = 250_000_000

    /// How often queued upstream requests are checked for deadlines and retries.
    static let upstreamTickNanos: UInt64 = 100_000_000

    /// The context of `loop`, for work posted from another loop (inbox closures receive the
    /// loop they run on). Everything created on a loop is handed its context instead.
    static func of(_ loop: EventLoop) -> LoopContext {
        // Installed in the loop's configure step, before it accepts or runs anything.
        guard let context = loop.context else { preconditionFailure("loop \(loop.index) has no server context") }
        return unsafeDowncast(context, to: LoopContext.self)
    }
}

/// Posts a broadcast once to each other loop, which fans it out to its own members, and
/// in a cluster publishes it once for the other nodes.
final class LoopPeers: HubPeers {
    let others: [LoopInbox]
    var cluster: ClusterLoop?

    init(inboxes: [LoopInbox], own: Int) {
        others = inboxes.enumerated().filter { $0.offset != own }.map(\.element)
    }

    func publish(_ broadcast: Broadcast) {
        postToOtherLoops(broadcast)
        cluster?.publish(broadcast)
    }

    func postToOtherLoops(_ broadcast: Broadcast) {
        for inbox in others {
            inbox.post { loop in LoopContext.of(loop).hub.deliver(broadcast.copyForAnotherLoop()) }
        }
    }

    var reachesEveryNode: Bool { cluster?.isReady ?? true }
}

/// What every loop's upstream dispatcher shares.
struct UpstreamShared: Sendable {
    let requestOrigin: String
    let tls: UpstreamTLS?
    let logger: Logger
    let reports: UpstreamReports
}
