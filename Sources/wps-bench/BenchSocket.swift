import WPSBytes
import WPSDeflate
import WPSHTTP
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
/// out, reassembled messages in; optionally over TLS and with permessage-deflate (inflate
/// only). No reconnects.
final class BenchSocket: ConnectionHandler {
    enum State { case idle, handshaking, open, closing, closed }

    /// Largest message accepted, inflated or not.
    static let maxMessageBytes = 1 << 20

    private(set) var state = State.idle
    private unowned let peer: BenchPeer
    private let transport: BenchTransport
    private var connection: Connection?
    private var reader = WebSocketReader(role: .client, maxMessageBytes: BenchSocket.maxMessageBytes)
    private var head: [UInt8] = []
    private var headParser = HTTPResponseHeadParser()
    private var failure: String?
    private var clientInitiatedClose = false
    /// Set when the server accepted permessage-deflate.
    private var inflater: MessageInflater?
    private var inflated: [UInt8] = []
    /// Messages that arrived compressed and were inflated.
    private(set) var inflatedMessages = 0
    /// TCP segments with data received on this socket; nil when unknown or not connected.
    var dataSegmentsReceived: Int? { connection?.dataSegmentsReceived }

    init(peer: BenchPeer, transport: BenchTransport = BenchTransport()) {
        self.peer = peer
        self.transport = transport
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
        if let tls = transport.tls {
            // Set before anything is written: the request goes out once the handshake is done.
            made.transform = tls.transform(serverName: BenchTransport.serverName)
        }
        connection = made
        let extensions =
            transport.deflate
            ? [("Sec-WebSocket-Extensions", DeflateNegotiation.clientOffer(BenchTransport.offer))] : []
        let request = WebSocketHandshake.clientRequestHead(
            host: "\(host):\(port)", path: path, key: WebSocketHandshake.randomKey(), protocols: [subprotocol],
            extraHeaders: extensions)
        made.queue(copying: request)
        return true
    }

    /// Sends one masked text frame holding `payload`, never compressed: RFC 7692 lets each
    /// message choose (RSV1 clear means uncompressed), so a publisher that negotiated deflate
    /// may still send plain frames and the server inflates nothing.
    func sendText(_ payload: [UInt8]) {
        guard state == .open, let connection else { return }
        let frame = WebSocketFrameEncoder.frame(
            opcode: .text, payload: payload, maskKey: WebSocketHandshake.randomMaskKey())
        connection.queue(copying: frame)
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
        connection.queue(
            copying:
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
            let parsed = head.withUnsafeBytes { headParser.parse($0) }
            let end: Int
            switch parsed {
            case .needMore:
                return
            case .failure:
                fail("invalid response head")
                return
            case .complete(let response, let length):
                guard response.status == 101 else {
                    fail("upgrade refused: HTTP \(response.status) \(response.reason)")
                    return
                }
                switch BenchTransport.negotiated(
                    answer: response.headers["Sec-WebSocket-Extensions"], offered: transport.deflate)
                {
                case .none:
                    break
                case .invalid:
                    fail("unacceptable Sec-WebSocket-Extensions")
                    return
                case .deflate(let parameters):
                    guard let made = try? parameters.makeClientInflater() else {
                        fail("cannot make an inflater")
                        return
                    }
                    inflater = made
                    // Compressed wire bytes may exceed the inflated size a little.
                    reader = WebSocketReader(
                        role: .client, maxMessageBytes: Self.maxMessageBytes + Self.maxMessageBytes / 64 + 1024,
                        allowCompressed: true)
                }
                end = length
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
            case .message(_, let payload, let compressed):
                if compressed {
                    // Only after a deflate answer does the reader accept RSV1, so `inflater` is set.
                    // UTF-8 is not checked after inflating: the stamp scan needs none.
                    guard let inflater else {
                        fail("compressed message without deflate")
                        return .stop
                    }
                    inflated.removeAll(keepingCapacity: inflated.capacity <= 64 * 1024)
                    let result = inflater.decompress(payload, maxOutputBytes: Self.maxMessageBytes, into: &inflated)
                    guard result == .ok else {
                        fail("cannot inflate a message: \(result)")
                        return .stop
                    }
                    inflatedMessages &+= 1
                    inflated.withUnsafeBytes { peer.socketMessage(self, $0, now: now) }
                } else {
                    peer.socketMessage(self, payload, now: now)
                }
                return state == .open || state == .closing ? .continue : .stop
            case .ping(let data):
                if let connection {
                    connection.queue(
                        copying:
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
                    self.connection?.queue(
                        copying:
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
}
