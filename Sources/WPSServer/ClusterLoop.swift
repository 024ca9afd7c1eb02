import Glibc
import Logging
import Synchronization
import WPSCluster
import WPSHub
import WPSLoop
import WPSProtocol
import WPSRedis

/// What the loops of one node share in cluster mode.
final class ClusterShared: Sendable {
    let configuration: ClusterConfiguration
    let channels: ClusterChannels
    let logger: Logger
    /// Whether loop 0's subscription link is up: without it nothing from other nodes
    /// arrives, so the node is not ready and cross-node operations are refused.
    let subscriberReady = Atomic<Bool>(false)
    /// Whether this node's lease was written at least once: before that, a survivor could not
    /// notice its death.
    let registered = Atomic<Bool>(false)
    /// Sessions whose connection id names this node but which moved to another node, with
    /// that node: messages and operations for them are passed on.
    let moved = Mutex(MovedSessions())

    init(configuration: ClusterConfiguration, logger: Logger) {
        self.configuration = configuration
        channels = ClusterChannels(name: configuration.name)
        self.logger = logger
    }

    var nodeId: String { configuration.nodeId }

    /// A new link to Redis on `loop`.
    func makeLink(on loop: EventLoop) -> RedisLink {
        if configuration.redisCluster { return RedisClusterLink(loop: loop, configuration: configuration.redis) }
        return RedisClient(loop: loop, configuration: configuration.redis)
    }
}

/// Where sessions of this node went, the oldest forgotten first past `limit`.
struct MovedSessions {
    static let limit = 100_000
    private var nodes: [String: String] = [:]
    private var order: [String] = []
    private var head = 0

    subscript(connectionId: String) -> String? { nodes[connectionId] }

    mutating func record(_ connectionId: String, movedTo node: String) {
        if nodes.updateValue(node, forKey: connectionId) != nil { return }
        if order.count < Self.limit {
            order.append(connectionId)
        } else {
            nodes.removeValue(forKey: order[head])
            order[head] = connectionId
            head = (head + 1) % Self.limit
        }
    }

    mutating func forget(_ connectionId: String) { nodes.removeValue(forKey: connectionId) }
}

/// Why a cluster-wide operation did not complete.
enum ClusterFailure: Error, CustomStringConvertible {
    case unavailable(RedisError)
    case timeout(missing: Int)

    var description: String {
        switch self {
        case .unavailable(let error): "the cluster cannot be reached (\(error))"
        case .timeout(let missing): "\(missing) node(s) of the cluster did not answer in time"
        }
    }
}

/// One loop's part of the cluster (protocol-spec/cluster.md): it publishes this loop's
/// broadcasts and operations to Redis and tells loop 0 which groups and users this loop
/// has members of. Loop 0 also holds the node's subscription, through which everything
/// from other nodes arrives, and its lease.
final class ClusterLoop: HubMembership {
    let shared: ClusterShared
    unowned let loop: EventLoop
    let hub: LoopHub
    /// Commands and publishes of this loop.
    let link: RedisLink
    /// Connections per user channel on this loop.
    private var userCounts: [String: Int] = [:]
    private var pending: [UInt64: PendingRequest] = [:]
    /// Recoveries that arrived here for sessions held elsewhere, by connection id.
    private var incoming: [String: IncomingHandover] = [:]
    /// Sessions of this loop being handed to another node, with the deadline for its commit.
    private var outgoing: [String: (to: String, deadline: UInt64)] = [:]
    private var requestCounter: UInt64 = 0
    private var scratch: [UInt8] = []
    /// For `/metrics`: messages this loop published for other nodes and received from them,
    /// and cluster-wide operations by outcome.
    private(set) var published = 0
    private(set) var received = 0
    private(set) var operations: [String: Int] = [:]

    // Loop 0 only.
    private var subscriber: RedisLink?
    /// Loops with members, per subscribed group or user channel.
    private var channelCounts: [String: Int] = [:]
    /// Filters of operations from other nodes, compiled once per text.
    private var filters: [String: ConnectionSelector.Predicate] = [:]
    static let filterCacheLimit = 256

    struct IncomingHandover {
        /// The new socket; nil once it closed while waiting.
        var application: HubApplication?
        var deadline: UInt64
        /// Nodes that received the begin (nil until Redis answered), and how many said no.
        var expected: Int?
        var refusals = 0
        /// The session was adopted; now the commit and the tail are awaited.
        var adopted = false
        var committed = false
    }

    struct PendingRequest {
        let operation: HubOperation
        let deadline: UInt64
        var expected: Int?
        var results: [HubOperationResult] = []
        /// Nodes holding a current lease when the request went out, once Redis said; and the
        /// nodes that answered. A node whose lease ran out is not waited for, even while
        /// Redis still counts it (a node cut off from the network, §5).
        var live: Set<String>?
        var answered: Set<String> = []
        let done: (Result<HubOperationResult, ClusterFailure>) -> Void
    }

    init(loop: EventLoop, hub: LoopHub, shared: ClusterShared) {
        self.loop = loop
        self.hub = hub
        self.shared = shared
        link = shared.makeLink(on: loop)
        if loop.index == 0 {
            let subscriber = shared.makeLink(on: loop)
            self.subscriber = subscriber
            subscriber.subscribe([shared.channels.all, shared.channels.node(shared.nodeId)])
            subscriber.onMessage = { [unowned self] channel, message in self.received(message) }
            subscriber.onReadyChange = { [unowned self, shared] ready in
                shared.subscriberReady.store(ready, ordering: .releasing)
                // Redis may come back empty (a restart): ready again only once registered again.
                if !ready { shared.registered.store(false, ordering: .releasing) }
                // Registered at once, not a third of a lease later: a node that dies right
                // after starting must still be noticed.
                if ready { renewLease() }
                if ready {
                    shared.logger.info(
                        "Redis link up: node \(shared.nodeId) joined cluster \(shared.configuration.name)")
                } else {
                    shared.logger.warning(
                        "Redis link down (\(shared.configuration.redis.redactedURL)): cross-node operations fail until it is back"
                    )
                }
            }
            subscriber.start()
            let renewal = UInt64(shared.configuration.lease.nanoseconds / 3)
            loop.every(max(renewal, Self.tickNanos)) { [unowned self] in self.renewLease() }
        }
        if loop.index == 0 {
            link.onReadyChange = { [unowned self] ready in if ready { renewLease() } }
        }
        link.start()
        loop.every(Self.tickNanos) { [unowned self] in self.expireRequests() }
        loop.whenEnded { [unowned self] in
            self.link.stop()
            self.subscriber?.stop()
        }
    }

    static let tickNanos: UInt64 = 100_000_000

    var nodeId: String { shared.nodeId }

    /// This loop's Redis links for metrics: (commands up, subscription up or nil when this
    /// loop has none), and their round trips.
    var linkStates: (commands: Bool, subscription: Bool?) { (link.isReady, subscriber.map(\.isReady)) }
    var roundTrips: (count: Int, nanos: UInt64) {
        let own = link.roundTrips
        let other = subscriber?.roundTrips ?? (count: 0, nanos: 0)
        return (own.count + other.count, own.nanos &+ other.nanos)
    }

    /// True while a message or operation from here can reach every node.
    var isReady: Bool { link.isReady && shared.subscriberReady.load(ordering: .acquiring) }

    // MARK: - publishing

    /// Publishes `broadcast` to the nodes that need it; `done` hears whether Redis took it.
    /// `deliveredHere` false: this node delivers it too, when Redis hands it back.
    func publish(_ broadcast: Broadcast, deliveredHere: Bool = true, done: ((Bool) -> Void)? = nil) {
        let channels = shared.channels
        let channel: String
        switch broadcast.selector.target {
        case .group(let group): channel = channels.group(hub: broadcast.hub, group: group)
        case .user(let user): channel = channels.user(hub: broadcast.hub, user: user)
        case .hub: channel = channels.all
        case .connection(let id):
            guard let node = owner(of: id), node != nodeId || !deliveredHere else {
                done?(true)
                return
            }
            channel = channels.node(node)
        }
        var ttl: UInt64 = 0
        if broadcast.expiresAt != 0 {
            guard broadcast.expiresAt > loop.now else {
                done?(true)
                return
            }
            ttl = max(1, (broadcast.expiresAt - loop.now) / 1_000_000)
        }
        scratch.removeAll(keepingCapacity: true)
        let origin = broadcast.origin ?? nodeId
        ClusterWire.encode(
            deliveredHere
                ? .broadcast(origin: origin, broadcast, ttlMillis: ttl)
                : .broadcastEverywhere(origin: origin, broadcast, ttlMillis: ttl),
            into: &scratch)
        published += 1
        link.publish(channel: channel, message: scratch) { result in
            if case .failure(let error) = result {
                self.shared.logger.warning("a message for other nodes was not published: \(error)")
            }
            done?((try? result.get()) != nil)
        }
    }

    /// The node holding connection `id`: the one its id names, unless the session moved.
    func owner(of id: String) -> String? {
        guard let named = ConnectionIDs.node(of: id) else { return nil }
        guard named == nodeId else { return named }
        return shared.moved.withLock { $0[id] } ?? named
    }

    // MARK: - operations

    /// Applies `operation` on every node (or only on `node`) and combines the answers.
    func request(
        _ operation: HubOperation, node: String?, done: @escaping (Result<HubOperationResult, ClusterFailure>) -> Void
    ) {
        guard isReady else { return done(.failure(.unavailable(.unavailable))) }
        requestCounter += 1
        let id = UInt64(loop.index) << 48 | (requestCounter & 0xFFFF_FFFF_FFFF)
        pending[id] = PendingRequest(
            operation: operation, deadline: loop.now &+ UInt64(shared.configuration.requestTimeout.nanoseconds),
            done: done)
        let message = ClusterWire.encode(.request(origin: nodeId, id: id, operation))
        let channel = node.map { shared.channels.node($0) } ?? shared.channels.all
        if let node {
            // A node whose lease ran out is gone for the cluster, even while Redis still
            // counts it: it holds none of the connections any more.
            let key = shared.channels.nodes
            link.command(["ZSCORE", .text(key), .text(node)], key: key) { [unowned self] result in
                guard case .success(let value) = result else { return }
                let expiry: Double? =
                    switch value {
                    case .double(let text), .bulkString(let text): Double(String(decoding: text, as: UTF8.self))
                    case .integer(let number): Double(number)
                    default: nil
                    }
                if (expiry ?? 0) < Double(Self.wallClockMillis()) {
                    finish(id, .success(HubOperationResult.empty(for: operation)))
                }
            }
        } else {
            let key = shared.channels.nodes
            link.command(
                ["ZRANGEBYSCORE", .text(key), .text(String(Self.wallClockMillis())), "+inf"], key: key
            ) { [unowned self] result in
                guard case .success(let value) = result, let names = value.elements else { return }
                pending[id]?.live = Set(names.compactMap(\.string))
                complete(id)
            }
        }
        // Redis says how many nodes received it: that many answers are awaited.
        link.publish(channel: channel, message: message) { [unowned self] result in
            switch result {
            case .success(let count):
                pending[id]?.expected = Int(count)
                complete(id)
            case .failure(let error):
                finish(id, .failure(.unavailable(error)))
            }
        }
    }

    func receivedReply(_ id: UInt64, from node: String, _ result: HubOperationResult) {
        guard pending[id] != nil else { return }  // Late: the request timed out.
        guard pending[id]?.answered.insert(node).inserted == true else { return }
        pending[id]?.results.append(result)
        complete(id)
    }

    private func complete(_ id: UInt64) {
        guard let request = pending[id] else { return }
        let everyReceiver = request.expected.map { request.results.count >= $0 } ?? false
        let everyLiveNode = request.live.map { !$0.isEmpty && $0.isSubset(of: request.answered) } ?? false
        guard everyReceiver || (request.expected != nil && everyLiveNode) else { return }
        finish(id, .success(HubOperationResult.combine(request.results, for: request.operation)))
    }

    private func finish(_ id: UInt64, _ result: Result<HubOperationResult, ClusterFailure>) {
        guard let request = pending.removeValue(forKey: id) else { return }
        let outcome: String
        switch result {
        case .success: outcome = "ok"
        case .failure(.unavailable): outcome = "unavailable"
        case .failure(.timeout): outcome = "timeout"
        }
        operations[outcome, default: 0] += 1
        request.done(result)
    }

    private func expireRequests() {
        if !incoming.isEmpty || !outgoing.isEmpty { expireHandovers() }
        guard !pending.isEmpty else { return }
        let now = loop.now
        for (id, request) in pending where request.deadline <= now {
            let missing = max(1, (request.expected ?? 1) - request.results.count)
            finish(id, .failure(.timeout(missing: missing)))
        }
    }

    // MARK: - membership (HubMembership)

    func groupOpened(hub: String, group: String) { retain(shared.channels.group(hub: hub, group: group)) }

    func groupClosed(hub: String, group: String) { release(shared.channels.group(hub: hub, group: group)) }

    func userArrived(hub: String, user: String) {
        let channel = shared.channels.user(hub: hub, user: user)
        userCounts[channel, default: 0] += 1
        if userCounts[channel] == 1 { retain(channel) }
    }

    func userLeft(hub: String, user: String) {
        let channel = shared.channels.user(hub: hub, user: user)
        guard let count = userCounts[channel] else { return }
        if count <= 1 {
            userCounts.removeValue(forKey: channel)
            release(channel)
        } else {
            userCounts[channel] = count - 1
        }
    }

    /// Work waiting for loop 0's subscriptions to be in effect, by number.
    private var subscriptionWaiters: [UInt64: () -> Void] = [:]
    private var nextWaiter: UInt64 = 0

    func whenSubscribed(_ done: @escaping () -> Void) {
        nextWaiter += 1
        let id = nextWaiter
        subscriptionWaiters[id] = done
        let index = loop.index
        // Loop 0 asks Redis; its answer comes back here by number (the closure stays here).
        let ask: @Sendable (EventLoop) -> Void = { zeroLoop in
            guard let zero = LoopContext.of(zeroLoop).cluster, let subscriber = zero.subscriber else { return }
            subscriber.barrier { _ in
                if index == 0 { return zero.subscribed(id) }
                zeroLoop.siblings[index].post { loop in LoopContext.of(loop).cluster?.subscribed(id) }
            }
        }
        if index == 0 { ask(loop) } else { loop.siblings[0].post(ask) }
    }

    private func subscribed(_ id: UInt64) {
        subscriptionWaiters.removeValue(forKey: id)?()
    }

    /// This loop has members behind `channel` now: loop 0 subscribes if no loop had.
    private func retain(_ channel: String) {
        if loop.index == 0 { return changeSubscription(channel, by: 1) }
        loop.siblings[0].post { loop in LoopContext.of(loop).cluster?.changeSubscription(channel, by: 1) }
    }

    private func release(_ channel: String) {
        if loop.index == 0 { return changeSubscription(channel, by: -1) }
        loop.siblings[0].post { loop in LoopContext.of(loop).cluster?.changeSubscription(channel, by: -1) }
    }

    private func changeSubscription(_ channel: String, by delta: Int) {
        guard let subscriber else { return }
        let count = channelCounts[channel, default: 0] + delta
        if count <= 0 {
            channelCounts.removeValue(forKey: channel)
            subscriber.unsubscribe([channel])
        } else {
            channelCounts[channel] = count
            if count == 1, delta > 0 { subscriber.subscribe([channel]) }
        }
    }

    // MARK: - receiving (loop 0)

    private func received(_ message: [UInt8]) {
        received += 1
        let decoded: ClusterMessage
        do {
            decoded = try message.withUnsafeBytes { bytes throws(ClusterWire.DecodeError) in
                try ClusterWire.decode(bytes, now: loop.now, localNode: nodeId) { [unowned self] text in compiled(text)
                }
            }
        } catch {
            shared.logger.warning("a message from the cluster was dropped: \(error)")
            return
        }
        switch decoded {
        case .broadcastEverywhere(_, let broadcast, _):
            if case .connection(let id) = broadcast.selector.target, let next = movedTo(id) {
                return link.publish(channel: shared.channels.node(next), message: message, reply: nil)
            }
            deliverHere(broadcast)
        case .broadcast(let origin, let broadcast, _):
            if case .connection(let id) = broadcast.selector.target {
                // Published to the node the id names; passed on if the session moved. Its
                // origin may be this node (a session that moved here, addressed from here).
                if let next = movedTo(id) {
                    return link.publish(channel: shared.channels.node(next), message: message, reply: nil)
                }
                return deliverHere(broadcast)
            }
            // Its own node delivered it when it was published.
            guard origin != nodeId else { return }
            deliverHere(broadcast)
        case .request(let origin, let id, let operation):
            if let connectionId = operation.connectionId, let next = movedTo(connectionId) {
                return link.publish(channel: shared.channels.node(next), message: message, reply: nil)
            }
            answer(operation, id: id, to: origin)
        case .handoverBegin(let id, let node):
            onSessionLoop(id) { $0.handoverAsked(id, by: node) }
        case .handoverState(let id, let snapshot):
            onSessionLoop(id) { $0.handoverAnswered(id, snapshot) }
        case .handoverCommit(let id, let node):
            // The node an id names passes messages for it on to wherever it is now.
            if ConnectionIDs.node(of: id) == nodeId {
                shared.moved.withLock { node == nodeId ? $0.forget(id) : $0.record(id, movedTo: node) }
            }
            onSessionLoop(id) { $0.handoverCommitted(id, to: node) }
        case .handoverTail(let id, let tail):
            onSessionLoop(id) { $0.handoverTailArrived(id, tail) }
        case .reply(let id, let node, let result):
            let owner = Int(id >> 48)
            if owner == loop.index {
                receivedReply(id, from: node, result)
            } else if owner < loop.siblings.count {
                loop.siblings[owner].post { loop in LoopContext.of(loop).cluster?.receivedReply(id, from: node, result)
                }
            }
        }
    }

    /// Where a session named by this node went, if it moved.
    private func movedTo(_ id: String) -> String? {
        guard ConnectionIDs.node(of: id) == nodeId else { return nil }
        return shared.moved.withLock { $0[id] }
    }

    /// Runs `body` on the loop that holds (or would hold) session `id` here.
    private func onSessionLoop(_ id: String, _ body: @escaping @Sendable (ClusterLoop) -> Void) {
        guard let owner = ConnectionIDs.loopIndex(of: id, loops: loop.siblings.count) else { return }
        if owner == loop.index { return body(self) }
        loop.siblings[owner].post { loop in
            if let cluster = LoopContext.of(loop).cluster { body(cluster) }
        }
    }

    /// Delivers a broadcast from another node on every loop of this one (a connection's
    /// message only on the loop that owns it).
    private func deliverHere(_ broadcast: Broadcast) {
        if case .connection(let id) = broadcast.selector.target {
            guard let owner = ConnectionIDs.loopIndex(of: id, loops: loop.siblings.count) else { return }
            if owner == loop.index { return hub.deliver(broadcast) }
            loop.siblings[owner].post { loop in LoopContext.of(loop).hub.deliver(broadcast.copyForAnotherLoop()) }
            return
        }
        hub.deliver(broadcast)
        for (index, inbox) in loop.siblings.enumerated() where index != loop.index {
            inbox.post { loop in LoopContext.of(loop).hub.deliver(broadcast.copyForAnotherLoop()) }
        }
    }

    /// Applies an operation from `origin` on every loop here and answers it. The answer
    /// goes out only after the subscriptions the operation changed are in effect, so a
    /// message published once the caller has its answer reaches the new members.
    private func answer(_ operation: HubOperation, id: UInt64, to origin: String) {
        let channel = shared.channels.node(origin)
        Gather.run(on: loop, { $0.apply(operation) }) { [unowned self] results in
            let message = ClusterWire.encode(
                .reply(id: id, node: nodeId, HubOperationResult.combine(results, for: operation)))
            let send = { [link] in link.publish(channel: channel, message: message, reply: nil) }
            if let subscriber { subscriber.barrier { _ in send() } } else { send() }
        }
    }

    private func compiled(_ text: String) -> ConnectionSelector.Predicate? {
        if let known = filters[text] { return known }
        guard let filter = try? ODataFilter(text) else { return nil }
        let predicate: ConnectionSelector.Predicate = { session in filter.matches(session) }
        if filters.count >= Self.filterCacheLimit { filters.removeAll(keepingCapacity: true) }
        filters[text] = predicate
        return predicate
    }

    // MARK: - resume on another node (protocol-spec/cluster.md)

    /// A reliable client came back here with a session another node holds: ask for it.
    /// The socket waits (without a session) until it is adopted or refused.
    func requestHandover(_ id: String, for application: HubApplication) {
        guard isReady, incoming[id] == nil else {
            return application.handoverRefused(reason: "otherNode")
        }
        let deadline = loop.now &+ UInt64(shared.configuration.requestTimeout.nanoseconds)
        incoming[id] = IncomingHandover(application: application, deadline: deadline)
        let message = ClusterWire.encode(.handoverBegin(connectionId: id, to: nodeId))
        link.publish(channel: shared.channels.all, message: message) { [unowned self] result in
            guard incoming[id] != nil else { return }
            switch result {
            case .success(let count):
                incoming[id]?.expected = Int(count)
                refuseIfNobodyHasIt(id)
            case .failure:
                refuseHandover(id)
            }
        }
    }

    /// The socket of a waiting recovery closed: the session, if it comes, waits here.
    func handoverSocketClosed(_ id: String) {
        incoming[id]?.application = nil
    }

    /// Some node wants session `id`: the node holding it sends it, every other says no.
    private func handoverAsked(_ id: String, by node: String) {
        let snapshot = node == nodeId ? nil : hub.beginHandover(connectionId: id)
        if snapshot != nil {
            outgoing[id] = (node, loop.now &+ 2 &* UInt64(shared.configuration.requestTimeout.nanoseconds))
        }
        let message = ClusterWire.encode(.handoverState(connectionId: id, snapshot), now: loop.now, localNode: nodeId)
        link.publish(channel: shared.channels.node(node), message: message, reply: nil)
    }

    private func handoverAnswered(_ id: String, _ snapshot: SessionSnapshot?) {
        guard var waiting = incoming[id], !waiting.adopted else { return }
        guard let snapshot else {
            waiting.refusals += 1
            incoming[id] = waiting
            return refuseIfNobodyHasIt(id)
        }
        waiting.adopted = true
        incoming[id] = waiting
        let session = hub.adoptHandover(snapshot, transport: waiting.application, now: loop.now)
        waiting.application?.adopted(session)
        // The commit goes out once this node's subscriptions for the session are in effect:
        // from that point in the cluster's message order, this node has every message for it.
        let commit = ClusterWire.encode(.handoverCommit(connectionId: id, to: nodeId))
        let send: @Sendable (EventLoop) -> Void = { loop in
            guard let zero = LoopContext.of(loop).cluster else { return }
            zero.subscriber?.barrier { _ in
                zero.link.publish(channel: zero.shared.channels.all, message: commit, reply: nil)
            }
        }
        if loop.index == 0 { send(loop) } else { loop.siblings[0].post(send) }
    }

    private func handoverCommitted(_ id: String, to node: String) {
        if node == nodeId {
            incoming[id]?.committed = true
            return
        }
        guard outgoing.removeValue(forKey: id) != nil, let tail = hub.commitHandover(connectionId: id) else { return }
        let message = ClusterWire.encode(.handoverTail(connectionId: id, tail), now: loop.now, localNode: nodeId)
        link.publish(channel: shared.channels.node(node), message: message, reply: nil)
    }

    private func handoverTailArrived(_ id: String, _ tail: [Broadcast]) {
        guard incoming.removeValue(forKey: id) != nil else { return }
        hub.finishHandover(connectionId: id, tail: tail, now: loop.now)
    }

    private func refuseIfNobodyHasIt(_ id: String) {
        guard let waiting = incoming[id], !waiting.adopted, let expected = waiting.expected,
            waiting.refusals >= expected
        else { return }
        refuseHandover(id)
    }

    private func refuseHandover(_ id: String) {
        guard let waiting = incoming.removeValue(forKey: id), !waiting.adopted else { return }
        waiting.application?.handoverRefused(reason: "unknown")
    }

    private func expireHandovers() {
        let now = loop.now
        for (id, waiting) in incoming where waiting.deadline <= now {
            if !waiting.adopted {
                refuseHandover(id)
            } else if waiting.deadline &+ UInt64(shared.configuration.requestTimeout.nanoseconds) <= now {
                // The old node did not send its tail: go on without it (protocol-spec/cluster.md).
                shared.logger.warning(
                    "session \(id): the previous node sent no tail; messages sent meanwhile may be missing")
                incoming.removeValue(forKey: id)
                hub.finishHandover(connectionId: id, tail: [], now: now)
            }
        }
        for (id, handover) in outgoing where handover.deadline <= now {
            outgoing.removeValue(forKey: id)
            hub.abortHandover(connectionId: id, now: now)
        }
    }

    /// The registered nodes with their lease expiry (ms since the epoch), for `/admin/server`;
    /// nil when Redis cannot say.
    func registeredNodes(_ done: @escaping ([(node: String, expiresAt: Int64)]?) -> Void) {
        let key = shared.channels.nodes
        link.command(["ZRANGE", .text(key), "0", "-1", "WITHSCORES"], key: key) { result in
            guard case .success(let value) = result, let items = value.elements else { return done(nil) }
            var nodes: [(node: String, expiresAt: Int64)] = []
            // RESP3 answers pairs; RESP2 a flat list.
            var flat: [RESPValue] = []
            for item in items {
                if let pair = item.elements { flat += pair } else { flat.append(item) }
            }
            var index = 0
            while index + 1 < flat.count {
                if let node = flat[index].string {
                    let score: Int64
                    switch flat[index + 1] {
                    case .double(let text), .bulkString(let text):
                        score = Int64(Double(String(decoding: text, as: UTF8.self)) ?? 0)
                    case .integer(let value): score = value
                    default: score = 0
                    }
                    nodes.append((node, score))
                }
                index += 2
            }
            done(nodes)
        }
    }

    // MARK: - lease (loop 0)

    /// Renews this node's registration and drops nodes whose lease ran out: their
    /// subscription connection is closed at Redis, so they stop counting as receivers of
    /// anything (a node cut off from the network would otherwise hold its place until
    /// Redis noticed the dead socket).
    private func renewLease() {
        guard link.isReady else { return }
        let channels = shared.channels
        let now = Self.wallClockMillis()
        let lease = Int64(shared.configuration.lease.nanoseconds / 1_000_000)
        link.command(
            ["ZADD", .text(channels.nodes), .text(String(now + lease)), .text(nodeId)], key: channels.nodes
        ) { [shared] result in
            if case .success = result { shared.registered.store(true, ordering: .releasing) }
        }
        if let client = subscriber as? RedisClient, client.clientId != 0 {
            let key = channels.nodeKey(nodeId)
            link.command(["HSET", .text(key), "subscriber", .text(String(client.clientId))], key: key, reply: nil)
            link.command(["PEXPIRE", .text(key), .text(String(lease * 3))], key: key, reply: nil)
        }
        link.command(["ZRANGEBYSCORE", .text(channels.nodes), "-inf", .text(String(now))], key: channels.nodes) {
            [unowned self] result in
            guard case .success(let value) = result, let expired = value.elements else { return }
            for node in expired.compactMap(\.string) where node != nodeId { reap(node) }
        }
    }

    /// Drops `node` if its lease is still out when Redis runs the check (a node that came
    /// back meanwhile renewed it), and closes the subscription connection it had registered.
    private func reap(_ node: String) {
        let channels = shared.channels
        let now = Self.wallClockMillis()
        link.command(
            [
                "EVAL", .text(Self.reapScript), "2", .text(channels.nodes), .text(channels.nodeKey(node)), .text(node),
                .text(String(now)),
            ], key: channels.nodes
        ) { [link, shared] result in
            guard case .success(let value) = result, let id = value.string else { return }
            shared.logger.warning("node \(node) let its lease run out: it is dropped from the cluster")
            if !id.isEmpty { link.command(["CLIENT", "KILL", "ID", .text(id)], key: nil, reply: nil) }
        }
    }

    /// KEYS: the lease set, the node's hash; ARGV: the node, now (ms). Answers the registered
    /// subscription client id ("" when none) after dropping the node, nil when its lease is
    /// current.
    static let reapScript = """
        local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
        if (not score) or tonumber(score) > tonumber(ARGV[2]) then return false end
        local id = redis.call('HGET', KEYS[2], 'subscriber')
        redis.call('ZREM', KEYS[1], ARGV[1])
        redis.call('DEL', KEYS[2])
        return id or ''
        """

    static func wallClockMillis() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
    }
}
