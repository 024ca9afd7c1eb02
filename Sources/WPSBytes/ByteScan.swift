/// Scans raw bytes eight at a time (SWAR), for the long plain runs of a request — a token in
/// a query string is hundreds of bytes without one byte of interest.
public enum ByteScan {
    private static let ones: UInt64 = 0x0101_0101_0101_0101
    private static let highs: UInt64 = 0x8080_8080_8080_8080

    /// Whether any byte of `word` is zero.
    @inline(__always)
    static func hasZeroByte(_ word: UInt64) -> Bool {
        (word &- ones) & ~word & highs != 0
    }

    /// Whether any byte of `word` equals `byte`.
    @inline(__always)
    static func hasByte(_ word: UInt64, _ byte: UInt8) -> Bool {
        hasZeroByte(word ^ (ones &* UInt64(byte)))
    }

    @inline(__always)
    static func word(_ bytes: UnsafeRawBufferPointer, at index: Int) -> UInt64 {
        bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self)
    }

    /// The index of the first `byte` at or after `start`, or nil.
    public static func firstIndex(of byte: UInt8, in bytes: UnsafeRawBufferPointer, from start: Int = 0) -> Int? {
        var index = start
        while index + 8 <= bytes.count, !hasByte(word(bytes, at: index), byte) { index += 8 }
        while index < bytes.count {
            if bytes[index] == byte { return index }
            index += 1
        }
        return nil
    }

    /// The index of the first byte that is `first`, `second`, NUL or not ASCII, at or after
    /// `start`; nil when every byte is plain ASCII other than those two.
    public static func firstSpecial(
        _ first: UInt8, _ second: UInt8, in bytes: UnsafeRawBufferPointer, from start: Int = 0
    ) -> Int? {
        var index = start
        while index + 8 <= bytes.count {
            let value = word(bytes, at: index)
            if value & highs != 0 || hasZeroByte(value) || hasByte(value, first) || hasByte(value, second) { break }
            index += 8
        }
        while index < bytes.count {
            let byte = bytes[index]
            if byte == first || byte == second || byte == 0 || byte >= 0x80 { return index }
            index += 1
        }
        return nil
    }

    /// The index of the first byte in `start..<end` that is not visible ASCII (0x21–0x7E) or
    /// is `excluded`; nil when there is none.
    public static func firstNotVisible(
        except excluded: UInt8, in bytes: UnsafeRawBufferPointer, from start: Int, to end: Int
    ) -> Int? {
        var index = start
        while index + 8 <= end {
            let value = word(bytes, at: index)
            // Bytes below 0x21, or from 0x7F up (adding one sets their high bit), or `excluded`.
            let low = (value &- ones &* 0x21) & ~value & highs
            let high = (value | (value &+ ones)) & highs
            if low | high != 0 || hasByte(value, excluded) { break }
            index += 8
        }
        while index < end {
            let byte = bytes[index]
            if byte <= 0x20 || byte >= 0x7F || byte == excluded { return index }
            index += 1
        }
        return nil
    }

    /// The index of the first control byte (below 0x20, tab included) or DEL in
    /// `start..<end`; nil when there is none.
    public static func firstControl(in bytes: UnsafeRawBufferPointer, from start: Int, to end: Int) -> Int? {
        var index = start
        while index + 8 <= end {
            let value = word(bytes, at: index)
            if (value &- ones &* 0x20) & ~value & highs != 0 || hasByte(value, 0x7F) { break }
            index += 8
        }
        while index < end {
            let byte = bytes[index]
            if byte < 0x20 || byte == 0x7F { return index }
            index += 1
        }
        return nil
    }

    /// The index of the first byte in `start..<end` that ends a plain run inside a JSON
    /// string: a quote, a backslash, a control byte or a non-ASCII byte; nil when none.
    public static func firstStringBreak(in bytes: UnsafeRawBufferPointer, from start: Int, to end: Int) -> Int? {
        var index = start
        while index + 8 <= end {
            let value = word(bytes, at: index)
            let control = (value &- ones &* 0x20) & ~value & highs
            if control | (value & highs) != 0 || hasByte(value, 0x22) || hasByte(value, 0x5C) { break }
            index += 8
        }
        while index < end {
            let byte = bytes[index]
            if byte < 0x20 || byte >= 0x80 || byte == 0x22 || byte == 0x5C { return index }
            index += 1
        }
        return nil
    }
}
