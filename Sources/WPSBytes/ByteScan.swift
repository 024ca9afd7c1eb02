import Glibc

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

    /// Whether any byte of `word` is below `limit` (at most 0x80).
    @inline(__always)
    static func hasByteBelow(_ word: UInt64, _ limit: UInt8) -> Bool {
        (word &- ones &* UInt64(limit)) & ~word & highs != 0
    }

    /// Whether any byte of `word` is 0x7F or above (adding one sets its high bit; a carry
    /// only starts at 0xFF, which is flagged anyway).
    @inline(__always)
    static func hasByteFrom7F(_ word: UInt64) -> Bool {
        (word | (word &+ ones)) & highs != 0
    }

    /// The first index in `start..<end` whose byte `stops`: whole words that `wordMayStop`
    /// rules out are skipped eight bytes at a time. `wordMayStop` must be true for any word
    /// holding a byte that stops.
    @inline(__always)
    static func firstIndex(
        in bytes: UnsafeRawBufferPointer, from start: Int, to end: Int,
        wordMayStop: (UInt64) -> Bool, stops: (UInt8) -> Bool
    ) -> Int? {
        var index = start
        while index + 8 <= end, !wordMayStop(word(bytes, at: index)) { index += 8 }
        while index < end {
            if stops(bytes[index]) { return index }
            index += 1
        }
        return nil
    }

    /// Whether `bytes` begins with `prefix`, compared eight bytes at a time (Sequence's
    /// `starts(with:)` steps through a String's view one byte at a time).
    public static func hasPrefix(_ bytes: UnsafeRawBufferPointer, _ prefix: UnsafeRawBufferPointer) -> Bool {
        guard bytes.count >= prefix.count else { return false }
        var index = 0
        while index + 8 <= prefix.count {
            if word(bytes, at: index) != word(prefix, at: index) { return false }
            index += 8
        }
        while index < prefix.count {
            if bytes[index] != prefix[index] { return false }
            index += 1
        }
        return true
    }

    /// Whether `count` bytes at `left` and `right` are equal ignoring ASCII case (other bytes,
    /// UTF-8 included, must match exactly). Eight bytes per step: two words may differ only
    /// in bit 5 (0x20), and only in bytes that are letters.
    public static func equalIgnoringASCIICase(_ left: UnsafeRawPointer, _ right: UnsafeRawPointer, count: Int) -> Bool {
        var index = 0
        while index + 8 <= count {
            let a = left.loadUnaligned(fromByteOffset: index, as: UInt64.self)
            let b = right.loadUnaligned(fromByteOffset: index, as: UInt64.self)
            index += 8
            let difference = a ^ b
            if difference == 0 { continue }
            // Only bit 5 may differ, and only in ASCII bytes.
            guard difference & ~(ones &* 0x20) == 0, (a | b) & highs == 0 else { return false }
            // Bytes that differ must be letters: folded to lowercase, 0x61...0x7A.
            let folded = a | (ones &* 0x20)
            let atLeastA = (folded &+ ones &* (0x80 - 0x61)) & highs
            let pastZ = (folded &+ ones &* (0x80 - 0x7B)) & highs
            let letters = atLeastA & ~pastZ
            if (difference << 2) & ~letters & highs != 0 { return false }
        }
        while index < count {
            let a = left.load(fromByteOffset: index, as: UInt8.self)
            let b = right.load(fromByteOffset: index, as: UInt8.self)
            if a != b, lowerASCII(a) != lowerASCII(b) { return false }
            index += 1
        }
        return true
    }

    /// `equalIgnoringASCIICase` over two buffers; false when their lengths differ.
    public static func equalIgnoringASCIICase(_ left: UnsafeRawBufferPointer, _ right: UnsafeRawBufferPointer) -> Bool {
        guard left.count == right.count else { return false }
        guard let a = left.baseAddress, let b = right.baseAddress else { return true }
        return equalIgnoringASCIICase(a, b, count: left.count)
    }

    @inline(__always)
    static func lowerASCII(_ byte: UInt8) -> UInt8 { byte >= 0x41 && byte <= 0x5A ? byte | 0x20 : byte }

    /// Whether `left` and `right` hold the same bytes.
    public static func equal(_ left: UnsafeRawBufferPointer, _ right: UnsafeRawBufferPointer) -> Bool {
        left.count == right.count && hasPrefix(left, right)
    }

    /// The index of the first `byte` at or after `start`, or nil.
    ///
    /// The C library's `memchr` compares 32 or 64 bytes per step with vector instructions:
    /// several times fewer instructions than words of eight over a long token.
    public static func firstIndex(of byte: UInt8, in bytes: UnsafeRawBufferPointer, from start: Int = 0) -> Int? {
        assert(start >= 0, "a scan starts inside the buffer")
        guard start < bytes.count, let base = bytes.baseAddress else { return nil }
        guard let found = memchr(base + start, Int32(byte), bytes.count - start) else { return nil }
        return UnsafeRawPointer(found) - base
    }

    /// The index of the first byte that is `first`, `second`, NUL or not ASCII, at or after
    /// `start`; nil when every byte is plain ASCII other than those two.
    public static func firstSpecial(
        _ first: UInt8, _ second: UInt8, in bytes: UnsafeRawBufferPointer, from start: Int = 0
    ) -> Int? {
        firstIndex(
            in: bytes, from: start, to: bytes.count,
            wordMayStop: { $0 & highs != 0 || hasZeroByte($0) || hasByte($0, first) || hasByte($0, second) },
            stops: { $0 == first || $0 == second || $0 == 0 || $0 >= 0x80 })
    }

    /// The index of the first byte in `start..<end` that is not visible ASCII (0x21–0x7E) or
    /// is `excluded`; nil when there is none.
    public static func firstNotVisible(
        except excluded: UInt8, in bytes: UnsafeRawBufferPointer, from start: Int, to end: Int
    ) -> Int? {
        firstIndex(
            in: bytes, from: start, to: end,
            wordMayStop: { hasByteBelow($0, 0x21) || hasByteFrom7F($0) || hasByte($0, excluded) },
            stops: { $0 <= 0x20 || $0 >= 0x7F || $0 == excluded })
    }

    /// The index of the first control byte (below 0x20, tab included) or DEL in
    /// `start..<end`; nil when there is none.
    public static func firstControl(in bytes: UnsafeRawBufferPointer, from start: Int, to end: Int) -> Int? {
        firstIndex(
            in: bytes, from: start, to: end,
            wordMayStop: { hasByteBelow($0, 0x20) || hasByte($0, 0x7F) },
            stops: { $0 < 0x20 || $0 == 0x7F })
    }

    /// The index of the first byte in `start..<end` that ends a plain run inside a JSON
    /// string: a quote, a backslash, a control byte or a non-ASCII byte; nil when none.
    public static func firstStringBreak(in bytes: UnsafeRawBufferPointer, from start: Int, to end: Int) -> Int? {
        firstIndex(
            in: bytes, from: start, to: end,
            wordMayStop: { hasByteBelow($0, 0x20) || $0 & highs != 0 || hasByte($0, 0x22) || hasByte($0, 0x5C) },
            stops: { $0 < 0x20 || $0 >= 0x80 || $0 == 0x22 || $0 == 0x5C })
    }
}

/// Byte arrays filled in place.
public enum ByteArray {
    /// Largest array built through a stack buffer; bigger ones take the direct way.
    @usableFromInline static let stackLimit = 4096

    /// An array of the bytes `body` writes into a buffer of `capacity` bytes; `body` returns
    /// how many it wrote, or nil to give up (then the result is nil).
    ///
    /// Small arrays are written on the stack and appended to a reserved array: the
    /// `unsafeUninitializedCapacity` initializer looks up its storage class's generic
    /// metadata at run time on every call, which cost more than the copy.
    @inlinable
    public static func make(capacity: Int, _ body: (UnsafeMutableRawBufferPointer) -> Int?) -> [UInt8]? {
        guard capacity <= stackLimit else {
            var written: Int?
            let out = [UInt8](unsafeUninitializedCapacity: capacity) { buffer, count in
                written = body(UnsafeMutableRawBufferPointer(buffer))
                count = written ?? 0
            }
            return written == nil ? nil : out
        }
        return withUnsafeTemporaryAllocation(byteCount: max(capacity, 1), alignment: 1) { scratch -> [UInt8]? in
            let buffer = UnsafeMutableRawBufferPointer(rebasing: scratch[0..<capacity])
            guard let written = body(buffer) else { return nil }
            var out: [UInt8] = []
            out.reserveCapacity(written)
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[0..<written]))
            return out
        }
    }
}
