import Dispatch
import Foundation
import Glibc
import Logging
import Synchronization
import WPSAuth
import WPSBytes
import WPSDeflate
import WPSHub
import WPSWebSocket

@testable import WPSLoop
@testable import WPSServer

/// A wait that ran out, or a socket call that failed: the test fails instead of hanging.
struct HarnessError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// How long any single wait for the loop or for bytes from it may take.
let waitMillis: Int32 = 5000

/// One event loop on its own thread with the state the server keeps per loop
/// (`LoopContext`: hub, outbox, compressors), but no listener: tests put one end of a
/// socketpair on it and drive the other end themselves.
final class LoopHarness: Sendable {
    static let key = AccessKey("server-tests-key-0123456789abcdefghijkl")

    let configuration: ServerConfiguration
    let group: EventLoopGroup
    /// Test ends of socketpairs, closed before the loop is stopped so its connections end
    /// at once rather than lingering until the shutdown grace runs out.
    private let peers = Mutex<[Peer]>([])

    init(_ adjust: (inout ServerConfiguration) -> Void = { _ in }) throws {
        // A write to a socket whose test end is already closed must fail, not kill the process.
        _ = Self.ignoreBrokenPipes
        var configuration = ServerConfiguration()
        configuration.accessKeys = [Self.key]
        configuration.lingerTimeout = .seconds(5)
        adjust(&configuration)
        self.configuration = configuration
        let frozen = configuration
        group = try EventLoopGroup(threads: 1) { loop in
            loop.lingerNanos = frozen.lingerTimeout.nanoseconds
            loop.context = LoopContext(loop: loop, configuration: frozen)
        }
    }

    private static let ignoreBrokenPipes: Void = { signal(SIGPIPE, SIG_IGN) }()

    func shutdown() {
        for peer in peers.withLock({ $0 }) { peer.close() }
        group.shutdown(graceNanos: 1_000_000_000)
        group.join()
    }

    /// Runs `body` on the loop's thread, between its other events, and returns its result.
    func onLoop<T: Sendable>(_ body: @escaping @Sendable (EventLoop, LoopContext) throws -> T) throws -> T {
        let done = DispatchSemaphore(value: 0)
        let slot = ResultSlot<T>()
        group.inboxes[0].post { loop in
            slot.store(Result { try body(loop, LoopContext.of(loop)) })
            done.signal()
        }
        guard done.wait(timeout: .now() + .milliseconds(Int(waitMillis))) == .success else {
            throw HarnessError("the loop did not run a posted task")
        }
        return try slot.take().get()
    }

    /// A socketpair: one end goes onto the loop, where `install` gives it a handler; the
    /// other is returned. `sendBuffer` shrinks the loop end's kernel send buffer, so a peer
    /// that does not read backs the queue up soon.
    func connect<T: Sendable>(
        sendBuffer: Int? = nil, _ install: @escaping @Sendable (Connection, EventLoop, LoopContext) throws -> T
    ) throws -> (Peer, T) {
        var fds: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0 else {
            throw HarnessError("socketpair failed: errno \(errno)")
        }
        let peer = Peer(fd: fds[0])
        peers.withLock { $0.append(peer) }
        let loopEnd = fds[1]
        if let sendBuffer {
            var size = Int32(sendBuffer)
            setsockopt(loopEnd, SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        let installed = try onLoop { loop, context in
            guard let connection = loop.adopt(fd: loopEnd) else { throw HarnessError("the loop refused the socket") }
            return try install(connection, loop, context)
        }
        return (peer, installed)
    }

    /// A plain HTTP connection, as the server's accept handler sets one up.
    func connectHTTP() throws -> Peer {
        let configuration = configuration
        let (peer, _) = try connect { connection, _, context in
            var logger = Logger(label: "server-tests")
            logger.logLevel = .critical
            let router = Router(configuration: configuration, logger: logger)
            connection.handler = HTTPSession(connection: connection, router: router, context: context)
        }
        return peer
    }

    /// A WebSocket that has just been upgraded, running `application`.
    func connectWebSocket(_ application: @escaping @Sendable () -> WebSocketApplication) throws -> Peer {
        let limits = WebSocketSession.Limits(configuration)
        let (peer, _) = try connect { connection, _, context in
            let session = WebSocketSession(
                connection: connection, configuration: limits, application: application(),
                compressors: context.deflate)
            connection.handler = session
            session.start()
        }
        return peer
    }

    /// A hub client in group "g", opened the way the client endpoint opens one after its
    /// 101: a session with a `HubApplication` as its hub transport. `deflateWindow` negotiates
    /// permessage-deflate with that server window (no context takeover either way). JSON
    /// clients' `connected` message is read and checked here. Returns the test end and the
    /// connection id.
    func openClient(
        _ kind: ClientKind, deflateWindow: Int? = nil, sendBuffer: Int? = nil
    ) throws -> (Peer, String) {
        let limits = WebSocketSession.Limits(configuration)
        let (peer, id) = try connect(sendBuffer: sendBuffer) { connection, loop, context in
            let id = ConnectionIDs.make(loop: loop.index)
            let identity = ClientIdentity(
                hub: "hub", userId: "user", roles: ["webpubsub.joinLeaveGroup", "webpubsub.sendToGroup"],
                groups: ["g"], kind: kind)
            let application = HubApplication(
                context: context,
                start: .open(connectionId: id, identity: identity, reconnectionToken: kind.isReliable ? "token" : nil))
            let deflate = deflateWindow.map {
                NegotiatedDeflate(
                    parameters: DeflateParameters(
                        serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: $0),
                    reservation: nil)
            }
            let session = WebSocketSession(
                connection: connection, configuration: limits, application: application, deflate: deflate,
                compressors: context.deflate)
            connection.handler = session
            session.start()
            return id
        }
        peer.allowsCompressed = deflateWindow != nil
        if kind.isJSON {
            let connected = try peer.frames(1)[0]
            guard connected.json?["event"] as? String == "connected", connected.json?["connectionId"] as? String == id
            else { throw HarnessError("expected the connected message, got \(connected)") }
        }
        return (peer, id)
    }
}

/// Carries a result from the loop's thread to the waiting test.
final class ResultSlot<T: Sendable>: Sendable {
    private let value = Mutex<Result<T, any Error>?>(nil)
    func store(_ result: Result<T, any Error>) { value.withLock { $0 = result } }
    func take() -> Result<T, any Error> { value.withLock { $0 } ?? .failure(HarnessError("no result")) }
}

extension LoopContext {
    /// The hub transport of the session with this connection id.
    func port(_ id: String) throws -> HubApplication {
        guard let port = hub.sessions[id]?.transport as? HubApplication else {
            throw HarnessError("no open session \(id)")
        }
        return port
    }
}

extension HubApplication {
    var connection: Connection { deliveryConnection!.takeUnretainedValue() }
}

extension Connection {
    /// The queued regions, each as the bytes one iovec of the next write would carry.
    var queuedRegions: [[UInt8]] {
        let iovecs = UnsafeMutablePointer<iovec>.allocate(capacity: 256)
        defer { iovecs.deallocate() }
        let count = outbound.gather(into: iovecs, max: 256)
        return (0..<count).map { Array(UnsafeRawBufferPointer(start: iovecs[$0].iov_base, count: iovecs[$0].iov_len)) }
    }
}

/// One frame as a client reads it; control frames carry their payload as sent (a close
/// frame: the code in two bytes, then the reason).
struct Frame: Equatable, CustomStringConvertible {
    var opcode: WebSocketOpcode
    var payload: [UInt8]
    var compressed = false

    var text: String { String(decoding: payload, as: UTF8.self) }
    var json: [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(payload), options: [.fragmentsAllowed])) as? [String: Any]
    }
    var closeCode: UInt16? {
        guard opcode == .close, payload.count >= 2 else { return nil }
        return UInt16(payload[0]) << 8 | UInt16(payload[1])
    }
    var description: String {
        "\(opcode)\(compressed ? "(z)" : "") \(payload.count)B: \(String(decoding: payload.prefix(120), as: UTF8.self))"
    }
}

/// The test's end of a socketpair: plain non-blocking reads and writes, each wait bounded
/// by `waitMillis` through poll(2).
final class Peer: @unchecked Sendable {
    let fd: Int32
    private let closed = Mutex(false)
    /// Bytes read but not taken yet, by raw reads or by the frame reader.
    private var buffered: [UInt8] = []
    private var decoder = FrameDecoder()
    private var decoded: [Frame] = []
    /// Whether RSV1 frames are expected (permessage-deflate negotiated).
    var allowsCompressed = false

    init(fd: Int32) {
        self.fd = fd
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
    }

    func close() {
        let wasOpen = closed.withLock { closed in
            defer { closed = true }
            return !closed
        }
        if wasOpen { _ = Glibc.close(fd) }
    }

    func write(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes {
                send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL))
            }
            if written > 0 {
                offset += written
            } else if written < 0, errno == EAGAIN || errno == EINTR {
                try wait(for: Int16(POLLOUT))
            } else {
                throw HarnessError("write failed: errno \(errno)")
            }
        }
    }

    func write(_ text: String) throws { try write(Array(text.utf8)) }

    private func wait(for events: Int16) throws {
        var entry = pollfd(fd: fd, events: events, revents: 0)
        let ready = poll(&entry, 1, waitMillis)
        if ready == 0 { throw HarnessError("the socket was not ready within \(waitMillis) ms") }
    }

    /// Reads what is there (after waiting for something); false at end of stream.
    @discardableResult
    private func readSome() throws -> Bool {
        var chunk = [UInt8](repeating: 0, count: 256 * 1024)
        while true {
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count > 0 {
                buffered += chunk[0..<count]
                return true
            }
            if count == 0 { return false }
            guard errno == EAGAIN || errno == EINTR else { throw HarnessError("read failed: errno \(errno)") }
            try wait(for: Int16(POLLIN))
        }
    }

    /// Exactly `count` bytes; fails on a timeout or an early end of stream.
    func read(exactly count: Int) throws -> [UInt8] {
        while buffered.count < count {
            guard try readSome() else { throw HarnessError("end of stream after \(buffered.count) of \(count) bytes") }
        }
        defer { buffered.removeFirst(count) }
        return Array(buffered[0..<count])
    }

    /// An HTTP response head, through its empty line.
    func readHead() throws -> String {
        let end = Array("\r\n\r\n".utf8)
        while true {
            if let range = buffered.firstRange(of: end) {
                let head = String(decoding: buffered[..<range.upperBound], as: UTF8.self)
                buffered.removeFirst(range.upperBound)
                return head
            }
            guard try readSome() else { throw HarnessError("end of stream inside a response head") }
        }
    }

    /// Reads to the end of stream and returns whatever came before it.
    func readToEnd() throws -> [UInt8] {
        while try readSome() {}
        defer { buffered = [] }
        return buffered
    }

    /// The next `count` frames, decoded as a client decodes them.
    func frames(_ count: Int) throws -> [Frame] {
        while decoded.count < count {
            if buffered.isEmpty {
                guard try readSome() else {
                    throw HarnessError("end of stream after \(decoded.count) of \(count) frames")
                }
            }
            decoded += try decoder.feed(buffered)
            buffered = []
        }
        defer { decoded.removeFirst(count) }
        for frame in decoded.prefix(count) where frame.compressed && !allowsCompressed {
            throw HarnessError("a compressed frame without permessage-deflate: \(frame)")
        }
        return Array(decoded.prefix(count))
    }
}

/// A client's frame reader, fed bytes as they arrive (a frame may span reads).
struct FrameDecoder {
    private var reader = WebSocketReader(role: .client, maxMessageBytes: 64 << 20, allowCompressed: true)

    mutating func feed(_ bytes: [UInt8]) throws -> [Frame] {
        var input = bytes
        var frames: [Frame] = []
        let error = input.withUnsafeMutableBytes { buffer in
            reader.feed(buffer) { event in
                switch event {
                case .message(let opcode, let payload, let compressed):
                    frames.append(Frame(opcode: opcode, payload: Array(payload), compressed: compressed))
                case .ping(let payload): frames.append(Frame(opcode: .ping, payload: Array(payload)))
                case .pong(let payload): frames.append(Frame(opcode: .pong, payload: Array(payload)))
                case .close(let code, let reason):
                    let codeBytes = code.map { [UInt8($0 >> 8), UInt8($0 & 0xFF)] } ?? []
                    frames.append(Frame(opcode: .close, payload: codeBytes + Array(reason)))
                }
                return .continue
            }
        }
        if let error { throw HarnessError("the server sent a malformed frame: \(error)") }
        return frames
    }
}

/// Every frame in `bytes`, which must hold whole frames only.
func decodeFrames(_ bytes: [UInt8]) throws -> [Frame] {
    var decoder = FrameDecoder()
    return try decoder.feed(bytes)
}

/// An unmasked frame as the server should write it, built by the codec's own encoder.
func serverFrame(_ opcode: WebSocketOpcode, _ payload: [UInt8], compressed: Bool = false) -> [UInt8] {
    WebSocketFrameEncoder.frame(opcode: opcode, payload: payload, rsv1: compressed)
}

/// A frame as a client must send it: masked.
func clientFrame(_ opcode: WebSocketOpcode, _ payload: [UInt8], fin: Bool = true, rsv1: Bool = false) -> [UInt8] {
    WebSocketFrameEncoder.frame(opcode: opcode, payload: payload, fin: fin, rsv1: rsv1, maskKey: 0x37FA_213D)
}

/// `,"sequenceId":N}`, the end of a reliable client's data message.
func sequenceSuffix(_ sequenceId: UInt64) -> [UInt8] { Array(#","sequenceId":\#(sequenceId)}"#.utf8) }

/// A text message to group "g" of hub "hub", as a raw client publishing it would make it.
func groupText(_ text: String) -> Broadcast {
    Array(text.utf8).withUnsafeBytes { Broadcast(hub: "hub", group: "g", fromUserId: "pub", isText: true, payload: $0) }
}

func inflate(_ compressed: [UInt8], windowBits: Int) throws -> [UInt8] {
    let inflater = try MessageInflater(windowBits: windowBits, noContextTakeover: true)
    var output: [UInt8] = []
    let result = compressed.withUnsafeBytes { inflater.decompress($0, maxOutputBytes: 64 << 20, into: &output) }
    guard result == .ok else { throw HarnessError("inflate failed: \(result)") }
    return output
}

/// Bytes of whole frames, compared as bytes but shown frame by frame (header in hex, payload
/// size and start), so a failed comparison says where the two differ.
struct Wire: Equatable, CustomStringConvertible {
    let bytes: [UInt8]
    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var description: String {
        var frames: [String] = []
        var offset = 0
        while offset + 2 <= bytes.count {
            var header = 2
            var length = Int(bytes[offset + 1] & 0x7F)
            let extended = length == 126 ? 2 : length == 127 ? 8 : 0
            guard offset + header + extended <= bytes.count else { break }
            if extended > 0 {
                // Clamped, so a corrupt length cannot make the description itself trap.
                let declared = bytes[(offset + 2)..<(offset + 2 + extended)].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
                length = Int(min(declared, UInt64(bytes.count)))
                header += extended
            }
            if bytes[offset + 1] & 0x80 != 0 { header += 4 }
            let hex = bytes[offset..<min(offset + header, bytes.count)].map { String($0, radix: 16) }.joined(
                separator: " ")
            let payload = bytes[min(offset + header, bytes.count)..<min(offset + header + length, bytes.count)]
            let shown =
                payload.count <= 64
                ? String(decoding: payload, as: UTF8.self)
                : String(decoding: payload.prefix(24), as: UTF8.self) + "…"
                    + String(decoding: payload.suffix(40), as: UTF8.self)
            frames.append("[\(hex)] \(length)B \(shown)")
            offset += header + length
        }
        if offset < bytes.count { frames.append("\(bytes.count - offset) bytes after the last whole frame") }
        if offset > bytes.count { frames.append("the last frame is cut short") }
        return "\(bytes.count) bytes: " + frames.joined(separator: " | ")
    }
}
