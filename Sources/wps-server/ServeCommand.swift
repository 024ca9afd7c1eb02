import ArgumentParser
import Glibc
import Logging
import Metrics
import Prometheus
import WPSAuth
import WPSConfig
import WPSDeflate
import WPSHTTP
import WPSHub
import WPSLoop
import WPSRedis
import WPSServer
import WPSTLS
import WPSUpstream

@main
struct WPSServerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wps-server",
        abstract: "A self-hosted WebSocket pub/sub server that speaks Azure Web PubSub's protocols.",
        subcommands: [ServeCommand.self, TokenCommand.self],
        defaultSubcommand: ServeCommand.self
    )
}

struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the server (the default)."
    )

    @Option(
        help:
            "Configuration file (YAML or JSON): hubs, event handlers and settings; flags and WPS_* variables override it. Default: WPS_CONFIG."
    )
    var config: String?

    @Flag(help: "Check the configuration (file, flags, environment) and exit: 0 when it is valid.")
    var checkConfig = false

    @Option(help: "Address to listen on (default: 127.0.0.1).")
    var host: String?

    @Option(help: "TCP port to listen on, 0 picks a free one (default: 8080).")
    var port: Int?

    @Option(help: "Event-loop threads (default: one per core).")
    var threads: Int?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    @Option(
        help:
            "Log lines as text, or json: one object per line (default: WPS_LOG_FORMAT, else the file's logFormat, else text)."
    )
    var logFormat: LogFormat?

    @Option(help: "Largest request head in bytes (431 above it).")
    var maxHeadBytes = HTTPLimits().maxHeadBytes

    @Option(help: "Most header fields in one request (431 above it).")
    var maxHeaders = HTTPLimits().maxHeaderCount

    @Option(help: "Longest request target in bytes (414 above it).")
    var maxUriBytes = HTTPLimits().maxURIBytes

    @Option(help: "Largest request body in bytes (413 above it).")
    var maxBodyBytes = HTTPLimits().maxBodyBytes

    @Option(help: "Largest WebSocket message in bytes, over all fragments (close 1009 above it).")
    var maxMessageBytes = ServerConfiguration().maxMessageBytes

    @Option(help: "Bytes queued for one slow connection before it is cut.")
    var maxOutboundBytes = ServerConfiguration().maxOutboundBytes

    @Option(help: "Bytes of trace events queued for one /admin/trace viewer before it is closed with 1008.")
    var traceMaxQueuedBytes = ServerConfiguration().traceMaxQueuedBytes

    @Option(help: "Seconds a client has to send a complete request head.")
    var handshakeTimeout: Double = 10

    @Option(help: "Seconds between server pings on WebSockets.")
    var pingInterval: Double = 20

    @Option(help: "Seconds of silence after which a WebSocket is closed.")
    var idleTimeout: Double = 60

    @Flag(help: "Serve the /echo WebSocket test route.")
    var enableEcho = false

    @Option(
        help:
            "Access key, repeatable for rotation (the first signs). Default: WPS_ACCESS_KEY, else a key kept in the state directory."
    )
    var accessKey: [String] = []

    @Option(help: "Directory for state that survives restarts (generated keys), created owner-only.")
    var stateDir = ".wps-state"

    @Option(
        help: "The x-api-key /negotiate requires. Default: WPS_NEGOTIATE_KEY, else a key kept in the state directory.")
    var negotiateKey: String?

    @Option(help: "Hub used by /negotiate when none is named (default: hub).")
    var defaultHub: String?

    @Option(help: "Extra role /negotiate grants on a hub, as HUB=ROLE; repeatable.")
    var negotiateRole: [String] = []

    @Option(help: "PEM certificate chain: serve TLS (https://, wss://) on --port.")
    var tlsCert: String?

    @Option(help: "PEM private key for --tls-cert.")
    var tlsKey: String?

    @Option(help: "Lowest TLS version accepted: 1.2 or 1.3.")
    var tlsMinVersion = "1.2"

    @Option(
        help:
            "With TLS: PEM CA certificates; clients are asked for a certificate that chains to one of them (mutual TLS), and the connect event handler sees it."
    )
    var tlsClientCa: String?

    @Flag(help: "With --tls-client-ca: a client without a certificate fails the TLS handshake.")
    var tlsRequireClientCert = false

    @Option(help: "With TLS: an extra plaintext port beside it.")
    var plainPort: Int?

    @Option(
        help:
            "A plaintext port serving only /metrics (Prometheus) without authentication; without it /metrics on --port needs a REST bearer token."
    )
    var metricsPort: Int?

    @Option(help: "Address of the --metrics-port listener (default: 127.0.0.1).")
    var metricsHost: String?

    @Option(
        help:
            "Cluster mode: redis://[user:pass@]host:port[/db] of the Redis every node shares (default: WPS_REDIS, else the file's redis; none: a single node)."
    )
    var redis: String?

    @Flag(help: "With --redis: the URL is one node of a Redis Cluster.")
    var redisCluster = false

    @Option(help: "With --redis: this node's id, letters, digits, - and _ (default: generated, printed at start).")
    var nodeId: String?

    @Option(help: "With --redis: the cluster's name, so several clusters can share one Redis (default: wps).")
    var clusterName: String?

    @Option(
        help:
            "With --redis: seconds a node stays in the cluster without renewing its lease; a node cut off is dropped within 4/3 of it (default: 6)."
    )
    var clusterLease: Double?

    @Option(
        help: "With --redis: seconds a REST operation waits for the other nodes before it fails with 503 (default: 3).")
    var clusterRequestTimeout: Double?

    @Option(
        help: "TLS handshake steps per event-loop turn; more wait a turn, so new connections cannot starve live ones.")
    var tlsHandshakesPerTurn = 32

    @Flag(help: "Turn permessage-deflate (WebSocket compression) off.")
    var noDeflate = false

    @Option(help: "Messages shorter than this many bytes are sent uncompressed.")
    var deflateMinBytes = 256

    @Option(
        help:
            "Bytes of inflate windows kept for clients that compress with context, all connections together; past it new clients are asked for client_no_context_takeover."
    )
    var deflateWindowMemoryBytes = 128 << 20

    @Option(
        help: "Origin put in URLs the server hands out, e.g. https://pubsub.example.com (default: the request's Host).")
    var publicUrl: String?

    @Option(
        help:
            "Un-acked messages kept per reliable connection before it is closed for good; 0 (the default) bounds by bytes only, 1000 is Azure's limit."
    )
    var reliableMaxMessages = HubConfiguration().reliableMaxMessages

    @Option(help: "Bytes of un-acked messages kept per reliable connection before it is closed for good.")
    var reliableMaxBytes = HubConfiguration().reliableMaxBytes

    @Option(help: "Seconds a dropped reliable connection stays resumable.")
    var resumeWindow: Double = 60

    @Option(
        help:
            "Event handler URL template ({hub}, {event}) for every hub: all user events and connect, connected, disconnected; repeatable, the first match wins."
    )
    var eventHandler: [String] = []

    @Option(
        help:
            "Seconds an event handler has to answer connect, a user event, or one attempt of connected/disconnected (default: 30)."
    )
    var eventHandlerTimeout: Double?

    @Option(help: "WebHook-Request-Origin sent to event handlers (default: the host of --public-url, else --host).")
    var webhookRequestOrigin: String?

    @Option(help: "Client connections in total; more get 429 (0: no limit, the default).")
    var maxConnections: Int?

    @Option(help: "Client connections of one user id; more get 429 (0: no limit, the default).")
    var maxConnectionsPerUser: Int?

    @Option(help: "Client connections from one IP address; more get 429 (0: no limit, the default).")
    var maxConnectionsPerIp: Int?

    @Option(help: "Client connections opened with one access token; more get 429 (0: no limit, the default).")
    var maxConnectionsPerToken: Int?

    @Option(
        help:
            "Messages one client connection may send per second before it is closed with 1008 (0: no limit, the default)."
    )
    var maxMessagesPerSecond: Int?

    @Option(
        help:
            "Connections each event loop keeps to one event handler origin; more requests wait (default: \(UpstreamConfiguration().maxConnectionsPerOrigin))."
    )
    var eventHandlerMaxConnections: Int?

    @Option(
        help: "Largest event handler response body in bytes (default: \(UpstreamConfiguration().maxResponseBodyBytes))."
    )
    var eventHandlerMaxResponseBytes: Int?

    @Option(
        help:
            "Largest ce-connectionState an event handler may store per connection, in bytes (default: \(UpstreamConfiguration().maxConnectionStateBytes))."
    )
    var maxConnectionStateBytes: Int?

    @Option(help: "PEM CA certificates trusted for https event handlers (default: the system's trust store).")
    var eventHandlerCaFile: String?

    @Flag(help: "Do not verify the certificates of https event handlers (local tests only).")
    var eventHandlerInsecure = false

    @Option(
        help:
            "Messages of one connection that may wait while its previous user event is with the event handler (default: \(HubConfiguration().maxWaitingMessages))."
    )
    var maxWaitingMessages: Int?

    @Option(help: "Bytes of those waiting messages, per connection (default: \(HubConfiguration().maxWaitingBytes)).")
    var maxWaitingBytes: Int?

    func validate() throws {
        if let port, !(0...65535).contains(port) { throw ValidationError("--port must be 0...65535") }
        if let metricsPort, !(0...65535).contains(metricsPort) {
            throw ValidationError("--metrics-port must be 0...65535")
        }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
        for (name, value) in [
            ("--max-head-bytes", maxHeadBytes), ("--max-headers", maxHeaders),
            ("--max-uri-bytes", maxUriBytes), ("--max-message-bytes", maxMessageBytes),
            ("--max-outbound-bytes", maxOutboundBytes), ("--trace-max-queued-bytes", traceMaxQueuedBytes),
            ("--max-waiting-messages", maxWaitingMessages ?? 1),
            ("--max-waiting-bytes", maxWaitingBytes ?? 1),
            ("--event-handler-max-connections", eventHandlerMaxConnections ?? 1),
            ("--event-handler-max-response-bytes", eventHandlerMaxResponseBytes ?? 1),
            ("--max-connection-state-bytes", maxConnectionStateBytes ?? 1),
        ] where value < 1 {
            throw ValidationError("\(name) must be positive")
        }
        for (name, value) in [
            ("--max-connections", maxConnections), ("--max-connections-per-user", maxConnectionsPerUser),
            ("--max-connections-per-ip", maxConnectionsPerIp),
            ("--max-connections-per-token", maxConnectionsPerToken),
            ("--max-messages-per-second", maxMessagesPerSecond),
        ] where (value ?? 0) < 0 {
            throw ValidationError("\(name) must not be negative")
        }
        guard maxBodyBytes >= 0 else { throw ValidationError("--max-body-bytes must not be negative") }
        for (name, value) in [
            ("--handshake-timeout", handshakeTimeout), ("--ping-interval", pingInterval),
            ("--idle-timeout", idleTimeout), ("--resume-window", resumeWindow),
            ("--event-handler-timeout", eventHandlerTimeout ?? 1),
        ] where !(value > 0) {
            throw ValidationError("\(name) must be positive")
        }
    }

    func run() throws {
        // Block termination signals before any loop thread exists, so only sigwait sees them.
        ProcessControl.blockSignals()
        _ = ProcessControl.raiseOpenFileLimit(1 << 20)

        let settings: ConfigFile
        do {
            settings = try ConfigSources.load(path: config)
        } catch {
            printError("wps-server: \(error)")
            throw ExitCode(2)
        }
        // The format may come from the file, so logging starts once it is read.
        let level = logLevel
        let format = logFormat ?? settings.logFormat.flatMap(LogFormat.init(rawValue:)) ?? .text
        LoggingSystem.bootstrap { label in
            switch format {
            case .text:
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            case .json:
                var handler = JSONLogHandler(label: label)
                handler.logLevel = level
                return handler
            }
        }
        let logger = Logger(label: "wps-server")
        let host = self.host ?? settings.host ?? "127.0.0.1"
        var configuration = ServerConfiguration()
        configuration.host = host
        configuration.port = port ?? settings.port ?? 8080
        configuration.threads = threads ?? settings.threads ?? ProcessControl.cpuCount
        configuration.http = HTTPLimits(
            maxHeadBytes: maxHeadBytes, maxHeaderCount: maxHeaders,
            maxURIBytes: maxUriBytes, maxBodyBytes: maxBodyBytes)
        configuration.maxMessageBytes = maxMessageBytes
        configuration.maxOutboundBytes = maxOutboundBytes
        configuration.traceMaxQueuedBytes = traceMaxQueuedBytes
        configuration.handshakeTimeout = .seconds(handshakeTimeout)
        configuration.pingInterval = .seconds(pingInterval)
        configuration.idleTimeout = .seconds(idleTimeout)
        configuration.enableEcho = enableEcho
        configuration.metricsPort = metricsPort ?? settings.metricsPort
        configuration.metricsHost = metricsHost ?? settings.metricsHost ?? configuration.metricsHost
        if let url = redis ?? settings.redis {
            let redisConfiguration: RedisConfiguration
            do {
                redisConfiguration = try RedisConfiguration(url: url)
            } catch {
                throw ValidationError("--redis: \(error)")
            }
            let node = nodeId ?? settings.nodeId ?? String(ConnectionID.generate().prefix(8))
            if let problem = ClusterConfiguration.nodeIdProblem(node) { throw ValidationError("--node-id: \(problem)") }
            var cluster = ClusterConfiguration(redis: redisConfiguration, nodeId: node)
            cluster.redisCluster = redisCluster || settings.redisCluster == true
            if let name = clusterName ?? settings.clusterName {
                if let problem = ClusterConfiguration.clusterNameProblem(name) {
                    throw ValidationError("--cluster-name: \(problem)")
                }
                cluster.name = name
            }
            if let seconds = clusterLease ?? settings.clusterLeaseSeconds {
                guard seconds >= 1, seconds <= 3600 else {
                    throw ValidationError("--cluster-lease must be 1 to 3600 seconds")
                }
                cluster.lease = .milliseconds(Int64(seconds * 1000))
            }
            if let seconds = clusterRequestTimeout ?? settings.clusterRequestTimeoutSeconds {
                guard seconds > 0, seconds <= 600 else {
                    throw ValidationError("--cluster-request-timeout must be above 0 and at most 600 seconds")
                }
                cluster.requestTimeout = .milliseconds(Int64(seconds * 1000))
            }
            configuration.cluster = cluster
        }
        let (keys, keyOrigin) = try KeyStore.keys(
            flags: accessKey, file: settings.accessKeys.map { ($0, settings.path) }, stateDirectory: stateDir,
            creating: !checkConfig)
        configuration.accessKeys = keys
        configuration.hub.reliableMaxMessages = reliableMaxMessages
        configuration.hub.reliableMaxBytes = reliableMaxBytes
        configuration.hub.resumeWindow = .nanoseconds(Int64(resumeWindow * 1_000_000_000))
        configuration.hub.maxWaitingMessages =
            maxWaitingMessages ?? settings.maxWaitingMessages ?? HubConfiguration().maxWaitingMessages
        configuration.hub.maxWaitingBytes =
            maxWaitingBytes ?? settings.maxWaitingBytes ?? HubConfiguration().maxWaitingBytes
        configuration.upstream.handlers = settings.handlerTable
        if !eventHandler.isEmpty {
            // The flag replaces the file's handlers for unnamed hubs; named hubs keep theirs.
            configuration.upstream.handlers.anyHub = []
            for template in eventHandler {
                do {
                    configuration.upstream.handlers.anyHub.append(EventHandler(urlTemplate: try URLTemplate(template)))
                } catch {
                    throw ValidationError("--event-handler: \(error)")
                }
            }
        }
        configuration.upstream.requestTimeout = .seconds(
            eventHandlerTimeout ?? settings.eventHandlerTimeoutSeconds ?? 30)
        configuration.upstream.requestOrigin = webhookRequestOrigin ?? settings.webhookRequestOrigin
        configuration.upstream.tlsCAFile = eventHandlerCaFile ?? settings.eventHandlerCAFile
        configuration.upstream.tlsInsecure = eventHandlerInsecure || settings.eventHandlerInsecure == true
        if let value = eventHandlerMaxConnections ?? settings.eventHandlerMaxConnections {
            configuration.upstream.maxConnectionsPerOrigin = value
        }
        if let value = eventHandlerMaxResponseBytes ?? settings.eventHandlerMaxResponseBytes {
            configuration.upstream.maxResponseBodyBytes = value
        }
        configuration.limits.maxConnections = maxConnections ?? settings.maxConnections ?? 0
        configuration.limits.maxConnectionsPerUser = maxConnectionsPerUser ?? settings.maxConnectionsPerUser ?? 0
        configuration.limits.maxConnectionsPerIP = maxConnectionsPerIp ?? settings.maxConnectionsPerIp ?? 0
        configuration.limits.maxConnectionsPerToken = maxConnectionsPerToken ?? settings.maxConnectionsPerToken ?? 0
        configuration.limits.maxMessagesPerSecond = maxMessagesPerSecond ?? settings.maxMessagesPerSecond ?? 0
        if let value = maxConnectionStateBytes ?? settings.maxConnectionStateBytes {
            configuration.upstream.maxConnectionStateBytes = value
        }
        let (negotiate, negotiateOrigin) = try KeyStore.negotiateKey(
            flag: negotiateKey ?? settings.negotiateKey, stateDirectory: stateDir, creating: !checkConfig)
        configuration.negotiateKey = negotiate
        configuration.defaultHub = defaultHub ?? settings.defaultHub ?? "hub"
        configuration.publicURL = publicUrl ?? settings.publicURL
        for entry in negotiateRole {
            let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[1].isEmpty else {
                throw ValidationError("--negotiate-role takes HUB=ROLE, got '\(entry)'")
            }
            configuration.negotiateRoles[parts[0].lowercased(), default: []].append(parts[1])
        }

        if tlsCert != nil || tlsKey != nil {
            guard let tlsCert, let tlsKey else { throw ValidationError("--tls-cert and --tls-key go together") }
            guard tlsMinVersion == "1.2" || tlsMinVersion == "1.3" else {
                throw ValidationError("--tls-min-version must be 1.2 or 1.3")
            }
            do {
                configuration.tls = try TLSServerContext(
                    TLSConfiguration(
                        certificateChainPath: tlsCert, privateKeyPath: tlsKey,
                        minimumVersion: tlsMinVersion == "1.3" ? .v1_3 : .v1_2, clientCAPath: tlsClientCa,
                        requireClientCertificate: tlsRequireClientCert))
            } catch {
                // One clear line: a missing or unreadable file, or a key that does not match.
                printError("wps-server: TLS: \(error)")
                throw ExitCode.failure
            }
            if let days = TLSCertificateInfo.daysLeft(certificatePath: tlsCert), days < 0 {
                // Served anyway (a local test may want it), but clients will refuse it.
                logger.warning("TLS certificate \(tlsCert) has expired; clients will refuse it")
            }
            configuration.plainPort = plainPort
        }
        configuration.tlsHandshakesPerTurn = tlsHandshakesPerTurn
        guard deflateMinBytes >= 0 else { throw ValidationError("--deflate-min-bytes must not be negative") }
        guard deflateWindowMemoryBytes >= 0 else {
            throw ValidationError("--deflate-window-memory-bytes must not be negative")
        }
        configuration.deflate = DeflateConfiguration(
            enabled: !noDeflate, minMessageBytes: deflateMinBytes, maxWindowMemoryBytes: deflateWindowMemoryBytes)
        if checkConfig {
            do {
                try ConfigSources.check(configuration)
            } catch {
                printError("wps-server: \(error)")
                throw ExitCode(2)
            }
            printFlushed(
                ConfigSources.summary(configuration, file: config ?? ConfigSources.environmentPath())
                    + "\nlog format: \(format.rawValue), level \(level.rawValue)")
            return
        }
        let server: Server
        do {
            server = try Server(configuration: configuration, logger: logger)
        } catch let error as TLSError {
            printError("wps-server: event handler TLS: \(error)")
            throw ExitCode.failure
        }
        // Libraries that report through swift-metrics land in the same /metrics page.
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: server.metricsRegistry))
        // Tests and scripts read this exact line to learn the port.
        let scheme = configuration.tls == nil ? "http" : "https"
        printFlushed("wps-server listening on \(scheme)://\(host):\(server.port) (\(configuration.threads) threads)")
        if let plain = server.plainPort { printFlushed("plaintext listener on http://\(host):\(plain)") }
        if let metrics = server.metricsPort {
            printFlushed("metrics on http://\(configuration.metricsHost):\(metrics)/metrics")
        }
        if let cluster = configuration.cluster {
            printFlushed("node id: \(cluster.nodeId)")
            printFlushed("cluster \(cluster.name) on \(cluster.redis.redactedURL)")
        }
        if enableEcho {
            printFlushed("echo route: \(configuration.tls == nil ? "ws" : "wss")://\(host):\(server.port)/echo")
        }
        let endpoint = (configuration.tls == nil ? "http://" : "https://") + "\(host):\(server.port)"
        printFlushed("access key from \(keyOrigin)")
        printFlushed(
            "negotiate: curl -H 'x-api-key: \(negotiate)' '\(endpoint)/negotiate?userId=U&group=G'   (key from \(negotiateOrigin))"
        )
        if let connection = ConnectionString(endpoint: endpoint, accessKey: keys[0]) {
            printFlushed("connection string: \(connection.formatted())")
        }
        let demo = ClientToken.make(
            endpoint: endpoint, hub: "hub", userId: "demo",
            roles: ["webpubsub.joinLeaveGroup", "webpubsub.sendToGroup"], groups: [], key: keys[0],
            now: Int64(time(nil)), lifetime: 3600)
        printFlushed(
            "try (valid 60 min): websocat --protocol json.webpubsub.azure.v1 '\(ClientToken.clientURL(endpoint: endpoint, hub: "hub", token: demo))'"
        )

        while true {
            let signal = ProcessControl.waitForSignal()
            if signal == 1 {  // SIGHUP: reload the TLS certificate and key.
                if configuration.tls == nil {
                    logger.info("SIGHUP received; no TLS certificate to reload")
                } else {
                    do {
                        try server.reloadTLS()
                        logger.notice("TLS certificate and key reloaded")
                    } catch {
                        logger.error("TLS reload failed, keeping the old certificate: \(error)")
                    }
                }
                continue
            }
            logger.notice("signal \(signal): shutting down")
            break
        }
        server.shutdown()
        logger.notice("stopped")
    }
}

/// How log lines are written (`--log-format`, `WPS_LOG_FORMAT`, `logFormat`).
enum LogFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json
}
