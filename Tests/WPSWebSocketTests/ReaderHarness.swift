import WPSBytes
import WPSWebSocket

/// An event copied out of the callback so it can be compared after the pointers die.
enum Recorded: Equatable, CustomStringConvertible {
    case message(WebSocketOpcode, [UInt8], compressed: Bool)
    case ping([UInt8])
    case pong([UInt8])
    case close(UInt16?, [UInt8])
    case error(WebSocketCloseCode)

    init(_ event: WebSocketEvent) {
        switch event {
        case let .message(opcode, payload, compressed): self = .message(opcode, Array(payload), compressed: compressed)
        case let .ping(payload): self = .ping(Array(payload))
        case let .pong(payload): self = .pong(Array(payload))
        case let .close(code, reason): self = .close(code, Array(reason))
        }
    }

    var description: String {
        switch self {
        case let .message(opcode, payload, compressed): "\(opcode)(\(payload.count)B\(compressed ? ", z" : ""))"
        case let .ping(payload): "ping(\(payload.count)B)"
        case let .pong(payload): "pong(\(payload.count)B)"
        case let .close(code, reason): "close(\(code.map(String.init) ?? "nil"), \(reason.count)B)"
        case let .error(code): "error(\(code))"
        }
    }
}

/// The mask key tests use for client frames; its bytes differ so offset bugs show.
let testMaskKey: UInt32 = 0x37FA_213D

/// A frame as the given role would send it (clients mask with `testMaskKey`).
func frame(
    _ opcode: WebSocketOpcode, _ payload: [UInt8], fin: Bool = true, rsv1: Bool = false,
    from sender: WebSocketRole = .client
) -> [UInt8] {
    WebSocketFrameEncoder.frame(
        opcode: opcode, payload: payload, fin: fin, rsv1: rsv1,
        maskKey: sender == .client ? testMaskKey : nil)
}

func frame(
    _ opcode: WebSocketOpcode, _ text: String, fin: Bool = true, rsv1: Bool = false,
    from sender: WebSocketRole = .client
) -> [UInt8] {
    frame(opcode, Array(text.utf8), fin: fin, rsv1: rsv1, from: sender)
}

/// The role that reads what `sender` sends.
func receiver(of sender: WebSocketRole) -> WebSocketRole { sender == .client ? .server : .client }

/// Feeds `bytes` in pieces cut at `cuts` (each piece its own copy) and records everything.
func read(
    _ bytes: [UInt8], role: WebSocketRole = .server, maxMessageBytes: Int = 1 << 20,
    allowCompressed: Bool = false, cuts: [Int] = [], stopAfter: Int? = nil
) -> [Recorded] {
    var reader = WebSocketReader(role: role, maxMessageBytes: maxMessageBytes, allowCompressed: allowCompressed)
    return read(bytes, with: &reader, cuts: cuts, stopAfter: stopAfter)
}

func read(_ bytes: [UInt8], with reader: inout WebSocketReader, cuts: [Int] = [], stopAfter: Int? = nil) -> [Recorded] {
    var recorded: [Recorded] = []
    var start = 0
    for end in cuts + [bytes.count] where end >= start {
        var piece = Array(bytes[start..<end])
        start = end
        let error = piece.withUnsafeMutableBytes { buffer in
            reader.feed(buffer) { event in
                recorded.append(Recorded(event))
                if let stopAfter, recorded.count >= stopAfter { return .stop }
                return .continue
            }
        }
        if let error { recorded.append(.error(error.code)) }
    }
    return recorded
}

/// The close code the stream fails with, or nil when it does not fail.
func failure(
    _ bytes: [UInt8], role: WebSocketRole = .server, maxMessageBytes: Int = 1 << 20, allowCompressed: Bool = false
)
    -> WebSocketCloseCode?
{
    let events = read(bytes, role: role, maxMessageBytes: maxMessageBytes, allowCompressed: allowCompressed)
    if case let .error(code) = events.last { return code }
    return nil
}

/// Sets bits in the first header byte (RSV2 = 0x20, RSV3 = 0x10, ...).
func withFirstByte(_ bytes: [UInt8], or bits: UInt8) -> [UInt8] {
    var copy = bytes
    copy[0] |= bits
    return copy
}

/// A raw header with an explicit length encoding (for non-minimal and oversized lengths).
func rawHeader(first: UInt8, lengthCode: UInt8, extended: [UInt8], maskKey: UInt32? = testMaskKey) -> [UInt8] {
    var bytes = [first, lengthCode | (maskKey == nil ? 0 : 0x80)] + extended
    if let key = maskKey {
        bytes += [UInt8(key >> 24), UInt8(key >> 16 & 0xFF), UInt8(key >> 8 & 0xFF), UInt8(key & 0xFF)]
    }
    return bytes
}

/// `payload` masked with `testMaskKey` from offset 0.
func masked(_ payload: [UInt8]) -> [UInt8] {
    var copy = payload
    copy.withUnsafeMutableBytes { WebSocketFrameEncoder.mask($0, key: testMaskKey) }
    return copy
}
