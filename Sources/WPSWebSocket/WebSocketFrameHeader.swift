/// A decoded frame header (RFC 6455 §5.2), as read from the wire before any checks on length.
struct WebSocketFrameHeader: Sendable {
    var fin: Bool
    var rsv1: Bool
    var opcode: WebSocketOpcode
    /// The payload length as encoded; may have the forbidden high bit set.
    var rawLength: UInt64
    /// The mask key as a big-endian word of the four key bytes, when the frame is masked.
    var maskKey: UInt32?

    /// The payload length; only meaningful once `rawLength` passed the reader's checks.
    var length: Int { Int(truncatingIfNeeded: rawLength) }

    static let empty = WebSocketFrameHeader(fin: true, rsv1: false, opcode: .continuation, rawLength: 0, maskKey: nil)

    init(fin: Bool, rsv1: Bool, opcode: WebSocketOpcode, rawLength: UInt64, maskKey: UInt32?) {
        self.fin = fin
        self.rsv1 = rsv1
        self.opcode = opcode
        self.rawLength = rawLength
        self.maskKey = maskKey
    }

    /// Total header bytes implied by the second header byte (2, 4 or 10, plus 4 when masked).
    static func size(second: UInt8) -> Int {
        let length7 = second & 0x7F
        let extended = length7 == 126 ? 2 : (length7 == 127 ? 8 : 0)
        return 2 + extended + (second & 0x80 != 0 ? 4 : 0)
    }

    /// Decodes a header from `bytes`, which must hold `size(second: bytes[1])` bytes.
    init(_ bytes: UnsafeRawPointer) {
        let first = bytes.load(as: UInt8.self)
        let second = bytes.load(fromByteOffset: 1, as: UInt8.self)
        fin = first & 0x80 != 0
        rsv1 = first & 0x40 != 0
        opcode = WebSocketOpcode(rawValue: first & 0x0F)
        var index = 2
        switch second & 0x7F {
        case 126:
            rawLength =
                UInt64(bytes.load(fromByteOffset: 2, as: UInt8.self)) << 8
                | UInt64(bytes.load(fromByteOffset: 3, as: UInt8.self))
            index = 4
        case 127:
            var value: UInt64 = 0
            for offset in 2..<10 {
                value = value << 8 | UInt64(bytes.load(fromByteOffset: offset, as: UInt8.self))
            }
            rawLength = value
            index = 10
        case let short:
            rawLength = UInt64(short)
        }
        if second & 0x80 != 0 {
            var key: UInt32 = 0
            for offset in index..<(index + 4) {
                key = key << 8 | UInt32(bytes.load(fromByteOffset: offset, as: UInt8.self))
            }
            maskKey = key
        } else {
            maskKey = nil
        }
    }
}
