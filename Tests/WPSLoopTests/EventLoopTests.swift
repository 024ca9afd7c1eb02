import CWPSLinux
import Glibc
import Synchronization
import Testing
import WPSBytes

@testable import WPSLoop

/// Echoes every byte back; closes when it reads "bye"; answers timers with "tick".
final class EchoHandler: ConnectionHandler {
    func received(_ bytes: UnsafeMutableRawBufferPointer, on connection: Connection) {
        if bytes.count >= 3, bytes[0] == UInt8(ascii: "b"), bytes[1] == UInt8(ascii: "y"), bytes[2] == UInt8(ascii: "e")
        {
            connection.send(Array("ciao".utf8))
            connection.close()
            return
        }
        if bytes.count >= 5, Array(bytes[0..<5]) == Array("timer".utf8) {
            connection.setTimer(at: connection.loop.now + 50_000_000)
            return
        }
        connection.send(UnsafeRawBufferPointer(bytes))
    }

    func timerFired(on connection: Connection, now: UInt64) {
        connection.send(Array("tick".utf8))
    }
}

/// Answers "fin" with "ciao" and a close that does not wait for the peer's end of stream,
/// and "bye" with "ciao" and the default, lingering close.
final class FinishingHandler: ConnectionHandler {
    func received(_ bytes: UnsafeMutableRawBufferPointer, on connection: Connection) {
        connection.send(Array("ciao".utf8))
        connection.close(peerFinished: bytes.first == UInt8(ascii: "f"))
    }
}

/// Answers "?" with the number of data segments its socket has received so far.
final class SegmentReporter: ConnectionHandler {
    func received(_ bytes: UnsafeMutableRawBufferPointer, on connection: Connection) {
        guard bytes.contains(UInt8(ascii: "?")) else { return }
        connection.send(Array("\(connection.dataSegmentsReceived ?? -1)\n".utf8))
    }
}

/// A blocking loopback client with receive timeouts, for driving a loop from a test.
struct TestSocket {
    let fd: Int32

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        try #require(rc == 0)
    }

    func send(_ text: String) {
        _ = text.utf8CString.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count - 1, 0) }
    }

    func send(_ bytes: [UInt8]) { _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, 0) } }

    /// Reads until `count` bytes arrived or the peer closed.
    func read(_ count: Int) -> [UInt8] {
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while out.count < count {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, min($0.count, count - out.count), 0) }
            if n <= 0 { break }
            out += chunk[0..<n]
        }
        return out
    }

    /// True when the peer closed (EOF) within the receive timeout.
    func readsEOF() -> Bool {
        var byte: UInt8 = 0
        return recv(fd, &byte, 1, 0) == 0
    }

    /// The socket's pending error (SO_ERROR), 0 when none.
    func pendingError() -> Int32 {
        var error: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length)
        return error
    }

    func close() { _ = Glibc.close(fd) }
}

@Suite(.serialized) struct EventLoopTests {
    @Test func echoesAcrossLoopsAndClosesAfterFlushing() throws {
        let group = try EventLoopGroup(threads: 2, host: "127.0.0.1", port: 0) { loop in
            loop.acceptHandler = { _ in EchoHandler() }
        }
        defer { group.shutdown(graceNanos: 1_000_000_000); group.join() }
        var sockets: [TestSocket] = []
        for index in 0..<20 {
            let socket = try TestSocket(port: group.port)
            socket.send("hello \(index)")
            #expect(socket.read(("hello \(index)").utf8.count) == Array("hello \(index)".utf8))
            sockets.append(socket)
        }
        // A large write must come back whole even when the kernel takes it in parts.
        let big = [UInt8]((0..<(3 << 20)).map { UInt8(truncatingIfNeeded: $0 * 31) })
        let reader = sockets[0]
        let writer = Thread2 { reader.send(big) }
        #expect(reader.read(big.count) == big)
        writer.join()
        for socket in sockets {
            socket.send("bye")
            #expect(socket.read(4) == Array("ciao".utf8))
            #expect(socket.readsEOF())
            socket.close()
        }
    }

    /// A close after the peer's last word (`peerFinished`) closes the socket as soon as the
    /// queue is written: bytes the peer sends afterwards meet a closed socket and a reset.
    /// The default close stays half-open and drains them, so the peer sees no error.
    @Test(arguments: [true, false])
    func closingAfterThePeersLastWordDoesNotLinger(peerFinished: Bool) throws {
        let group = try EventLoopGroup(threads: 1, host: "127.0.0.1", port: 0) { loop in
            loop.acceptHandler = { _ in FinishingHandler() }
        }
        defer { group.shutdown(graceNanos: 1_000_000_000); group.join() }
        let socket = try TestSocket(port: group.port)
        defer { socket.close() }
        socket.send(peerFinished ? "fin" : "bye")
        #expect(socket.read(4) == Array("ciao".utf8))
        #expect(socket.readsEOF())
        socket.send("late")
        usleep(200_000)
        let error = socket.pendingError()
        if peerFinished {
            #expect(error == ECONNRESET || error == EPIPE)
        } else {
            #expect(error == 0)
        }
    }

    /// A reader that stops reading gets many frames in one turn and more in later turns,
    /// either borrowed broadcast frames or frames built at the end of the turn
    /// (`produceBeforeFlush`, `sendBuilt`). What the kernel did not take is copied out before
    /// the turn arena is reused, so every byte arrives, in order.
    @Test(arguments: [false, true])
    func framesSurviveTheirTurnWhenTheReaderIsSlow(buildAtTurnEnd: Bool) throws {
        let group = try EventLoopGroup(threads: 1, host: "127.0.0.1", port: 0) { loop in
            loop.acceptHandler = { _ in BroadcastingHandler(buildAtTurnEnd: buildAtTurnEnd) }
        }
        defer { group.shutdown(graceNanos: 1_000_000_000); group.join() }
        let socket = try TestSocket(port: group.port)
        defer { socket.close() }
        socket.send("go")
        // Let the loop fill the socket and go through several more turns before reading.
        usleep(300_000)
        let expected = BroadcastingHandler.expected()
        let got = socket.read(expected.count)
        #expect(got.count == expected.count)
        // The first differing byte, rather than both arrays (12 MB) in the failure message.
        let firstDifference = got.indices.first { $0 < expected.count && got[$0] != expected[$0] }
        #expect(firstDifference == nil)
    }

    /// Replies of one turn, whichever queue path each takes (the turn arena for a socket that
    /// keeps up, an urgent frame into an idle queue), leave in order: urgent frames first,
    /// in the order they were sent, then the rest.
    @Test(arguments: ["UUAB", "AUUB", "UAUB", "UBAU", "BAUU"])
    func repliesOfOneTurnKeepTheirOrder(script: String) throws {
        let group = try EventLoopGroup(threads: 1, host: "127.0.0.1", port: 0) { loop in
            loop.acceptHandler = { _ in ScriptedReplies() }
        }
        defer { group.shutdown(graceNanos: 1_000_000_000); group.join() }
        let socket = try TestSocket(port: group.port)
        defer { socket.close() }
        let others = script.compactMap { $0 == "A" ? "A1" : $0 == "B" ? "B1B2" : nil }.joined()
        for _ in 0..<3 {
            socket.send(script)
            let expected = "u1u2" + others
            #expect(socket.read(expected.utf8.count) == Array(expected.utf8))
        }
    }

    /// Accepted sockets have Nagle's algorithm off (inherited from the listener), so a
    /// small frame is not held back waiting for an ACK.
    @Test func acceptedSocketsHaveNoDelay() throws {
        let group = try EventLoopGroup(threads: 1, host: "127.0.0.1", port: 0) { loop in
            loop.acceptHandler = { _ in NoDelayReporter() }
        }
        defer { group.shutdown(graceNanos: 1_000_000_000); group.join() }
        let socket = try TestSocket(port: group.port)
        defer { socket.close() }
        socket.send("?")
        #expect(socket.read(1) == [UInt8(ascii: "1")])
    }

    /// Three writes spaced apart arrive as three data segments, as TCP_INFO counts them.
    @Test func dataSegmentsAreCounted() throws {
        let group = try EventLoopGroup(threads: 1, host: "127.0.0.1", port: 0) { loop in
            loop.acceptHandler = { _ in SegmentReporter() }
        }
        defer { group.shutdown(graceNanos: 1_000_000_000); group.join() }
        let socket = try TestSocket(port: group.port)
        defer { socket.close() }
        for text in ["a", "b", "?"] {
            socket.send(text)
            usleep(100_000)
        }
        #expect(socket.read(2) == Array("3\n".utf8))
    }

    @Test func timersFireOnTheConnection() throws {
        let group = try EventLoopGroup(threads: 1, host: "127.0.0.1", port: 0) { loop in
            loop.acceptHandler = { _ in EchoHandler() }
        }
        defer { group.shutdown(graceNanos: 1_000_000_000); group.join() }
        let socket = try TestSocket(port: group.port)
        defer { socket.close() }
        socket.send("timer")
        #expect(socket.read(4) == Array("tick".utf8))
    }

    @Test func postedTasksRunOnTheLoop() throws {
        let seen = Mutex<[Int]>([])
        let group = try EventLoopGroup(threads: 2, host: "127.0.0.1", port: 0) { _ in }
        for (index, inbox) in group.inboxes.enumerated() {
            inbox.post { loop in seen.withLock { $0.append(loop.index * 10 + index) } }
        }
        group.shutdown(graceNanos: 1_000_000_000)
        group.join()
        #expect(seen.withLock { $0.sorted() } == [0, 11])
    }

    @Test func aDetachedGroupStillRunsItsTasksAndLeavesNothingToJoin() throws {
        let ran = Mutex(false)
        let group = try EventLoopGroup(threads: 1) { _ in }
        group.inboxes[0].post { _ in ran.withLock { $0 = true } }
        group.shutdown(graceNanos: 1_000_000_000)
        group.detach()
        group.join()  // returns at once: the thread frees itself (TSan: no "thread leak")
        let deadline = ProcessControl.monotonicNanos + 5_000_000_000
        while !ran.withLock({ $0 }) && ProcessControl.monotonicNanos < deadline { usleep(1000) }
        #expect(ran.withLock { $0 })
    }

    @Test func aLoopWhoseHooksHoldItIsFreedOnceItsThreadEnds() throws {
        final class Probe: @unchecked Sendable { weak var loop: EventLoop? }
        final class Context { let loop: EventLoop; init(_ loop: EventLoop) { self.loop = loop } }
        let probe = Probe()
        let group = try EventLoopGroup(threads: 1, host: "127.0.0.1", port: 0) { loop in
            probe.loop = loop
            loop.context = Context(loop)
            loop.acceptHandler = { _ in
                _ = loop.index; return EchoHandler()
            }
            loop.every(1_000_000_000) { _ = loop.now }
        }
        group.shutdown(graceNanos: 1_000_000_000)
        group.join()
        #expect(probe.loop == nil, "the loop, its buffers and its epoll fd outlived its thread")
    }

    @Test func endHooksRunOnTheLoopThreadOnceItStops() throws {
        let ranOn = Mutex<Int?>(nil)
        let group = try EventLoopGroup(threads: 1) { loop in
            loop.whenEnded { ranOn.withLock { $0 = loop.index + 100 } }
        }
        group.shutdown(graceNanos: 1_000_000_000)
        group.join()
        #expect(ranOn.withLock { $0 } == 100)
    }

    @Test func socketsMoveBetweenLoops() throws {
        let group = try EventLoopGroup(threads: 2, host: "127.0.0.1", port: 0) { loop in
            loop.acceptHandler = { _ in MovingHandler() }
        }
        defer { group.shutdown(graceNanos: 1_000_000_000); group.join() }
        let inboxes = group.inboxes
        MovingHandler.inboxes.withLock { $0 = inboxes }
        for _ in 0..<6 {
            let socket = try TestSocket(port: group.port)
            socket.send("where")
            let before = socket.read(1)
            socket.send("move")
            let after = socket.read(1)
            #expect(before.count == 1 && after.count == 1)
            #expect(before != after, "the socket should now be served by the other loop")
            socket.send("where")
            #expect(socket.read(1) == after)
            socket.close()
        }
    }

    @Test func outgoingConnectionsConnectSendAndFail() throws {
        let server = try EventLoopGroup(threads: 1, host: "127.0.0.1", port: 0) { loop in
            loop.acceptHandler = { _ in EchoHandler() }
        }
        defer { server.shutdown(graceNanos: 1_000_000_000); server.join() }
        let results = Mutex<[String]>([])
        let port = server.port
        let clients = try EventLoopGroup(threads: 1) { loop in
            // Sent before the connect completes: queued, then written.
            let client = ClientProbe(results: { text in results.withLock { $0.append(text) } })
            if let connection = loop.connect(host: "127.0.0.1", port: port, handler: client) {
                connection.send(Array("early".utf8))
            }
            // Nothing listens on port 1: the attempt ends in `closed`.
            let refused = ClientProbe(results: { text in results.withLock { $0.append("refused:" + text) } })
            _ = loop.connect(host: "127.0.0.1", port: 1, handler: refused)
        }
        let deadline = ProcessControl.monotonicNanos + 5_000_000_000
        while results.withLock({ $0.count }) < 2, ProcessControl.monotonicNanos < deadline { usleep(5000) }
        clients.shutdown(graceNanos: 500_000_000)
        clients.join()
        #expect(results.withLock { $0.sorted() } == ["echo:early", "refused:closed-before-connect"])
    }

    @Test func outgoingConnectionsFromAChosenSourceAddress() throws {
        let server = try EventLoopGroup(threads: 1, host: "127.0.0.1", port: 0) { loop in
            loop.acceptHandler = { _ in EchoHandler() }
        }
        defer { server.shutdown(graceNanos: 1_000_000_000); server.join() }
        let results = Mutex<[String]>([])
        let port = server.port
        let clients = try EventLoopGroup(threads: 1) { loop in
            // Any 127.0.0.x is local on Linux, so this binds and connects.
            let client = ClientProbe(results: { text in results.withLock { $0.append(text) } })
            if let connection = loop.connect(host: "127.0.0.1", port: port, sourceHost: "127.0.0.2", handler: client) {
                connection.send(Array("from .2".utf8))
            }
            // An address this machine does not have cannot be bound: the attempt fails at once.
            let foreign = ClientProbe(results: { _ in })
            let refused = loop.connect(host: "127.0.0.1", port: port, sourceHost: "192.0.2.1", handler: foreign)
            results.withLock { $0.append(refused == nil ? "foreign:nil" : "foreign:connection") }
        }
        let deadline = ProcessControl.monotonicNanos + 5_000_000_000
        while results.withLock({ $0.count }) < 2, ProcessControl.monotonicNanos < deadline { usleep(5000) }
        clients.shutdown(graceNanos: 500_000_000)
        clients.join()
        #expect(results.withLock { $0.sorted() } == ["echo:from .2", "foreign:nil"])
    }

    @Test func aTransformsOwnPendingBytesAreWrittenBeforeTheSocketMoves() throws {
        let group = try EventLoopGroup(threads: 2, host: "127.0.0.1", port: 0) { loop in
            loop.acceptHandler = { connection in
                connection.transform = PassThroughTransform()
                return MovingHandler()
            }
        }
        defer { group.shutdown(graceNanos: 1_000_000_000); group.join() }
        let inboxes = group.inboxes
        MovingHandler.inboxes.withLock { $0 = inboxes }
        for _ in 0..<4 {
            let socket = try TestSocket(port: group.port)
            socket.send("where")
            let before = socket.read(1)
            // "move!" makes the transform hold bytes of its own (like TLS session tickets)
            // when the handler detaches: they must arrive first, then the new loop's answer.
            socket.send("move!")
            let after = socket.read(3)
            #expect(after.count == 3)
            #expect(Array(after.prefix(2)) == Array("TK".utf8))
            #expect(after.last != before.first)
            socket.close()
        }
    }

    @Test func periodicTasksRun() throws {
        let ticks = Mutex(0)
        let group = try EventLoopGroup(threads: 1, host: "127.0.0.1", port: 0) { loop in
            loop.every(10_000_000) { ticks.withLock { $0 += 1 } }
        }
        let deadline = ProcessControl.monotonicNanos + 2_000_000_000
        while ticks.withLock({ $0 }) < 3, ProcessControl.monotonicNanos < deadline { usleep(5000) }
        group.shutdown(graceNanos: 1_000_000_000)
        group.join()
        #expect(ticks.withLock { $0 } >= 3)
    }

    @Test func shutdownClosesConnectionsAndEndsTheLoops() throws {
        let group = try EventLoopGroup(threads: 2, host: "127.0.0.1", port: 0) { loop in
            loop.acceptHandler = { _ in EchoHandler() }
        }
        let socket = try TestSocket(port: group.port)
        defer { socket.close() }
        socket.send("x")
        #expect(socket.read(1) == [UInt8(ascii: "x")])
        group.shutdown(graceNanos: 1_000_000_000)
        group.join()
        #expect(socket.readsEOF())
    }

    /// More connections wait than one turn accepts (the queue is asked for its length and
    /// at most 64 are taken per turn): every one is still accepted and served.
    @Test func aQueueLongerThanOneTurnIsAcceptedInFull() throws {
        let group = try EventLoopGroup(threads: 1, host: "127.0.0.1", port: 0) { loop in
            loop.acceptHandler = { _ in EchoHandler() }
        }
        defer { group.shutdown(graceNanos: 1_000_000_000); group.join() }
        // Hold the loop so the connections below pile up in the listener's queue.
        let holding = Atomic<Int>(0)
        group.inboxes[0].post { _ in
            holding.store(1, ordering: .sequentiallyConsistent)
            while holding.load(ordering: .sequentiallyConsistent) == 1 { usleep(1_000) }
        }
        while holding.load(ordering: .sequentiallyConsistent) == 0 { usleep(1_000) }
        let count = EventLoop.acceptsPerWakeup * 2 + 7
        var sockets: [TestSocket] = []
        for index in 0..<count {
            let socket = try TestSocket(port: group.port)
            socket.send("c\(index);")
            sockets.append(socket)
        }
        holding.store(2, ordering: .sequentiallyConsistent)
        for (index, socket) in sockets.enumerated() {
            let text = "c\(index);"
            #expect(socket.read(text.utf8.count) == Array(text.utf8))
            socket.close()
        }
    }

    /// The accept queue's length as Linux reports it for a listener; errors for other sockets.
    @Test func acceptBacklogCountsWaitingConnections() throws {
        let listener = wps_listen_tcp("127.0.0.1", 0, 16, 0)
        try #require(listener >= 0)
        defer { Glibc.close(listener) }
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) }
        }
        let port = Int(UInt16(bigEndian: address.sin_port))
        #expect(wps_accept_backlog(listener) == 0)
        let clients = try (0..<3).map { _ in try TestSocket(port: port) }
        defer { clients.forEach { $0.close() } }
        // The handshake completes in the kernel; the queue shows it at once on loopback.
        #expect(wps_accept_backlog(listener) == 3)
        let accepted = wps_accept(listener)
        try #require(accepted >= 0)
        defer { Glibc.close(accepted) }
        #expect(wps_accept_backlog(listener) == 2)
        #expect(wps_accept_backlog(accepted) == -EINVAL, "a connected socket is not a listener")
        var pipeEnds: [Int32] = [0, 0]
        try #require(pipe(&pipeEnds) == 0)
        defer { Glibc.close(pipeEnds[0]); Glibc.close(pipeEnds[1]) }
        #expect(wps_accept_backlog(pipeEnds[0]) == -ENOTSOCK)
    }

    /// A socket the loop did not accept (one end of a socketpair, blocking as made) is
    /// adopted: made non-blocking, served by the handler installed on it, closed with it.
    @Test func adoptsASocketItDidNotAccept() throws {
        var ends: [Int32] = [-1, -1]
        try #require(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &ends) == 0)
        let group = try EventLoopGroup(threads: 1) { _ in }
        defer { group.shutdown(graceNanos: 1_000_000_000); group.join() }
        let adopted = ends[1]
        group.inboxes[0].post { loop in loop.adopt(fd: adopted)?.handler = EchoHandler() }
        let socket = TestSocket(connected: ends[0])
        defer { socket.close() }
        socket.send("hello")
        #expect(socket.read(5) == Array("hello".utf8))
        #expect(fcntl(adopted, F_GETFL) & O_NONBLOCK != 0)
        socket.send("bye")
        #expect(socket.read(4) == Array("ciao".utf8))
        #expect(socket.readsEOF())
    }

    /// A loop that is shutting down refuses the socket and closes it.
    @Test func aLoopShuttingDownClosesWhatItIsGiven() throws {
        var ends: [Int32] = [-1, -1]
        try #require(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &ends) == 0)
        let group = try EventLoopGroup(threads: 1) { _ in }
        let refused = Atomic<Bool>(false)
        let given = ends[1]
        group.inboxes[0].post { loop in
            loop.beginShutdown(graceNanos: 1_000_000_000)
            refused.store(loop.adopt(fd: given) == nil, ordering: .sequentiallyConsistent)
        }
        let socket = TestSocket(connected: ends[0])
        defer { socket.close() }
        #expect(socket.readsEOF())
        group.join()
        let wasRefused = refused.load(ordering: .sequentiallyConsistent)
        #expect(wasRefused)
    }
}

extension TestSocket {
    /// Wraps a socket connected elsewhere, with the same receive timeout.
    init(connected fd: Int32) {
        self.fd = fd
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }
}

/// A plain thread for a blocking helper in tests.
final class Thread2: @unchecked Sendable {
    private var handle = pthread_t()
    private final class Box { let body: () -> Void; init(_ body: @escaping () -> Void) { self.body = body } }

    init(_ body: @escaping () -> Void) {
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        pthread_create(
            &handle, nil,
            { raw in
                Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue().body()
                return nil
            }, box)
    }

    func join() { pthread_join(handle, nil) }
}

/// Answers "where" with its loop index; on "move" hands the socket to the other loop.
final class MovingHandler: ConnectionHandler {
    static let inboxes = Mutex<[LoopInbox]>([])

    func received(_ bytes: UnsafeMutableRawBufferPointer, on connection: Connection) {
        let text = String(decoding: UnsafeRawBufferPointer(bytes), as: UTF8.self)
        if text == "where" {
            connection.send([UInt8(ascii: "0") + UInt8(connection.loop.index)])
        } else if text == "move" || text == "move!" {
            let target = MovingHandler.inboxes.withLock { $0[(connection.loop.index + 1) % $0.count] }
            connection.detach { socket in
                target.post { loop in
                    guard let moved = loop.adopt(socket) else { return }
                    moved.handler = MovingHandler()
                    moved.send([UInt8(ascii: "0") + UInt8(loop.index)])
                }
            }
        }
    }
}

/// Reports what an outgoing connection experienced.
final class ClientProbe: ConnectionHandler {
    let report: (String) -> Void
    var isConnected = false
    init(results: @escaping (String) -> Void) { report = results }

    func connected(_ connection: Connection) { isConnected = true }

    func received(_ bytes: UnsafeMutableRawBufferPointer, on connection: Connection) {
        report("echo:" + String(decoding: UnsafeRawBufferPointer(bytes), as: UTF8.self))
        connection.close()
    }

    func closed(_ connection: Connection) {
        if !isConnected { report("closed-before-connect") }
    }
}

/// Passes bytes through; on "move!" it also holds two bytes of its own, like TLS records.
final class PassThroughTransform: StreamTransform {
    var pending: [UInt8] = []

    func inbound(_ bytes: UnsafeMutableRawBufferPointer, _ deliver: (UnsafeMutableRawBufferPointer) -> Void)
        -> StreamTransformStatus
    {
        if Array(bytes) == Array("move!".utf8) { pending += Array("TK".utf8) }
        deliver(bytes)
        return .ok
    }

    func outbound(_ bytes: UnsafeRawBufferPointer) -> Bool {
        pending += bytes
        return true
    }

    var pendingOutput: Int { pending.count }

    func takeOutput(_ body: (UnsafeRawBufferPointer) -> Void) {
        let out = pending
        pending = []
        out.withUnsafeBytes(body)
    }

    func finish() {}
}

/// On "go": sends `rounds` rounds of `perRound` distinct shared frames, each round in its
/// own turn, so frames are borrowed from the turn arena many times over.
final class BroadcastingHandler: ConnectionHandler, TurnProducer {
    static let rounds = 10
    static let perRound = 4000
    static let frameBytes = 300

    static func frame(_ round: Int, _ index: Int) -> [UInt8] {
        (0..<frameBytes).map { UInt8(truncatingIfNeeded: round &* 7 &+ index &* 13 &+ $0) }
    }

    static func expected() -> [UInt8] {
        var out: [UInt8] = []
        for round in 0..<rounds { for index in 0..<perRound { out += frame(round, index) } }
        return out
    }

    var round = 0
    /// Build each round's frames in `produce`, at the end of the turn, with `sendBuilt`.
    let buildAtTurnEnd: Bool
    weak var connection: Connection?

    init(buildAtTurnEnd: Bool = false) {
        self.buildAtTurnEnd = buildAtTurnEnd
    }

    func produce() {
        guard let connection else { return }
        for index in 0..<Self.perRound {
            let frame = Self.frame(round, index)
            connection.sendBuilt(byteCount: frame.count) { out in
                frame.withUnsafeBytes { out.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            }
        }
        round += 1
        connection.setTimer(at: connection.loop.now + 1_000_000)
    }

    func received(_ bytes: UnsafeMutableRawBufferPointer, on connection: Connection) {
        sendRound(on: connection)
    }

    /// The next round comes from the timer, in a later turn.
    func timerFired(on connection: Connection, now: UInt64) {
        sendRound(on: connection)
    }

    func sendRound(on connection: Connection) {
        guard round < Self.rounds else { return }
        if buildAtTurnEnd {
            self.connection = connection
            connection.loop.produceBeforeFlush(self)
            return
        }
        let empty = UnsafeRawBufferPointer(start: nil, count: 0)
        for index in 0..<Self.perRound {
            connection.sendFrame(head: empty, SharedBytes(Self.frame(round, index)), tail: empty)
        }
        round += 1
        connection.setTimer(at: connection.loop.now + 1_000_000)
    }
}

/// Answers any input with "1" when its socket has TCP_NODELAY set, "0" otherwise.
final class NoDelayReporter: ConnectionHandler {
    func received(_ bytes: UnsafeMutableRawBufferPointer, on connection: Connection) {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(connection.fd, Int32(IPPROTO_TCP), TCP_NODELAY, &value, &length)
        connection.send([value != 0 ? UInt8(ascii: "1") : UInt8(ascii: "0")])
    }
}

/// Replies to each byte of a script in one turn: "A" a frame, "U" the next urgent frame,
/// "B" a frame in two parts. Urgent frames go ahead of the turn's other replies, in order.
final class ScriptedReplies: ConnectionHandler {
    func received(_ bytes: UnsafeMutableRawBufferPointer, on connection: Connection) {
        var urgent = 0
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "A"):
                connection.send(Array("A1".utf8))
            case UInt8(ascii: "U"):
                urgent += 1
                Array("u".utf8).withUnsafeBytes { first in
                    Array("\(urgent)".utf8).withUnsafeBytes { connection.sendUrgent(first, $0) }
                }
            case UInt8(ascii: "B"):
                Array("B1".utf8).withUnsafeBytes { first in
                    Array("B2".utf8).withUnsafeBytes { connection.send(first, $0) }
                }
            default:
                break
            }
        }
    }
}
