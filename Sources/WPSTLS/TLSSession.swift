internal import CWPSOpenSSL

/// One TLS connection as a transform between ciphertext and plaintext (ARCHITECTURE rule 8).
///
/// The session never touches a socket: the loop hands it ciphertext with `receive`, gets
/// plaintext back through a closure, and sends whatever `takeOutput` yields. OpenSSL reads the
/// caller's buffer directly and appends records to one output buffer, so there is no BIO pair
/// and no per-record allocation. Not thread-safe: one loop owns it.
public final class TLSSession {
    /// Where the connection stands.
    public enum State: Sendable, Hashable {
        /// Handshake messages are still being exchanged; `send` queues plaintext.
        case handshaking
        /// Application data flows both ways.
        case established
        /// close_notify was received or sent, or the session failed; no more data flows.
        case closed
    }

    /// Which side of the handshake this session plays.
    enum Role { case server, client }

    /// Plaintext bytes handed to `onPlaintext` per call at most: one TLS record's worth, on the stack.
    static let plaintextChunkBytes = 16 * 1024

    /// Current state; see `State`.
    public private(set) var state: State
    /// Why the session failed, if it did; `receive` reports it once as `.failed`, then `.closed`.
    public private(set) var failure: TLSError?
    /// The ALPN protocol both sides agreed on (e.g. `http/1.1`), nil before the handshake or when none.
    public private(set) var negotiatedALPN: String?
    /// `TLSv1.2` or `TLSv1.3` once established, nil before.
    public private(set) var protocolVersion: String?

    private let handle: OpaquePointer?
    /// For extensions in this module.
    var sessionHandle: OpaquePointer? { handle }
    private let role: Role
    /// Plaintext sent while handshaking; written once the handshake completes. Usually empty.
    private var pendingPlaintext: [UInt8] = []
    private var failureReported = false
    /// Guards against `receive` being called from its own `onPlaintext` (a programmer error).
    private var receiving = false
    /// Guards against writes from inside `takeOutput`'s body, which would move the buffer it reads.
    private var takingOutput = false

    init(handle: OpaquePointer?, role: Role, refusal: TLSError? = nil) {
        self.handle = handle
        self.role = role
        if handle == nil {
            state = .closed
            failure = refusal ?? TLSError.fromQueue("cannot create a TLS session")
        } else {
            state = .handshaking
        }
    }

    deinit {
        if let handle { wps_tls_session_free(handle) }
    }

    /// Whether encrypted bytes wait for the network.
    public var hasOutput: Bool {
        guard let handle else { return false }
        return wps_tls_output_pending(handle) > 0
    }

    /// Number of encrypted bytes waiting for the network.
    public var outputByteCount: Int {
        guard let handle else { return 0 }
        return wps_tls_output_pending(handle)
    }

    /// Hands the pending encrypted bytes to `body` once (if any) and empties the output.
    ///
    /// The buffer is only valid inside `body`; copy it into the connection's send queue.
    /// `body` must not call back into the session.
    public func takeOutput(_ body: (UnsafeRawBufferPointer) -> Void) {
        guard let handle else { return }
        let count = wps_tls_output_pending(handle)
        guard count > 0, let base = wps_tls_output(handle) else { return }
        precondition(!takingOutput, "TLSSession.takeOutput called from its own body")
        takingOutput = true
        defer { takingOutput = false }
        body(UnsafeRawBufferPointer(start: base, count: count))
        wps_tls_output_consumed(handle)
    }

    /// Client role: produces the ClientHello into the output. Does nothing for a server or after start.
    public func startHandshake() {
        guard role == .client, state == .handshaking, let handle else { return }
        precondition(!takingOutput, "TLSSession.startHandshake called from takeOutput")
        if let error = advanceHandshake(handle) { fail(error) }
    }

    /// Feeds ciphertext from the network and delivers every plaintext byte it completes.
    ///
    /// `onPlaintext` may be called several times (once per record); its buffer is valid only
    /// during the call. Reads are drained until OpenSSL wants more ciphertext, because it may
    /// hold decrypted data no socket event would report. Afterwards send `takeOutput()`:
    /// handshake records, alerts, session tickets or the reply to close_notify may be waiting.
    public func receive(
        _ ciphertext: UnsafeRawBufferPointer,
        onPlaintext: (UnsafeMutableRawBufferPointer) -> Void
    ) -> TLSReadResult {
        guard state != .closed, let handle else { return reportClosed() }
        precondition(!receiving && !takingOutput, "TLSSession.receive called from one of its own callbacks")
        receiving = true
        defer { receiving = false }
        wps_tls_set_input(handle, ciphertext.baseAddress, ciphertext.baseAddress == nil ? 0 : ciphertext.count)
        defer { wps_tls_set_input(handle, nil, 0) }
        if state == .handshaking {
            if let error = advanceHandshake(handle) {
                fail(error)
                return reportClosed()
            }
            if state == .handshaking { return .ok }
        }
        return drainReads(handle, onPlaintext: onPlaintext)
    }

    /// Encrypts plaintext into the output; while handshaking it is queued and written once established.
    ///
    /// Throws when the session is closed or OpenSSL refuses the write (the session then closes).
    public func send(_ plaintext: UnsafeRawBufferPointer) throws(TLSError) {
        guard let handle, state != .closed else {
            throw failure ?? TLSError("cannot send on a closed TLS session")
        }
        guard !plaintext.isEmpty else { return }
        precondition(!takingOutput, "TLSSession.send called from takeOutput")
        if state == .handshaking {
            pendingPlaintext.append(contentsOf: plaintext)
            return
        }
        if let error = write(handle, plaintext) {
            fail(error)
            throw error
        }
    }

    /// Queues close_notify into the output and closes the session; later calls do nothing.
    ///
    /// During the handshake nothing can be sent (OpenSSL refuses), so the session just closes.
    public func shutdown() {
        guard state != .closed, let handle else { return }
        precondition(!takingOutput, "TLSSession.shutdown called from takeOutput")
        if state == .established {
            _ = wps_tls_shutdown(handle)
            wps_tls_error_clear()
        }
        state = .closed
        pendingPlaintext = []
    }

    // MARK: - Internals

    /// Runs the handshake as far as the input allows; returns the failure, if any.
    private func advanceHandshake(_ handle: OpaquePointer) -> TLSError? {
        switch Int(wps_tls_handshake(handle)) {
        case WPS_TLS_OK:
            state = .established
            recordNegotiation(handle)
            return flushPending(handle)
        case WPS_TLS_WANT:
            return nil
        default:
            let verify = wps_tls_verify_error(handle).map { "certificate verification: " + String(cString: $0) }
            return TLSError.fromQueue("TLS handshake failed", detail: verify)
        }
    }

    private func drainReads(
        _ handle: OpaquePointer,
        onPlaintext: (UnsafeMutableRawBufferPointer) -> Void
    ) -> TLSReadResult {
        withUnsafeTemporaryAllocation(byteCount: Self.plaintextChunkBytes, alignment: 16) { chunk in
            var count = 0
            while true {
                switch Int(wps_tls_read(handle, chunk.baseAddress, chunk.count, &count)) {
                case WPS_TLS_OK:
                    onPlaintext(UnsafeMutableRawBufferPointer(rebasing: chunk[..<count]))
                    // The callback may have shut the session down; stop reading then.
                    if state == .closed { return reportClosed() }
                case WPS_TLS_WANT:
                    return .ok
                case WPS_TLS_CLOSED:
                    // Answer close_notify with ours so the peer sees a clean bidirectional close.
                    _ = wps_tls_shutdown(handle)
                    wps_tls_error_clear()
                    state = .closed
                    failureReported = true
                    return .closed
                default:
                    fail(TLSError.fromQueue("TLS record failed"))
                    return reportClosed()
                }
            }
        }
    }

    private func flushPending(_ handle: OpaquePointer) -> TLSError? {
        guard !pendingPlaintext.isEmpty else { return nil }
        let queued = pendingPlaintext
        pendingPlaintext = []
        return queued.withUnsafeBytes { write(handle, $0) }
    }

    private func write(_ handle: OpaquePointer, _ plaintext: UnsafeRawBufferPointer) -> TLSError? {
        guard let base = plaintext.baseAddress, !plaintext.isEmpty else { return nil }
        guard Int(wps_tls_write(handle, base, plaintext.count)) == WPS_TLS_OK else {
            return TLSError.fromQueue("TLS write failed")
        }
        return nil
    }

    private func recordNegotiation(_ handle: OpaquePointer) {
        var alpn: UnsafePointer<UInt8>?
        let length = wps_tls_alpn(handle, &alpn)
        if let alpn, length > 0 {
            negotiatedALPN = String(decoding: UnsafeBufferPointer(start: alpn, count: length), as: UTF8.self)
        }
        if let version = wps_tls_protocol_version(handle) {
            protocolVersion = String(cString: version)
        }
    }

    private func fail(_ error: TLSError) {
        state = .closed
        pendingPlaintext = []
        if failure == nil { failure = error }
    }

    /// `.failed` the first time a failure is reported, `.closed` afterwards.
    private func reportClosed() -> TLSReadResult {
        if let failure, !failureReported {
            failureReported = true
            return .failed(failure)
        }
        return .closed
    }
}

@available(*, unavailable)
extension TLSSession: Sendable {}
