import WPSHub

/// Messages and bytes through one loop. Plain integers touched only on the loop's thread:
/// the message path pays an add, never a lock, an atomic or a lookup.
struct Traffic {
    var clientMessagesIn = 0
    var clientBytesIn = 0
    var dataMessagesOut = 0
    var dataBytesOut = 0
    var systemMessagesOut = 0
    var systemBytesOut = 0
}

/// One loop's counts of connection lives, kept from its events (`LoopEvents`). Events come
/// once per connection, not per message, so a dictionary per label is cheap here.
final class LoopMetrics: HubObserver, ServerObserver {
    var connects = 0
    /// By close code; -1 for a socket that dropped without a close frame.
    var closes: [Int: Int] = [:]
    var upgradesRefused: [Int: Int] = [:]
    var recoveriesAccepted = 0
    var recoveriesRefused: [String: Int] = [:]
    var reliableEnded: [String: Int] = [:]
    var slowConsumerCuts = 0

    func hubEvent(_ event: HubEvent) {
        switch event {
        case .opened:
            connects += 1
        case .resumed:
            recoveriesAccepted += 1
        case .resumeRefused(_, let reason):
            recoveriesRefused[reason.rawValue, default: 0] += 1
        case .slowConsumer:
            slowConsumerCuts += 1
        case .ended(let session, _, _, let cause):
            if session.kind.isReliable { reliableEnded[cause.rawValue, default: 0] += 1 }
        case .detached:
            break
        }
    }

    func serverEvent(_ event: ServerEvent) {
        switch event {
        case .upgradeRefused(_, let status, _):
            upgradesRefused[status, default: 0] += 1
        case .recoveryRefused(_, let reason):
            recoveriesRefused[Self.refusalLabel(reason), default: 0] += 1
        case .socketClosed(_, let code, _, _):
            closes[code.map { Int($0.rawValue) } ?? -1, default: 0] += 1
        }
    }

    /// Refusals before the hub carry a stable name already (`ServerEvent.recoveryRefused`),
    /// the same the log uses.
    static func refusalLabel(_ reason: String) -> String {
        reason.isEmpty ? "refused" : reason
    }

    /// Everything this loop counts, read on its thread at scrape time: these counters, the
    /// outbox's traffic, the hub's acks, TLS and deflate, and gauges from walking sessions.
    static func snapshot(of context: LoopContext) -> MetricsSnapshot {
        var out = MetricsSnapshot()
        let own = context.metrics
        out.count("wps_connects_total", own.connects)
        for (code, count) in own.closes {
            out.count("wps_closes_total", ["code", code < 0 ? "none" : String(code)], count)
        }
        for (status, count) in own.upgradesRefused {
            out.count("wps_upgrades_refused_total", ["status", String(status)], count)
        }
        let refused = own.recoveriesRefused.values.reduce(0, +)
        out.count("wps_recoveries_attempted_total", own.recoveriesAccepted + refused)
        out.count("wps_recoveries_accepted_total", own.recoveriesAccepted)
        for (reason, count) in own.recoveriesRefused {
            out.count("wps_recoveries_refused_total", ["reason", reason], count)
        }
        for (reason, count) in own.reliableEnded {
            out.count("wps_reliable_sessions_ended_total", ["reason", reason], count)
        }
        out.count("wps_slow_consumer_cuts_total", own.slowConsumerCuts)

        context.outbox.settleTraffic()
        let traffic = context.outbox.traffic
        out.count("wps_messages_in_total", ["kind", "client"], traffic.clientMessagesIn)
        out.count("wps_messages_in_bytes_total", ["kind", "client"], traffic.clientBytesIn)
        out.count("wps_messages_out_total", ["kind", "data"], traffic.dataMessagesOut)
        out.count("wps_messages_out_bytes_total", ["kind", "data"], traffic.dataBytesOut)
        out.count("wps_messages_out_total", ["kind", "system"], traffic.systemMessagesOut)
        out.count("wps_messages_out_bytes_total", ["kind", "system"], traffic.systemBytesOut)

        for (result, count) in context.hub.acks.byResult {
            out.count("wps_acks_total", ["result", result], count)
        }

        out.count("wps_tls_handshakes_total", context.tlsStats.handshakes)
        out.count("wps_tls_handshake_failures_total", context.tlsStats.handshakeFailures)
        out.count("wps_tls_plaintext_rejected_total", context.tlsStats.plaintextRejected)
        if let deflate = context.deflate {
            out.count("wps_deflate_input_bytes_total", deflate.compressedInputBytes)
            out.count("wps_deflate_output_bytes_total", deflate.compressedOutputBytes)
        }

        if let cluster = context.cluster {
            let links = cluster.linkStates
            out.gauge("wps_redis_links_up", ["role", "commands"], links.commands ? 1 : 0)
            if let subscription = links.subscription {
                out.gauge("wps_redis_links_up", ["role", "subscription"], subscription ? 1 : 0)
            }
            let trips = cluster.roundTrips
            out.count("wps_redis_round_trips_total", trips.count)
            out.count("wps_redis_round_trip_microseconds_total", Int(trips.nanos / 1000))
            out.count("wps_cluster_messages_published_total", cluster.published)
            out.count("wps_cluster_messages_received_total", cluster.received)
            for (outcome, count) in cluster.operations {
                out.count("wps_cluster_operations_total", ["result", outcome], count)
            }
        }

        var queued = 0
        for session in context.hub.sessions.values {
            guard let transport = session.transport else { continue }
            out.gauge("wps_connections_open", ["hub", session.hub, "protocol", Self.protocolLabel(session.kind)], 1)
            queued += transport.queuedBytes
        }
        out.gauge("wps_outbound_queued_bytes", [], queued)
        return out
    }

    static func protocolLabel(_ kind: ClientKind) -> String {
        switch kind {
        case .json: "json"
        case .jsonReliable: "reliable"
        case .raw: "simple"
        }
    }
}

/// A metric's name and label pairs (name, value, name, value…), as a dictionary key.
struct MetricKey: Hashable, Sendable {
    let name: String
    let labels: [String]

    var labelPairs: [(String, String)] {
        stride(from: 0, to: labels.count - 1, by: 2).map { (labels[$0], labels[$0 + 1]) }
    }
}

/// One loop's values at one moment: counters as totals since start, gauges as this loop's share.
struct MetricsSnapshot: Sendable {
    var counters: [MetricKey: Int] = [:]
    var gauges: [MetricKey: Int] = [:]

    mutating func count(_ name: String, _ labels: [String] = [], _ value: Int) {
        counters[MetricKey(name: name, labels: labels), default: 0] += value
    }

    mutating func count(_ name: String, _ value: Int) { count(name, [], value) }

    mutating func gauge(_ name: String, _ labels: [String], _ value: Int) {
        gauges[MetricKey(name: name, labels: labels), default: 0] += value
    }
}
