import Foundation
import Testing
import WPSLoop
import WPSRedis
import WPSTLS

/// A value shared between the test thread and a loop.
final class Locked<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: T
    init(_ value: T) { self.value = value }
    func withLock<R>(_ body: (inout T) -> R) -> R {
        lock.lock()
        defer { lock.unlock() }
        return body(&value)
    }
}

/// A Redis client on a loop of its own, driven from the test thread: each call runs on the
/// loop and waits (bounded) for its answer.
final class ClientHarness: @unchecked Sendable {
    let group: EventLoopGroup
    let loop: EventLoop
    let client: RedisClient
    let pushes = Locked<[RESPValue]>([])
    let states = Locked<[RedisClient.State]>([])

    init(_ configuration: RedisConfiguration) throws {
        let made = Locked<(EventLoop, RedisClient)?>(nil)
        let ready = DispatchSemaphore(value: 0)
        let pushes = self.pushes
        let states = self.states
        group = try EventLoopGroup(threads: 1) { loop in
            let client = RedisClient(loop: loop, configuration: configuration)
            client.onPush = { value in pushes.withLock { $0.append(value) } }
            client.onStateChange = { state in states.withLock { $0.append(state) } }
            made.withLock { $0 = (loop, client) }
            ready.signal()
        }
        _ = ready.wait(timeout: .now() + 5)
        let (loop, client) = made.withLock { $0! }
        self.loop = loop
        self.client = client
    }

    /// Runs `body` on the loop and returns what it produced.
    func onLoop<T: Sendable>(_ body: @escaping @Sendable (RedisClient) -> T) -> T? {
        let result = Locked<T?>(nil)
        let done = DispatchSemaphore(value: 0)
        let client = UncheckedBox(client)
        loop.inbox.post { _ in
            result.withLock { $0 = body(client.value) }
            done.signal()
        }
        guard done.wait(timeout: .now() + 5) == .success else { return nil }
        return result.withLock { $0 }
    }

    /// Sends a command and waits for its answer.
    func command(_ arguments: [RESPArgument]) -> Result<RESPValue, RedisError>? {
        let answer = Locked<Result<RESPValue, RedisError>?>(nil)
        let done = DispatchSemaphore(value: 0)
        let box = UncheckedBox(client)
        let arguments = arguments
        loop.inbox.post { _ in
            box.value.send(arguments) { result in
                answer.withLock { $0 = result }
                done.signal()
            }
        }
        guard done.wait(timeout: .now() + 10) == .success else { return nil }
        return answer.withLock { $0 }
    }

    func waitFor(_ what: String, timeout: TimeInterval = 10, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if condition() { return true }
            usleep(10_000)
        }
        return condition()
    }

    var state: RedisClient.State? { onLoop { $0.state } }

    func shutdown() {
        group.shutdown(graceNanos: 100_000_000)
        group.join()
    }
}

struct UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

@Suite(.serialized, .enabled(if: RedisServerProcess.executable != nil, "redis-server is not installed"))
struct RedisClientTests {
    func configuration(_ redis: RedisServerProcess) -> RedisConfiguration {
        var configuration = RedisConfiguration()
        configuration.port = redis.port
        configuration.minReconnectDelayNanos = 20_000_000
        configuration.maxReconnectDelayNanos = 200_000_000
        return configuration
    }

    func start(_ configuration: RedisConfiguration) throws -> ClientHarness {
        let harness = try ClientHarness(configuration)
        _ = harness.onLoop { $0.start() }
        #expect(harness.waitFor("ready") { harness.state == .ready })
        return harness
    }

    @Test func commandsGetTheirRepliesInOrder() throws {
        let redis = try RedisServerProcess()
        let harness = try start(configuration(redis))
        defer { harness.shutdown() }
        #expect(harness.command(["SET", "k", .bytes([0, 1, 2, 13, 10])]) == .success(.simpleString(Array("OK".utf8))))
        #expect(harness.command(["GET", "k"]) == .success(.bulkString([0, 1, 2, 13, 10])))
        #expect(harness.command(["GET", "missing"]) == .success(.null))
        // Many pipelined in one turn come back in order.
        let replies = Locked<[Int64]>([])
        let done = DispatchSemaphore(value: 0)
        let box = UncheckedBox(harness.client)
        harness.loop.inbox.post { _ in
            for _ in 0..<500 {
                box.value.send(["INCR", "counter"]) { result in
                    if case .success(.integer(let value)) = result { replies.withLock { $0.append(value) } }
                    if replies.withLock({ $0.count }) == 500 { done.signal() }
                }
            }
        }
        #expect(done.wait(timeout: .now() + 10) == .success)
        #expect(replies.withLock { $0 } == Array(1...500))
        // An error reply is a failure with Redis's text.
        guard case .failure(.server(let message)) = harness.command(["NOSUCHCOMMAND"]) else {
            Issue.record("an unknown command did not fail")
            return
        }
        #expect(message.hasPrefix("ERR"))
    }

    @Test func subscriptionsDeliverPushesAndSurviveARestart() throws {
        let redis = try RedisServerProcess()
        let subscriber = try start(configuration(redis))
        let publisher = try start(configuration(redis))
        defer {
            subscriber.shutdown()
            publisher.shutdown()
        }
        _ = subscriber.onLoop { $0.subscribe(["news"]) }
        func published(_ text: String) -> Bool {
            // A publish reaches the subscriber once its subscription is in place.
            subscriber.waitFor("message") {
                _ = publisher.command(["PUBLISH", "news", .text(text)])
                return subscriber.pushes.withLock { pushes in
                    pushes.contains {
                        $0
                            == .push([
                                .bulkString(Array("message".utf8)), .bulkString(Array("news".utf8)),
                                .bulkString(Array(text.utf8)),
                            ])
                    }
                }
            }
        }
        #expect(published("first"))

        // Redis goes away: commands fail at once, and the clients say they are disconnected.
        redis.stop()
        #expect(publisher.waitFor("disconnected") { publisher.state == .disconnected })
        #expect(publisher.command(["PING"]) == .failure(.unavailable))
        // It comes back on the same port: both reconnect, and the subscription is renewed.
        try redis.start()
        #expect(publisher.waitFor("ready again") { publisher.state == .ready })
        #expect(subscriber.waitFor("ready again") { subscriber.state == .ready })
        #expect(published("second"))
        #expect(subscriber.states.withLock { $0 }.contains(.disconnected))
    }

    @Test func passwordAndDatabaseAreUsed() throws {
        let redis = try RedisServerProcess(arguments: ["--requirepass", "s3cret"])
        var good = configuration(redis)
        good.password = "s3cret"
        good.database = 3
        let harness = try start(good)
        defer { harness.shutdown() }
        #expect(harness.command(["SET", "where", "three"]) == .success(.simpleString(Array("OK".utf8))))
        #expect(harness.command(["CLIENT", "INFO"]).flatMap { try? $0.get().string }?.contains("db=3") == true)

        // A wrong password never becomes ready, and commands fail at once.
        var bad = configuration(redis)
        bad.password = "wrong"
        let refused = try ClientHarness(bad)
        defer { refused.shutdown() }
        _ = refused.onLoop { $0.start() }
        usleep(300_000)
        #expect(refused.state != .ready)
        #expect(refused.command(["PING"]) == .failure(.unavailable))
    }

    @Test func aSilentServerTimesOutAndTheClientReconnects() throws {
        let redis = try RedisServerProcess(arguments: ["--enable-debug-command", "yes"])
        var configuration = configuration(redis)
        configuration.commandTimeoutNanos = 300_000_000
        let harness = try start(configuration)
        defer { harness.shutdown() }
        // DEBUG SLEEP holds the server past the timeout: the reply counts as lost.
        let started = Date()
        #expect(harness.command(["DEBUG", "SLEEP", "1"]) == .failure(.connectionLost))
        #expect(Date().timeIntervalSince(started) < 0.9)
        #expect(harness.waitFor("ready again") { harness.state == .ready })
        #expect(harness.command(["PING"]) == .success(.simpleString(Array("PONG".utf8))))
    }

    @Test func tlsWhenTheURLSaysRediss() throws {
        let directory = NSTemporaryDirectory() + "wps-redis-tls-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let certificate = directory + "/cert.pem"
        let key = directory + "/key.pem"
        try TLSCertificateFactory.makeSelfSigned(
            commonName: "localhost", dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"], certificatePath: certificate,
            keyPath: key)
        let redis = try RedisServerProcess(tls: (certificate, key))

        var trusting = try RedisConfiguration(url: "rediss://127.0.0.1:\(redis.port)")
        trusting.tlsCAFile = certificate
        trusting.minReconnectDelayNanos = 20_000_000
        trusting.maxReconnectDelayNanos = 200_000_000
        let harness = try start(trusting)
        defer { harness.shutdown() }
        #expect(harness.command(["SET", "k", "over tls"]) == .success(.simpleString(Array("OK".utf8))))
        #expect(harness.command(["GET", "k"]) == .success(.bulkString(Array("over tls".utf8))))

        // A certificate it has no reason to trust: never ready.
        var other = trusting
        other.tlsCAFile = nil
        let refused = try ClientHarness(other)
        defer { refused.shutdown() }
        _ = refused.onLoop { $0.start() }
        usleep(300_000)
        #expect(refused.state != .ready)
        // Plain TCP to the TLS port is not Redis either.
        var plain = trusting
        plain.tls = false
        let confused = try ClientHarness(plain)
        defer { confused.shutdown() }
        _ = confused.onLoop { $0.start() }
        usleep(300_000)
        #expect(confused.state != .ready)
    }
}
