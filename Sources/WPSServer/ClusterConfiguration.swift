public import WPSRedis

/// Cluster mode (protocol-spec/cluster.md): several nodes on one Redis act as one service.
public struct ClusterConfiguration: Sendable {
    /// Where Redis is; with `redisCluster`, one node of a Redis Cluster to learn it from.
    public var redis: RedisConfiguration
    /// The URL names a Redis Cluster: keys and channels are spread over its shards.
    public var redisCluster = false
    /// This node's name in the cluster: letters, digits, `-` and `_`, at most 64.
    public var nodeId: String
    /// Prefix of every key and channel, so several clusters can share one Redis.
    public var name = "wps"
    /// How long a REST operation waits for the other nodes' answers before it fails (503).
    public var requestTimeout: Duration = .seconds(3)
    /// How long a node stays registered without renewing; a node silent this long is dropped
    /// from the cluster (its Redis connections are closed by the survivors). Leases are
    /// renewed and checked every third of it, so a silent node is gone within 4/3 of it.
    public var lease: Duration = .seconds(6)

    public init(redis: RedisConfiguration, nodeId: String) {
        self.redis = redis
        self.nodeId = nodeId
    }

    /// A problem with `id` as a node id, or nil.
    public static func nodeIdProblem(_ id: String) -> String? { nameProblem(id, what: "a node id") }

    /// A problem with `name` as a cluster name, or nil.
    public static func clusterNameProblem(_ name: String) -> String? { nameProblem(name, what: "a cluster name") }

    /// Names go into connection ids and Redis keys: letters, digits, `-` and `_` only.
    static func nameProblem(_ name: String, what: String) -> String? {
        guard !name.isEmpty, name.utf8.count <= 64 else { return "\(what) has 1 to 64 characters" }
        let allowed = name.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")
        }
        return allowed ? nil : "\(what) has only letters, digits, - and _"
    }
}

/// The Redis channel names of one cluster (protocol-spec/cluster.md, Channels). Hub names
/// hold no `:`, so a group or user name after the hub is unambiguous.
struct ClusterChannels: Sendable {
    let prefix: String

    init(name: String) { prefix = "wps:\(name):" }

    /// Every node listens: hub-wide messages and operations for all nodes.
    var all: String { prefix + "all" }
    func node(_ id: String) -> String { prefix + "n:" + id }
    func group(hub: String, group: String) -> String { prefix + "g:" + hub + ":" + group }
    func user(hub: String, user: String) -> String { prefix + "u:" + hub + ":" + user }
    /// Sorted set of nodes by lease expiry (ms since the epoch). The lease keys share a hash
    /// tag, so on a Redis Cluster one script can check and drop a node atomically.
    var nodes: String { keyPrefix + "nodes" }
    /// Hash of one node's registration (its subscription connection's Redis client id).
    func nodeKey(_ id: String) -> String { keyPrefix + "node:" + id }
    var keyPrefix: String { "wps:{" + prefix.dropFirst(4).dropLast() + "}:" }
}
