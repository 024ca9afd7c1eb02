internal import CWPSOpenSSL

/// A TLS failure, described by what was being done and OpenSSL's error queue at that moment.
///
/// Reading the queue clears it, so a later error never reports a stale reason.
public struct TLSError: Error, Sendable, CustomStringConvertible, Equatable {
    /// Human-readable reason, e.g. `handshake failed (error:0A000086:SSL routines::certificate verify failed)`.
    public let description: String

    /// Makes an error with a fixed description (no OpenSSL queue involved).
    public init(_ description: String) {
        self.description = description
    }

    /// Drains this thread's OpenSSL error queue and prefixes it with `context`.
    static func fromQueue(_ context: String, detail: String? = nil) -> TLSError {
        let queue = drainQueue()
        var text = context
        if let detail { text += ": " + detail }
        if !queue.isEmpty { text += " (" + queue + ")" }
        return TLSError(text)
    }

    /// Returns the queued OpenSSL errors joined by `; ` and leaves the queue empty.
    static func drainQueue() -> String {
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: 1024) { buffer in
            guard let base = buffer.baseAddress else {
                wps_tls_error_clear()
                return ""
            }
            let length = wps_tls_error_drain(base, buffer.count)
            guard length > 0 else { return "" }
            let bytes = UnsafeRawBufferPointer(start: base, count: length)
            return String(decoding: bytes, as: UTF8.self)
        }
    }
}

/// What one `TLSSession.receive` call ended with.
public enum TLSReadResult: Sendable, Equatable {
    /// All ciphertext was consumed; any plaintext has been delivered.
    case ok
    /// The peer sent close_notify (or the session was already closed); no more plaintext follows.
    case closed
    /// The handshake or a record failed; the session is closed and any alert is in the output.
    case failed(TLSError)
}
