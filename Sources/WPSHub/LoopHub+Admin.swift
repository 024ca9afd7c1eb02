public import WPSAuth
import WPSBytes

/// Operations of the service REST API, applied to this loop's share of the connections.
/// The server runs each on every loop (or on the loop owning a connection) and combines the
/// answers (protocol-spec/rest-api.md).
extension LoopHub {
    /// A connection as listed by the REST API.
    public struct ConnectionInfo: Sendable, Equatable {
        public var connectionId: String
        public var userId: String?

        public init(connectionId: String, userId: String?) {
            self.connectionId = connectionId
            self.userId = userId
        }
    }

    /// Ends every admitted connection: `system/disconnected` with `reason`, close 1008, and
    /// no recovery. Returns how many were closed.
    @discardableResult
    public func closeConnections(_ selector: ConnectionSelector, reason: String) -> Int {
        var closed: [HubSession] = []
        forEachCandidate(selector) { closed.append($0) }
        for session in closed {
            end(session, code: .policyViolation, reason: reason.isEmpty ? "Closed by app server" : reason)
        }
        return closed.count
    }

    /// How many admitted connections there are here.
    public func count(_ selector: ConnectionSelector) -> Int {
        var count = 0
        forEachCandidate(selector) { _ in count += 1 }
        return count
    }

    /// Adds every admitted connection to each of `groups`; returns how many connections.
    @discardableResult
    public func addToGroups(_ selector: ConnectionSelector, groups names: [String]) -> Int {
        var matched: [HubSession] = []
        forEachCandidate(selector) { matched.append($0) }
        for session in matched {
            for name in names { join(session, name) }
        }
        return matched.count
    }

    /// Removes every admitted connection from each of `groups` (all its groups when nil).
    @discardableResult
    public func removeFromGroups(_ selector: ConnectionSelector, groups names: [String]?) -> Int {
        var matched: [HubSession] = []
        forEachCandidate(selector) { matched.append($0) }
        for session in matched {
            for name in names ?? session.groupSlots.names { leave(session, name) }
        }
        return matched.count
    }

    /// Changes a connection's permission; nil when the connection is not here.
    public func grant(
        hub: String, connectionId: String, _ kind: Permissions.Kind, group: String?, granted: Bool
    ) -> Bool? {
        guard let session = liveSession(hub: hub, connectionId: connectionId) else { return nil }
        if granted {
            session.permissions.grant(kind, group: group)
        } else {
            session.permissions.revoke(kind, group: group)
        }
        return true
    }

    /// Whether a connection holds a permission; nil when the connection is not here.
    public func hasPermission(hub: String, connectionId: String, _ kind: Permissions.Kind, group: String?) -> Bool? {
        liveSession(hub: hub, connectionId: connectionId)?.permissions.has(kind, group: group)
    }

    /// The members of a group here, for listing.
    public func connections(hub: String, group: String) -> [ConnectionInfo] {
        members(hub: hub, group: group).map { ConnectionInfo(connectionId: $0.connectionId, userId: $0.userId) }
    }

    /// A session that is not ended, in `hub`.
    public func liveSession(hub: String, connectionId: String) -> HubSession? {
        guard let session = sessions[connectionId], session.hub == hub, !session.isEnded else { return nil }
        return session
    }
}
