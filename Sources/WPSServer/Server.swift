public import Logging
import WPSLoop

/// The running server: one event loop per thread, each accepting on its own listener.
public final class Server: Sendable {
    public let configuration: ServerConfiguration
    private let group: EventLoopGroup
    private let logger: Logger

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
        group = try EventLoopGroup(threads: configuration.threads, listen: addresses) { loop in
            loop.lingerNanos = linger
            let context = LoopContext(loop: loop, configuration: configuration)
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
