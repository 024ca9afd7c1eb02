import Glibc
import WPSLoop

/// User-event round trips through the server's upstream event handler.
extension BenchRunner {
    /// N JSON clients each keep K `event` requests in flight against a server started with
    /// `--event-handler http://127.0.0.1:PORT/{event}` pointing at `wps-bench upstream-handler`;
    /// measures round trips per second, send-to-ack latency and server CPU per round trip.
    func runUpstream(_ harness: BenchHarness, into result: inout BenchResult) {
        let clients = options.clients
        let plan = UpstreamPlan(
            inFlight: options.inFlight, event: options.reply ? "reply" : "bench", dataBytes: options.payloadBytes)
        result.set("clients", clients)
        result.set("inFlight", plan.inFlight)
        result.set("event", plan.event)
        result.set("payloadBytes", plan.dataBytes)
        let path = clientPath()
        harness.onEachLoop { context, index in
            for _ in stride(from: index, to: clients, by: harness.threads) {
                let sender = UpstreamSender(context: context, plan: plan)
                context.keep.append(sender)
                sender.start(path: path)
            }
        }
        guard awaitConnections(harness, expected: clients, seconds: 30, into: &result) else {
            result.set("error", "clients did not all connect (is the server's --event-handler up?)")
            addFailures(harness.collect(fanoutPublished: 0), harness, into: &result)
            return
        }
        // Let the `connected` events (sent to the handler after each upgrade) settle.
        usleep(300_000)
        let handlerProbe = options.handlerPID.map { ServerProbe(pid: $0) }
        let handlerBefore = handlerProbe?.sample()
        let before = measure()
        let start = ProcessControl.monotonicNanos
        harness.onEachLoop { context, _ in
            for case let sender as UpstreamSender in context.keep { sender.begin() }
        }
        let shared = harness.shared
        harness.sleep(seconds: options.durationSeconds)
        shared.stop.store(true, ordering: .relaxed)
        // Drain: every event in flight answered (bounded by the handler timeout's share).
        harness.wait(seconds: 5) { shared.acked.load(ordering: .relaxed) >= shared.published.load(ordering: .relaxed) }
        let after = measure()
        let handlerAfter = handlerProbe?.sample()
        let seconds = Double(ProcessControl.monotonicNanos - start) / 1e9
        let stats = harness.collect(fanoutPublished: 0)
        let roundTrips = shared.acked.load(ordering: .relaxed)
        let sent = shared.published.load(ordering: .relaxed)
        result.set("measuredSeconds", seconds)
        result.set("events", sent)
        result.set("roundTrips", roundTrips)
        result.set("roundTripsPerSecond", seconds > 0 ? Double(roundTrips) / seconds : nil)
        result.set("latencyMicros", .object(Self.percentiles(stats)))
        if plan.expectsReply { result.set("replies", stats.delivered) }
        result.set("unanswered", sent - roundTrips)
        result.set("outOfOrder", stats.outOfOrder)
        result.set("failedAcks", stats.failedAcks)
        addServer(from: before, to: after, deliveries: 0, into: &result)
        if let start = before.server, let end = after.server, roundTrips > 0 {
            let perRoundTrip = 1e6 / Double(roundTrips)
            result.set("serverCpuMicrosPerRoundTrip", (end.cpuSeconds - start.cpuSeconds) * perRoundTrip)
            result.set("serverSystemCpuMicrosPerRoundTrip", (end.systemSeconds - start.systemSeconds) * perRoundTrip)
        }
        if let start = handlerBefore, let end = handlerAfter, roundTrips > 0 {
            let cpu = end.cpuSeconds - start.cpuSeconds
            result.set(
                "handler",
                .object([
                    ("pid", .int(Int(options.handlerPID ?? 0))), ("cpuSeconds", .number(cpu)),
                    ("cpuMicrosPerRoundTrip", .number(cpu / Double(roundTrips) * 1e6)),
                ]))
        }
        addFailures(stats, harness, into: &result)
        if sent != roundTrips { result.set("ok", false) }
    }

    /// `upstream-handler`: serves as the event handler until SIGTERM or SIGINT, or until
    /// `--duration` seconds pass; prints `listening on http://127.0.0.1:PORT` first.
    func runUpstreamHandler() throws -> BenchResult {
        // Signals wait for the main thread's sigtimedwait, in the loops' threads too.
        ProcessControl.blockSignals()
        let handler = try UpstreamHandler(
            port: options.port, threads: options.threads, replyBytes: options.replyBytes)
        BenchCommand.writeOut("upstream handler listening on http://127.0.0.1:\(handler.port)\n")
        let start = ProcessControl.monotonicNanos
        let deadline = start + UInt64(options.durationSeconds * 1e9)
        let own = ServerProbe(pid: getpid())
        let before = own.sample()
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGTERM)
        sigaddset(&signals, SIGINT)
        var stoppedBy = "duration"
        while ProcessControl.monotonicNanos < deadline {
            var wait = timespec(tv_sec: 0, tv_nsec: 200_000_000)
            let signal = sigtimedwait(&signals, nil, &wait)
            if signal == SIGTERM || signal == SIGINT {
                stoppedBy = signal == SIGTERM ? "SIGTERM" : "SIGINT"
                break
            }
        }
        let after = own.sample()
        handler.stop()
        var result = BenchResult()
        result.set("workload", options.workload)
        if !options.label.isEmpty { result.set("label", options.label) }
        result.set("port", handler.port)
        result.set("stoppedBy", stoppedBy)
        result.set("seconds", Double(ProcessControl.monotonicNanos - start) / 1e9)
        let counters = handler.counters
        result.set("connections", counters.connections.load(ordering: .relaxed))
        result.set("preflights", counters.preflights.load(ordering: .relaxed))
        result.set("noContent", counters.noContent.load(ordering: .relaxed))
        result.set("replies", counters.replies.load(ordering: .relaxed))
        result.set("otherMethods", counters.other.load(ordering: .relaxed))
        result.set("invalidRequests", counters.invalid.load(ordering: .relaxed))
        if let before, let after { result.set("cpuSeconds", after.cpuSeconds - before.cpuSeconds) }
        return result
    }
}
