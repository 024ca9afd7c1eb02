import WPSBytes
import WPSDeflate
import WPSHTTP
import WPSLoop
import WPSWebSocket

/// What a client socket reports to its owner, on the loop thread.
protocol WebSocketClientDelegate: AnyObject {
    /// The 101 was verified; frames may be sent now.
    func webSocketOpened(_ socket: any ClientSocket)
    /// One complete text message arrived.
    func webSocket(_ socket: any ClientSocket, receivedText payload: UnsafeRawBufferPointer)
    /// The connection is gone. `code` is the server's close code (nil when the socket died
    /// without a close frame); `opened` tells whether the handshake had succeeded.
    func webSocketClosed(_ socket: any ClientSocket, code: UInt16?, reason: String, opened: Bool)
}

/// What `ClientCore` needs of a WebSocket: the real `WebSocketClientHandler`, or an
/// in-memory one in tests. Every member is used on the loop thread.
protocol ClientSocket: AnyObject {
    /// Receives the socket's events; the implementation holds it weakly.
    var delegate: (any WebSocketClientDelegate)? { get set }
    /// Starts connecting on `loop`; false when it failed at once.
    func open(on loop: EventLoop) -> Bool
    /// Sends one text message; ignored unless open.
    func sendText(_ payload: [UInt8])
    /// Starts the close handshake with `code`.
    func close(code: WebSocketCloseCode, reason: String)
    /// Drops the socket without a close frame.
    func abort()
}

/// One client WebSocket over a loop connection: handshake, masked frames out, frames in,
/// close handshake. Text messages go to the delegate; pings are answered here.
final class WebSocketClientHandler: ConnectionHandler, ClientSocket {
    enum Phase { case connecting, handshaking, open, closing, closed }

    let url: ClientURL
    let protocols: [String]
    let key = WebSocketHandshake.randomKey()
    /// TLS for `wss://`; nil for plain TCP.
    let transform: StreamTransform?
    let handshakeTimeoutNanos: UInt64
    weak var delegate: (any WebSocketClientDelegate)?
    private(set) var phase = Phase.connecting
    var connection: Connection?
    private var headBuffer: [UInt8] = []
    private var headParser = HTTPResponseHeadParser()
    private var reader: WebSocketReader
    private var closeCode: UInt16?
    private var closeReason = ""
    private var opened = false
    private var sentClose = false
    /// Compression policy when permessage-deflate is offered; nil: not offered.
    let compression: DeflateConfiguration?
    let offer = DeflateNegotiation.ClientOffer()
    let maxMessageBytes: Int
    private var deflater: MessageDeflater?
    private var inflater: MessageInflater?
    private var inflated: [UInt8] = []

    init(
        url: ClientURL, protocols: [String], transform: StreamTransform?, maxMessageBytes: Int,
        handshakeTimeoutNanos: UInt64, compression: DeflateConfiguration? = nil
    ) {
        self.compression = compression
        self.maxMessageBytes = maxMessageBytes
        self.url = url
        self.protocols = protocols
        self.transform = transform
        self.handshakeTimeoutNanos = handshakeTimeoutNanos
        reader = WebSocketReader(role: .client, maxMessageBytes: maxMessageBytes)
    }

    /// Starts the TCP connect on `loop`; false when it failed at once.
    func open(on loop: EventLoop) -> Bool {
        guard let connection = loop.connect(host: url.host, port: url.port, handler: self) else { return false }
        connection.transform = transform
        self.connection = connection
        connection.setTimer(at: loop.now &+ handshakeTimeoutNanos)
        return true
    }

    func connected(_ connection: Connection) {
        phase = .handshaking
        let extensions = compression == nil ? [] : [("Sec-WebSocket-Extensions", DeflateNegotiation.clientOffer(offer))]
        let head = WebSocketHandshake.clientRequestHead(
            host: url.hostHeader, path: url.target, key: key, protocols: protocols, extraHeaders: extensions)
        write(head)
    }

    /// Sends one text message (masked). Ignored unless open.
    func sendText(_ payload: [UInt8]) {
        guard phase == .open else { return }
        if let deflater, let compression, compression.shouldCompress(messageBytes: payload.count),
            let body = try? payload.withUnsafeBytes({ bytes throws(DeflateError) -> [UInt8] in
                var out: [UInt8] = []
                try deflater.compress(bytes, into: &out)
                return out
            })
        {
            write(
                WebSocketFrameEncoder.frame(
                    opcode: .text, payload: body, rsv1: true, maskKey: WebSocketHandshake.randomMaskKey()))
            return
        }
        let frame = WebSocketFrameEncoder.frame(
            opcode: .text, payload: payload, maskKey: WebSocketHandshake.randomMaskKey())
        write(frame)
    }

    /// Starts the close handshake with `code`; the socket is dropped if the server does not
    /// answer within the handshake timeout.
    func close(code: WebSocketCloseCode, reason: String = "") {
        guard let connection else { return }
        switch phase {
        case .open:
            sendClose(code: code, reason: reason)
            phase = .closing
            connection.setTimer(at: connection.loop.now &+ handshakeTimeoutNanos)
        case .connecting, .handshaking:
            connection.abort()
        case .closing, .closed:
            break
        }
    }

    /// Drops the socket without a close frame.
    func abort() { connection?.abort() }

    func received(_ bytes: UnsafeMutableRawBufferPointer, on connection: Connection) {
        receivedPlain(bytes, on: connection)
    }

    private func receivedPlain(_ bytes: UnsafeMutableRawBufferPointer, on connection: Connection) {
        switch phase {
        case .handshaking:
            headBuffer.append(contentsOf: bytes)
            let result = headBuffer.withUnsafeBytes { headParser.parse($0) }
            switch result {
            case .needMore:
                return
            case .failure:
                connection.abort()
            case .complete(let head, let headLength):
                let verdict = WebSocketHandshake.verifyServerResponse(
                    status: head.status, headers: head.headers.fields, key: key, offeredProtocols: protocols)
                guard case .success = verdict else {
                    closeReason = "handshake failed: HTTP \(head.status)"
                    connection.abort()
                    return
                }
                if let answer = head.headers["Sec-WebSocket-Extensions"] {
                    // RFC 7692 §5: an answer we did not offer, or cannot honour, fails the connection.
                    guard let compression, let parameters = DeflateNegotiation.acceptResponse(answer, offered: offer),
                        let made = try? parameters.makeClientDeflater(configuration: compression),
                        let inflate = try? parameters.makeClientInflater()
                    else {
                        closeReason = "handshake failed: unacceptable Sec-WebSocket-Extensions"
                        connection.abort()
                        return
                    }
                    deflater = made
                    inflater = inflate
                    // Compressed wire bytes may exceed the inflated size a little.
                    reader = WebSocketReader(
                        role: .client, maxMessageBytes: maxMessageBytes + maxMessageBytes / 64 + 1024,
                        allowCompressed: true)
                }
                phase = .open
                opened = true
                connection.cancelTimer()
                var rest = Array(headBuffer[headLength...])
                headBuffer = []
                delegate?.webSocketOpened(self)
                if !rest.isEmpty {
                    rest.withUnsafeMutableBytes { feedFrames($0, on: connection) }
                }
            }
        case .open, .closing:
            feedFrames(bytes, on: connection)
        case .connecting, .closed:
            return
        }
    }

    private func feedFrames(_ bytes: UnsafeMutableRawBufferPointer, on connection: Connection) {
        let error = reader.feed(bytes) { event in
            switch event {
            case .message(let opcode, let payload, let compressed):
                guard opcode == .text, phase == .open else { return .continue }
                if compressed {
                    guard let inflater else { return .continue }
                    inflated.removeAll(keepingCapacity: inflated.capacity <= 64 * 1024)
                    let result = inflater.decompress(payload, maxOutputBytes: maxMessageBytes, into: &inflated)
                    let valid = result == .ok && inflated.withUnsafeBytes { UTF8Validator.isValid($0) }
                    guard valid else {
                        closeReason = "invalid compressed message from the server"
                        sendClose(code: result == .tooBig ? .messageTooBig : .invalidPayload, reason: closeReason)
                        connection.close()
                        return .stop
                    }
                    inflated.withUnsafeBytes { delegate?.webSocket(self, receivedText: $0) }
                    return .continue
                }
                delegate?.webSocket(self, receivedText: payload)
                return .continue
            case .ping(let payload):
                let pong = WebSocketFrameEncoder.frame(
                    opcode: .pong, payload: payload, maskKey: WebSocketHandshake.randomMaskKey())
                write(pong)
                return .continue
            case .pong:
                return .continue
            case .close(let code, let reason):
                closeCode = code
                closeReason = String(decoding: reason, as: UTF8.self)
                if !sentClose {
                    sendClose(code: code.map { WebSocketCloseCode(rawValue: $0) }, reason: "")
                }
                phase = .closing
                connection.close()
                return .stop
            }
        }
        if let error {
            closeReason = error.reason
            sendClose(code: error.code, reason: error.reason)
            connection.close()
        }
    }

    func timerFired(on connection: Connection, now: UInt64) {
        if phase != .open { connection.abort() }
    }

    func closed(_ connection: Connection) {
        guard phase != .closed else { return }
        phase = .closed
        self.connection = nil
        delegate?.webSocketClosed(self, code: closeCode, reason: closeReason, opened: opened)
    }

    private func sendClose(code: WebSocketCloseCode?, reason: String) {
        guard !sentClose else { return }
        sentClose = true
        write(WebSocketFrameEncoder.closeFrame(code: code, reason: reason, maskKey: WebSocketHandshake.randomMaskKey()))
    }

    /// Queues bytes; the loop passes them through TLS when the connection has it.
    private func write(_ bytes: [UInt8]) {
        guard let connection, !bytes.isEmpty else { return }
        connection.queue(copying: bytes)
    }
}
