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
        var out: [UInt8] = []
        out.reserveCapacity(input.count * 3 / 4)
        var accumulator: UInt32 = 0
        var pending = 0
        for symbol in input {
            let value = decodeTable[Int(symbol)]
            guard value != 0xFF else { return nil }
            accumulator = accumulator << 6 | UInt32(value)
            pending += 1
            if pending == 4 {
                out.append(UInt8(accumulator >> 16 & 0xFF))
                out.append(UInt8(accumulator >> 8 & 0xFF))
                out.append(UInt8(accumulator & 0xFF))
                accumulator = 0
                pending = 0
            }
        }
        switch pending {
        case 0:
            break
        case 2:
            // 12 bits carry one byte; the low 4 must be zero.
            guard accumulator & 0xF == 0 else { return nil }
            out.append(UInt8(accumulator >> 4 & 0xFF))
        case 3:
            // 18 bits carry two bytes; the low 2 must be zero.
            guard accumulator & 0x3 == 0 else { return nil }
            out.append(UInt8(accumulator >> 10 & 0xFF))
            out.append(UInt8(accumulator >> 2 & 0xFF))
        default:
            return nil
        }
        return out
    }

    /// Decodes the UTF-8 bytes of `text`; see `decode(_:)` for the collection form.
    public static func decode(_ text: some StringProtocol) -> [UInt8]? { decode(Array(text.utf8)) }
}
