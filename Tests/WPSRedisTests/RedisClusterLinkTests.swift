import Foundation
import Testing
import WPSLoop

@testable import WPSRedis

@Suite struct RedisKeySlotTests {
    /// Slots as `redis-cli cluster keyslot` gives them (Redis 7.0.15), and the spec's check
    /// value: CRC16/XMODEM of "123456789" is 0x31C3.
    @Test func slotsMatchRedis() {
        #expect(RedisKeySlot.crc16(Array("123456789".utf8)[...]) == 0x31C3)
        let recorded: [(String, Int)] = [
            ("", 0), ("a", 15495), ("foo", 12182), ("bar", 5061), ("123456789", 12739), ("hello", 866),
            ("news", 5161), ("wps:all", 8345),
            // Hash tags: the first `{` and the first `}` after it, when something is between.
            ("{user1000}.following", 3443), ("{user1000}.followers", 3443), ("foo{}{bar}", 8363),
            ("foo{{bar}}zap", 4015), ("foo{bar}{zap}", 5061), ("{}", 15257),
        ]
        for (key, slot) in recorded {
            #expect(RedisKeySlot.of(key) == slot, "\(key)")
        }
    }

    @Test func slotMapsAreRead() {
        func text(_ value: String) -> RESPValue { .bulkString(Array(value.utf8)) }
        // CLUSTER SHARDS in RESP3: a replica, a primary with no endpoint, two ranges.
        let shards = RESPValue.array([
            .map([
                (text("slots"), .array([.integer(0), .integer(99), .integer(200), .integer(299)])),
                (
                    text("nodes"),
                    .array([
                        .map([
                            (text("port"), .integer(7001)), (text("ip"), text("10.0.0.2")),
                            (text("endpoint"), text("10.0.0.2")), (text("role"), text("replica")),
                            (text("health"), text("online")),
                        ]),
                        .map([
                            (text("port"), .integer(7000)), (text("ip"), text("10.0.0.1")),
                            (text("endpoint"), text("?")), (text("role"), text("master")),
                            (text("health"), text("online")),
                        ]),
                    ])
                ),
            ]),
            // The same in RESP2: flat key/value arrays.
            .array([
                text("slots"), .array([.integer(100), .integer(199)]), text("nodes"),
                .array([
                    .array([
                        text("port"), .integer(7002), text("ip"), text("10.0.0.3"), text("endpoint"),
                        text("redis-3"), text("role"), text("master"), text("health"), text("online"),
                    ])
                ]),
            ]),
        ])
        typealias Range = RedisClusterLink.SlotRange
        let first = RedisClusterLink.Address(host: "10.0.0.1", port: 7000)
        let third = RedisClusterLink.Address(host: "redis-3", port: 7002)
        #expect(
            RedisClusterLink.parseShards(shards) == [
                Range(slots: 0...99, owner: first), Range(slots: 200...299, owner: first),
                Range(slots: 100...199, owner: third),
            ])
        // CLUSTER SLOTS: an empty host is the node that was asked.
        let slots = RESPValue.array([
            .array([.integer(0), .integer(5), .array([text(""), .integer(7000), text("id")])]),
            .array([
                .integer(6), .integer(9), .array([text("10.0.0.3"), .integer(7002), text("id")]),
                .array([text("10.0.0.4"), .integer(7003), text("id")]),
            ]),
        ])
        #expect(
            RedisClusterLink.parseSlots(slots, askedHost: "10.0.0.1") == [
                Range(slots: 0...5, owner: first), Range(slots: 6...9, owner: .init(host: "10.0.0.3", port: 7002)),
            ])
        #expect(RedisClusterLink.parseShards(.array([.integer(1)])) == nil)
        // Over TLS a node's TLS port is the one to use.
        let tlsShard = RESPValue.array([
            .map([
                (text("slots"), .array([.integer(0), .integer(16383)])),
                (
                    text("nodes"),
                    .array([
                        .map([
                            (text("port"), .integer(7000)), (text("tls-port"), .integer(7100)),
                            (text("ip"), text("10.0.0.1")), (text("role"), text("master")),
                        ])
                    ])
                ),
            ])
        ])
        #expect(
            RedisClusterLink.parseShards(tlsShard, tls: true) == [
                Range(slots: 0...16383, owner: .init(host: "10.0.0.1", port: 7100))
            ])
        #expect(
            RedisClusterLink.parseShards(tlsShard) == [
                Range(slots: 0...16383, owner: .init(host: "10.0.0.1", port: 7000))
            ])
    }

    @Test func redirectsAreRead() {
        let moved = RedisClusterLink.Redirect("MOVED 3999 127.0.0.1:6381")
        #expect(moved?.asking == false)
        #expect(moved?.slot == 3999)
        #expect(moved?.address == .init(host: "127.0.0.1", port: 6381))
        let ask = RedisClusterLink.Redirect("ASK 12 [::1]:7000")
        #expect(ask?.asking == true)
        #expect(ask?.address == .init(host: "::1", port: 7000))
        #expect(RedisClusterLink.Redirect("ERR unknown command") == nil)
        #expect(RedisClusterLink.Redirect("MOVED 16384 127.0.0.1:1") == nil)
    }
}

/// A cluster link on a loop of its own, driven from the test thread.
final class ClusterHarness: @unchecked Sendable {
    let group: EventLoopGroup
    let loop: EventLoop
    let link: RedisClusterLink
    let messages = Locked<[(channel: String, message: String)]>([])
    let readiness = Locked<[Bool]>([])

    init(
        _ configuration: RedisConfiguration, moreSeeds: [(host: String, port: Int)] = [], refreshNanos: UInt64
    ) throws {
        let made = Locked<(EventLoop, RedisClusterLink)?>(nil)
        let ready = DispatchSemaphore(value: 0)
        let messages = self.messages
        let readiness = self.readiness
        group = try EventLoopGroup(threads: 1) { loop in
            let link = RedisClusterLink(loop: loop, configuration: configuration, moreSeeds: moreSeeds)
            link.topologyRefreshNanos = refreshNanos
            link.onMessage = { channel, message in
                messages.withLock {
                    $0.append((String(decoding: channel, as: UTF8.self), String(decoding: message, as: UTF8.self)))
                }
            }
            link.onReadyChange = { ready in readiness.withLock { $0.append(ready) } }
            made.withLock { $0 = (loop, link) }
            ready.signal()
        }
        _ = ready.wait(timeout: .now() + 5)
        let (loop, link) = made.withLock { $0! }
        self.loop = loop
        self.link = link
    }

    func onLoop<T: Sendable>(_ body: @escaping @Sendable (RedisClusterLink) -> T) -> T? {
        let result = Locked<T?>(nil)
        let done = DispatchSemaphore(value: 0)
        let link = UncheckedBox(link)
        loop.inbox.post { _ in
            result.withLock { $0 = body(link.value) }
            done.signal()
        }
        guard done.wait(timeout: .now() + 5) == .success else { return nil }
        return result.withLock { $0 }
    }

    /// Runs `start` on the loop with a completion, and waits (bounded) for it.
    func wait<T: Sendable>(
        _ start: @escaping @Sendable (RedisClusterLink, @escaping (T) -> Void) -> Void
    ) -> T? {
        let answer = Locked<T?>(nil)
        let done = DispatchSemaphore(value: 0)
        let link = UncheckedBox(link)
        loop.inbox.post { _ in
            start(link.value) { value in
                answer.withLock { $0 = value }
                done.signal()
            }
        }
        guard done.wait(timeout: .now() + 10) == .success else { return nil }
        return answer.withLock { $0 }
    }

    func command(_ arguments: [RESPArgument], key: String?) -> Result<RESPValue, RedisError>? {
        wait { link, done in link.command(arguments, key: key) { done($0) } }
    }

    func publish(_ channel: String, _ message: String) -> Result<Int64, RedisError>? {
        wait { link, done in link.publish(channel: channel, message: Array(message.utf8)) { done($0) } }
    }

    func barrier() -> Bool? { wait { link, done in link.barrier { done($0) } } }

    var isReady: Bool { onLoop { $0.isReady } ?? false }

    func received(_ channel: String, _ message: String) -> Bool {
        messages.withLock { $0.contains { $0.channel == channel && $0.message == message } }
    }

    func waitFor(timeout: TimeInterval = 10, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if condition() { return true }
            usleep(10_000)
        }
        return condition()
    }

    func shutdown() {
        group.shutdown(graceNanos: 100_000_000)
        group.join()
    }
}

@Suite(.serialized, .enabled(if: RedisClusterProcess.available, "redis-server or redis-cli is not installed"))
struct RedisClusterLinkTests {
    static let ok = RESPValue.simpleString(Array("OK".utf8))

    func start(_ cluster: RedisClusterProcess, seed: Int = 0, refreshNanos: UInt64 = 60_000_000_000) throws
        -> ClusterHarness
    {
        var configuration = RedisConfiguration()
        configuration.port = cluster.nodes[seed].port
        configuration.minReconnectDelayNanos = 20_000_000
        configuration.maxReconnectDelayNanos = 200_000_000
        let harness = try ClusterHarness(configuration, refreshNanos: refreshNanos)
        _ = harness.onLoop { $0.start() }
        #expect(harness.waitFor { harness.isReady })
        return harness
    }

    /// One key per shard, by the cluster's own slot map.
    func keysPerShard(_ cluster: RedisClusterProcess) throws -> [String] {
        var keys: [Int: String] = [:]
        for index in 0..<1000 where keys.count < cluster.nodes.count {
            let key = "key-\(index)"
            let owner = try cluster.owner(ofSlot: RedisKeySlot.of(key))
            if keys[owner] == nil { keys[owner] = key }
        }
        return cluster.nodes.indices.map { keys[$0]! }
    }

    @Test func commandsReachTheShardOwningTheirKey() throws {
        let cluster = try RedisClusterProcess()
        defer { cluster.stop() }
        let harness = try start(cluster, seed: 1)
        defer { harness.shutdown() }
        #expect(harness.onLoop { $0.shardCount } == 3)
        let keys = try keysPerShard(cluster)
        for key in keys {
            #expect(harness.command(["SET", .text(key), .text("value of \(key)")], key: key) == .success(Self.ok))
        }
        for (index, key) in keys.enumerated() {
            #expect(
                harness.command(["GET", .text(key)], key: key) == .success(.bulkString(Array("value of \(key)".utf8))))
            // Stored on its owner: asked directly, without redirects, that node has it.
            #expect(try cluster.cli(cluster.nodes[index], ["GET", key]) == "value of \(key)\n")
            #expect(
                harness.onLoop { $0.owner(ofSlot: RedisKeySlot.of(key)) } == "127.0.0.1:\(cluster.nodes[index].port)")
        }
        // No key: any shard answers.
        #expect(harness.command(["PING"], key: nil) == .success(.simpleString(Array("PONG".utf8))))

        // A seed that does not answer is passed over for one that does.
        var configuration = RedisConfiguration()
        configuration.port = try RedisServerProcess.freePort()
        let other = try ClusterHarness(
            configuration, moreSeeds: [("127.0.0.1", cluster.nodes[2].port)], refreshNanos: 60_000_000_000)
        defer { other.shutdown() }
        _ = other.onLoop { $0.start() }
        #expect(other.waitFor { other.isReady })
        #expect(
            other.command(["GET", .text(keys[0])], key: keys[0])
                == .success(.bulkString(Array("value of \(keys[0])".utf8))))
    }

    @Test func aRefusedShardSubscriptionDoesNotTakeTheNextReply() throws {
        let cluster = try RedisClusterProcess()
        defer { cluster.stop() }
        let channel = try keysPerShard(cluster)[1]
        var configuration = RedisConfiguration()
        configuration.port = cluster.nodes[0].port
        let client = try ClientHarness(configuration)
        defer { client.shutdown() }
        let dropped = Locked<[(String, String?)]>([])
        _ = client.onLoop { client in
            client.onShardChannelDropped = { channel, reason in dropped.withLock { $0.append((channel, reason)) } }
            client.start()
        }
        #expect(client.waitFor("ready") { client.state == .ready })
        // Node 0 does not own the channel's slot: it refuses with MOVED, an ordinary error
        // reply between the PINGs' replies.
        let replies = Locked<[Result<RESPValue, RedisError>]>([])
        _ = client.onLoop { client in
            client.send(["PING", "one"]) { result in replies.withLock { $0.append(result) } }
            client.subscribe([channel], sharded: true)
            client.send(["PING", "two"]) { result in replies.withLock { $0.append(result) } }
        }
        #expect(client.waitFor("replies") { replies.withLock { $0.count } == 2 })
        #expect(
            replies.withLock { $0 } == [
                .success(.bulkString(Array("one".utf8))), .success(.bulkString(Array("two".utf8))),
            ])
        let refusal = dropped.withLock { $0 }
        #expect(refusal.count == 1)
        #expect(refusal.first?.0 == channel)
        #expect(refusal.first?.1?.hasPrefix("MOVED \(RedisKeySlot.of(channel)) ") == true)
        #expect(client.onLoop { $0.subscribedShardChannels } == [])
    }

    @Test func publishAndSubscribeAcrossShards() throws {
        let cluster = try RedisClusterProcess()
        defer { cluster.stop() }
        let subscriber = try start(cluster)
        let publisher = try start(cluster, seed: 2)
        defer {
            subscriber.shutdown()
            publisher.shutdown()
        }
        let channels = try keysPerShard(cluster)
        _ = subscriber.onLoop { $0.subscribe(channels) }
        #expect(subscriber.barrier() == true)
        for channel in channels {
            // The barrier passed: each subscription is in place, so the first publish counts it.
            #expect(publisher.publish(channel, "to \(channel)") == .success(1))
            #expect(subscriber.waitFor { subscriber.received(channel, "to \(channel)") })
        }
        #expect(publisher.publish("nobody-listens", "lost") == .success(0))

        _ = subscriber.onLoop { $0.unsubscribe([channels[1]]) }
        #expect(subscriber.barrier() == true)
        #expect(publisher.publish(channels[1], "after") == .success(0))
        #expect(publisher.publish(channels[0], "still") == .success(1))
        #expect(subscriber.waitFor { subscriber.received(channels[0], "still") })
        #expect(!subscriber.received(channels[1], "after"))
    }

    /// How many times `node` was told ASKING.
    func askingCalls(_ node: RedisServerProcess) throws -> Int {
        let stats = try RedisClusterProcess.cli(["-p", String(node.port), "INFO", "commandstats"])
        guard
            let line = stats.split(whereSeparator: \.isNewline).first(where: { $0.hasPrefix("cmdstat_asking:calls=") })
        else {
            return 0
        }
        return Int(line.dropFirst("cmdstat_asking:calls=".count).prefix { $0.isNumber }) ?? -1
    }

    @Test func askDuringAMigrationAndMovedAfterIt() throws {
        let cluster = try RedisClusterProcess()
        defer { cluster.stop() }
        let harness = try start(cluster)
        defer { harness.shutdown() }
        let key = try keysPerShard(cluster)[0]
        let slot = RedisKeySlot.of(key)
        let source = "127.0.0.1:\(cluster.nodes[0].port)"
        let target = "127.0.0.1:\(cluster.nodes[1].port)"
        #expect(harness.command(["SET", .text(key), "before"], key: key) == .success(Self.ok))

        // Node 0 sends a key it lacks to node 1, which does not import the slot and sends it
        // back: the command gives up after the redirect limit.
        _ = try cluster.cli(cluster.nodes[0], ["CLUSTER", "SETSLOT", String(slot), "MIGRATING", cluster.ids[1]])
        let missing = "{\(key)}missing"
        #expect(harness.command(["GET", .text(missing)], key: missing) == .failure(.tooManyRedirects(slot: slot)))
        #expect(harness.onLoop { $0.owner(ofSlot: slot) } == source)

        // The key has left for node 1 while node 0 still owns the slot: node 0 answers ASK,
        // node 1 serves the key to a client that said ASKING.
        let askingBefore = try askingCalls(cluster.nodes[1])
        try cluster.beginMigration(slot: slot, from: 0, to: 1, keys: [key])
        #expect(harness.command(["GET", .text(key)], key: key) == .success(.bulkString(Array("before".utf8))))
        #expect(harness.onLoop { $0.owner(ofSlot: slot) } == source)
        let askingAfter = try askingCalls(cluster.nodes[1])
        #expect(askingAfter == askingBefore + 1)

        // Node 1 owns the slot now: node 0 answers MOVED, and the link follows it (its own
        // refresh is a minute away, so only the MOVED can have told it).
        try cluster.finishMigration(slot: slot, to: 1)
        #expect(harness.command(["SET", .text(key), "after"], key: key) == .success(Self.ok))
        #expect(harness.onLoop { $0.owner(ofSlot: slot) } == target)
        #expect(try cluster.cli(cluster.nodes[1], ["GET", key]) == "after\n")
    }

    @Test func subscriptionsFollowAMovedSlot() throws {
        let cluster = try RedisClusterProcess()
        defer { cluster.stop() }
        let subscriber = try start(cluster)
        let publisher = try start(cluster)
        defer {
            subscriber.shutdown()
            publisher.shutdown()
        }
        let channel = try keysPerShard(cluster)[2]
        let slot = RedisKeySlot.of(channel)
        _ = subscriber.onLoop { $0.subscribe([channel]) }
        #expect(subscriber.barrier() == true)
        #expect(publisher.publish(channel, "before") == .success(1))

        // Node 2 gives the slot to node 0, and drops the subscription: the subscriber's link
        // subscribes again at node 0 (found without waiting for its minute-long refresh).
        try cluster.move(slot: slot, from: 2, to: 0)
        #expect(
            subscriber.waitFor {
                subscriber.onLoop { $0.owner(ofSlot: slot) } == "127.0.0.1:\(cluster.nodes[0].port)"
                    && subscriber.barrier() == true
            })
        // Published through node 0 directly: the subscription is there.
        #expect(
            subscriber.waitFor {
                (try? cluster.cli(cluster.nodes[0], ["SPUBLISH", channel, "after"])) == "1\n"
            })
        #expect(subscriber.waitFor { subscriber.received(channel, "after") })
        // And the publisher's link finds the new owner through MOVED.
        #expect(publisher.publish(channel, "through the link") == .success(1))
        #expect(subscriber.waitFor { subscriber.received(channel, "through the link") })
    }

    @Test func aShardKilledAndRestartedIsRejoined() throws {
        let cluster = try RedisClusterProcess()
        defer { cluster.stop() }
        let harness = try start(cluster, refreshNanos: 1_000_000_000)
        defer { harness.shutdown() }
        let channels = try keysPerShard(cluster)
        _ = harness.onLoop { $0.subscribe(channels) }
        #expect(harness.barrier() == true)
        #expect(harness.readiness.withLock { $0 } == [true])

        cluster.nodes[1].stop()
        // Not every slot can be served: the link is not ready, its barrier fails, and keys
        // of the other shards still work.
        #expect(harness.waitFor { !harness.isReady })
        #expect(harness.barrier() == false)
        #expect(harness.command(["SET", .text(channels[0]), "up"], key: channels[0]) == .success(Self.ok))
        #expect(harness.command(["GET", .text(channels[1])], key: channels[1]) == .failure(.unavailable))

        try cluster.nodes[1].start()
        #expect(harness.waitFor { harness.isReady })
        #expect(harness.readiness.withLock { $0 } == [true, false, true])
        // The restarted shard has the subscription again (once it serves its slots).
        #expect(
            harness.waitFor {
                (try? cluster.cli(cluster.nodes[1], ["SPUBLISH", channels[1], "back"])) == "1\n"
            })
        #expect(harness.waitFor { harness.received(channels[1], "back") })
        // Keys wait for the node to rejoin the cluster (until then it answers CLUSTERDOWN).
        try cluster.waitUntilOK([1])
        #expect(harness.command(["SET", .text(channels[1]), "again"], key: channels[1]) == .success(Self.ok))
    }
}
