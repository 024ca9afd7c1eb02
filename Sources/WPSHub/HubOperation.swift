public import WPSAuth

/// One operation of the service REST API on connections, as a value: applied to each loop's
/// share of the connections (and, in a cluster, to each node's), the answers combined into
/// one. Being a value, it can be sent to another node and applied there alike.
public enum HubOperation: Sendable {
    /// Ends every admitted connection with `reason` (protocol-spec/rest-api.md).
    case close(ConnectionSelector, reason: String)
    /// Counts the admitted connections (existence checks).
    case count(ConnectionSelector)
    case addToGroups(ConnectionSelector, groups: [String])
    /// nil `groups`: every group of each admitted connection.
    case removeFromGroups(ConnectionSelector, groups: [String]?)
    case grant(hub: String, connectionId: String, Permissions.Kind, group: String?, granted: Bool)
    case checkPermission(hub: String, connectionId: String, Permissions.Kind, group: String?)
    case members(hub: String, group: String)

    /// The connection this operation is about, when only its owner can answer.
    public var connectionId: String? {
        switch self {
        case .grant(_, let id, _, _, _), .checkPermission(_, let id, _, _): id
        case .close(let selector, _), .count(let selector), .addToGroups(let selector, _),
            .removeFromGroups(let selector, _):
            if case .connection(let id) = selector.target { id } else { nil }
        case .members: nil
        }
    }
}

/// What one share answered; shares combine into the same shape.
public enum HubOperationResult: Sendable, Equatable {
    /// Connections acted on or counted.
    case count(Int)
    /// A permission answer: nil when the connection was not in this share.
    case flag(Bool?)
    case members([LoopHub.ConnectionInfo])

    /// The answer of no share at all, for `operation`.
    public static func empty(for operation: HubOperation) -> HubOperationResult {
        switch operation {
        case .close, .count, .addToGroups, .removeFromGroups: .count(0)
        case .grant, .checkPermission: .flag(nil)
        case .members: .members([])
        }
    }

    /// The answers of several shares as one: counts add up, a permission is found where any
    /// share holds the connection (true wins), member lists join.
    public static func combine(_ results: [HubOperationResult], for operation: HubOperation) -> HubOperationResult {
        var combined = empty(for: operation)
        for result in results {
            switch (combined, result) {
            case (.count(let a), .count(let b)): combined = .count(a + b)
            case (.flag(let a), .flag(let b)):
                if a == true || b == true {
                    combined = .flag(true)
                } else if a == false || b == false {
                    combined = .flag(false)
                }
            case (.members(let a), .members(let b)): combined = .members(a + b)
            default: break
            }
        }
        return combined
    }

    public var count: Int {
        if case .count(let count) = self { return count }
        return 0
    }

    public var flag: Bool? {
        if case .flag(let flag) = self { return flag }
        return nil
    }

    public var members: [LoopHub.ConnectionInfo] {
        if case .members(let members) = self { return members }
        return []
    }
}

extension LoopHub {
    /// Applies `operation` to this loop's connections.
    public func apply(_ operation: HubOperation) -> HubOperationResult {
        switch operation {
        case .close(let selector, let reason): .count(closeConnections(selector, reason: reason))
        case .count(let selector): .count(count(selector))
        case .addToGroups(let selector, let groups): .count(addToGroups(selector, groups: groups))
        case .removeFromGroups(let selector, let groups): .count(removeFromGroups(selector, groups: groups))
        case .grant(let hub, let id, let kind, let group, let granted):
            .flag(grant(hub: hub, connectionId: id, kind, group: group, granted: granted))
        case .checkPermission(let hub, let id, let kind, let group):
            .flag(hasPermission(hub: hub, connectionId: id, kind, group: group))
        case .members(let hub, let group): .members(connections(hub: hub, group: group))
        }
    }
}
