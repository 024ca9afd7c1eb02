import Glibc
import WPSConfig
import WPSServer
import WPSTLS
import WPSUpstream

/// The configuration file and the `WPS_*` environment, read once at start.
enum ConfigSources {
    /// The file named by `--config`, else by `WPS_CONFIG`; without one, only the environment.
    static func load(path: String?) throws(ConfigError) -> ConfigFile {
        let environment = currentEnvironment()
        if let path = path ?? environment["WPS_CONFIG"], !path.isEmpty {
            return try ConfigLoader.load(path: path, environment: environment)
        }
        return try ConfigLoader.parse("", path: "environment", environment: environment)
    }

    static func environmentPath() -> String {
        currentEnvironment()["WPS_CONFIG"] ?? "(no file)"
    }

    static func currentEnvironment() -> [String: String] {
        var result: [String: String] = [:]
        var cursor = environ
        while let entry = cursor.pointee {
            if let text = String(validatingCString: entry), let equals = text.firstIndex(of: "=") {
                result[String(text[..<equals])] = String(text[text.index(after: equals)...])
            }
            cursor += 1
        }
        return result
    }

    /// What start-up would find wrong beyond the file itself: TLS settings of https handlers.
    static func check(_ configuration: ServerConfiguration) throws {
        if configuration.upstream.handlers.all.contains(where: { $0.urlTemplate.isTLS }) {
            _ = try TLSClientContext(
                caFile: configuration.upstream.tlsCAFile, insecure: configuration.upstream.tlsInsecure)
        }
    }

    /// A short account of what the server would run with (no secrets).
    static func summary(_ configuration: ServerConfiguration, file: String) -> String {
        var lines = ["configuration OK (\(file))"]
        lines.append("listen \(configuration.host):\(configuration.port), \(configuration.threads) threads")
        lines.append("access keys: \(configuration.accessKeys.count)")
        if let cluster = configuration.cluster {
            lines.append(
                "cluster \(cluster.name), node \(cluster.nodeId), Redis\(cluster.redisCluster ? " Cluster" : "") \(cluster.redis.redactedURL)"
            )
        } else {
            lines.append("single node (no Redis)")
        }
        func describe(_ handler: EventHandler) -> String {
            let user = handler.userEvents.map { "user events \($0.description)" } ?? "no user events"
            let system = SystemEvent.allCases.filter { handler.systemEvents.contains($0) }.map(\.rawValue)
            return
                "  \(handler.urlTemplate.redactedDescription): \(user); system events: \(system.isEmpty ? "none" : system.joined(separator: ", "))"
                + (handler.headers.isEmpty ? "" : "; \(handler.headers.count) extra header(s)")
        }
        let table = configuration.upstream.handlers
        for hub in table.hubs.keys.sorted() {
            lines.append("hub \(hub):")
            lines += table.hubs[hub, default: []].map(describe)
        }
        if !table.anyHub.isEmpty {
            lines.append("every other hub:")
            lines += table.anyHub.map(describe)
        }
        if table.isEmpty { lines.append("no event handlers") }
        return lines.joined(separator: "\n")
    }
}
