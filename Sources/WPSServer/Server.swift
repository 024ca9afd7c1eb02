import Glibc
public import Logging
public import Prometheus
import Synchronization
import WPSLoop

/// The running server: one event loop per thread, each accepting on its own listener.
public final class Server: Sendable {
    public let configuration: ServerConfiguration
    private let group: EventLoopGroup
    private let logger: Logger
    /// Upstream request counts and validation outcomes of every loop.
    let upstreamReports: UpstreamReports
    /// What `/readyz` answers from.
    let readiness: Readiness

    /// The bound port (the real one when 0 was configured).
    public var port: Int { group.port }
    /// The bound plaintext port beside a TLS one, if any.
    public var plainPort: Int? { routes.plainListener.map { group.ports[$0] } }
    /// The bound port of the `/metrics` listener, if any.
    public var metricsPort: Int? { routes.metricsListener.map { group.ports[$0] } }
    private let routes: Router
    /// The registry `/metrics` renders; anything else may register its own metrics there.
    public var metricsRegistry: PrometheusCollectorRegistry { routes.metrics.registry }

    /// Binds the listeners and starts the loops.
    public init(configuration: ServerConfiguration, logger: Logger) throws {
        self.configuration = configuration
        self.logger = logger
        let cluster = configuration.cluster.map { ClusterShared(configuration: $0, logger: logger) }
        let readiness = Readiness(configuration: configuration, cluster: cluster)
        self.readiness = readiness
        let metrics = ServerMetrics()
        let routes = Router(configuration: configuration, logger: logger, readiness: readiness, metrics: metrics)
        self.routes = routes
        let linger = configuration.lingerTimeout.nanoseconds
        var addresses = [(host: configuration.host, port: configuration.port)]
        if configuration.tls != nil, let plain = configuration.plainPort {
            addresses.append((configuration.host, plain))
        }
        if let port = configuration.metricsPort { addresses.append((configuration.metricsHost, port)) }
        let tls = configuration.tls
        let reports = UpstreamReports(metrics: metrics)
        let pauses = AcceptPauses()
        upstreamReports = reports
        let upstream = UpstreamShared(
            requestOrigin: configuration.upstream.requestOrigin ?? Self.requestOrigin(configuration),
            tls: configuration.upstream.handlers.all.contains { $0.urlTemplate.isTLS }
                ? try UpstreamTLS(configuration: configuration.upstream) : nil,
            logger: logger, reports: reports)
        group = try EventLoopGroup(threads: configuration.threads, listen: addresses) { loop in
            loop.lingerNanos = linger
            loop.acceptPaused = { errno in pauses.record(errno: errno, logger: logger) }
            let context = LoopContext(
                loop: loop, configuration: configuration, upstream: upstream, logger: logger, cluster: cluster)
            loop.context = context
            loop.acceptHandler = { connection in
                // Listener 0 is the main port (TLS when configured); listener 1 the plain one.
                if let tls, connection.listener == 0 {
                    connection.transform = TLSTransform(
                        session: tls.makeSession(), budget: context.handshakeBudget, stats: context.tlsStats)
                }
                return HTTPSession(connection: connection, router: routes, context: context)
            }
        }
        readiness.listening()
    }

    /// The host events name in `WebHook-Request-Origin`: the one in the connection string
    /// a handler SDK is configured with (the public URL's, else the listening address).
    static func requestOrigin(_ configuration: ServerConfiguration) -> String {
        if let url = configuration.publicURL {
            var rest = Substring(url)
            if let scheme = rest.firstRange(of: "://") { rest = rest[scheme.upperBound...] }
            let authority = rest.prefix { $0 != "/" && $0 != "?" }
            if authority.hasPrefix("["), let close = authority.firstIndex(of: "]") {
                return String(authority[authority.index(after: authority.startIndex)..<close])
            }
            return String(authority.prefix { $0 != ":" })
        }
        switch configuration.host {
        case "0.0.0.0", "::", "": return "localhost"
        default: return configuration.host
        }
    }

    /// Re-reads the TLS certificate and key; new connections use them, live ones keep theirs.
    public func reloadTLS() throws {
        try configuration.tls?.reload()
    }

    /// Stops accepting, closes WebSockets with 1001 and returns once every loop has ended.
    public func shutdown() {
        readiness.stopping()
        group.shutdown(graceNanos: configuration.shutdownGrace.nanoseconds)
        group.join()
    }
}

/// Accept pauses of every loop, reported at most once a minute so a server out of
/// descriptors does not also flood its log.
final class AcceptPauses: Sendable {
    struct State {
        var count = 0
        var lastReport: Int64 = 0
    }

    let state = Mutex(State())
    static let reportIntervalSeconds: Int64 = 60

    func record(errno: Int32, logger: Logger) {
        let now = Int64(time(nil))
        let report: Int? = state.withLock { state in
            state.count += 1
            guard now - state.lastReport >= Self.reportIntervalSeconds else { return nil }
            state.lastReport = now
            defer { state.count = 0 }
            return state.count
        }
        guard let report else { return }
        let cause = errno == EMFILE || errno == ENFILE ? "out of file descriptors" : "out of memory for sockets"
        logger.warning(
            "\(cause) (errno \(errno)): accepting paused for \(EventLoop.acceptPauseNanos / 1_000_000) ms at a time and resumes by itself (\(report) pause(s) since the last report)"
        )
    }
}
