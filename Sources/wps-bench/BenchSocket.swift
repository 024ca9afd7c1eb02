import WPSLoop
import WPSWebSocket

/// What a `BenchSocket` tells its owner. Calls arrive on the socket's loop thread.
protocol BenchPeer: AnyObject {
    /// The server answered 101; frames may be sent now.
    func socketUpgraded(_ socket: BenchSocket)
    /// One complete text message (valid only during the call); `now` is the read time.
    func socketMessage(_ socket: BenchSocket, _ payload: UnsafeRawBufferPointer, now: UInt64)
    /// The socket is gone; `failure` says why when it was not a clean close the owner asked for.
    func socketClosed(_ socket: BenchSocket, failure: String?)
}

/// A lean WebSocket client connection for load generation: handshake, masked text frames
/// out, reassembled messages in. No TLS, no deflate, no reconnects.
final class BenchSocket: ConnectionHandler {
    enum State { case idle, handshaking, open, closing, closed }

    private(set) var state = State.idle
    private unowned let peer: BenchPeer
    private var connection: Connection?
    private var reader = WebSocketReader(role: .client, maxMessageBytes: 1 << 20)
    private var head: [UInt8] = []
    private var failure: String?
    private var clientInitiatedClose = false

    init(peer: BenchPeer) {
        self.peer = peer
    }

    /// Connects to `127.0.0.1:port` (from `sourceHost` when given) and sends the upgrade
    /// request for `path` offering `subprotocol`. Returns false when the connect failed at once.
    @discardableResult
    func start(
        loop: EventLoop, host: String, port: Int, sourceHost: String?, path: String, subprotocol: String
    ) -> Bool {
        state = .handshaking
        let made: Connection?
        if let sourceHost {
            made = loop.connect(host: host, port: port, sourceHost: sourceHost, handler: self)
        } else {
            made = loop.connect(host: host, port: port, handler: self)
        }
        guard let made else {
            state = .closed
            return false
        }
        connection = made
        let request = WebSocketHandshake.clientRequestHead(
            host: "\(host):\(port)", path: path, key: WebSocketHandshake.randomKey(), protocols: [subprotocol])
        made.send(request)
        return true
    }

    /// Sends one masked text frame holding `payload`.
    func sendText(_ payload: [UInt8]) {
        guard state == .open, let connection else { return }
        let frame = WebSocketFrameEncoder.frame(
            opcode: .text, payload: payload, maskKey: WebSocketHandshake.randomMaskKey())
        connection.send(frame)
    }

    /// Bytes queued toward the server that the kernel has not taken yet.
    var queuedBytes: Int { connection?.queuedBytes ?? 0 }

    /// Starts the closing handshake with code 1000; `socketClosed` follows with no failure.
    func closeNormally() {
        guard state == .open, let connection else {
            abort()
            return
        }
        clientInitiatedClose = true
        state = .closing
        connection.send(
            WebSocketFrameEncoder.closeFrame(
                code: .normal, reason: "", maskKey: WebSocketHandshake.randomMaskKey()))
    }

    /// Drops the connection at once.
    func abort() {
        clientInitiatedClose = true
        connection?.abort()
    }

    // MARK: ConnectionHandler

    func received(_ bytes: UnsafeMutableRawBufferPointer, on connection: Connection) {
        let now = ProcessControl.monotonicNanos
        if state == .handshaking {
            head.append(contentsOf: UnsafeRawBufferPointer(bytes))
            guard let end = Self.headEnd(head) else {
                if head.count > 16_384 { fail("response head too large") }
                return
            }
            guard Self.isSwitchingProtocols(head) else {
                let line = head.prefix(while: { $0 != 13 })
                fail("upgrade refused: " + String(decoding: line, as: UTF8.self))
                return
            }
            state = .open
            var rest = Array(head[end...])
            head = []
            peer.socketUpgraded(self)
            if !rest.isEmpty { rest.withUnsafeMutableBytes { feed($0, now: now) } }
            return
        }
        feed(bytes, now: now)
    }

    func receivedEOF(on connection: Connection) {
        if state == .open { failure = failure ?? "server closed the TCP connection" }
        connection.close()
    }

    func closed(_ connection: Connection) {
        let wasHandshaking = state == .handshaking
        state = .closed
        self.connection = nil
        if failure == nil, !clientInitiatedClose {
            failure = wasHandshaking ? "connect or upgrade failed" : "connection lost"
        }
        peer.socketClosed(self, failure: failure)
    }

    // MARK: frames

    private func feed(_ bytes: UnsafeMutableRawBufferPointer, now: UInt64) {
        let error = reader.feed(bytes) { event in
            switch event {
            case .message(_, let payload, _):
                peer.socketMessage(self, payload, now: now)
                return state == .open || state == .closing ? .continue : .stop
            case .ping(let data):
                if let connection {
                    connection.send(
                        WebSocketFrameEncoder.frame(
                            opcode: .pong, payload: UnsafeRawBufferPointer(data),
                            maskKey: WebSocketHandshake.randomMaskKey()))
                }
                return .continue
            case .pong:
                return .continue
            case .close(let code, let reason):
                if state == .open {
                    let text = String(decoding: UnsafeRawBufferPointer(reason), as: UTF8.self)
                    failure = "server closed with \(code.map(String.init) ?? "no code") \(text)"
                    self.connection?.send(
                        WebSocketFrameEncoder.closeFrame(
                            code: code.map { WebSocketCloseCode(rawValue: $0) }, reason: "",
                            maskKey: WebSocketHandshake.randomMaskKey()))
                }
                state = .closing
                self.connection?.close()
                return .stop
            }
        }
        if let error { fail("protocol error: \(error)") }
    }

    private func fail(_ reason: String) {
        failure = failure ?? reason
        connection?.abort()
    }

    /// Index just past the blank line ending the response head, or nil when incomplete.
    static func headEnd(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for index in 3..<bytes.count
        where bytes[index] == 10 && bytes[index - 1] == 13 && bytes[index - 2] == 10 && bytes[index - 3] == 13 {
            return index + 1
        }
        return nil
    }

    /// True when the status line is `HTTP/1.1 101`.
    static func isSwitchingProtocols(_ bytes: [UInt8]) -> Bool {
        let prefix = Array("HTTP/1.1 101".utf8)
        return bytes.count >= prefix.count && Array(bytes[0..<prefix.count]) == prefix
    }
}
