import Synchronization
import WPSUpstream

/// What `/readyz` answers: ready once the listeners are bound and every configured event
/// handler passed its abuse-protection preflight; not ready again while shutting down or
/// when a handler fails a later preflight. Preflights run when a client needs the handler,
/// as before, or when a probe finds one not passed: a server nobody probes sends none early.
final class Readiness: Sendable {
    /// One preflight readiness waits for: a handler and the hub its URL is built with.
    struct Check: Sendable {
        let handler: EventHandler
        let hub: String
        /// The preflight URL as `UpstreamReports` keys it (may hold a secret: never shown).
        let key: String
        /// The same URL as a probe's answer may show it.
        let shown: String
    }

    enum Phase {
        case starting, listening, stopping
    }

    let checks: [Check]
    private let phase = Mutex(Phase.starting)
    /// In cluster mode: the node is not ready while its Redis link is down.
    let cluster: ClusterShared?

    /// Handlers named for a hub are checked with that hub; those for every hub with the
    /// default hub, the one `/negotiate` hands out when none is named.
    init(configuration: ServerConfiguration, cluster: ClusterShared? = nil) {
        self.cluster = cluster
        var checks: [Check] = []
        var seen: Set<String> = []
        let table = configuration.upstream.isEnabled ? configuration.upstream.handlers : EventHandlerTable()
        var hubs = table.hubs.keys.sorted().map { ($0, table.hubs[$0, default: []]) }
        hubs.append((configuration.defaultHub.lowercased(), table.anyHub))
        for (hub, handlers) in hubs {
            for handler in handlers {
                let key = handler.urlTemplate.url(hub: hub, event: "validate")
                guard seen.insert(key).inserted else { continue }
                checks.append(
                    Check(
                        handler: handler, hub: hub, key: key,
                        shown: handler.urlTemplate.redactedURL(hub: hub, event: "validate")))
            }
        }
        self.checks = checks
    }

    func listening() { phase.withLock { if $0 == .starting { $0 = .listening } } }
    func stopping() { phase.withLock { $0 = .stopping } }

    /// nil when ready, else a short reason. Preflights not passed are started again on the
    /// asking loop, so a handler that comes up later makes the server ready at the next probe.
    func notReadyReason(dispatcher: UpstreamDispatcher?) -> String? {
        switch phase.withLock({ $0 }) {
        case .starting: return "starting"
        case .stopping: return "shutting down"
        case .listening: break
        }
        if let cluster {
            if !cluster.subscriberReady.load(ordering: .acquiring) {
                return "Redis (\(cluster.configuration.redis.redactedURL)) is unreachable"
            }
            if !cluster.registered.load(ordering: .acquiring) { return "joining the cluster" }
        }
        guard !checks.isEmpty, let dispatcher else { return nil }
        let passed = dispatcher.reports.counts.withLock { $0.passedKeys }
        let waiting = checks.filter { !passed.contains($0.key) }
        guard let first = waiting.first else { return nil }
        for check in waiting { dispatcher.prevalidate(check.handler, hub: check.hub) }
        return "event handler \(first.shown) has not passed abuse protection"
            + (waiting.count > 1 ? " (and \(waiting.count - 1) more)" : "")
    }
}
