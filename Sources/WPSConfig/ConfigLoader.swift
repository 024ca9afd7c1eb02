import Glibc
import WPSProtocol
import WPSUpstream
import Yams

/// Reads a configuration file strictly: unknown keys, wrong types and bad values are errors
/// with the file, line and reason, so a typo never silently falls back to a default.
public enum ConfigLoader {
    /// Top-level keys that hold one value; each can also come from `WPS_<KEY>` in the
    /// environment (`eventHandlerTimeoutSeconds` → `WPS_EVENT_HANDLER_TIMEOUT_SECONDS`),
    /// which wins over the file.
    public static let scalarKeys = [
        "host", "port", "threads", "negotiateKey", "publicUrl", "defaultHub", "eventHandlerTimeoutSeconds",
        "webhookRequestOrigin", "eventHandlerCaFile", "eventHandlerInsecure", "maxWaitingMessages", "maxWaitingBytes",
        "eventHandlerMaxConnections", "eventHandlerMaxResponseBytes", "maxConnectionStateBytes",
        "maxConnections", "maxConnectionsPerUser", "maxConnectionsPerIp", "maxConnectionsPerToken",
        "maxMessagesPerSecond", "logFormat", "metricsPort", "metricsHost", "redis", "redisCluster", "redisCaFile",
        "nodeId",
        "clusterName", "clusterLeaseSeconds", "clusterRequestTimeoutSeconds",
    ]
    /// The values `logFormat` takes.
    public static let logFormats: Set<String> = ["text", "json"]
    static let topKeys = Set(scalarKeys + ["accessKeys", "eventHandlers", "hubs"])
    static let hubKeys: Set<String> = ["eventHandlers"]
    static let handlerKeys: Set<String> = ["urlTemplate", "userEventPattern", "systemEvents", "headers"]

    /// Reads and checks the file at `path`, then applies `environment` overrides.
    public static func load(path: String, environment: [String: String] = [:]) throws(ConfigError) -> ConfigFile {
        guard let text = readFile(path) else {
            throw ConfigError(path: path, line: 0, column: 0, reason: "cannot read the file")
        }
        return try parse(text, path: path, environment: environment)
    }

    /// Parses `text` as the file at `path`.
    public static func parse(_ text: String, path: String, environment: [String: String] = [:]) throws(ConfigError)
        -> ConfigFile
    {
        var file = ConfigFile(path: path)
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw yamlError(error, path: path)
        } catch {
            throw ConfigError(path: path, line: 0, column: 0, reason: "\(error)")
        }
        let reader = Reader(path: path)
        if let root, !(root.scalar != nil && root.null != nil) {
            let top = try reader.mapping(root, what: "the file")
            for (keyNode, value) in top {
                let key = try reader.key(keyNode, allowed: topKeys, in: "the top level")
                try apply(key, value, to: &file, reader: reader)
            }
        }
        try applyEnvironment(environment, to: &file, path: path)
        return file
    }

    static func apply(_ key: String, _ value: Node, to file: inout ConfigFile, reader: Reader) throws(ConfigError) {
        switch key {
        case "host": file.host = try reader.string(value, key)
        case "port": file.port = try reader.int(value, key, in: 0...65535)
        case "threads": file.threads = try reader.int(value, key, in: 1...1024)
        case "negotiateKey": file.negotiateKey = try reader.string(value, key)
        case "publicUrl": file.publicURL = try reader.string(value, key)
        case "defaultHub": file.defaultHub = try reader.string(value, key)
        case "eventHandlerTimeoutSeconds": file.eventHandlerTimeoutSeconds = try reader.positive(value, key)
        case "webhookRequestOrigin": file.webhookRequestOrigin = try reader.string(value, key)
        case "eventHandlerCaFile": file.eventHandlerCAFile = try reader.string(value, key)
        case "eventHandlerInsecure": file.eventHandlerInsecure = try reader.bool(value, key)
        case "maxWaitingMessages": file.maxWaitingMessages = try reader.int(value, key, in: 1...Int.max)
        case "maxWaitingBytes": file.maxWaitingBytes = try reader.int(value, key, in: 1...Int.max)
        case "eventHandlerMaxConnections": file.eventHandlerMaxConnections = try reader.int(value, key, in: 1...Int.max)
        case "eventHandlerMaxResponseBytes":
            file.eventHandlerMaxResponseBytes = try reader.int(value, key, in: 1...Int.max)
        case "maxConnectionStateBytes": file.maxConnectionStateBytes = try reader.int(value, key, in: 1...Int.max)
        case "maxConnections": file.maxConnections = try reader.int(value, key, in: 0...Int.max)
        case "maxConnectionsPerUser": file.maxConnectionsPerUser = try reader.int(value, key, in: 0...Int.max)
        case "maxConnectionsPerIp": file.maxConnectionsPerIp = try reader.int(value, key, in: 0...Int.max)
        case "maxConnectionsPerToken": file.maxConnectionsPerToken = try reader.int(value, key, in: 0...Int.max)
        case "maxMessagesPerSecond": file.maxMessagesPerSecond = try reader.int(value, key, in: 0...Int.max)
        case "logFormat":
            let format = try reader.string(value, key)
            guard logFormats.contains(format) else { throw reader.error(value, "logFormat must be text or json") }
            file.logFormat = format
        case "metricsPort": file.metricsPort = try reader.int(value, key, in: 0...65535)
        case "metricsHost": file.metricsHost = try reader.string(value, key)
        case "redis": file.redis = try reader.string(value, key)
        case "redisCluster": file.redisCluster = try reader.bool(value, key)
        case "redisCaFile": file.redisCaFile = try reader.string(value, key)
        case "nodeId": file.nodeId = try reader.string(value, key)
        case "clusterName": file.clusterName = try reader.string(value, key)
        case "clusterLeaseSeconds": file.clusterLeaseSeconds = try reader.positive(value, key)
        case "clusterRequestTimeoutSeconds": file.clusterRequestTimeoutSeconds = try reader.positive(value, key)
        case "accessKeys":
            let keys = try reader.sequence(value, key).map { (node) throws(ConfigError) in try reader.string(node, key)
            }
            guard !keys.isEmpty else { throw reader.error(value, "accessKeys must list at least one key") }
            file.accessKeys = keys
        case "eventHandlers":
            file.eventHandlers = try handlers(value, reader: reader)
        case "hubs":
            for (nameNode, settings) in try reader.mapping(value, what: "hubs") {
                let name = try reader.string(nameNode, "a hub name")
                guard HubName.isValid(name) else {
                    throw reader.error(
                        nameNode,
                        "'\(name)' is not a valid hub name (a letter, then up to 127 letters, digits or _`,.[])")
                }
                let canonical = name.lowercased()
                guard file.hubs[canonical] == nil else {
                    throw reader.error(nameNode, "hub '\(name)' is configured twice (hub names are case-insensitive)")
                }
                var hub = ConfigFile.HubSettings()
                for (keyNode, hubValue) in try reader.mapping(settings, what: "hub '\(name)'") {
                    switch try reader.key(keyNode, allowed: hubKeys, in: "hub '\(name)'") {
                    default: hub.eventHandlers = try handlers(hubValue, reader: reader)
                    }
                }
                file.hubs[canonical] = hub
            }
        default:
            break
        }
    }

    static func handlers(_ value: Node, reader: Reader) throws(ConfigError) -> [EventHandler] {
        var list: [EventHandler] = []
        for item in try reader.sequence(value, "eventHandlers") {
            var template: URLTemplate?
            var pattern: EventPattern?
            var system: Set<SystemEvent> = []
            var headers: [EventHandler.HeaderField] = []
            for (keyNode, field) in try reader.mapping(item, what: "an event handler") {
                switch try reader.key(keyNode, allowed: handlerKeys, in: "an event handler") {
                case "urlTemplate":
                    do {
                        template = try URLTemplate(try reader.string(field, "urlTemplate"))
                    } catch let error as URLTemplate.Failure {
                        throw reader.error(field, "urlTemplate \(error)")
                    } catch {
                        throw error as! ConfigError
                    }
                case "userEventPattern":
                    do {
                        pattern = try EventPattern(try reader.string(field, "userEventPattern"))
                    } catch let error as EventPattern.Failure {
                        throw reader.error(field, error.description)
                    } catch {
                        throw error as! ConfigError
                    }
                case "systemEvents":
                    let names: [(String, Node)]
                    if let text = field.scalar?.string, field.scalar?.style != .plain || !text.isEmpty {
                        names = text.split(separator: ",").map { (String($0).trimmedSpaces, field) }
                    } else {
                        names = try reader.sequence(field, "systemEvents").map { (node) throws(ConfigError) in
                            (try reader.string(node, "systemEvents"), node)
                        }
                    }
                    for (name, node) in names where !name.isEmpty {
                        guard let event = SystemEvent(rawValue: name) else {
                            throw reader.error(
                                node, "unknown system event '\(name)'; known: connect, connected, disconnected")
                        }
                        system.insert(event)
                    }
                default:
                    for (nameNode, headerValue) in try reader.mapping(field, what: "headers") {
                        let name = try reader.string(nameNode, "a header name")
                        guard !name.isEmpty, name.utf8.allSatisfy(Self.isTokenByte) else {
                            throw reader.error(nameNode, "'\(name)' is not a valid header name")
                        }
                        let text = try reader.string(headerValue, name)
                        guard !text.utf8.contains(where: { $0 < 0x20 && $0 != 0x09 }) else {
                            throw reader.error(headerValue, "the value of header '\(name)' has control characters")
                        }
                        headers.append(.init(name: name, value: text))
                    }
                }
            }
            guard let template else { throw reader.error(item, "an event handler needs a urlTemplate") }
            list.append(
                EventHandler(urlTemplate: template, userEvents: pattern, systemEvents: system, headers: headers))
        }
        return list
    }

    static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        default:
            Array("!#$%&'*+-.^_`|~".utf8).contains(byte)
        }
    }

    /// `WPS_<KEY>` overrides for the scalar keys.
    static func applyEnvironment(_ environment: [String: String], to file: inout ConfigFile, path: String)
        throws(ConfigError)
    {
        for key in scalarKeys {
            let name = environmentName(key)
            guard let text = environment[name] else { continue }
            // Read as a one-line YAML scalar so numbers and booleans parse as in the file.
            let reader = Reader(path: name)
            let node = Node(text)
            do {
                try apply(key, node, to: &file, reader: reader)
            } catch {
                throw ConfigError(path: "environment variable \(name)", line: 0, column: 0, reason: error.reason)
            }
        }
    }

    /// `eventHandlerTimeoutSeconds` → `WPS_EVENT_HANDLER_TIMEOUT_SECONDS`.
    public static func environmentName(_ key: String) -> String {
        var out = "WPS_"
        for character in key {
            if character.isUppercase { out += "_" }
            out += character.uppercased()
        }
        return out
    }

    static func yamlError(_ error: YamlError, path: String) -> ConfigError {
        switch error {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _),
            .composer(_, let problem, let mark, _):
            return ConfigError(path: path, line: mark.line, column: mark.column, reason: problem)
        case .duplicatedKeysInMapping(let duplicates, let context):
            return ConfigError(
                path: path, line: context.mark.line, column: context.mark.column,
                reason: "duplicate key(s) \(duplicates.joined(separator: ", "))")
        default:
            return ConfigError(path: path, line: 0, column: 0, reason: "\(error)")
        }
    }

    static func readFile(_ path: String) -> String? {
        guard let handle = fopen(path, "rb") else { return nil }
        defer { fclose(handle) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = fread(&chunk, 1, chunk.count, handle)
            if count > 0 { bytes.append(contentsOf: chunk[0..<count]) }
            if count < chunk.count { break }
            if bytes.count > 16 << 20 { return nil }
        }
        guard ferror(handle) == 0 else { return nil }
        return String(validating: bytes, as: UTF8.self)
    }
}

extension String {
    var trimmedSpaces: String {
        var view = Substring(self)
        while view.first == " " { view.removeFirst() }
        while view.last == " " { view.removeLast() }
        return String(view)
    }
}
