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
    /// Whether this connection's handshake was counted in `stats`.
    var counted = false
    /// The first bytes of the connection, held until there are enough to tell TLS from HTTP.
    var firstBytes: [UInt8] = []
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
        if !sniffed {
            firstBytes.append(contentsOf: UnsafeRawBufferPointer(bytes))
            guard firstBytes.count >= TLSSniffer.bytesNeeded else { return .ok }
            sniffed = true
            let verdict = firstBytes.withUnsafeBytes { TLSSniffer.classify($0) }
            if verdict == .notTLS {
                stats.plaintextRejected += 1
                plainReply = HTTPResponse.canned(
                    status: .badRequest, body: "this port speaks TLS: use https:// or wss://\n", close: true)
                return .finished
            }
            if !budget.take() {
                // The loop offers these bytes again next turn; keep only the older ones.
                firstBytes.removeLast(bytes.count)
                sniffed = false
                return .later
            }
            // Hand OpenSSL everything seen so far, in order, once.
            var held = firstBytes
            firstBytes = []
            return held.withUnsafeMutableBytes { process($0, deliver, budgetTaken: true) }
        }
        return process(bytes, deliver, budgetTaken: false)
    }

    private func process(
        _ bytes: UnsafeMutableRawBufferPointer, _ deliver: (UnsafeMutableRawBufferPointer) -> Void, budgetTaken: Bool
    ) -> StreamTransformStatus {
        if session.state == .handshaking, !budgetTaken, !budget.take() { return .later }
        switch session.receive(UnsafeRawBufferPointer(bytes), onPlaintext: deliver) {
        case .ok:
            if !counted, session.state == .established {
                counted = true
                stats.handshakes += 1
            }
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

/// Counters of TLS handshakes and trouble on one loop, for logs and metrics.
final class TLSStats {
    var handshakes = 0
    var plaintextRejected = 0
    var handshakeFailures = 0
}
