import Glibc
import WPSLoop

/// The connection workloads: many idle connections, and connect/join/leave/close churn.
extension BenchRunner {
    /// C connections, each in its own group; measures server RSS per connection and the
    /// CPU the server spends holding them for the run's duration.
    func runIdle(_ harness: BenchHarness, into result: inout BenchResult) {
        let connections = options.connections
        result.set("connections", connections)
        result.set("sourceAddresses", max(1, options.sources))
        usleep(300_000)
        let baseline = measure()
        // One token per connection: each names its own group.
        let paths = (0..<connections).map { clientPath(groups: ["idle-\($0)"]) }
        harness.onEachLoop { context, index in
            for connection in stride(from: index, to: connections, by: harness.threads) {
                let subscriber = BenchSubscriber(context: context, group: "idle-\(connection)")
                context.subscribers.append(subscriber)
                subscriber.start(path: paths[connection])
            }
        }
        let allOpen = awaitConnections(harness, expected: connections, seconds: 120, into: &result)
        if !allOpen { result.set("error", "not every connection opened") }
        let opened = harness.shared.opened.load(ordering: .relaxed)
        if let seconds = result["connectSeconds"], case .number(let value) = seconds, value > 0 {
            result.set("connectsPerSecond", Double(opened) / value)
        }
        // Let allocations settle (handshake buffers freed, timers armed).
        harness.sleep(seconds: 2)
        let loaded = measure()
        harness.sleep(seconds: options.durationSeconds)
        let after = measure()
        let stats = harness.collect(fanoutPublished: 0)
        addServer(from: loaded, to: after, deliveries: 0, into: &result)
        if let baseline = baseline.server, let loaded = loaded.server, opened > 0 {
            var memory: [(String, BenchResult.Value)] = [
                ("baselineRssBytes", .int(baseline.rssBytes)), ("loadedRssBytes", .int(loaded.rssBytes)),
                ("rssPerConnectionBytes", .number(Double(loaded.rssBytes - baseline.rssBytes) / Double(opened))),
            ]
            if let after = after.server {
                memory.append(("idleCpuSecondsPerSecond", .number(Self.cpuRate(loaded, after))))
            }
            result.set("memory", .object(memory))
        }
        result.set("lostConnectionsDuringHold", harness.shared.lostConnections.load(ordering: .relaxed))
        addFailures(stats, harness, into: &result)
    }

    /// K churners, each running connect → joinGroup → leaveGroup → close in a loop.
    /// The churn floor: the churn workload against `ChurnResponder` threads in this process
    /// instead of a server; the responder threads' CPU is reported under `server`.
    func runChurnFloor() throws -> BenchResult {
        var result = BenchResult()
        result.set("workload", options.workload)
        if !options.label.isEmpty { result.set("label", options.label) }
        result.set("subprotocol", subprotocol)
        guard !options.reliable, !options.tls, !options.deflate else {
            result.set("error", "churn-floor plays json.webpubsub.azure.v1 over plain TCP only")
            return result
        }
        var responders: [ChurnResponder] = []
        for index in 0..<options.responders {
            let port = responders.first?.port ?? 0
            guard
                let responder = ChurnResponder(
                    subprotocol: subprotocol, port: port, sharesPort: options.responders > 1,
                    closeStyle: options.floorClose)
            else {
                responders.forEach { _ = $0.finish() }
                result.set("error", "cannot listen on 127.0.0.1 (responder \(index))")
                return result
            }
            responder.start()
            responders.append(responder)
        }
        var runner = self
        runner.options.port = responders[0].port
        if runner.options.accessKey.isEmpty { runner.options.accessKey = "churn-floor" }
        let threads = responders.compactMap { $0.runningThreadID() }
        runner.probe = threads.count == responders.count ? ServerProbe(pid: getpid(), threads: threads) : nil
        let harness = try BenchHarness(config: runner.makeConfig(), threads: options.threads)
        result.set("benchThreads", harness.threads)
        runner.runChurn(harness, into: &result)
        harness.shutdown()
        var report = ChurnResponder.Report()
        var leastAccepted = Int.max
        for responder in responders {
            let part = responder.finish()
            report.accepted += part.accepted
            report.closedAfterEcho += part.closedAfterEcho
            report.unexpected += part.unexpected
            leastAccepted = min(leastAccepted, part.accepted)
        }
        result.set(
            "serverIs",
            responders.count == 1 ? "churn floor responder thread" : "\(responders.count) churn floor responder threads"
        )
        result.set("responders", responders.count)
        result.set("floorClose", options.floorClose.rawValue)
        result.set(
            "responder",
            .object([
                ("accepted", .int(report.accepted)), ("closedAfterEcho", .int(report.closedAfterEcho)),
                ("unexpected", .int(report.unexpected)),
                // How evenly the kernel spread connections: the fewest any one thread took.
                ("leastAcceptedByOneThread", .int(leastAccepted)),
            ]))
        if report.unexpected > 0 { result.set("ok", false) }
        return result
    }

    func runChurn(_ harness: BenchHarness, into result: inout BenchResult) {
        let churners = options.churners
        result.set("churners", churners)
        result.set("sourceAddresses", max(1, options.sources))
        let path = clientPath(roles: ["webpubsub.joinLeaveGroup"])
        let before = measure()
        let start = ProcessControl.monotonicNanos
        harness.onEachLoop { context, index in
            for churner in stride(from: index, to: churners, by: harness.threads) {
                let worker = Churner(context: context, path: path, group: "churn-\(churner)")
                context.keep.append(worker)
                context.tickers.append(worker)
                worker.next()
            }
        }
        harness.sleep(seconds: options.durationSeconds)
        harness.shared.stop.store(true, ordering: .relaxed)
        let cycles = harness.shared.cycles.load(ordering: .relaxed)
        let after = measure()
        let seconds = Double(ProcessControl.monotonicNanos - start) / 1e9
        // Let cycles in progress finish so the server is quiet for the next run.
        harness.sleep(seconds: 0.5)
        let stats = harness.collect(fanoutPublished: 0)
        result.set("measuredSeconds", seconds)
        result.set("cycles", cycles)
        result.set("cyclesPerSecond", Double(cycles) / seconds)
        result.set("cycleLatencyMicros", .object(Self.percentiles(stats)))
        addServer(from: before, to: after, deliveries: 0, into: &result)
        if let before = before.server, let after = after.server, cycles > 0 {
            result.set("serverCpuMicrosPerCycle", (after.cpuSeconds - before.cpuSeconds) / Double(cycles) * 1e6)
        }
        result.set("failedAcks", stats.failedAcks)
        result.set("failures", .object(stats.failures.sorted { $0.key < $1.key }.map { ($0.key, .int($0.value)) }))
        result.set("ok", stats.failures.isEmpty && stats.failedAcks == 0 && cycles > 0)
    }

    /// Server CPU seconds per wall second between two samples.
    static func cpuRate(_ start: ServerProbe.Sample, _ end: ServerProbe.Sample) -> Double {
        let wall = Double(end.wallNanos - start.wallNanos) / 1e9
        return wall > 0 ? (end.cpuSeconds - start.cpuSeconds) / wall : 0
    }
}
