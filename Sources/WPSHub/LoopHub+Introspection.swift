/// Read-only views of this loop's share for the admin routes (protocol-spec/admin.md).
extension LoopHub {
    /// Counts of this loop: live connections and sessions waiting for resume, per hub.
    public struct Summary: Sendable {
        public var connections = 0
        public var waitingForResume = 0
        /// Per hub: (connections, waiting for resume).
        public var hubs: [String: (connections: Int, waiting: Int)] = [:]
    }

    public func summary() -> Summary {
        var summary = Summary()
        for session in sessions.values where !session.isEnded {
            let waiting = session.transport == nil
            if waiting { summary.waitingForResume += 1 } else { summary.connections += 1 }
            var counts = summary.hubs[session.hub] ?? (0, 0)
            if waiting { counts.waiting += 1 } else { counts.connections += 1 }
            summary.hubs[session.hub] = counts
        }
        return summary
    }

    /// Member counts of the groups of `hub` on this loop.
    public func groupSizes(hub: String) -> [String: Int] {
        var sizes: [String: Int] = [:]
        for (key, members) in groups where key.hub == hub { sizes[key.group] = members.count }
        return sizes
    }
}
