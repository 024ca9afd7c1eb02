import Prometheus
import Synchronization
import WPSLoop

/// The server's Prometheus registry. Loops count on their own threads; a scrape gathers
/// every loop's snapshot and feeds the registry here: counters by what each loop added since
/// the last scrape, gauges set to the sum over loops (protocol-spec/server.md, `/metrics`).
final class ServerMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()

    struct State {
        /// Each loop's counter totals at the last scrape.
        var last: [Int: [MetricKey: Int]] = [:]
        var counters: [MetricKey: Counter] = [:]
        var gauges: [MetricKey: Gauge] = [:]
    }

    private let state = Mutex(State())

    /// Bounds of the upstream latency histogram: a local handler answers in a millisecond or
    /// two, a remote one in tens, and the default timeout is seconds.
    static let upstreamBuckets: [Duration] = [
        .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25),
        .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
        .milliseconds(2500), .seconds(5), .seconds(10),
    ]

    static let help: [String: String] = [
        "wps_connections_open": "WebSocket connections open, by hub and protocol (json, reliable, simple).",
        "wps_connects_total": "Logical connections opened (recoveries not included).",
        "wps_closes_total": "WebSockets closed, by the close code sent or received (none: dropped).",
        "wps_upgrades_refused_total": "Client upgrade requests answered with an HTTP status instead of 101.",
        "wps_recoveries_attempted_total": "Reliable recovery attempts.",
        "wps_recoveries_accepted_total": "Reliable recovery attempts that resumed their session.",
        "wps_recoveries_refused_total": "Reliable recovery attempts refused, by reason.",
        "wps_reliable_sessions_ended_total": "Reliable sessions ended for good, by cause.",
        "wps_slow_consumer_cuts_total": "Clients cut because their outbound queue passed the limit.",
        "wps_messages_in_total": "Messages received, by kind.",
        "wps_messages_in_bytes_total": "Payload bytes of messages received, by kind.",
        "wps_messages_out_total": "Messages queued to clients, by kind (data, system).",
        "wps_messages_out_bytes_total": "Frame bytes of messages queued to clients, by kind.",
        "wps_acks_total": "Acks sent, by result: success or the error name.",
        "wps_outbound_queued_bytes": "Bytes queued to clients and not yet written, summed over connections.",
        "wps_upstream_requests_total": "Event handler requests, by event and status (HTTP code, timeout, error).",
        "wps_upstream_request_duration_seconds": "Event handler request latency, by event.",
        "wps_tls_handshakes_total": "TLS handshakes completed.",
        "wps_tls_handshake_failures_total": "TLS handshakes that failed.",
        "wps_tls_plaintext_rejected_total": "Plaintext HTTP requests refused on the TLS port.",
        "wps_deflate_input_bytes_total": "Bytes handed to permessage-deflate compression.",
        "wps_deflate_output_bytes_total": "Bytes permessage-deflate compression made of them.",
        "wps_redis_links_up":
            "Connections to Redis that are ready, by role (commands: one per loop; subscription: one per node).",
        "wps_redis_round_trips_total": "Redis replies received.",
        "wps_redis_round_trip_microseconds_total": "Time from each Redis command to its reply, summed.",
        "wps_cluster_messages_published_total": "Messages published through Redis for other nodes.",
        "wps_cluster_messages_received_total": "Payloads received from Redis (messages, operations, answers).",
        "wps_cluster_operations_total":
            "Cluster-wide REST operations asked by this node, by result (ok, unavailable, timeout).",
    ]

    static func descriptor(_ name: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help[name] ?? "")
    }

    /// Takes one scrape's snapshots, `(loop index, snapshot)`.
    func absorb(_ snapshots: [(loop: Int, snapshot: MetricsSnapshot)]) {
        state.withLock { state in
            var totals: [MetricKey: Int] = [:]
            for (loop, snapshot) in snapshots {
                var last = state.last[loop] ?? [:]
                for (key, value) in snapshot.counters {
                    // Per loop, so answers of overlapping scrapes never count anything twice.
                    let before = last[key]
                    if let before, value <= before { continue }
                    let counter = counterFor(key, &state)
                    let added = value - (before ?? 0)
                    if added > 0 { counter.increment(by: Int64(added)) }
                    last[key] = value
                }
                state.last[loop] = last
                for (key, value) in snapshot.gauges { totals[key, default: 0] += value }
            }
            // A label set seen before and absent now (a hub whose last client left) reads 0.
            for (key, gauge) in state.gauges where totals[key] == nil { gauge.set(to: 0) }
            for (key, value) in totals { gaugeFor(key, &state).set(to: Double(value)) }
        }
    }

    private func counterFor(_ key: MetricKey, _ state: inout State) -> Counter {
        if let existing = state.counters[key] { return existing }
        let made =
            key.labels.isEmpty
            ? registry.makeCounter(descriptor: Self.descriptor(key.name))
            : registry.makeCounter(descriptor: Self.descriptor(key.name), labels: key.labelPairs)
        state.counters[key] = made
        return made
    }

    private func gaugeFor(_ key: MetricKey, _ state: inout State) -> Gauge {
        if let existing = state.gauges[key] { return existing }
        let made =
            key.labels.isEmpty
            ? registry.makeGauge(descriptor: Self.descriptor(key.name))
            : registry.makeGauge(descriptor: Self.descriptor(key.name), labels: key.labelPairs)
        state.gauges[key] = made
        return made
    }

    /// One event handler request, as it finishes. Upstream requests are rare next to
    /// messages and already take a lock, so they go to the registry at once.
    func recordUpstream(event: String, result: Result<UpstreamResponse, UpstreamFailure>, nanos: UInt64) {
        let status: String
        switch result {
        case .success(let response): status = String(response.status)
        case .failure(let failure): status = failure.timedOut ? "timeout" : "error"
        }
        registry.makeCounter(
            descriptor: Self.descriptor("wps_upstream_requests_total"), labels: [("event", event), ("status", status)]
        ).increment()
        registry.makeDurationHistogram(
            descriptor: Self.descriptor("wps_upstream_request_duration_seconds"), labels: [("event", event)],
            buckets: Self.upstreamBuckets
        ).record(.nanoseconds(Int64(clamping: nanos)))
    }

    /// The text exposition of everything registered.
    func render() -> [UInt8] { registry.emitToBuffer() }

    /// Gathers every loop's snapshot from `loop`, feeds the registry and hands the text to
    /// `done` on `loop`.
    func scrape(on loop: EventLoop, done: @escaping ([UInt8]) -> Void) {
        Gather.runOnContexts(on: loop, { LoopMetrics.snapshot(of: $0) }) { snapshots in
            self.absorb(snapshots.enumerated().map { (loop: $0.offset, snapshot: $0.element) })
            done(self.render())
        }
    }
}
