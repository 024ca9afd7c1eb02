/// One request the client sends: its frame (built once, so a retry repeats the same ackId),
/// what it does to the joined-group list, and who waits for it.
struct ClientOperation {
    enum Effect: Sendable { case none, join(String), leave(String) }

    /// The request's ackId; nil for fire-and-forget requests, which complete once written.
    var ackId: UInt64?
    /// The complete text-frame payload.
    var frame: [UInt8]
    var effect: Effect
    /// How many more times a dropped connection may make the client send it again.
    var retriesLeft: Int
    /// When the ack is overdue (monotonic ns); set when the frame is written.
    var deadline: UInt64 = 0
    /// The caller waiting for the outcome; nil for the client's own requests (rejoins).
    var continuation: CheckedContinuation<Void, any Error>?
    /// Set for an `invoke`, whose caller waits in `ClientCore.invocations` instead.
    var invocationId: String?

    /// Resumes the waiting caller, at most once.
    mutating func complete(_ error: (any Error)?) {
        guard let continuation else { return }
        self.continuation = nil
        if let error {
            continuation.resume(throwing: error)
        } else {
            continuation.resume()
        }
    }
}
