import WPSBytes
import WPSDeflate
import WPSLoop
import WPSWebSocket

/// What runs on top of an open WebSocket (the echo route, later the pub/sub protocols).
protocol WebSocketApplication: AnyObject {
    func opened(_ session: WebSocketSession)
    func received(_ opcode: WebSocketOpcode, _ payload: UnsafeRawBufferPointer, on session: WebSocketSession)
    func closed(_ session: WebSocketSession)
    /// The peer broke RFC 6455 (or a size limit); the application closes with `failure`'s code.
    func failed(_ session: WebSocketSession, _ failure: WebSocketProtocolError)
}

extension WebSocketApplication {
    func failed(_ session: WebSocketSession, _ failure: WebSocketProtocolError) {
        session.close(failure.code, reason: failure.reason)
    }
}

/// An upgraded connection: frames in, events to the application, frames out; keeps the
/// close handshake, pings and the idle timeout (protocol-spec/websocket.md).
final class WebSocketSession: ConnectionHandler {
    let connection: Connection
    let application: WebSocketApplication
    var reader: WebSocketReader
    let pingNanos: UInt64
    let idleNanos: UInt64
    let maxOutboundBytes: Int
    var lastHeard: UInt64
    var nextPing: UInt64
    /// When our last ping went out (loop time, ns; 0: none outstanding) and the round trip
    /// of the latest one answered, for the admin routes.
    var pingSentAt: UInt64 = 0
    var pingRoundTripNanos: UInt64?
    /// Our close frame is queued; anything after it must not be sent.
    var closeSent = false
    /// The code of the peer's close frame, if it sent one with a code.
    var peerCloseCode: UInt16?
    /// The peer sent a close frame (with or without a code).
    var peerSentClose = false
    /// The peer's close frame came before ours: the peer started the closing handshake.
    var peerStartedClose = false
    /// The code and reason of the close frame the server sent, once sent.
    var sentCloseCode: WebSocketCloseCode?
    var sentCloseReason = ""
    /// permessage-deflate as negotiated; nil: off for this connection.
    let deflate: DeflateParameters?
    /// The loop's compressors and shared inflaters; nil when permessage-deflate is off.
    let compressors: DeflatePool?
    /// This connection's share of the inflate-window budget, held until the session goes.
    let deflateReservation: DeflateReservation?
    /// Decompresses the messages of a client that keeps context; made on the first
    /// compressed one. Clients that reset context use the loop's shared inflater instead.
    var inflater: MessageInflater?
    /// Reused output of the inflater.
    var inflated: [UInt8] = []
    let maxMessageBytes: Int

    /// The configuration a session reads, as plain values: the router keeps one, so opening
    /// a session copies no configuration strings or collections.
    struct Limits {
        let maxMessageBytes: Int
        /// The ping interval and idle timeout in nanoseconds, at least a millisecond each.
        let pingNanos: UInt64
        let idleNanos: UInt64
        let maxOutboundBytes: Int

        init(_ configuration: ServerConfiguration) {
            maxMessageBytes = configuration.maxMessageBytes
            pingNanos = max(configuration.pingInterval.nanoseconds, 1_000_000)
            idleNanos = max(configuration.idleTimeout.nanoseconds, 1_000_000)
            maxOutboundBytes = configuration.maxOutboundBytes
        }
    }

    init(
        connection: Connection, configuration: Limits, application: WebSocketApplication,
        deflate negotiated: NegotiatedDeflate? = nil, compressors: DeflatePool? = nil
    ) {
        self.connection = connection
        self.compressors = compressors
        self.application = application
        let deflate = negotiated?.parameters
        self.deflate = deflate
        deflateReservation = negotiated?.reservation
        maxMessageBytes = configuration.maxMessageBytes
        let wireLimit =
            deflate == nil
            ? configuration.maxMessageBytes : Self.compressedWireLimit(maxMessageBytes: configuration.maxMessageBytes)
        reader = WebSocketReader(role: .server, maxMessageBytes: wireLimit, allowCompressed: deflate != nil)
        pingNanos = configuration.pingNanos
        idleNanos = configuration.idleNanos
        maxOutboundBytes = configuration.maxOutboundBytes
        lastHeard = connection.loop.now
        nextPing = lastHeard + pingNanos
    }

    /// The largest compressed message read off the wire. Deflate can make incompressible data
    /// a little larger (5 bytes per 16 KiB stored block, so under 1/64, plus a constant);
    /// the exact limit applies to what the application receives (protocol-spec/deflate.md §5).
    static func compressedWireLimit(maxMessageBytes: Int) -> Int {
        maxMessageBytes + maxMessageBytes / compressedWireSlackDivisor + compressedWireSlackBytes
    }
    static let compressedWireSlackDivisor = 64
    static let compressedWireSlackBytes = 1024

    func start() {
        armTimer()
        application.opened(self)
    }

    // MARK: sending

    /// Sends one unfragmented frame built from a header and the payload; control frames go
    /// ahead of queued data (a pong never waits behind a backlog). Data worth compressing is
    /// compressed when permessage-deflate was negotiated.
    func send(_ opcode: WebSocketOpcode, _ payload: UnsafeRawBufferPointer) {
        guard !closeSent else { return }
        if let deflate, !opcode.isControl, let pool = compressors,
            pool.shouldCompress(payload.count),
            let body = pool.compress(payload, windowBits: deflate.serverMaxWindowBits)
        {
            withUnsafeTemporaryAllocation(byteCount: 14, alignment: 1) { header in
                let length = WebSocketFrameEncoder.writeHeader(
                    into: header, opcode: opcode, rsv1: true, payloadLength: body.count)
                let head = UnsafeRawBufferPointer(rebasing: header[0..<length])
                _ = body.withUnsafeBytes { body in
                    connection.queue(byteCount: head.count + body.count) { Outbox.copy(head, body, to: $0) }
                }
            }
            enforceOutboundLimit()
            return
        }
        withUnsafeTemporaryAllocation(byteCount: 14, alignment: 1) { header in
            let length = WebSocketFrameEncoder.writeHeader(
                into: header, opcode: opcode, payloadLength: payload.count)
            let head = UnsafeRawBufferPointer(rebasing: header[0..<length])
            // One piece, borrowed from the turn arena when the socket keeps up, so it merges
            // with what precedes it there (a 101 and the first message go out in one write).
            // Control frames go ahead of queued data.
            connection.queue(byteCount: head.count + payload.count, urgent: opcode.isControl) { destination in
                Outbox.copy(head, payload, to: destination)
            }
        }
        enforceOutboundLimit()
    }

    /// Sends a close frame (once) and closes the connection after it is written: the write
    /// side is shut once the frame is flushed (the server's FIN goes first, RFC 6455 §7.1.1),
    /// then input is drained until the peer's end of stream or the linger timeout. This holds
    /// even after the peer's close frame: bytes it sent before reading ours (a pong for a ping
    /// that crossed its close) would otherwise meet a closed socket, and the kernel would
    /// answer with a reset that can destroy our close frame.
    func close(_ code: WebSocketCloseCode?, reason: String) {
        if !closeSent {
            sentCloseCode = code
            sentCloseReason = reason
            withUnsafeTemporaryAllocation(byteCount: WebSocketFrameEncoder.maxCloseFrameBytes, alignment: 1) { frame in
                let length = WebSocketFrameEncoder.writeCloseFrame(into: frame, code: code, reason: reason)
                connection.queue(copying: UnsafeRawBufferPointer(rebasing: frame[0..<length]))
            }
            closeSent = true
        }
        connection.close()
    }

    private func enforceOutboundLimit() {
        if connection.queuedBytes > maxOutboundBytes {
            // The peer is not reading; a close frame would only queue behind the backlog.
            connection.abort()
        }
    }

    // MARK: loop events

    func received(_ bytes: UnsafeMutableRawBufferPointer, on connection: Connection) {
        lastHeard = connection.loop.now
        let failure = reader.feed(bytes) { event in
            switch event {
            case .message(let opcode, let payload, let compressed):
                guard !closeSent else { return .stop }
                if compressed {
                    guard inflate(payload) else { return .stop }
                    deliverInflated(opcode)
                    return closeSent ? .stop : .continue
                }
                if payload.count > maxMessageBytes {
                    fail(WebSocketProtocolError(code: .messageTooBig, reason: "Message over \(maxMessageBytes) bytes"))
                    return .stop
                }
                application.received(opcode, payload, on: self)
                return closeSent ? .stop : .continue
            case .ping(let payload):
                send(.pong, payload)
                return .continue
            case .pong:
                if pingSentAt != 0 {
                    pingRoundTripNanos = connection.loop.now &- pingSentAt
                    pingSentAt = 0
                }
                return .continue
            case .close(let code, _):
                peerCloseCode = code
                peerSentClose = true
                peerStartedClose = !closeSent
                // Echo the peer's code (RFC 6455 §5.5.1); an empty close gets an empty reply.
                close(code.map { WebSocketCloseCode(rawValue: $0) }, reason: "")
                return .stop
            }
        }
        if let failure, !closeSent { application.failed(self, failure) }
    }

    /// Inflates a compressed message into `inflated`; false when it failed, which has then
    /// already closed the connection (protocol-spec/deflate.md §5).
    private func inflate(_ payload: UnsafeRawBufferPointer) -> Bool {
        let chosen: MessageInflater?
        if let deflate, deflate.clientNoContextTakeover {
            chosen = compressors?.sharedInflater(windowBits: deflate.clientMaxWindowBits)
        } else {
            if inflater == nil { inflater = try? deflate?.makeServerInflater() }
            chosen = inflater
        }
        guard let inflater = chosen else {
            fail(WebSocketProtocolError(code: .internalError, reason: "Cannot allocate a decompressor"))
            return false
        }
        inflated.removeAll(keepingCapacity: inflated.capacity <= 64 * 1024)
        let failure: WebSocketProtocolError
        switch inflater.decompress(payload, maxOutputBytes: maxMessageBytes, into: &inflated) {
        case .ok: return true
        case .tooBig:
            failure = WebSocketProtocolError(
                code: .messageTooBig, reason: "Message over \(maxMessageBytes) bytes once inflated")
        case .corrupt: failure = WebSocketProtocolError(code: .invalidPayload, reason: "Invalid compressed data")
        case .failed: failure = WebSocketProtocolError(code: .internalError, reason: "Decompression failed")
        }
        fail(failure)
        return false
    }

    /// Hands the inflated message to the application, after the UTF-8 check the reader could
    /// not do on compressed text.
    private func deliverInflated(_ opcode: WebSocketOpcode) {
        inflated.withUnsafeBytes { bytes in
            if opcode == .text, !UTF8Validator.isValid(bytes) {
                fail(WebSocketProtocolError(code: .invalidPayload, reason: "Invalid UTF-8 in text message"))
                return
            }
            application.received(opcode, bytes, on: self)
        }
    }

    private func fail(_ failure: WebSocketProtocolError) {
        if !closeSent { application.failed(self, failure) }
    }

    func receivedEOF(on connection: Connection) {
        connection.close()
    }

    func timerFired(on connection: Connection, now: UInt64) {
        guard !closeSent else { return }
        if now >= lastHeard + idleNanos {
            close(.goingAway, reason: "idle timeout")
            return
        }
        if now >= nextPing {
            send(.ping, UnsafeRawBufferPointer(start: nil, count: 0))
            pingSentAt = now
            nextPing = now + pingNanos
        }
        armTimer()
    }

    func shutdownRequested(on connection: Connection) {
        close(.goingAway, reason: "server shutting down")
    }

    func closed(_ connection: Connection) {
        application.closed(self)
    }

    private func armTimer() {
        connection.setTimer(at: min(nextPing, lastHeard + idleNanos))
    }
}

/// `/echo`: every message comes back with the same opcode and payload.
final class EchoApplication: WebSocketApplication {
    func opened(_ session: WebSocketSession) {}

    func received(_ opcode: WebSocketOpcode, _ payload: UnsafeRawBufferPointer, on session: WebSocketSession) {
        session.send(opcode, payload)
    }

    func closed(_ session: WebSocketSession) {}
}
