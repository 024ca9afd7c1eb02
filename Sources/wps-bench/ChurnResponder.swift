import CWPSLinux
import Glibc
import Synchronization
import WPSLoop
import WPSWebSocket

/// Plays the server in the churn floor: a plain thread with its own epoll loop that answers
/// each churn cycle with the bytes and system calls the server uses (accept, register, one
/// read and one write per step, then the close as `CloseStyle` says) and nothing else:
/// no token check, no JSON, no hub. Its CPU time is what one cycle costs before any server
/// logic, on this machine.
final class ChurnResponder: Sendable {
    /// How the responder ends a cycle after the client's close frame.
    enum CloseStyle: String, Sendable, CaseIterable {
        /// The server since 38c0180: the echo is sent, the write side shut (the FIN in a
        /// segment of its own), and input drained until the client's FIN; then close.
        case linger
        /// The echo held back (MSG_MORE) so the shutdown's FIN leaves in its segment, then
        /// drained until the client's FIN as `linger`.
        case corked
        /// The server before 38c0180: the echo held back and the socket closed at once, its
        /// FIN in the echo's segment; the client's FIN then meets a closed socket.
        case immediate
    }

    /// What the thread did, and its own CPU time from start to stop.
    struct Report: Sendable {
        var accepted = 0
        var closedAfterEcho = 0
        /// Connections dropped because a step's bytes were not what a churner sends.
        var unexpected = 0
        var userSeconds = 0.0
        var systemSeconds = 0.0
        var wallSeconds = 0.0
    }

    /// Per-socket progress through one cycle.
    private struct Peer {
        var step = 0
        var input: [UInt8] = []
    }

    let listenFD: Int32
    let port: Int
    let subprotocol: String
    let closeStyle: CloseStyle
    private let stop = Atomic<Bool>(false)
    private let threadID = Atomic<Int32>(0)
    private let thread = BenchThread()
    private let outcome = Mutex<Report?>(nil)

    /// Listens on 127.0.0.1, on `port` (0: a kernel-chosen one); with `sharesPort`, several
    /// responders listen on one port and the kernel spreads connections over them, as it
    /// does over the server's loops. Nil when that fails.
    init?(subprotocol: String, port: Int = 0, sharesPort: Bool = false, closeStyle: CloseStyle = .linger) {
        let fd = wps_listen_tcp("127.0.0.1", Int32(port), 1024, sharesPort ? 1 : 0)
        guard fd >= 0 else { return nil }
        let port = wps_local_port(fd)
        guard port > 0 else {
            _ = wps_close(fd)
            return nil
        }
        listenFD = fd
        self.port = Int(port)
        self.subprotocol = subprotocol
        self.closeStyle = closeStyle
    }

    func start() {
        thread.start { [self] in
            threadID.store(wps_thread_id(), ordering: .releasing)
            let report = run()
            outcome.withLock { $0 = report }
        }
    }

    /// The thread's kernel id once it runs (waits up to a second), for its CPU time.
    func runningThreadID() -> Int32? {
        for _ in 0..<1000 {
            let id = threadID.load(ordering: .acquiring)
            if id > 0 { return id }
            usleep(1000)
        }
        return nil
    }

    /// Stops the thread (within its 50 ms wait), closes every socket and returns the report.
    func finish() -> Report {
        stop.store(true, ordering: .relaxed)
        thread.join()
        _ = wps_close(listenFD)
        return outcome.withLock { $0 } ?? Report()
    }

    private func run() -> Report {
        var report = Report()
        let epoll = wps_epoll_create()
        guard epoll >= 0 else { return report }
        defer { _ = wps_close(epoll) }
        let listenerToken = UInt64.max
        _ = wps_epoll_add(epoll, listenFD, UInt32(WPS_EPOLLIN), listenerToken)
        var peers: [Int32: Peer] = [:]
        let events = UnsafeMutablePointer<wps_epoll_event>.allocate(capacity: 256)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65_536, alignment: 16)
        defer {
            events.deallocate()
            buffer.deallocate()
            for fd in peers.keys { _ = wps_close(fd) }
        }
        let replies = Replies(subprotocol: subprotocol)
        let before = FloorWriter.threadCPU()
        let start = ProcessControl.monotonicNanos
        while !stop.load(ordering: .relaxed) {
            let count = wps_epoll_wait(epoll, events, 256, 50)
            guard count > 0 else { continue }
            for index in 0..<Int(count) {
                let token = events[index].data
                if token == listenerToken {
                    // As the server does: take what the queue holds, so that no accept finds
                    // it empty.
                    let pending = wps_accept_backlog(listenFD)
                    var budget = pending >= 0 ? max(Int(pending), 1) : Int.max
                    while budget > 0 {
                        budget -= 1
                        let fd = wps_accept(listenFD)
                        guard fd >= 0 else { break }
                        _ = wps_epoll_add(epoll, fd, UInt32(WPS_EPOLLIN | WPS_EPOLLRDHUP), UInt64(fd))
                        peers[fd] = Peer()
                        report.accepted += 1
                    }
                    continue
                }
                let fd = Int32(truncatingIfNeeded: token)
                guard var peer = peers[fd] else { continue }
                let read = wps_recv(fd, buffer.baseAddress, buffer.count)
                if read == -Int(EAGAIN) { continue }
                guard read > 0 else {
                    // The client's FIN: a cycle that lingered after its echo ends here.
                    if peer.step == Self.lingering { report.closedAfterEcho += 1 }
                    peers[fd] = nil
                    _ = wps_close(fd)
                    continue
                }
                // Lingering: input is drained and dropped until the FIN.
                if peer.step == Self.lingering { continue }
                peer.input.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[0..<read]))
                switch respond(fd: fd, peer: &peer, replies: replies) {
                case .waiting:
                    peers[fd] = peer
                case .closed:
                    peers[fd] = nil
                    report.closedAfterEcho += 1
                case .unexpected:
                    peers[fd] = nil
                    _ = wps_close(fd)
                    report.unexpected += 1
                }
            }
        }
        let after = FloorWriter.threadCPU()
        report.wallSeconds = Double(ProcessControl.monotonicNanos - start) / 1e9
        report.userSeconds = after.user - before.user
        report.systemSeconds = after.system - before.system
        return report
    }

    private enum Outcome { case waiting, closed, unexpected }

    /// The step of a peer whose echo is sent and whose FIN is awaited.
    private static let lingering = 4

    /// Answers every complete unit in `peer.input`: the upgrade request, then the join and
    /// leave frames, then the close frame.
    private func respond(fd: Int32, peer: inout Peer, replies: Replies) -> Outcome {
        while true {
            if peer.step == 0 {
                guard let end = BenchSocket.headEnd(peer.input) else { return .waiting }
                guard let key = Self.webSocketKey(peer.input[..<end]) else { return .unexpected }
                var answer = replies.upgradeHead(accept: WebSocketHandshake.acceptValue(forKey: key))
                answer += replies.connected
                send(fd, answer, last: false)
                peer.input.removeFirst(end)
                peer.step = 1
                continue
            }
            guard let length = Self.frameLength(peer.input) else { return .waiting }
            let opcode = peer.input[0] & 0x0F
            peer.input.removeFirst(length)
            switch (peer.step, opcode) {
            case (1, 0x1), (2, 0x1):
                send(fd, peer.step == 1 ? replies.joinAck : replies.leaveAck, last: false)
                peer.step += 1
            case (3, 0x8):
                send(fd, replies.close, last: closeStyle != .linger)
                if closeStyle == .immediate {
                    _ = wps_close(fd)
                    return .closed
                }
                _ = wps_shutdown_write(fd)
                peer.step = Self.lingering
                peer.input.removeAll()
                return .waiting
            default:
                return .unexpected
            }
        }
    }

    private func send(_ fd: Int32, _ bytes: [UInt8], last: Bool) {
        bytes.withUnsafeBytes { raw in
            if last {
                var vector = iovec(iov_base: UnsafeMutableRawPointer(mutating: raw.baseAddress), iov_len: raw.count)
                _ = wps_writev_last(fd, &vector, 1)
            } else {
                _ = wps_send(fd, raw.baseAddress, raw.count)
            }
        }
    }

    /// The `Sec-WebSocket-Key` value of a request head (bytes only: the floor's own work
    /// must stay negligible).
    static func webSocketKey(_ head: ArraySlice<UInt8>) -> String? {
        let name = Array("\r\nsec-websocket-key:".utf8)
        guard head.count > name.count else { return nil }
        var index = head.startIndex
        while index + name.count <= head.endIndex {
            var matches = true
            for offset in 0..<name.count where head[index + offset] | (offset > 1 ? 0x20 : 0) != name[offset] {
                matches = false
                break
            }
            if matches {
                var start = index + name.count
                while start < head.endIndex, head[start] == UInt8(ascii: " ") { start += 1 }
                var end = start
                while end < head.endIndex, head[end] != 13 { end += 1 }
                return String(decoding: head[start..<end], as: UTF8.self)
            }
            index += 1
        }
        return nil
    }

    /// The size of the whole masked client frame at the start of `bytes`, or nil if incomplete.
    static func frameLength(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 2 else { return nil }
        var header = 2
        var payload = Int(bytes[1] & 0x7F)
        if payload == 126 {
            guard bytes.count >= 4 else { return nil }
            payload = Int(bytes[2]) << 8 | Int(bytes[3])
            header = 4
        } else if payload == 127 {
            guard bytes.count >= 10 else { return nil }
            payload = (2..<10).reduce(0) { $0 << 8 | Int(bytes[$1]) }
            header = 10
        }
        if bytes[1] & 0x80 != 0 { header += 4 }
        return bytes.count >= header + payload ? header + payload : nil
    }

    /// The server's answers, byte for byte in size: the 101 head, the `connected` message,
    /// the two acks and the close echo.
    private struct Replies {
        let subprotocol: String
        let connected: [UInt8]
        let joinAck: [UInt8]
        let leaveAck: [UInt8]
        let close: [UInt8] = [0x88, 0x02, 0x03, 0xE8]

        init(subprotocol: String) {
            self.subprotocol = subprotocol
            let id = String(repeating: "0", count: 32)
            connected = Self.textFrame(
                #"{"type":"system","event":"connected","userId":null,"connectionId":"\#(id)"}"#)
            joinAck = Self.textFrame(#"{"type":"ack","ackId":1,"success":true}"#)
            leaveAck = Self.textFrame(#"{"type":"ack","ackId":2,"success":true}"#)
        }

        func upgradeHead(accept: String) -> [UInt8] {
            Array(
                ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    + "Sec-WebSocket-Accept: \(accept)\r\nSec-WebSocket-Protocol: \(subprotocol)\r\n\r\n").utf8)
        }

        static func textFrame(_ text: String) -> [UInt8] {
            let payload = Array(text.utf8)
            return [0x81, UInt8(payload.count)] + payload
        }
    }
}
