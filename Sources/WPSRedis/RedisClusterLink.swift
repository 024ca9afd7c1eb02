public import WPSLoop

/// A link to a Redis Cluster: one `RedisClient` per shard primary, commands routed by their
/// key's hash slot, sharded pub/sub (`SPUBLISH`, `SSUBSCRIBE`) on the shard owning each
/// channel's slot.
///
/// The slot map comes from `CLUSTER SHARDS` (or `CLUSTER SLOTS` before Redis 7), asked of any
/// connected shard, or of a seed while none is. It is read again every
/// `topologyRefreshNanos`, when a shard connection is lost, on `MOVED`, and when Redis drops
/// a subscription because its slot moved; subscriptions then follow their slots.
///
/// Used only on its loop's thread.
public final class RedisClusterLink: RedisLink {
    /// A command is sent on after this many `MOVED` or `ASK` answers at most.
    public static let maxRedirects = 5

    /// Where the cluster is (host and port of a seed), and credentials and limits for every
    /// shard connection. The database is always 0: a cluster has no other.
    public let configuration: RedisConfiguration
    #if DEBUG
        public unowned let loop: EventLoop
    #else
        public unowned(unsafe) let loop: EventLoop
    #endif
    /// The slot map is read again this often even when nothing suggests it changed.
    public var topologyRefreshNanos: UInt64 = 5_000_000_000
    /// Reads of the slot map asked for by errors and lost connections come at most this often.
    public var minRefreshGapNanos: UInt64 = 100_000_000

    public private(set) var isReady = false {
        didSet { if isReady != oldValue { onReadyChange?(isReady) } }
    }
    public var onReadyChange: ((Bool) -> Void)?
    public var onMessage: ((_ channel: [UInt8], _ message: [UInt8]) -> Void)?

    private let seeds: [Address]
    /// While no shard is connected, every seed and every known shard is dialled; the first
    /// to answer is asked for the slot map.
    private var seedClients: [Address: RedisClient] = [:]
    /// The primary owning each slot, by address; nil while unknown.
    private var owners: [Address?] = Array(repeating: nil, count: RedisKeySlot.count)
    /// Every slot has an owner.
    private var covered = false
    private var shards: [Address: RedisClient] = [:]
    /// Channels subscribed, and the shard each one is subscribed at (none while its owner
    /// is unknown or a move is being followed).
    private var channels: Set<String> = []
    private var placed: [String: Address] = [:]
    /// Shards whose subscriptions changed since the last barrier.
    private var changedShards: Set<Address> = []
    private var refreshing = false
    private var refreshWanted = false
    private var lastRefreshAt: UInt64 = 0
    private var nextRefreshAt: UInt64 = 0
    /// Commands that wait for the slot map to be read again.
    private var afterRefresh: [() -> Void] = []
    private var started = false
    private var stopped = false
    /// Round trips of shard connections that are gone.
    private var retiredRoundTrips: (count: Int, nanos: UInt64) = (0, 0)

    struct Address: Hashable, CustomStringConvertible {
        var host: String
        var port: Int
        var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
    }

    /// The slot map is first read from the configuration's host and port, or from any of
    /// `moreSeeds`, whichever answers first.
    public init(loop: EventLoop, configuration: RedisConfiguration, moreSeeds: [(host: String, port: Int)] = []) {
        self.loop = loop
        var configuration = configuration
        configuration.database = 0
        self.configuration = configuration
        seeds = [Address(host: configuration.host, port: configuration.port)] + moreSeeds.map(Address.init)
    }

    public func start() {
        guard !started, !stopped else { return }
        started = true
        loop.every(Self.tickNanos) { [weak self] in self?.tick() }
        refresh()
    }

    public func stop() {
        guard !stopped else { return }
        stopped = true
        for client in shards.values { retire(client) }
        shards.removeAll()
        retireSeeds()
        isReady = false
        runAfterRefresh()
    }

    public var roundTrips: (count: Int, nanos: UInt64) {
        shards.values.reduce(retiredRoundTrips) { ($0.count + $1.repliesReceived, $0.nanos &+ $1.replyNanos) }
    }

    /// The address of the shard owning `slot`, "host:port", for diagnostics and tests.
    public func owner(ofSlot slot: Int) -> String? { owners[slot]?.description }

    /// Shard connections open or being opened.
    public var shardCount: Int { shards.count }

    // MARK: - commands

    public func command(_ arguments: [RESPArgument], key: String?, reply: RedisClient.Reply?) {
        send(arguments, slot: key.map { RedisKeySlot.of($0) }, to: nil, asking: false, redirects: 0, reply: reply)
    }

    public func publish(channel: String, message: [UInt8], reply: ((Result<Int64, RedisError>) -> Void)?) {
        command(["SPUBLISH", .text(channel), .bytes(message)], key: channel) { result in
            guard let reply else { return }
            switch result {
            case .success(.integer(let count)): reply(.success(count))
            case .success: reply(.failure(.server("SPUBLISH answered with something other than a count")))
            case .failure(let error): reply(.failure(error))
            }
        }
    }

    private func send(
        _ arguments: [RESPArgument], slot: Int?, to target: Address?, asking: Bool, redirects: Int,
        reply: RedisClient.Reply?
    ) {
        guard !stopped else {
            reply?(.failure(.stopped))
            return
        }
        let address = target ?? slot.flatMap { owners[$0] } ?? anyReadyShard()
        guard let address, let client = shards[address] else {
            reply?(.failure(.unavailable))
            return
        }
        if asking { client.send(["ASKING"]) }
        client.send(arguments) { [weak self] result in
            guard let self, case .failure(.server(let text)) = result, let redirect = Redirect(text) else {
                reply?(result)
                return
            }
            guard redirects < Self.maxRedirects else {
                reply?(.failure(.tooManyRedirects(slot: redirect.slot)))
                return
            }
            let again = { [weak self] (to: Address?, asking: Bool) in
                guard let self else { return }
                self.send(
                    arguments, slot: redirect.slot, to: to, asking: asking, redirects: redirects + 1, reply: reply)
            }
            if redirect.asking {
                // The slot is moving: this one command goes to the importing node, the map
                // stays as it is.
                again(redirect.address, true)
            } else if self.shards[redirect.address]?.isReady == true {
                self.owners[redirect.slot] = redirect.address
                self.placeSubscriptions()
                self.requestRefresh()
                again(redirect.address, false)
            } else {
                self.afterRefresh.append { again(nil, false) }
                self.requestRefresh()
            }
        }
    }

    private func anyReadyShard() -> Address? {
        shards.first { $0.value.isReady }?.key
    }

    /// `MOVED <slot> <host:port>` or `ASK <slot> <host:port>`.
    struct Redirect {
        var asking: Bool
        var slot: Int
        var address: Address

        init?(_ text: String) {
            let words = text.split(separator: " ")
            guard words.count == 3, words[0] == "MOVED" || words[0] == "ASK", let slot = Int(words[1]),
                (0..<RedisKeySlot.count).contains(slot), let colon = words[2].lastIndex(of: ":"),
                let port = Int(words[2][words[2].index(after: colon)...])
            else { return nil }
            var host = words[2][..<colon]
            if host.hasPrefix("["), host.hasSuffix("]") { host = host.dropFirst().dropLast() }
            asking = words[0] == "ASK"
            self.slot = slot
            address = Address(host: String(host), port: port)
        }
    }

    // MARK: - subscriptions

    public func subscribe(_ names: [String]) {
        for name in names where channels.insert(name).inserted { place(name) }
    }

    public func unsubscribe(_ names: [String]) {
        for name in names where channels.remove(name) != nil {
            guard let address = placed.removeValue(forKey: name) else { continue }
            shards[address]?.unsubscribe([name], sharded: true)
            changedShards.insert(address)
        }
    }

    public func barrier(_ done: @escaping (Bool) -> Void) {
        // A channel waiting for its owner is not in effect anywhere yet.
        guard isReady, placed.count == channels.count else {
            done(false)
            return
        }
        let targets = changedShards
        changedShards.removeAll()
        guard !targets.isEmpty else {
            done(true)
            return
        }
        // Each shard answers in order on its connection: its PING answered means every
        // earlier (un)subscribe there has been applied.
        var waiting = targets.count
        var failed = false
        for address in targets {
            guard let client = shards[address] else {
                failed = true
                waiting -= 1
                continue
            }
            client.send(["PING"]) { [weak self] result in
                if case .failure = result {
                    failed = true
                    self?.changedShards.insert(address)
                }
                waiting -= 1
                if waiting == 0 { done(!failed) }
            }
        }
        if waiting == 0 { done(!failed) }
    }

    /// Subscribes `channel` at the shard owning its slot, leaving the shard it was at.
    private func place(_ channel: String) {
        let owner = owners[RedisKeySlot.of(channel)]
        guard placed[channel] != owner else { return }
        if let old = placed.removeValue(forKey: channel) {
            shards[old]?.unsubscribe([channel], sharded: true)
            changedShards.insert(old)
        }
        guard let owner, let client = shards[owner] else { return }
        client.subscribe([channel], sharded: true)
        placed[channel] = owner
        changedShards.insert(owner)
    }

    private func placeSubscriptions() {
        for channel in channels { place(channel) }
    }

    /// Redis let go of `channel` at `address` (its slot moved, or the shard refused it).
    private func dropped(_ channel: String, at address: Address) {
        guard placed[channel] == address else { return }
        placed[channel] = nil
        requestRefresh()
    }

    // MARK: - topology

    private func tick() {
        guard !stopped, !refreshing, loop.now >= nextRefreshAt else { return }
        refresh()
    }

    /// Reads the slot map soon (not sooner than `minRefreshGapNanos` after the last read).
    private func requestRefresh() {
        if refreshing {
            refreshWanted = true
            return
        }
        nextRefreshAt = min(nextRefreshAt, lastRefreshAt &+ minRefreshGapNanos)
    }

    private func refresh() {
        guard !stopped else { return }
        if refreshing {
            refreshWanted = true
            return
        }
        lastRefreshAt = loop.now
        nextRefreshAt = lastRefreshAt &+ topologyRefreshNanos
        guard let asked = shards.values.first(where: { $0.isReady }) ?? seedClients.values.first(where: { $0.isReady })
        else {
            connectSeeds()
            runAfterRefresh()
            return
        }
        refreshing = true
        asked.send(["CLUSTER", "SHARDS"]) { [weak self, weak asked] result in
            guard let self, !self.stopped else { return }
            if case .success(let value) = result, let ranges = Self.parseShards(value, tls: self.configuration.tls) {
                self.apply(ranges)
                return
            }
            guard case .failure(.server) = result, let asked else {
                self.finishRefresh()
                return
            }
            // Before Redis 7 only CLUSTER SLOTS exists.
            asked.send(["CLUSTER", "SLOTS"]) { [weak self] result in
                guard let self, !self.stopped else { return }
                if case .success(let value) = result,
                    let ranges = Self.parseSlots(value, askedHost: asked.configuration.host)
                {
                    self.apply(ranges)
                } else {
                    self.finishRefresh()
                }
            }
        }
    }

    /// No shard is connected: seeds are dialled (each keeps retrying with its back-off) until
    /// the slot map has been read through one of them.
    private func connectSeeds() {
        for address in seeds + shards.keys where seedClients[address] == nil {
            let client = RedisClient(loop: loop, configuration: configuration(for: address))
            client.onReadyChange = { [weak self] ready in
                if ready { self?.refresh() }
            }
            seedClients[address] = client
            client.start()
        }
    }

    private func retireSeeds() {
        for client in seedClients.values { retire(client) }
        seedClients.removeAll()
    }

    private func finishRefresh() {
        refreshing = false
        if refreshWanted {
            refreshWanted = false
            requestRefresh()
        }
        runAfterRefresh()
    }

    private func runAfterRefresh() {
        let waiting = afterRefresh
        afterRefresh.removeAll()
        for resend in waiting { resend() }
    }

    private func apply(_ ranges: [SlotRange]) {
        var owners = [Address?](repeating: nil, count: RedisKeySlot.count)
        for range in ranges {
            for slot in range.slots where slot < RedisKeySlot.count { owners[slot] = range.owner }
        }
        self.owners = owners
        covered = !owners.contains(nil)
        let wanted = Set(ranges.map(\.owner))
        for (address, client) in shards where !wanted.contains(address) {
            shards[address] = nil
            retire(client)
            for (channel, at) in placed where at == address { placed[channel] = nil }
        }
        for address in wanted where shards[address] == nil { addShard(address) }
        retireSeeds()
        placeSubscriptions()
        updateReadiness()
        finishRefresh()
    }

    private func addShard(_ address: Address) {
        let client = RedisClient(loop: loop, configuration: configuration(for: address))
        client.onReadyChange = { [weak self, weak client] ready in
            guard let self, let client, self.shards[address] === client else { return }
            if ready {
                // Its subscriptions were renewed on connecting.
                if !client.subscribedShardChannels.isEmpty { self.changedShards.insert(address) }
            } else {
                self.requestRefresh()
            }
            self.updateReadiness()
        }
        client.onMessage = { [weak self] channel, message in self?.onMessage?(channel, message) }
        client.onShardChannelDropped = { [weak self] channel, _ in self?.dropped(channel, at: address) }
        shards[address] = client
        client.start()
    }

    private func retire(_ client: RedisClient) {
        client.onReadyChange = nil
        client.onMessage = nil
        client.onShardChannelDropped = nil
        retiredRoundTrips.count += client.repliesReceived
        retiredRoundTrips.nanos &+= client.replyNanos
        client.stop()
    }

    private func configuration(for address: Address) -> RedisConfiguration {
        var configuration = configuration
        configuration.host = address.host
        configuration.port = address.port
        return configuration
    }

    private func updateReadiness() {
        guard covered, !stopped else {
            isReady = false
            return
        }
        isReady = Set(owners.lazy.compactMap { $0 }).allSatisfy { shards[$0]?.isReady == true }
    }

    /// Consecutive slots owned by one primary.
    struct SlotRange: Equatable {
        var slots: ClosedRange<Int>
        var owner: Address
    }

    /// Reads `CLUSTER SHARDS`: per shard, its slot ranges and its nodes; the primary (the
    /// online one when there are several) owns the ranges. With `tls`, a node's `tls-port`
    /// is used when it has one (its `port` may be the plain one, or absent).
    static func parseShards(_ value: RESPValue, tls: Bool = false) -> [SlotRange]? {
        guard let shards = value.elements else { return nil }
        var ranges: [SlotRange] = []
        for shard in shards {
            guard let fields = fields(shard), let slotBounds = fields["slots"]?.elements,
                let nodes = fields["nodes"]?.elements
            else { return nil }
            var primary: Address?
            for node in nodes {
                guard let node = Self.fields(node), node["role"]?.string == "master",
                    case .integer(let port) = (tls ? node["tls-port"] : nil) ?? node["port"], port > 0
                else { continue }
                let endpoint = node["endpoint"]?.string ?? ""
                let host = endpoint.isEmpty || endpoint == "?" ? node["ip"]?.string ?? "" : endpoint
                guard !host.isEmpty else { continue }
                if primary == nil || node["health"]?.string == "online" {
                    primary = Address(host: host, port: Int(port))
                }
            }
            guard let primary else { continue }
            var index = 0
            while index + 1 < slotBounds.count {
                guard case .integer(let low) = slotBounds[index], case .integer(let high) = slotBounds[index + 1],
                    low >= 0, low <= high
                else { return nil }
                ranges.append(SlotRange(slots: Int(low)...Int(high), owner: primary))
                index += 2
            }
        }
        return ranges
    }

    /// Reads `CLUSTER SLOTS`: `[low, high, [host, port, id, ...], replicas...]` per range; an
    /// empty host means the node that was asked.
    static func parseSlots(_ value: RESPValue, askedHost: String) -> [SlotRange]? {
        guard let entries = value.elements else { return nil }
        var ranges: [SlotRange] = []
        for entry in entries {
            guard let parts = entry.elements, parts.count >= 3, case .integer(let low) = parts[0],
                case .integer(let high) = parts[1], low >= 0, low <= high, let primary = parts[2].elements,
                primary.count >= 2, let host = primary[0].string, case .integer(let port) = primary[1]
            else { return nil }
            let owner = Address(host: host.isEmpty || host == "?" ? askedHost : host, port: Int(port))
            ranges.append(SlotRange(slots: Int(low)...Int(high), owner: owner))
        }
        return ranges
    }

    /// A RESP3 map, or the flat key/value array RESP2 sends instead, by key.
    static func fields(_ value: RESPValue) -> [String: RESPValue]? {
        var fields: [String: RESPValue] = [:]
        switch value {
        case .map(let pairs):
            for (key, value) in pairs { if let key = key.string { fields[key] = value } }
        case .array(let flat) where flat.count % 2 == 0:
            for index in stride(from: 0, to: flat.count, by: 2) {
                if let key = flat[index].string { fields[key] = flat[index + 1] }
            }
        default:
            return nil
        }
        return fields
    }

    /// How often the link checks whether a read of the slot map is due.
    static let tickNanos: UInt64 = 50_000_000
}
