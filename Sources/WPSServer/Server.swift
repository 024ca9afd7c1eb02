public import Logging
import WPSLoop

/// The running server: one event loop per thread, each accepting on its own listener.
public final class Server: Sendable {
    public let configuration: ServerConfiguration
    private let group: EventLoopGroup
    private let logger: Logger
    /// Upstream request counts and validation outcomes of every loop.
    let upstreamReports: UpstreamReports

    /// The bound port (the real one when 0 was configured).
    public var port: Int { group.port }
    /// The bound plaintext port beside a TLS one, if any.
    public var plainPort: Int? { group.ports.count > 1 ? group.ports[1] : nil }

    /// Binds the listeners and starts the loops.
    public init(configuration: ServerConfiguration, logger: Logger) throws {
        self.configuration = configuration
        self.logger = logger
        let routes = Router(configuration: configuration, logger: logger)
        let linger = configuration.lingerTimeout.nanoseconds
        var addresses = [(host: configuration.host, port: configuration.port)]
        if configuration.tls != nil, let plain = configuration.plainPort {
            addresses.append((configuration.host, plain))
        }
        let tls = configuration.tls
        let reports = UpstreamReports()
        upstreamReports = reports
        let upstream = UpstreamShared(
            requestOrigin: configuration.upstream.requestOrigin ?? Self.requestOrigin(configuration),
            tls: configuration.upstream.handlers.all.contains { $0.urlTemplate.isTLS }
                ? try UpstreamTLS(configuration: configuration.upstream) : nil,
            logger: logger, reports: reports)
        group = try EventLoopGroup(threads: configuration.threads, listen: addresses) { loop in
            loop.lingerNanos = linger
            let context = LoopContext(loop: loop, configuration: configuration, upstream: upstream)
            loop.context = context
            loop.acceptHandler = { connection in
                // Listener 0 is the main port (TLS when configured); listener 1 the plain one.
                if let tls, connection.listener == 0 {
                    connection.transform = TLSTransform(
                        session: tls.makeSession(), budget: context.handshakeBudget, stats: context.tlsStats)
                }
                return HTTPSession(connection: connection, router: routes)
            }
        }
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
        group.shutdown(graceNanos: configuration.shutdownGrace.nanoseconds)
        group.join()
    }
}
