public import Logging
import WPSLoop

/// The running server: one event loop per thread, each accepting on its own listener.
public final class Server: Sendable {
    public let configuration: ServerConfiguration
    private let group: EventLoopGroup
    private let logger: Logger

    /// The bound port (the real one when 0 was configured).
    public var port: Int { group.port }

    /// Binds the listeners and starts the loops.
    public init(configuration: ServerConfiguration, logger: Logger) throws {
        self.configuration = configuration
        self.logger = logger
        let routes = Router(configuration: configuration, logger: logger)
        let linger = configuration.lingerTimeout.nanoseconds
        group = try EventLoopGroup(
            threads: configuration.threads, host: configuration.host, port: configuration.port
        ) { loop in
            loop.lingerNanos = linger
            loop.context = LoopContext(loop: loop, configuration: configuration.hub)
            loop.acceptHandler = { connection in
                HTTPSession(connection: connection, router: routes)
            }
        }
    }

    /// Stops accepting, closes WebSockets with 1001 and returns once every loop has ended.
    public func shutdown() {
        group.shutdown(graceNanos: configuration.shutdownGrace.nanoseconds)
        group.join()
    }
}
