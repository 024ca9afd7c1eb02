/// Something the reader assembled from the input; payload pointers are valid only in the callback.
public enum WebSocketEvent {
    /// A complete data message; `opcode` is `.text` or `.binary`.
    ///
    /// Uncompressed text has been validated as UTF-8. A `compressed` message (RSV1 on its first
    /// frame) is passed through as received: the caller inflates it and checks UTF-8 itself.
    case message(opcode: WebSocketOpcode, payload: UnsafeRawBufferPointer, compressed: Bool)
    /// A ping; the application data (at most 125 bytes) should be echoed in a pong.
    case ping(UnsafeRawBufferPointer)
    /// A pong, solicited or not.
    case pong(UnsafeRawBufferPointer)
    /// A close frame whose code and UTF-8 reason are already validated; `code` is nil when empty.
    case close(code: UInt16?, reason: UnsafeRawBufferPointer)
}

/// What the reader should do after delivering an event.
public enum WebSocketReadDirective: Sendable {
    /// Keep parsing the input.
    case `continue`
    /// Stop: the caller is closing the connection; the reader drops the rest and ignores input.
    case stop
}
