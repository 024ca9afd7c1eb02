import Glibc
import WPSLoop

/// The kernel floor: the server's fan-out write pattern with no server at all.
extension BenchRunner {
    /// Listens on loopback, connects `subscribers` readers from the bench loops, and lets a
    /// plain writer thread send each round's pre-built frames to every accepted socket. The
    /// writer thread's own CPU is reported under `server`, so a fan-out run and this one
    /// compare field by field.
    func runFloor(_ harness: BenchHarness, into result: inout BenchResult) {
        let subscribers = options.subscribers
        let batch = options.rate > 0 ? 1 : max(1, options.batch)
        result.set("mode", options.rate > 0 ? "rate" : "saturation")
        result.set("subscribers", subscribers)
        result.set("payloadBytes", options.payloadBytes)
        if options.rate > 0 {
            result.set("ratePerSecond", options.rate)
        } else {
            result.set("batch", batch)
            result.set("deliveryWindow", options.deliveryWindow)
        }
        if options.count > 0 { result.set("count", options.count) }
        guard let listener = FloorListener(backlog: subscribers) else {
            result.set("error", "cannot listen on 127.0.0.1")
            return
        }
        defer { listener.close() }

        let port = listener.port
        harness.onEachLoop { context, index in
            let mine = subscribers / harness.threads + (index < subscribers % harness.threads ? 1 : 0)
            let readers = FloorReaders(context: context)
            context.keep.append(readers)
            context.tickers.append(readers)
            for _ in 0..<mine { readers.add(port: port) }
        }
        let shared = harness.shared
        var accepted: [Int32] = []
        defer { for fd in accepted { close(fd) } }
        let connectStart = ProcessControl.monotonicNanos
        let connectDeadline = connectStart + 60_000_000_000
        while accepted.count + shared.failedConnects.load(ordering: .relaxed) < subscribers,
            ProcessControl.monotonicNanos < connectDeadline
        {
            accepted += listener.acceptWaiting(timeoutMillis: 10)
        }
        let connected = awaitConnections(harness, expected: subscribers, seconds: 10, into: &result, record: false)
        result.set("connectSeconds", Double(ProcessControl.monotonicNanos - connectStart) / 1e9)
        result.set("accepted", accepted.count)
        guard connected, accepted.count == subscribers else {
            result.set("error", "readers did not all connect")
            addFailures(harness.collect(fanoutPublished: 0), harness, into: &result)
            closeFloorReaders(harness)
            return
        }
        usleep(200_000)

        let plan = FloorWriter.Plan(
            rate: options.rate, batch: batch, deliveryWindow: max(options.deliveryWindow, batch),
            maxRounds: options.count, payloadBytes: options.payloadBytes, style: options.payloadStyle)
        let writer = FloorWriter(fds: accepted, plan: plan, shared: shared)
        let before = measure()
        let start = ProcessControl.monotonicNanos
        writer.start()
        if options.count > 0 {
            harness.wait(seconds: options.durationSeconds) {
                shared.published.load(ordering: .relaxed) >= options.count * batch
            }
        } else {
            harness.sleep(seconds: options.durationSeconds)
        }
        shared.stop.store(true, ordering: .relaxed)
        let report = writer.join()
        harness.wait(seconds: 5) { shared.delivered.load(ordering: .relaxed) >= report.frames * subscribers }
        let after = measure()
        let seconds = Double(ProcessControl.monotonicNanos - start) / 1e9

        var stats = harness.collect(fanoutPublished: 0)
        stats.lost = floorLost(harness, expected: report.frames)
        stats.published = report.frames
        addDeliveries(stats, seconds: seconds, into: &result)
        addServer(from: before, to: after, deliveries: 0, into: &result)
        addWriter(report, deliveries: stats.delivered, into: &result)
        addFailures(stats, harness, into: &result)
        closeFloorReaders(harness)
    }

    /// The writer thread's CPU under the keys the server probe uses, and what it did.
    func addWriter(_ report: FloorWriter.Report, deliveries: Int, into result: inout BenchResult) {
        let cpu = report.userSeconds + report.systemSeconds
        var server: [(String, BenchResult.Value)] = [
            ("serverIs", .text("floor writer thread")),
            ("cpuSeconds", .number(cpu)),
            ("cpuUtilisation", .number(report.wallSeconds > 0 ? cpu / report.wallSeconds : 0)),
            ("systemCpuSeconds", .number(report.systemSeconds)),
            ("userCpuSeconds", .number(report.userSeconds)),
        ]
        if deliveries > 0 {
            server.append(("cpuSecondsPerMillionDeliveries", .number(cpu / Double(deliveries) * 1e6)))
            server.append(
                ("systemCpuSecondsPerMillionDeliveries", .number(report.systemSeconds / Double(deliveries) * 1e6)))
        }
        result.set("server", .object(server))
        result.set(
            "writer",
            .object([
                ("rounds", .int(report.rounds)), ("frames", .int(report.frames)), ("writes", .int(report.writes)),
                ("shortWrites", .int(report.shortWrites)), ("failedSockets", .int(report.failedSockets)),
                ("maxPendingBytes", .int(report.maxPendingBytes)), ("wallSeconds", .number(report.wallSeconds)),
            ]))
    }

    /// Messages the floor readers missed, over every loop (bounded wait).
    func floorLost(_ harness: BenchHarness, expected: Int) -> Int {
        let lost = CounterBox()
        let done = CounterBox()
        harness.onEachLoop { context, _ in
            for case let readers as FloorReaders in context.keep {
                lost.count.add(readers.lost(expected: expected), ordering: .relaxed)
            }
            done.count.add(1, ordering: .relaxed)
        }
        harness.wait(seconds: 5) { done.count.load(ordering: .relaxed) == harness.threads }
        return lost.count.load(ordering: .relaxed)
    }

    /// Closes every floor reader on its loop before the writer's sockets go (bounded wait).
    func closeFloorReaders(_ harness: BenchHarness) {
        let done = CounterBox()
        harness.onEachLoop { context, _ in
            for case let readers as FloorReaders in context.keep { readers.closeAll() }
            done.count.add(1, ordering: .relaxed)
        }
        harness.wait(seconds: 2) { done.count.load(ordering: .relaxed) == harness.threads }
    }
}
