public import WPSBytes

/// A protocol fault by the peer; the connection must be closed with `code`.
public struct WebSocketProtocolError: Error, Sendable, Equatable {
    /// The close code to send before closing the connection.
    public var code: WebSocketCloseCode
    /// A short human-readable reason, safe to put in the close frame.
    public var reason: String

    /// Creates an error with the close code to send and a short reason.
    public init(code: WebSocketCloseCode, reason: String) {
        self.code = code
        self.reason = reason
    }
}
