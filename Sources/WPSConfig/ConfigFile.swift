public import WPSUpstream

/// What a configuration file (YAML, or JSON, which YAML reads too) sets. Absent keys are
/// nil: the flag, environment variable or built-in default decides (protocol-spec/server.md §2).
public struct ConfigFile: Sendable {
    public var path: String
    public var host: String?
    public var port: Int?
    public var threads: Int?
    /// Primary first; signing uses the first, verification any.
    public var accessKeys: [String]?
    public var negotiateKey: String?
    public var publicURL: String?
    public var defaultHub: String?
    public var eventHandlerTimeoutSeconds: Double?
    public var webhookRequestOrigin: String?
    public var eventHandlerCAFile: String?
    public var eventHandlerInsecure: Bool?
    public var maxWaitingMessages: Int?
    public var maxWaitingBytes: Int?
    public var eventHandlerMaxConnections: Int?
    public var eventHandlerMaxResponseBytes: Int?
    public var maxConnectionStateBytes: Int?
    public var maxConnections: Int?
    public var maxConnectionsPerUser: Int?
    public var maxConnectionsPerIp: Int?
    public var maxConnectionsPerToken: Int?
    public var maxMessagesPerSecond: Int?
    /// `text` or `json`.
    public var logFormat: String?
    public var metricsPort: Int?
    public var metricsHost: String?
    /// Cluster mode: the Redis URL, whether it is a Redis Cluster, this node's id, the
    /// cluster's name.
    public var redis: String?
    public var redisCluster: Bool?
    public var nodeId: String?
    public var clusterName: String?
    public var clusterLeaseSeconds: Double?
    public var clusterRequestTimeoutSeconds: Double?
    /// Handlers for hubs the file does not name.
    public var eventHandlers: [EventHandler] = []
    /// Per hub (lower-cased name), in file order.
    public var hubs: [String: HubSettings] = [:]

    public init(path: String) {
        self.path = path
    }

    /// One hub's settings.
    public struct HubSettings: Sendable, Equatable {
        public var eventHandlers: [EventHandler] = []
        public init(eventHandlers: [EventHandler] = []) {
            self.eventHandlers = eventHandlers
        }
    }

    /// The handler table the file describes.
    public var handlerTable: EventHandlerTable {
        EventHandlerTable(hubs: hubs.mapValues(\.eventHandlers), anyHub: eventHandlers)
    }
}

/// A configuration problem, with where it is.
public struct ConfigError: Error, Sendable, CustomStringConvertible, Equatable {
    public var path: String
    /// 1-based; 0 when the problem has no place (a missing file, an environment variable).
    public var line: Int
    public var column: Int
    public var reason: String

    public init(path: String, line: Int, column: Int, reason: String) {
        self.path = path
        self.line = line
        self.column = column
        self.reason = reason
    }

    public var description: String {
        line > 0 ? "\(path):\(line):\(column): \(reason)" : "\(path): \(reason)"
    }
}
