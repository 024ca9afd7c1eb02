import Synchronization
import WPSLoop

/// A TCP proxy on the project's loop for tests: forwards 127.0.0.1:port to an upstream port
/// that can be changed, can cut every connection abruptly, and records what the server sent
/// on each upstream connection.
final class TCPProxy: Sendable {
    private let group: EventLoopGroup
    private let shared: SharedState
    var port: Int { group.port }

    struct ProxyState: Sendable {
        var upstreamPort = 0
        /// Bytes from the server, per proxied connection, in accept order.
        var fromServer: [[UInt8]] = []
    }

    final class SharedState: Sendable {
        let state = Mutex(ProxyState())
    }

    init(upstreamPort: Int) throws {
        let shared = SharedState()
        shared.state.withLock { $0.upstreamPort = upstreamPort }
        self.shared = shared
        group = try EventLoopGroup(threads: 1, host: "127.0.0.1", port: 0) { loop in
            loop.lingerNanos = 100_000_000
            loop.acceptHandler = { client in
                let (index, port) = shared.state.withLock { state in
                    state.fromServer.append([])
                    return (state.fromServer.count - 1, state.upstreamPort)
                }
                let pipe = ProxyPipe(client: client, index: index, shared: shared)
                pipe.upstream = loop.connect(host: "127.0.0.1", port: port, handler: pipe.upstreamSide)
                if pipe.upstream == nil { client.abort() }
                return pipe
            }
        }
    }

    /// Points new connections at another server.
    func setUpstream(_ port: Int) { shared.state.withLock { $0.upstreamPort = port } }

    /// What the server sent on proxied connection `index`, as text.
    func serverText(_ index: Int) -> String {
        shared.state.withLock {
            index < $0.fromServer.count ? String(decoding: $0.fromServer[index], as: UTF8.self) : ""
        }
    }

    /// Connections proxied so far.
    var connectionCount: Int { shared.state.withLock { $0.fromServer.count } }

    /// Drops every proxied connection on both sides without any close frame.
    func cutAll() {
        group.inboxes[0].post { loop in loop.forEachConnection { $0.abort() } }
    }

    func shutdown() {
        group.shutdown(graceNanos: 100_000_000)
        group.join()
    }
}

/// The client-facing side of one proxied connection.
final class ProxyPipe: ConnectionHandler {
    let client: Connection
    var upstream: Connection?
    let index: Int
    let shared: TCPProxy.SharedState
    lazy var upstreamSide = UpstreamSide(pipe: self)

    init(client: Connection, index: Int, shared: TCPProxy.SharedState) {
        self.client = client
        self.index = index
        self.shared = shared
    }

    func received(_ bytes: UnsafeMutableRawBufferPointer, on connection: Connection) {
        upstream?.queue(copying: UnsafeRawBufferPointer(bytes))
    }

    func closed(_ connection: Connection) { upstream?.abort() }

    /// The server-facing side.
    final class UpstreamSide: ConnectionHandler {
        /// Weak: the pipe holds this side, and the pair would outlive the test as a cycle.
        weak var pipe: ProxyPipe?
        init(pipe: ProxyPipe) { self.pipe = pipe }

        func received(_ bytes: UnsafeMutableRawBufferPointer, on connection: Connection) {
            guard let pipe else { return }
            let copy = Array(bytes)
            pipe.shared.state.withLock { $0.fromServer[pipe.index].append(contentsOf: copy) }
            pipe.client.queue(copying: UnsafeRawBufferPointer(bytes))
        }

        func closed(_ connection: Connection) { pipe?.client.abort() }
    }
}
