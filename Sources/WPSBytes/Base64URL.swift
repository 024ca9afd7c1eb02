/// Base64url without padding (RFC 4648 §5), the encoding of JWT segments (RFC 7515 §2).
public enum Base64URL {
    private static let alphabet: [UInt8] = Array(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    private static let decodeTable: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (index, symbol) in alphabet.enumerated() { table[Int(symbol)] = UInt8(index) }
        return table
    }()

    /// Encodes bytes as unpadded base64url text.
    public static func encode<C: Collection>(_ input: C) -> String where C.Element == UInt8 {
        var out: [UInt8] = []
        out.reserveCapacity((input.count * 4 + 2) / 3)
        encode(input, into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends the unpadded base64url encoding of `input` to `out`.
    public static func encode<C: Collection>(_ input: C, into out: inout [UInt8]) where C.Element == UInt8 {
        Base64.encode(input, alphabet: alphabet, padded: false, into: &out)
    }

    /// Decodes unpadded base64url; nil on padding, a character outside the alphabet, an
    /// impossible length, or non-zero unused trailing bits.
    ///
    /// Rejecting non-canonical text keeps one byte string to exactly one encoding, so a
    /// token whose last character was altered can never decode to the same signature.
    public static func decode<C: Collection>(_ input: C) -> [UInt8]? where C.Element == UInt8 {
        // Unspecialized across modules, a per-byte iterator call dominated token checks:
        // contiguous input (nearly all of it) is decoded from raw bytes instead.
        if let decoded = input.withContiguousStorageIfAvailable({ decode(bytes: UnsafeRawBufferPointer($0)) }) {
            return decoded
        }
        return Array(input).withUnsafeBytes { decode(bytes: $0) }
    }

    /// Decodes unpadded base64url from raw bytes; see `decode(_:)`.
    public static func decode(bytes input: UnsafeRawBufferPointer) -> [UInt8]? {
        ByteArray.make(capacity: decodedCapacity(input.count)) { decode(bytes: input, into: $0) }
    }

    /// Bytes that decoding `symbols` base64url symbols can produce.
    public static func decodedCapacity(_ symbols: Int) -> Int {
        // Four symbols make three bytes; a tail of 2 or 3 symbols makes 1 or 2.
        symbols / 4 * 3 + max(0, symbols % 4 - 1)
    }

    /// Decodes into `out`, which must hold `decodedCapacity(input.count)` bytes; returns the
    /// bytes written, or nil when `input` is not canonical unpadded base64url.
    public static func decode(bytes input: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer) -> Int? {
        precondition(out.count >= decodedCapacity(input.count), "base64url output buffer too small")
        return decodeTable.withUnsafeBufferPointer { table -> Int? in
            var written = 0
            var index = 0
            // Whole quanta first: four lookups, one validity test (every symbol's value
            // is below 64, the 0xFF marker is not), three stores.
            let whole = input.count & ~3
            while index < whole {
                let a = table[Int(input[index])]
                let b = table[Int(input[index + 1])]
                let c = table[Int(input[index + 2])]
                let d = table[Int(input[index + 3])]
                guard (a | b | c | d) & 0xC0 == 0 else { return nil }
                let quantum = UInt32(a) << 18 | UInt32(b) << 12 | UInt32(c) << 6 | UInt32(d)
                out[written] = UInt8(truncatingIfNeeded: quantum >> 16)
                out[written + 1] = UInt8(truncatingIfNeeded: quantum >> 8)
                out[written + 2] = UInt8(truncatingIfNeeded: quantum)
                written += 3
                index += 4
            }
            var accumulator: UInt32 = 0
            var pending = 0
            while index < input.count {
                let value = table[Int(input[index])]
                guard value != 0xFF else { return nil }
                accumulator = accumulator << 6 | UInt32(value)
                pending += 1
                index += 1
            }
            switch pending {
            case 0:
                return written
            case 2:
                // 12 bits carry one byte; the low 4 must be zero.
                guard accumulator & 0xF == 0 else { return nil }
                out[written] = UInt8(truncatingIfNeeded: accumulator >> 4)
                return written + 1
            case 3:
                // 18 bits carry two bytes; the low 2 must be zero.
                guard accumulator & 0x3 == 0 else { return nil }
                out[written] = UInt8(truncatingIfNeeded: accumulator >> 10)
                out[written + 1] = UInt8(truncatingIfNeeded: accumulator >> 2)
                return written + 2
            default:
                return nil
            }
        }
    }

    /// Decodes the UTF-8 bytes of `text`; see `decode(_:)` for the collection form.
    public static func decode(_ text: some StringProtocol) -> [UInt8]? { decode(Array(text.utf8)) }
}
