import Glibc
import WPSAuth
import WPSClient
import WPSLoop

/// Everything a run needs from the command line.
struct BenchOptions: Sendable {
    var workload: String
    var port: Int
    var accessKey: String
    var serverPID: Int32?
    var hub = "bench"
    var reliable = false
    var threads = 2
    var durationSeconds = 10.0
    var payloadBytes = 100
    var payloadStyle = BenchPayload.PayloadStyle.x
    /// Connect with TLS (no certificate verification).
    var tls = false
    /// Offer permessage-deflate.
    var deflate = false
    var subscribers = 1000
    var publisher = "ws"
    var rate = 0.0
    var window = 64
    var deliveryWindow = 256
    /// Floor saturation: frames per write.
    var batch = 16
    var sequenceAckEvery = 300
    var count = 0
    var groups = 10
    var memberRate = 10.0
    var connections = 10_000
    var churners = 16
    var sources = 1
    var responders = 1
    /// churn-floor: how a responder ends a cycle.
    var floorClose = ChurnResponder.CloseStyle.linger
    /// upstream: clients, events in flight per client, and whether events ask for a reply.
    var clients = 50
    var inFlight = 1
    var reply = false
    /// upstream: the handler process, for its CPU.
    var handlerPID: Int32?
    /// upstream-handler: body bytes of a reply.
    var replyBytes = 16
    var label = ""
    /// A file whose appearance starts publishing (lets a profiler zero its counters first).
    var waitForFile: String?
    /// fanout on a cluster: the nodes' ports subscribers connect to in turn (empty: `port`).
    var subscriberPorts: [Int] = []
    /// fanout on a cluster: the other nodes' processes, whose CPU counts with the server's.
    var nodePIDs: [Int32] = []
    /// fanout on a cluster: the Redis process, for its CPU per publish.
    var redisPID: Int32?
}

/// Runs one workload against a running server and measures it (protocol per `options`).
struct BenchRunner {
    var options: BenchOptions
    var probe: ServerProbe?
    /// The other nodes of a cluster (`probe` is the publisher's node).
    var nodeProbes: [ServerProbe] = []
    /// The cluster's Redis.
    var redisProbe: ServerProbe?

    var subprotocol: String {
        options.reliable ? "json.reliable.webpubsub.azure.v1" : "json.webpubsub.azure.v1"
    }

    var endpoint: String { endpoint(port: options.port) }

    func endpoint(port: Int) -> String { "\(options.tls ? "https" : "http")://127.0.0.1:\(port)" }

    func makeConfig() throws -> BenchConfig {
        var config = BenchConfig(
            port: options.port, hub: options.hub, subprotocol: subprotocol, reliable: options.reliable)
        config.payloadBytes = options.payloadBytes
        config.payloadStyle = options.payloadStyle
        config.sequenceAckEvery = UInt64(options.sequenceAckEvery)
        // Loopback against a self-signed certificate: nothing to verify against.
        config.transport.tls = options.tls ? try ClientTLS(insecure: true) : nil
        config.transport.deflate = options.deflate
        if options.sources > 1 {
            config.sourceHosts = (1...min(options.sources, 250)).map { "127.0.0.\($0)" }
        }
        return config
    }

    /// The request target of a client connection (path and query) with a fresh token.
    /// `port` is the server's (a cluster node's) the client connects to; the token's audience names it.
    func clientPath(
        userId: String? = nil, roles: [String] = [], groups: [String] = [], port: Int? = nil
    ) -> String {
        let port = port ?? options.port
        let endpoint = endpoint(port: port)
        let token = ClientToken.make(
            endpoint: endpoint, hub: options.hub, userId: userId, roles: roles, groups: groups,
            key: AccessKey(options.accessKey), now: Int64(time(nil)), lifetime: 3600)
        let url = ClientToken.clientURL(endpoint: endpoint, hub: options.hub, token: token)
        let prefix = "\(options.tls ? "wss" : "ws")://127.0.0.1:\(port)"
        return String(url.dropFirst(prefix.count))
    }

    /// Runs the chosen workload and returns its result.
    func run() throws -> BenchResult {
        if options.workload == "churn-floor" { return try runChurnFloor() }
        if options.workload == "wakeup" { return runWakeup() }
        if options.workload == "upstream-handler" { return try runUpstreamHandler() }
        let harness = try BenchHarness(config: makeConfig(), threads: options.threads)
        var result = BenchResult()
        result.set("workload", options.workload)
        if !options.label.isEmpty { result.set("label", options.label) }
        result.set("subprotocol", subprotocol)
        result.set("tls", options.tls)
        result.set("deflate", options.deflate)
        result.set("payloadStyle", options.payloadStyle.rawValue)
        result.set("benchThreads", harness.threads)
        switch options.workload {
        case "fanout": runFanout(harness, into: &result)
        case "chat": runChat(harness, into: &result)
        case "idle": runIdle(harness, into: &result)
        case "churn": runChurn(harness, into: &result)
        case "upstream": runUpstream(harness, into: &result)
        case "floor": runFloor(harness, into: &result)
        default: result.set("error", "unknown workload \(options.workload)")
        }
        harness.shutdown()
        return result
    }

    /// Waits for `expected` connections (opened or failed) within `seconds`; records the outcome.
    func awaitConnections(
        _ harness: BenchHarness, expected: Int, seconds: Double, into result: inout BenchResult, record: Bool = true
    ) -> Bool {
        let start = ProcessControl.monotonicNanos
        harness.wait(seconds: seconds) {
            harness.shared.opened.load(ordering: .relaxed) + harness.shared.failedConnects.load(ordering: .relaxed)
                >= expected
        }
        let opened = harness.shared.opened.load(ordering: .relaxed)
        let elapsed = Double(ProcessControl.monotonicNanos - start) / 1e9
        if record { result.set("connectSeconds", elapsed) }
        result.set("connectionsOpened", opened)
        result.set("connectFailures", harness.shared.failedConnects.load(ordering: .relaxed))
        return opened >= expected
    }

    /// Adds delivery numbers, latency percentiles and order checks from `stats`.
    func addDeliveries(_ stats: StatsSnapshot, seconds: Double, into result: inout BenchResult) {
        result.set("measuredSeconds", seconds)
        result.set("published", stats.published)
        result.set("delivered", stats.delivered)
        result.set("deliveriesPerSecond", seconds > 0 ? Double(stats.delivered) / seconds : nil)
        result.set("latencyMicros", .object(Self.percentiles(stats)))
        result.set("lost", stats.lost)
        result.set("duplicated", stats.duplicates)
        result.set("outOfOrder", stats.outOfOrder)
        result.set("failedAcks", stats.failedAcks)
        if options.deflate { result.set("inflatedMessages", stats.inflated) }
    }

    /// p50 / p99 / p99.9 / max of the latency histogram in microseconds.
    static func percentiles(_ stats: StatsSnapshot) -> [(String, BenchResult.Value)] {
        guard stats.latency.totalCount > 0 else {
            return [("p50", .null), ("p99", .null), ("p999", .null), ("max", .null), ("count", .int(0))]
        }
        func micros(_ nanos: UInt64) -> BenchResult.Value { .number(Double(nanos) / 1000) }
        return [
            ("p50", micros(stats.latency.valueAtPercentile(50))),
            ("p99", micros(stats.latency.valueAtPercentile(99))),
            ("p999", micros(stats.latency.valueAtPercentile(99.9))),
            ("max", micros(stats.latency.max)),
            ("count", .int(Int(stats.latency.totalCount))),
        ]
    }

    /// Samples of the server and of this process, taken together.
    struct Measurement {
        var server: ServerProbe.Sample?
        /// The other cluster nodes, in `nodeProbes` order, and the cluster's Redis.
        var nodes: [ServerProbe.Sample?] = []
        var redis: ServerProbe.Sample?
        var bench: ServerProbe.Sample?
        /// TCP segments with data the fan-out subscribers have received so far.
        var subscriberSegments: Int?
    }

    /// Reads the server's and the bench's own CPU time and memory now, and with `harness`
    /// the segments the subscribers have received.
    func measure(_ harness: BenchHarness? = nil) -> Measurement {
        let segments = harness?.dataSegmentsReceived()
        return Measurement(
            server: probe?.sample(), nodes: nodeProbes.map { $0.sample() }, redis: redisProbe?.sample(),
            bench: ServerProbe(pid: getpid()).sample(), subscriberSegments: segments)
    }

    /// Server CPU and memory between two measurements, and the bench's own CPU use (to show
    /// whether the load generator was the bottleneck); `deliveries` scales CPU per million.
    /// With other cluster nodes, the server figures are the sum over every node (RSS too), and
    /// `nodes` lists each node's CPU; with Redis, `redis` gives its CPU per publish.
    func addServer(
        from start: Measurement, to end: Measurement, deliveries: Int, published: Int = 0,
        into result: inout BenchResult
    ) {
        if let benchStart = start.bench, let benchEnd = end.bench {
            let cpu = benchEnd.cpuSeconds - benchStart.cpuSeconds
            let wall = Double(benchEnd.wallNanos - benchStart.wallNanos) / 1e9
            result.set(
                "bench",
                .object([("cpuSeconds", .number(cpu)), ("cpuUtilisation", .number(wall > 0 ? cpu / wall : 0))]))
        }
        if let redisProbe, let first = start.redis, let last = end.redis {
            let cpu = last.cpuSeconds - first.cpuSeconds
            let wall = Double(last.wallNanos - first.wallNanos) / 1e9
            var redis: [(String, BenchResult.Value)] = [
                ("pid", .int(Int(redisProbe.pid))), ("cpuSeconds", .number(cpu)),
                ("cpuUtilisation", .number(wall > 0 ? cpu / wall : 0)), ("rssBytes", .int(last.rssBytes)),
            ]
            if published > 0 { redis.append(("cpuMicrosPerPublish", .number(cpu / Double(published) * 1e6))) }
            if deliveries > 0 {
                redis.append(("cpuSecondsPerMillionDeliveries", .number(cpu / Double(deliveries) * 1e6)))
            }
            result.set("redis", .object(redis))
        }
        let segments = (first: start.subscriberSegments, last: end.subscriberSegments)
        guard let probe, let firstSample = start.server, let lastSample = end.server else {
            result.set("server", .null)
            return
        }
        // Every node's (first, last) sample: the publisher's node, then the others.
        var pairs = [(probe.pid, firstSample, lastSample)]
        for (index, node) in nodeProbes.enumerated() {
            guard index < start.nodes.count, index < end.nodes.count, let first = start.nodes[index],
                let last = end.nodes[index]
            else {
                result.set("server", .null)
                result.set("error", "node \(node.pid) is gone")
                return
            }
            pairs.append((node.pid, first, last))
        }
        let cpu = pairs.reduce(0.0) { $0 + $1.2.cpuSeconds - $1.1.cpuSeconds }
        let system = pairs.reduce(0.0) { $0 + $1.2.systemSeconds - $1.1.systemSeconds }
        let rss = pairs.reduce(0) { $0 + $1.2.rssBytes }
        let wall = Double(lastSample.wallNanos - firstSample.wallNanos) / 1e9
        var server: [(String, BenchResult.Value)] = [
            ("pid", .int(Int(probe.pid))), ("cpuSeconds", .number(cpu)),
            ("cpuUtilisation", .number(wall > 0 ? cpu / wall : 0)), ("rssBytes", .int(rss)),
        ]
        if !nodeProbes.isEmpty {
            server.append(("nodes", .int(pairs.count)))
            result.set(
                "nodeCpu",
                .object(
                    pairs.enumerated().map { index, pair in
                        (
                            "node\(index)",
                            .object([
                                ("pid", .int(Int(pair.0))),
                                ("cpuSeconds", .number(pair.2.cpuSeconds - pair.1.cpuSeconds)),
                            ])
                        )
                    }))
        }
        server.append(("systemCpuSeconds", .number(system)))
        if deliveries > 0 {
            server.append(("cpuSecondsPerMillionDeliveries", .number(cpu / Double(deliveries) * 1e6)))
            server.append(("systemCpuSecondsPerMillionDeliveries", .number(system / Double(deliveries) * 1e6)))
            // How many deliveries share one TCP segment, as the subscribers' sockets counted
            // them: each server write of small frames is one segment, and the kernel's cost
            // per delivery falls as more deliveries share one.
            if let first = segments.first, let last = segments.last, last > first {
                server.append(("segmentsToSubscribers", .int(last - first)))
                server.append(("deliveriesPerSegment", .number(Double(deliveries) / Double(last - first))))
            }
        }
        result.set("server", .object(server))
    }

    /// Failure reasons seen on the bench side, and whether the run counts as clean.
    func addFailures(_ stats: StatsSnapshot, _ harness: BenchHarness, into result: inout BenchResult) {
        result.set("lostConnections", harness.shared.lostConnections.load(ordering: .relaxed))
        result.set("failures", .object(stats.failures.sorted { $0.key < $1.key }.map { ($0.key, .int($0.value)) }))
        let clean =
            stats.lost == 0 && stats.duplicates == 0 && stats.outOfOrder == 0 && stats.failedAcks == 0
            && harness.shared.lostConnections.load(ordering: .relaxed) == 0
            && harness.shared.failedConnects.load(ordering: .relaxed) == 0
        result.set("ok", clean)
    }

    /// With `--wait-for-file`: announces readiness and waits for the go signal (bounded).
    func waitForGoSignal(_ harness: BenchHarness) {
        guard let path = options.waitForFile else { return }
        let ready = open(path + ".ready", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        if ready >= 0 { close(ready) }
        harness.wait(seconds: 60) { access(path, F_OK) == 0 }
    }
}
