/// Typed reads of scalar tokens. Each returns nil for a token of another kind or shape
/// rather than trapping, so a token built from untrusted offsets is safe to pass.
extension JSON {
    /// The decoded contents of a string token, or nil unless it is a well-formed string.
    public static func string(_ bytes: UnsafeRawBufferPointer, _ token: JSONToken) -> String? {
        guard isQuoted(bytes, token) else { return nil }
        // Escapes only shrink when decoded (`\u00e9` is 6 bytes for 2), so the raw length bounds
        // the decoded length and one allocation, the String itself, suffices.
        let capacity = token.range.count - 2
        if let contents = unescapedContents(bytes, token) {
            // Nearly every string: its bytes are the text.
            return String(unsafeUninitializedCapacity: max(capacity, 1)) { buffer in
                UnsafeMutableRawBufferPointer(buffer).copyMemory(from: contents)
                return capacity
            }
        }
        var ok = true
        let text = String(unsafeUninitializedCapacity: max(capacity, 1)) { buffer in
            var count = 0
            ok = forEachDecodedByte(bytes, token) { byte in
                guard count < capacity else { return false }
                buffer[count] = byte
                count += 1
                return true
            }
            return ok ? count : 0
        }
        return ok ? text : nil
    }

    /// The decoded UTF-8 bytes of a string token, or nil unless it is a well-formed string.
    ///
    /// For payloads that are bytes rather than text (base64, raw-client frames): no String
    /// round trip and no UTF-8 repair.
    public static func stringBytes(_ bytes: UnsafeRawBufferPointer, _ token: JSONToken) -> [UInt8]? {
        guard isQuoted(bytes, token) else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(token.range.count - 2)
        guard
            forEachDecodedByte(
                bytes, token,
                {
                    out.append($0); return true
                })
        else { return nil }
        return out
    }

    /// The raw bytes between a string token's quotes when it contains no escapes, else nil.
    ///
    /// Lets callers check or copy the common escape-free case without decoding.
    public static func unescapedContents(_ bytes: UnsafeRawBufferPointer, _ token: JSONToken) -> UnsafeRawBufferPointer?
    {
        guard isQuoted(bytes, token) else { return nil }
        let contents = UnsafeRawBufferPointer(
            rebasing: bytes[(token.range.lowerBound + 1)..<(token.range.upperBound - 1)])
        return ByteScan.firstIndex(of: UInt8(ascii: "\\"), in: contents) == nil ? contents : nil
    }

    /// Whether a string token decodes to exactly `literal` (ASCII case folding when asked).
    ///
    /// Compares while decoding, so it never allocates, escapes or not. Inlined, so a key or
    /// type name equal byte for byte (nearly every one) is settled by a few compares against
    /// the literal's known bytes; anything else takes the general comparison.
    @inlinable
    public static func stringEquals(
        _ bytes: UnsafeRawBufferPointer,
        _ token: JSONToken,
        _ literal: StaticString,
        caseInsensitive: Bool = false
    ) -> Bool {
        let range = token.range
        let count = literal.utf8CodeUnitCount
        if !caseInsensitive, literal.hasPointerRepresentation, token.kind == .string,
            range.lowerBound >= 0, range.upperBound <= bytes.count, range.count == count + 2,
            let base = bytes.baseAddress, base.load(fromByteOffset: range.lowerBound, as: UInt8.self) == 0x22,
            base.load(fromByteOffset: range.upperBound - 1, as: UInt8.self) == 0x22
        {
            // With the literal known here, this loop unrolls into constant compares. A
            // backslash in the literal would make equal bytes an escape: the general path.
            let text = UnsafeRawPointer(base + (range.lowerBound + 1))
            let expected = UnsafeRawPointer(literal.utf8Start)
            var index = 0
            while index < count {
                let byte = expected.load(fromByteOffset: index, as: UInt8.self)
                if byte == 0x5C || text.load(fromByteOffset: index, as: UInt8.self) != byte { break }
                index += 1
            }
            if index == count { return true }
        }
        return stringEqualsInGeneral(bytes, token, literal, caseInsensitive: caseInsensitive)
    }

    @usableFromInline
    static func stringEqualsInGeneral(
        _ bytes: UnsafeRawBufferPointer,
        _ token: JSONToken,
        _ literal: StaticString,
        caseInsensitive: Bool
    ) -> Bool {
        guard isQuoted(bytes, token) else { return false }
        return literal.withUTF8Buffer { expected in
            // Escapes only shrink when decoded: text as long as the literal matches byte for
            // byte unless it holds an escape, shorter text never matches, and longer text only
            // when it holds one.
            let start = token.range.lowerBound + 1
            let count = token.range.count - 2
            if count < expected.count { return false }
            let text = UnsafeRawBufferPointer(rebasing: bytes[start..<start + count])
            if count == expected.count {
                // Equal bytes settle it unless the literal itself holds a backslash (then the
                // text holds escapes too); unequal bytes settle it unless the text holds one.
                let raw = UnsafeRawBufferPointer(expected)
                let same = caseInsensitive ? ByteScan.equalIgnoringASCIICase(text, raw) : ByteScan.equal(text, raw)
                let backslash = UInt8(ascii: "\\")
                if same {
                    if ByteScan.firstIndex(of: backslash, in: raw) == nil { return true }
                } else if ByteScan.firstIndex(of: backslash, in: text) == nil {
                    return false
                }
            } else if ByteScan.firstIndex(of: UInt8(ascii: "\\"), in: text) == nil {
                return false
            }
            var index = 0
            let matched = forEachDecodedByte(bytes, token) { byte in
                guard index < expected.count else { return false }
                var left = byte
                var right = expected[index]
                if caseInsensitive {
                    left = asciiLowercased(left)
                    right = asciiLowercased(right)
                }
                index += 1
                return left == right
            }
            return matched && index == expected.count
        }
    }

    /// A plain non-negative integer (no sign, fraction or exponent) that fits in UInt64.
    public static func uint64(_ bytes: UnsafeRawBufferPointer, _ token: JSONToken) -> UInt64? {
        guard token.kind == .number, let digits = digitRange(bytes, token, allowMinus: false) else { return nil }
        return magnitude(bytes, digits)
    }

    /// An integer (optional minus, no fraction or exponent) that fits in Int64.
    ///
    /// `1.0` and `1e3` are rejected even though their value is integral: ids on the wire are
    /// written as plain integers by every SDK, and accepting other spellings invites ambiguity.
    public static func int64(_ bytes: UnsafeRawBufferPointer, _ token: JSONToken) -> Int64? {
        guard token.kind == .number, let digits = digitRange(bytes, token, allowMinus: true) else { return nil }
        let negative = digits.lowerBound > token.range.lowerBound
        guard let value = magnitude(bytes, digits) else { return nil }
        if negative {
            guard value <= UInt64(Int64.max) + 1 else { return nil }
            return Int64(bitPattern: 0 &- value)
        }
        guard value <= UInt64(Int64.max) else { return nil }
        return Int64(value)
    }

    /// The value of a `true` / `false` token.
    public static func bool(_ bytes: UnsafeRawBufferPointer, _ token: JSONToken) -> Bool? {
        guard token.kind == .bool, token.range.lowerBound >= 0, token.range.upperBound <= bytes.count else {
            return nil
        }
        switch token.range.count {
        case 4 where bytes[token.range.lowerBound] == UInt8(ascii: "t"): return true
        case 5 where bytes[token.range.lowerBound] == UInt8(ascii: "f"): return false
        default: return nil
        }
    }

    // MARK: - Helpers

    @inline(__always)
    static func asciiLowercased(_ byte: UInt8) -> UInt8 {
        byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte
    }

    /// The digits of an integer token (after an optional minus), or nil if anything else is there.
    private static func digitRange(_ bytes: UnsafeRawBufferPointer, _ token: JSONToken, allowMinus: Bool) -> Range<Int>?
    {
        var start = token.range.lowerBound
        let end = token.range.upperBound
        guard start >= 0, end <= bytes.count, start < end else { return nil }
        if allowMinus, bytes[start] == UInt8(ascii: "-") { start += 1 }
        guard start < end else { return nil }
        // A leading zero is only valid as the whole number; the scanner already rejects
        // "01", this keeps hand-built tokens equally strict.
        if bytes[start] == UInt8(ascii: "0"), end - start > 1 { return nil }
        for index in start..<end {
            let byte = bytes[index]
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
        }
        return start..<end
    }

    private static func magnitude(_ bytes: UnsafeRawBufferPointer, _ digits: Range<Int>) -> UInt64? {
        var value: UInt64 = 0
        // Nineteen digits always fit (UInt64.max has twenty): no overflow checks needed.
        if digits.count <= 19 {
            for index in digits { value = value &* 10 &+ UInt64(bytes[index] &- UInt8(ascii: "0")) }
            return value
        }
        for index in digits {
            let (shifted, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = shifted.addingReportingOverflow(UInt64(bytes[index] - UInt8(ascii: "0")))
            guard !overflow1, !overflow2 else { return nil }
            value = sum
        }
        return value
    }

    /// Feeds the UTF-8 bytes of a string token's decoded contents to `sink`, which returns
    /// false to stop. Returns false if stopped or if the escapes are malformed.
    static func forEachDecodedByte(
        _ bytes: UnsafeRawBufferPointer,
        _ token: JSONToken,
        _ sink: (UInt8) -> Bool
    ) -> Bool {
        var index = token.range.lowerBound + 1
        let end = token.range.upperBound - 1
        while index < end {
            let byte = bytes[index]
            guard byte == UInt8(ascii: "\\") else {
                guard sink(byte) else { return false }
                index += 1
                continue
            }
            guard index + 1 < end else { return false }
            let escaped = bytes[index + 1]
            index += 2
            let plain: UInt8
            switch escaped {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): plain = escaped
            case UInt8(ascii: "b"): plain = 0x08
            case UInt8(ascii: "f"): plain = 0x0C
            case UInt8(ascii: "n"): plain = 0x0A
            case UInt8(ascii: "r"): plain = 0x0D
            case UInt8(ascii: "t"): plain = 0x09
            case UInt8(ascii: "u"):
                guard var scalar = JSONUTF8.hex4(bytes, at: index, end: end) else { return false }
                index += 4
                if scalar >= 0xDC00, scalar <= 0xDFFF { return false }
                if scalar >= 0xD800, scalar <= 0xDBFF {
                    guard index + 6 <= end, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u"),
                        let low = JSONUTF8.hex4(bytes, at: index + 2, end: end), low >= 0xDC00, low <= 0xDFFF
                    else { return false }
                    index += 6
                    scalar = 0x10000 + (scalar - 0xD800) << 10 + (low - 0xDC00)
                }
                guard JSONUTF8.encode(scalar, sink) else { return false }
                continue
            default:
                return false
            }
            guard sink(plain) else { return false }
        }
        return true
    }
}
