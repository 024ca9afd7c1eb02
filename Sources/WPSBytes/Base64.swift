/// Standard base64 (RFC 4648 §4) with padding.
public enum Base64 {
    private static let alphabet: [UInt8] = Array(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

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
        if let decoded = input.withContiguousStorageIfAvailable({ decode(bytes: UnsafeRawBufferPointer($0)) }) {
            return decoded
        }
        return Array(input).withUnsafeBytes { decode(bytes: $0) }
    }

    /// Decodes padded base64 from raw bytes; see `decode(_:)`.
    public static func decode(bytes symbols: UnsafeRawBufferPointer) -> [UInt8]? {
        guard isValid(symbols) else { return nil }
        let count = decodedCount(symbols)
        return decodeTable.withUnsafeBufferPointer { table in
            [UInt8](unsafeUninitializedCapacity: count) { out, written in
                // Padding decodes as zero bits; `isValid` placed it, `count` drops its bytes.
                func value(_ symbol: UInt8) -> UInt32 { symbol == UInt8(ascii: "=") ? 0 : UInt32(table[Int(symbol)]) }
                var position = 0
                var index = 0
                while index < symbols.count {
                    let quantum =
                        value(symbols[index]) << 18 | value(symbols[index + 1]) << 12
                        | value(symbols[index + 2]) << 6 | value(symbols[index + 3])
                    out[position] = UInt8(truncatingIfNeeded: quantum >> 16)
                    if position + 1 < count { out[position + 1] = UInt8(truncatingIfNeeded: quantum >> 8) }
                    if position + 2 < count { out[position + 2] = UInt8(truncatingIfNeeded: quantum) }
                    position += 3
                    index += 4
                }
                written = count
            }
        }
    }

    /// Base64 of raw bytes as a String, written straight into the string's storage.
    public static func encodedString(_ input: UnsafeRawBufferPointer) -> String {
        String(unsafeUninitializedCapacity: encodedCount(input.count)) { out in
            write(input, to: UnsafeMutableRawPointer(out.baseAddress!))
        }
    }

    /// Symbols for `count` input bytes, padding included.
    @inlinable public static func encodedCount(_ count: Int) -> Int { (count + 2) / 3 * 4 }

    /// Writes the padded base64 of `input` at `out`, which has room for
    /// `encodedCount(input.count)` bytes; returns that count.
    @discardableResult
    public static func write(_ input: UnsafeRawBufferPointer, to out: UnsafeMutableRawPointer) -> Int {
        alphabet.withUnsafeBufferPointer { symbols in
            var position = 0
            var index = 0
            while index < input.count {
                let remaining = input.count - index
                let value =
                    UInt32(input[index]) << 16 | (remaining > 1 ? UInt32(input[index + 1]) << 8 : 0)
                    | (remaining > 2 ? UInt32(input[index + 2]) : 0)
                out.storeBytes(of: symbols[Int(value >> 18 & 63)], toByteOffset: position, as: UInt8.self)
                out.storeBytes(of: symbols[Int(value >> 12 & 63)], toByteOffset: position + 1, as: UInt8.self)
                out.storeBytes(
                    of: remaining > 1 ? symbols[Int(value >> 6 & 63)] : UInt8(ascii: "="), toByteOffset: position + 2,
                    as: UInt8.self)
                out.storeBytes(
                    of: remaining > 2 ? symbols[Int(value & 63)] : UInt8(ascii: "="), toByteOffset: position + 3,
                    as: UInt8.self)
                position += 4
                index += 3
            }
            return position
        }
    }

    public static func decode(_ text: String) -> [UInt8]? { decode(Array(text.utf8)) }
}
