import WPSBytes
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
    /// Our close frame is queued; anything after it must not be sent.
    var closeSent = false
    /// The code of the peer's close frame, if it sent one with a code.
    var peerCloseCode: UInt16?
    /// The peer sent a close frame (with or without a code).
    var peerSentClose = false

    init(connection: Connection, configuration: ServerConfiguration, application: WebSocketApplication) {
        self.connection = connection
        self.application = application
        reader = WebSocketReader(role: .server, maxMessageBytes: configuration.maxMessageBytes)
        pingNanos = max(configuration.pingInterval.nanoseconds, 1_000_000)
        idleNanos = max(configuration.idleTimeout.nanoseconds, 1_000_000)
        maxOutboundBytes = configuration.maxOutboundBytes
        lastHeard = connection.loop.now
        nextPing = lastHeard + pingNanos
    }

    func start() {
        armTimer()
        application.opened(self)
    }

    // MARK: sending

    /// Sends one unfragmented frame built from a header and the payload; control frames go
    /// ahead of queued data (a pong never waits behind a backlog).
    func send(_ opcode: WebSocketOpcode, _ payload: UnsafeRawBufferPointer) {
        guard !closeSent else { return }
        withUnsafeTemporaryAllocation(byteCount: 14, alignment: 1) { header in
            let length = WebSocketFrameEncoder.writeHeader(
                into: header, opcode: opcode, payloadLength: payload.count)
            let head = UnsafeRawBufferPointer(rebasing: header[0..<length])
            if opcode.isControl {
                connection.sendUrgent(head, payload)
            } else {
                connection.send(head, endsFrame: false)
                connection.send(payload, endsFrame: true)
            }
        }
        enforceOutboundLimit()
    }

    /// Sends a close frame (once) and closes the connection after it is written.
    func close(_ code: WebSocketCloseCode?, reason: String) {
        if !closeSent {
            connection.send(WebSocketFrameEncoder.closeFrame(code: code, reason: reason))
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
            case .message(let opcode, let payload, _):
                guard !closeSent else { return .stop }
                application.received(opcode, payload, on: self)
                return closeSent ? .stop : .continue
            case .ping(let payload):
                send(.pong, payload)
                return .continue
            case .pong:
                return .continue
            case .close(let code, _):
                peerCloseCode = code
                peerSentClose = true
                // Echo the peer's code (RFC 6455 §5.5.1); an empty close gets an empty reply.
                close(code.map { WebSocketCloseCode(rawValue: $0) }, reason: "")
                return .stop
            }
        }
        if let failure, !closeSent { application.failed(self, failure) }
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
