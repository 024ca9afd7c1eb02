import WPSHTTP
import WPSLoop
import WPSTLS

/// TLS between a socket and the HTTP/WebSocket handlers: the loop reads ciphertext into it
/// and writes what it produces (protocol-spec/tls.md, server section).
final class TLSTransform: StreamTransform {
    let session: TLSSession
    let budget: HandshakeBudget
    let stats: TLSStats
    var sniffed = false
    /// A plain-text answer for a client that spoke HTTP to the TLS port.
    var plainReply: [UInt8] = []

    init(session: TLSSession, budget: HandshakeBudget, stats: TLSStats) {
        self.session = session
        self.budget = budget
        self.stats = stats
    }

    func inbound(_ bytes: UnsafeMutableRawBufferPointer, _ deliver: (UnsafeMutableRawBufferPointer) -> Void)
        -> StreamTransformStatus
    {
        if !sniffed, bytes.count >= TLSSniffer.bytesNeeded {
            sniffed = true
            if TLSSniffer.classify(UnsafeRawBufferPointer(bytes)) == .notTLS {
                stats.plaintextRejected += 1
                plainReply = HTTPResponse.canned(
                    status: .badRequest, body: "this port speaks TLS: use https:// or wss://\n", close: true)
                return .finished
            }
        }
        if session.state == .handshaking, !budget.take() { return .later }
        switch session.receive(UnsafeRawBufferPointer(bytes), onPlaintext: deliver) {
        case .ok:
            return .ok
        case .closed:
            return .finished
        case .failed:
            stats.handshakeFailures += session.state == .established ? 0 : 1
            return .failed
        }
    }

    func outbound(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard plainReply.isEmpty else { return true }
        do {
            try session.send(bytes)
            return true
        } catch {
            return false
        }
    }

    var pendingOutput: Int { plainReply.isEmpty ? session.outputByteCount : plainReply.count }

    func takeOutput(_ body: (UnsafeRawBufferPointer) -> Void) {
        if !plainReply.isEmpty {
            plainReply.withUnsafeBytes(body)
            plainReply = []
            return
        }
        session.takeOutput(body)
    }

    func finish() {
        session.shutdown()
    }
}

/// How many TLS handshake steps one loop runs per turn, so a storm of new connections
/// cannot starve established ones; the rest wait for the next turn.
final class HandshakeBudget {
    let perTurn: Int
    unowned let loop: EventLoop
    var turn: UInt64 = 0
    var used = 0

    init(perTurn: Int, loop: EventLoop) {
        self.perTurn = max(1, perTurn)
        self.loop = loop
    }

    func take() -> Bool {
        if loop.turn != turn {
            turn = loop.turn
            used = 0
        }
        guard used < perTurn else { return false }
        used += 1
        return true
    }
}

/// Counters of TLS trouble on one loop, for logs.
final class TLSStats {
    var plaintextRejected = 0
    var handshakeFailures = 0
}
