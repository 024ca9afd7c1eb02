import CWPSLinux
import Glibc
import Synchronization

/// N loops on N threads, each with its own `SO_REUSEPORT` listener on the same address,
/// so the kernel spreads new connections across them without a shared accept lock.
public final class EventLoopGroup: Sendable {
    /// Each loop's inbox, by loop index; the only way to reach a loop from elsewhere.
    public let inboxes: [LoopInbox]
    /// The port of the first address (the real one when 0 was asked for).
    public var port: Int { ports.first ?? 0 }
    /// The bound port of each listening address, in the order given.
    public let ports: [Int]
    private let threads = Mutex<[pthread_t]>([])

    /// Binds every listener, then starts the threads. `configure` runs on each loop's own
    /// thread before its first turn (install `acceptHandler` there).
    public convenience init(
        threads count: Int, host: String, port: Int, backlog: Int = 1024,
        configure: @escaping @Sendable (EventLoop) -> Void
    ) throws(LoopError) {
        try self.init(threads: count, listen: [(host, port)], backlog: backlog, configure: configure)
    }

    /// Loops that only make outgoing connections (clients, load generators).
    public convenience init(threads count: Int, configure: @escaping @Sendable (EventLoop) -> Void) throws(LoopError) {
        try self.init(threads: count, listen: [], backlog: 0, configure: configure)
    }

    /// Listens on every address in `listen` (each loop gets its own socket per address);
    /// `Connection.listener` tells which address accepted a connection.
    public init(
        threads count: Int, listen addresses: [(host: String, port: Int)], backlog: Int = 1024,
        configure: @escaping @Sendable (EventLoop) -> Void
    ) throws(LoopError) {
        let count = max(1, count)
        // listeners[loop][tag]
        var listeners: [[Int32]] = Array(repeating: [], count: count)
        var bound: [Int] = []
        for address in addresses {
            var boundPort = address.port
            for loopIndex in 0..<count {
                let fd = wps_listen_tcp(address.host, Int32(boundPort), Int32(backlog), 1)
                guard fd >= 0 else {
                    for fds in listeners { for listener in fds { _ = wps_close(listener) } }
                    throw LoopError(operation: "listen on \(address.host):\(boundPort)", code: -fd)
                }
                if boundPort == 0 { boundPort = Int(wps_local_port(fd)) }
                listeners[loopIndex].append(fd)
            }
            bound.append(boundPort)
        }
        var inboxes: [LoopInbox] = []
        for _ in 0..<count { inboxes.append(try LoopInbox()) }
        self.inboxes = inboxes
        ports = bound
        var started: [pthread_t] = []
        let siblings = inboxes
        for index in 0..<count {
            let listenFDs = listeners[index]
            started.append(
                Self.spawn {
                    do {
                        let loop = try EventLoop(index: index, siblings: siblings, listenFDs: listenFDs)
                        configure(loop)
                        loop.run()
                    } catch {
                        fatalError("event loop \(index) could not start: \(error)")
                    }
                })
        }
        let handles = started
        threads.withLock { $0 = handles }
    }

    /// Asks every loop to stop accepting and close its connections within `graceNanos`.
    public func shutdown(graceNanos: UInt64) {
        for inbox in inboxes {
            inbox.post { loop in loop.beginShutdown(graceNanos: graceNanos) }
        }
    }

    /// Waits for every loop thread to finish.
    public func join() {
        let handles = threads.withLock { list in
            let taken = list
            list.removeAll()
            return taken
        }
        for handle in handles { pthread_join(handle, nil) }
    }

    /// Lets the loop threads free themselves when they end, for an owner that shuts the group
    /// down but cannot wait for it (a `deinit` may run on any thread). A thread that ends
    /// without being joined or detached keeps its stack until the process exits. After this,
    /// `join()` returns at once.
    public func detach() {
        let handles = threads.withLock { list in
            let taken = list
            list.removeAll()
            return taken
        }
        for handle in handles { pthread_detach(handle) }
    }

    private final class ThreadBody {
        let run: @Sendable () -> Void
        init(_ run: @escaping @Sendable () -> Void) { self.run = run }
    }

    private static func spawn(_ body: @escaping @Sendable () -> Void) -> pthread_t {
        var handle = pthread_t()
        let context = Unmanaged.passRetained(ThreadBody(body)).toOpaque()
        let rc = pthread_create(
            &handle, nil,
            { raw in
                let body = Unmanaged<ThreadBody>.fromOpaque(raw!).takeRetainedValue()
                body.run()
                return nil
            }, context)
        precondition(rc == 0, "pthread_create failed: \(rc)")
        return handle
    }
}

/// Process-level helpers the executable needs around its loops.
public enum ProcessControl {
    /// Blocks termination signals in this thread and every thread started after it.
    public static func blockSignals() { _ = wps_block_signals() }
    /// Waits for SIGINT, SIGTERM or SIGHUP and returns its number.
    public static func waitForSignal() -> Int32 { wps_wait_signal() }
    /// Raises the open-file limit toward `wanted`; returns the limit now in force.
    public static func raiseOpenFileLimit(_ wanted: Int) -> Int { Int(wps_raise_nofile(wanted)) }
    public static var cpuCount: Int { Int(wps_cpu_count()) }
    public static var monotonicNanos: UInt64 { wps_monotonic_ns() }
}
