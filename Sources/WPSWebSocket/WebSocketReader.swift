import WPSBytes

/// Incremental frame parser and message assembler for one connection (RFC 6455 §5).
///
/// Feed it bytes as they are read. A frame that lies wholly in the input is unmasked in place
/// and, when it is a whole message, delivered without a copy; anything split across reads is
/// kept in the reader's own buffers. Every rule it enforces and its close code are listed in
/// protocol-spec/websocket.md ("Frames").
public struct WebSocketReader: Sendable {
    /// Which end this reader decodes for: servers require masked frames, clients unmasked.
    public let role: WebSocketRole
    /// Largest message (sum of its fragments' payloads) accepted; larger closes with 1009.
    public let maxMessageBytes: Int
    /// Whether RSV1 marks a compressed message (permessage-deflate was negotiated).
    public let allowCompressed: Bool

    private enum Phase: Sendable {
        case header, payload, failed, closed, stopped
    }

    private var phase = Phase.header
    /// The first bytes of a header that arrived without the rest (at most 14).
    private var headerBytes: [UInt8] = []
    /// The frame whose payload is being received.
    private var frame = WebSocketFrameHeader.empty
    /// Payload bytes of `frame` consumed so far; also the mask offset of the next byte.
    private var frameReceived = 0
    /// Payload of a control frame split across reads (at most 125 bytes).
    private var control: [UInt8] = []
    /// Payload of the message being assembled, when it did not arrive as one whole frame.
    private var message: [UInt8] = []
    /// Opcode of the message in progress, from its first frame; nil between messages.
    private var messageOpcode: WebSocketOpcode?
    private var messageCompressed = false
    /// Payload bytes of the message in progress, counted from frame headers.
    private var messageLength = 0
    private var checksUTF8 = false
    private var utf8 = UTF8Validator()

    /// Buffers larger than this are released after their message instead of kept for reuse.
    private static let retainedCapacityBytes = 64 * 1024

    /// Creates a reader; `maxMessageBytes` defaults to 1 MiB, enough for chat-sized pub/sub traffic.
    public init(role: WebSocketRole, maxMessageBytes: Int = 1 << 20, allowCompressed: Bool = false) {
        precondition(maxMessageBytes >= 0, "maxMessageBytes must not be negative")
        self.role = role
        self.maxMessageBytes = maxMessageBytes
        self.allowCompressed = allowCompressed
    }

    /// Memory held for partial frames and messages, in bytes (for limits and metrics).
    public var bufferedBytes: Int { headerBytes.count + control.count + message.count }

    /// True once the reader stopped accepting input (error, close frame or `.stop`).
    public var isFinished: Bool {
        switch phase {
        case .header, .payload: false
        case .failed, .closed, .stopped: true
        }
    }

    /// Feeds bytes just read; returns the protocol error that must close the connection, or nil.
    ///
    /// `input` is modified: masked payloads are unmasked in place. Bytes of an incomplete frame
    /// are kept. After an error, a close event or `.stop` from `onEvent`, the rest of the input
    /// and all later input are ignored.
    public mutating func feed(
        _ input: UnsafeMutableRawBufferPointer,
        _ onEvent: (WebSocketEvent) -> WebSocketReadDirective
    ) -> WebSocketProtocolError? {
        guard let base = input.baseAddress else { return nil }
        let end = input.count
        var position = 0
        while true {
            switch phase {
            case .failed, .closed, .stopped:
                return nil
            case .header:
                let available = end &- position
                if headerBytes.isEmpty, available >= 2 {
                    let first = base.load(fromByteOffset: position, as: UInt8.self)
                    let second = base.load(fromByteOffset: position &+ 1, as: UInt8.self)
                    if let error = checkStart(first, second) { return fail(error) }
                    let size = WebSocketFrameHeader.size(second: second)
                    if available >= size {
                        let header = WebSocketFrameHeader(UnsafeRawPointer(base + position))
                        position &+= size
                        if let error = begin(header) { return fail(error) }
                    } else {
                        headerBytes.append(contentsOf: UnsafeRawBufferPointer(start: base + position, count: available))
                        return nil
                    }
                } else {
                    if available == 0 { return nil }
                    if headerBytes.count < 2 {
                        headerBytes.append(base.load(fromByteOffset: position, as: UInt8.self))
                        position &+= 1
                        if headerBytes.count < 2 { continue }
                        if let error = checkStart(headerBytes[0], headerBytes[1]) { return fail(error) }
                    }
                    let size = WebSocketFrameHeader.size(second: headerBytes[1])
                    let take = min(size &- headerBytes.count, end &- position)
                    headerBytes.append(contentsOf: UnsafeRawBufferPointer(start: base + position, count: take))
                    position &+= take
                    if headerBytes.count < size { return nil }
                    let header = headerBytes.withUnsafeBytes { WebSocketFrameHeader($0.baseAddress!) }
                    headerBytes.removeAll(keepingCapacity: true)
                    if let error = begin(header) { return fail(error) }
                }
            case .payload:
                let remaining = frame.length &- frameReceived
                let available = end &- position
                if remaining > 0, available == 0 { return nil }
                let take = min(remaining, available)
                let chunk = UnsafeMutableRawBufferPointer(start: base + position, count: take)
                position &+= take
                if let error = receivedPayload(chunk, completes: take == remaining, onEvent) {
                    return fail(error)
                }
            }
        }
    }

    // MARK: - Frame rules

    /// Rules decidable from the first two header bytes.
    private func checkStart(_ first: UInt8, _ second: UInt8) -> WebSocketProtocolError? {
        let opcode = WebSocketOpcode(rawValue: first & 0x0F)
        let fin = first & 0x80 != 0
        let rsv1 = first & 0x40 != 0
        let masked = second & 0x80 != 0
        let length7 = second & 0x7F
        if first & 0x30 != 0 { return protocolError("RSV2 or RSV3 set without an extension") }
        if !opcode.isDefined { return protocolError("Reserved opcode \(opcode.rawValue)") }
        switch role {
        case .server where !masked: return protocolError("Client frame is not masked")
        case .client where masked: return protocolError("Server frame is masked")
        default: break
        }
        if opcode.isControl {
            if !fin { return protocolError("Fragmented control frame") }
            if length7 > 125 { return protocolError("Control frame payload over 125 bytes") }
            if rsv1 { return protocolError("RSV1 set on a control frame") }
            return nil
        }
        if opcode == .continuation {
            if messageOpcode == nil { return protocolError("Continuation frame without a message") }
            if rsv1 { return protocolError("RSV1 set on a continuation frame") }
        } else {
            if messageOpcode != nil { return protocolError("New message before the previous one ended") }
            if rsv1, !allowCompressed { return protocolError("RSV1 set without permessage-deflate") }
        }
        return nil
    }

    /// Rules that need the full length, then starts receiving the frame's payload.
    private mutating func begin(_ header: WebSocketFrameHeader) -> WebSocketProtocolError? {
        if header.rawLength & (1 << 63) != 0 { return protocolError("Frame length has the high bit set") }
        if !header.opcode.isControl {
            let already = header.opcode == .continuation ? messageLength : 0
            // Checked before any payload is buffered.
            guard header.rawLength <= UInt64(maxMessageBytes &- already) else {
                return WebSocketProtocolError(
                    code: .messageTooBig, reason: "Message over \(maxMessageBytes) bytes")
            }
            if header.opcode != .continuation {
                messageOpcode = header.opcode
                messageCompressed = header.rsv1
                messageLength = 0
                checksUTF8 = header.opcode == .text && !header.rsv1
                if checksUTF8 { utf8.reset() }
            }
            messageLength &+= Int(header.rawLength)
        }
        frame = header
        frameReceived = 0
        phase = .payload
        return nil
    }

    /// Unmasks and checks the next payload bytes of `frame`, delivering what completes.
    private mutating func receivedPayload(
        _ chunk: UnsafeMutableRawBufferPointer,
        completes: Bool,
        _ onEvent: (WebSocketEvent) -> WebSocketReadDirective
    ) -> WebSocketProtocolError? {
        if let key = frame.maskKey {
            WebSocketFrameEncoder.mask(chunk, key: key, offset: frameReceived)
        }
        let whole = frameReceived == 0 && completes
        frameReceived &+= chunk.count
        if completes { phase = .header }

        if frame.opcode.isControl {
            if whole { return deliverControl(UnsafeRawBufferPointer(chunk), onEvent) }
            control.append(contentsOf: chunk)
            guard completes else { return nil }
            // Moved out of self for the callback (exclusive access), then put back for reuse.
            var buffer: [UInt8] = []
            swap(&buffer, &control)
            let result = buffer.withUnsafeBytes { deliverControl($0, onEvent) }
            buffer.removeAll(keepingCapacity: true)
            swap(&buffer, &control)
            return result
        }

        if checksUTF8, !utf8.validate(UnsafeRawBufferPointer(chunk)) {
            return WebSocketProtocolError(code: .invalidPayload, reason: "Invalid UTF-8 in text message")
        }
        if whole, frame.fin, frame.opcode != .continuation {
            // The common case: one whole unfragmented frame, delivered from the input.
            return deliverMessage(UnsafeRawBufferPointer(chunk), onEvent)
        }
        message.append(contentsOf: chunk)
        guard completes, frame.fin else { return nil }
        var buffer: [UInt8] = []
        swap(&buffer, &message)
        let result = buffer.withUnsafeBytes { deliverMessage($0, onEvent) }
        if buffer.capacity <= Self.retainedCapacityBytes {
            buffer.removeAll(keepingCapacity: true)
            swap(&buffer, &message)
        }
        return result
    }

    private mutating func deliverMessage(
        _ payload: UnsafeRawBufferPointer,
        _ onEvent: (WebSocketEvent) -> WebSocketReadDirective
    ) -> WebSocketProtocolError? {
        if checksUTF8, !utf8.isComplete {
            return WebSocketProtocolError(code: .invalidPayload, reason: "Text message ends inside a UTF-8 sequence")
        }
        let opcode = messageOpcode ?? .binary
        messageOpcode = nil
        messageLength = 0
        if onEvent(.message(opcode: opcode, payload: payload, compressed: messageCompressed)) == .stop {
            phase = .stopped
        }
        return nil
    }

    private mutating func deliverControl(
        _ payload: UnsafeRawBufferPointer,
        _ onEvent: (WebSocketEvent) -> WebSocketReadDirective
    ) -> WebSocketProtocolError? {
        let directive: WebSocketReadDirective
        switch frame.opcode {
        case .ping:
            directive = onEvent(.ping(payload))
        case .pong:
            directive = onEvent(.pong(payload))
        default:
            if payload.count == 1 { return protocolError("Close payload of one byte") }
            if payload.isEmpty {
                phase = .closed
                _ = onEvent(.close(code: nil, reason: payload))
                return nil
            }
            let code = UInt16(payload[0]) << 8 | UInt16(payload[1])
            guard WebSocketCloseCode.isValidInCloseFrame(code) else {
                return protocolError("Close code \(code) not allowed")
            }
            let reason = UnsafeRawBufferPointer(rebasing: payload[2...])
            guard UTF8Validator.isValid(reason) else {
                return WebSocketProtocolError(code: .invalidPayload, reason: "Close reason is not UTF-8")
            }
            phase = .closed
            _ = onEvent(.close(code: code, reason: reason))
            return nil
        }
        if directive == .stop { phase = .stopped }
        return nil
    }

    private func protocolError(_ reason: String) -> WebSocketProtocolError {
        WebSocketProtocolError(code: .protocolError, reason: reason)
    }

    /// Marks the reader failed and releases its buffers.
    private mutating func fail(_ error: WebSocketProtocolError) -> WebSocketProtocolError {
        phase = .failed
        headerBytes = []
        control = []
        message = []
        messageOpcode = nil
        return error
    }
}
