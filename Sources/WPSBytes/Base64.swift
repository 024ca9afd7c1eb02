/// Standard base64 (RFC 4648 §4) with padding.
public enum Base64 {
    private static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    private static let decodeTable: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (index, symbol) in alphabet.enumerated() { table[Int(symbol)] = UInt8(index) }
        return table
    }()

    public static func encode<C: Collection>(_ input: C) -> String where C.Element == UInt8 {
        var out: [UInt8] = []
        out.reserveCapacity((input.count + 2) / 3 * 4)
        encode(input, into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    public static func encode<C: Collection>(_ input: C, into out: inout [UInt8]) where C.Element == UInt8 {
        encode(input, alphabet: alphabet, padded: true, into: &out)
    }

    /// The encoder both alphabets share (RFC 4648 §4 and §5); `padded` adds `=` to whole quanta.
    ///
    /// Generic callers in other modules are not specialized, so contiguous input (nearly all
    /// of it) goes to a loop over raw bytes instead of a per-byte iterator call.
    static func encode<C: Collection>(
        _ input: C, alphabet: [UInt8], padded: Bool, into out: inout [UInt8]
    ) where C.Element == UInt8 {
        let done: Void? = input.withContiguousStorageIfAvailable { buffer in
            encode(bytes: UnsafeRawBufferPointer(buffer), alphabet: alphabet, padded: padded, into: &out)
        }
        if done != nil { return }
        Array(input).withUnsafeBytes { encode(bytes: $0, alphabet: alphabet, padded: padded, into: &out) }
    }

    static func encode(bytes input: UnsafeRawBufferPointer, alphabet: [UInt8], padded: Bool, into out: inout [UInt8]) {
        var iterator = input.makeIterator()
        while let first = iterator.next() {
            let second = iterator.next()
            let third = iterator.next()
            let value = UInt32(first) << 16 | UInt32(second ?? 0) << 8 | UInt32(third ?? 0)
            out.append(alphabet[Int(value >> 18 & 63)])
            out.append(alphabet[Int(value >> 12 & 63)])
            if second != nil {
                out.append(alphabet[Int(value >> 6 & 63)])
            } else if padded {
                out.append(UInt8(ascii: "="))
            }
            if third != nil {
                out.append(alphabet[Int(value & 63)])
            } else if padded {
                out.append(UInt8(ascii: "="))
            }
        }
    }

    /// Decodes padded base64; returns nil on any character outside the alphabet or bad padding.
    public static func decode<C: Collection>(_ input: C) -> [UInt8]? where C.Element == UInt8 {
        let symbols = Array(input)
        guard symbols.count % 4 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(symbols.count / 4 * 3)
        var index = 0
        while index < symbols.count {
            let isLast = index + 4 == symbols.count
            var values: [UInt32] = [0, 0, 0, 0]
            var padding = 0
            for offset in 0..<4 {
                let symbol = symbols[index + offset]
                if symbol == UInt8(ascii: "=") {
                    guard isLast, offset >= 2 else { return nil }
                    padding += 1
                    continue
                }
                guard padding == 0 else { return nil }
                let decoded = decodeTable[Int(symbol)]
                guard decoded != 0xFF else { return nil }
                values[offset] = UInt32(decoded)
            }
            let value = values[0] << 18 | values[1] << 12 | values[2] << 6 | values[3]
            out.append(UInt8(value >> 16 & 0xFF))
            if padding < 2 { out.append(UInt8(value >> 8 & 0xFF)) }
            if padding < 1 { out.append(UInt8(value & 0xFF)) }
            index += 4
        }
        return out
    }

    public static func decode(_ text: String) -> [UInt8]? { decode(Array(text.utf8)) }
}
