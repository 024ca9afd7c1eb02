public import WPSBytes

/// Builds frame headers and frames for either role (RFC 6455 §5.2) and applies masks (§5.3).
///
/// A mask key is a `UInt32` whose big-endian bytes are the four key bytes on the wire.
public enum WebSocketFrameEncoder {
    /// Largest payload a control frame may carry (RFC 6455 §5.5).
    public static let maxControlPayloadBytes = 125

    /// Bytes of the header for a payload of `payloadLength` bytes, with or without a mask key.
    public static func headerLength(payloadLength: Int, masked: Bool) -> Int {
        let lengthBytes: Int
        if payloadLength < 126 {
            lengthBytes = 0
        } else if payloadLength <= 0xFFFF {
            lengthBytes = 2
        } else {
            lengthBytes = 8
        }
        return 2 + lengthBytes + (masked ? 4 : 0)
    }

    /// Writes a header with the minimal length encoding; returns the bytes written.
    ///
    /// `into` must hold at least `headerLength(payloadLength:masked:)` bytes.
    @discardableResult
    public static func writeHeader(
        into buffer: UnsafeMutableRawBufferPointer,
        opcode: WebSocketOpcode,
        fin: Bool = true,
        rsv1: Bool = false,
        payloadLength: Int,
        maskKey: UInt32? = nil
    ) -> Int {
        let size = headerLength(payloadLength: payloadLength, masked: maskKey != nil)
        precondition(payloadLength >= 0, "negative payload length")
        precondition(buffer.count >= size, "header buffer too small")
        var first = opcode.rawValue & 0x0F
        if fin { first |= 0x80 }
        if rsv1 { first |= 0x40 }
        buffer[0] = first
        let maskBit: UInt8 = maskKey == nil ? 0 : 0x80
        var index = 2
        if payloadLength < 126 {
            buffer[1] = maskBit | UInt8(payloadLength)
        } else if payloadLength <= 0xFFFF {
            buffer[1] = maskBit | 126
            buffer[2] = UInt8(truncatingIfNeeded: payloadLength >> 8)
            buffer[3] = UInt8(truncatingIfNeeded: payloadLength)
            index = 4
        } else {
            buffer[1] = maskBit | 127
            let length = UInt64(payloadLength)
            for shift in 0..<8 {
                buffer[2 + shift] = UInt8(truncatingIfNeeded: length >> (56 - 8 * UInt64(shift)))
            }
            index = 10
        }
        if let key = maskKey {
            buffer[index] = UInt8(truncatingIfNeeded: key >> 24)
            buffer[index + 1] = UInt8(truncatingIfNeeded: key >> 16)
            buffer[index + 2] = UInt8(truncatingIfNeeded: key >> 8)
            buffer[index + 3] = UInt8(truncatingIfNeeded: key)
            index += 4
        }
        return index
    }

    /// A whole frame: header plus a copy of `payload`, masked when a key is given.
    public static func frame(
        opcode: WebSocketOpcode,
        payload: some Collection<UInt8>,
        fin: Bool = true,
        rsv1: Bool = false,
        maskKey: UInt32? = nil
    ) -> [UInt8] {
        let payloadLength = payload.count
        let header = headerLength(payloadLength: payloadLength, masked: maskKey != nil)
        return ByteArray.make(capacity: header + payloadLength) { raw in
            writeHeader(
                into: raw, opcode: opcode, fin: fin, rsv1: rsv1,
                payloadLength: payloadLength, maskKey: maskKey)
            let body = UnsafeMutableRawBufferPointer(rebasing: raw[header...])
            let copied =
                payload.withContiguousStorageIfAvailable { source in
                    body.copyMemory(from: UnsafeRawBufferPointer(source))
                    return true
                } ?? false
            if !copied {
                var index = header
                for byte in payload {
                    raw[index] = byte
                    index += 1
                }
            }
            if let key = maskKey { mask(body, key: key) }
            return header + payloadLength
        }!
    }

    /// A close frame; `nil` code sends an empty payload (and no reason).
    ///
    /// The reason is cut at a UTF-8 boundary so the payload fits in 125 bytes.
    public static func closeFrame(
        code: WebSocketCloseCode?, reason: String, maskKey: UInt32? = nil
    ) -> [UInt8] {
        ByteArray.make(capacity: maxCloseFrameBytes) {
            writeCloseFrame(into: $0, code: code, reason: reason, maskKey: maskKey)
        }!
    }

    /// Bytes a close frame can take: a two-byte header, a mask key, 125 bytes of payload.
    public static let maxCloseFrameBytes = 2 + 4 + maxControlPayloadBytes

    /// Writes the frame `closeFrame(code:reason:maskKey:)` returns into `buffer`, which must
    /// hold `maxCloseFrameBytes`; returns the bytes written. Nothing is allocated, so a
    /// server's close echo costs no heap traffic.
    public static func writeCloseFrame(
        into buffer: UnsafeMutableRawBufferPointer, code: WebSocketCloseCode?, reason: String, maskKey: UInt32? = nil
    ) -> Int {
        precondition(buffer.count >= maxCloseFrameBytes, "close frame buffer too small")
        guard let code else {
            return writeHeader(into: buffer, opcode: .close, payloadLength: 0, maskKey: maskKey)
        }
        var reason = reason
        return reason.withUTF8 { utf8 in
            var cut = min(utf8.count, maxControlPayloadBytes - 2)
            // Back off over continuation bytes so no code point is split.
            while cut < utf8.count, cut > 0, utf8[cut] & 0xC0 == 0x80 { cut -= 1 }
            let header = writeHeader(into: buffer, opcode: .close, payloadLength: 2 + cut, maskKey: maskKey)
            buffer[header] = UInt8(truncatingIfNeeded: code.rawValue >> 8)
            buffer[header + 1] = UInt8(truncatingIfNeeded: code.rawValue)
            if cut > 0 {
                UnsafeMutableRawBufferPointer(rebasing: buffer[(header + 2)..<(header + 2 + cut)])
                    .copyMemory(from: UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: utf8[0..<cut])))
            }
            if let key = maskKey {
                mask(UnsafeMutableRawBufferPointer(rebasing: buffer[header..<(header + 2 + cut)]), key: key)
            }
            return header + 2 + cut
        }
    }

    /// XORs `bytes` with the mask key in place; `offset` is their position in the frame payload.
    ///
    /// Masking is its own inverse, so this both masks and unmasks. Works a word at a time.
    public static func mask(_ bytes: UnsafeMutableRawBufferPointer, key: UInt32, offset: Int = 0) {
        guard let base = bytes.baseAddress else { return }
        let count = bytes.count
        // Rotate so the key's first byte lines up with `offset`, then lay it out in memory order.
        let phase = UInt32(truncatingIfNeeded: offset & 3) &* 8
        let rotated = phase == 0 ? key : (key << phase) | (key >> (32 &- phase))
        let word32 = rotated.bigEndian
        let word64 = UInt64(word32) | UInt64(word32) << 32
        var index = 0
        while index &+ 32 <= count {
            for lane in stride(from: 0, to: 32, by: 8) {
                let at = index &+ lane
                let value = base.loadUnaligned(fromByteOffset: at, as: UInt64.self)
                base.storeBytes(of: value ^ word64, toByteOffset: at, as: UInt64.self)
            }
            index &+= 32
        }
        while index &+ 8 <= count {
            let value = base.loadUnaligned(fromByteOffset: index, as: UInt64.self)
            base.storeBytes(of: value ^ word64, toByteOffset: index, as: UInt64.self)
            index &+= 8
        }
        if index &+ 4 <= count {
            let value = base.loadUnaligned(fromByteOffset: index, as: UInt32.self)
            base.storeBytes(of: value ^ word32, toByteOffset: index, as: UInt32.self)
            index &+= 4
        }
        var shift: UInt32 = 24
        while index < count {
            let keyByte = UInt8(truncatingIfNeeded: rotated >> shift)
            let value = base.load(fromByteOffset: index, as: UInt8.self)
            base.storeBytes(of: value ^ keyByte, toByteOffset: index, as: UInt8.self)
            index &+= 1
            shift &-= 8
        }
    }
}
