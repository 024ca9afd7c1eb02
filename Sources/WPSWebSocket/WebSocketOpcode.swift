/// A frame opcode (RFC 6455 §5.2); unknown values are representable and rejected by the reader.
public struct WebSocketOpcode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The 4-bit opcode value; only the low nibble is meaningful on the wire.
    public var rawValue: UInt8

    /// Creates an opcode from any byte; never fails so that hostile input cannot crash.
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// Continuation of a fragmented message (0x0).
    public static let continuation = WebSocketOpcode(rawValue: 0x0)
    /// First frame of a text message (0x1).
    public static let text = WebSocketOpcode(rawValue: 0x1)
    /// First frame of a binary message (0x2).
    public static let binary = WebSocketOpcode(rawValue: 0x2)
    /// Connection close control frame (0x8).
    public static let close = WebSocketOpcode(rawValue: 0x8)
    /// Ping control frame (0x9).
    public static let ping = WebSocketOpcode(rawValue: 0x9)
    /// Pong control frame (0xA).
    public static let pong = WebSocketOpcode(rawValue: 0xA)

    /// True for opcodes with the high bit of the nibble set (0x8-0xF), which are control frames.
    public var isControl: Bool { rawValue & 0x08 != 0 }

    /// True for the six opcodes RFC 6455 defines; the others are reserved.
    public var isDefined: Bool {
        switch rawValue {
        case 0x0, 0x1, 0x2, 0x8, 0x9, 0xA: true
        default: false
        }
    }

    /// A short name for logs ("text", "ping", "reserved(0x3)").
    public var description: String {
        switch rawValue {
        case 0x0: "continuation"
        case 0x1: "text"
        case 0x2: "binary"
        case 0x8: "close"
        case 0x9: "ping"
        case 0xA: "pong"
        default: "reserved(0x\(String(rawValue, radix: 16, uppercase: true)))"
        }
    }
}

/// Which end of the connection a reader or encoder plays; decides the masking rule.
public enum WebSocketRole: Sendable {
    /// Accepts masked frames from clients and sends unmasked frames.
    case server
    /// Accepts unmasked frames from servers and sends masked frames.
    case client
}
