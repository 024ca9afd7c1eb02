/// Byte classes and small byte helpers shared by the parsers (RFC 9110 §5.6).
enum HTTPBytes {
    static let cr = UInt8(ascii: "\r")
    static let lf = UInt8(ascii: "\n")
    static let sp = UInt8(ascii: " ")
    static let ht = UInt8(ascii: "\t")
    static let colon = UInt8(ascii: ":")
    static let comma = UInt8(ascii: ",")

    /// tchar: "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA.
    /// Two 64-bit masks over ASCII (bit n set = byte n is a tchar): no table, no branch per class.
    @inline(__always)
    static func isToken(_ byte: UInt8) -> Bool {
        let low: UInt64 = 0x03FF_6CFA_0000_0000  // bytes 0–63: "!#$%&'*+-." and digits
        let high: UInt64 = 0x57FF_FFFF_C7FF_FFFE  // bytes 64–127: letters, "^_`|~"
        guard byte < 128 else { return false }
        let mask = byte < 64 ? low : high
        return (mask >> UInt64(byte & 63)) & 1 == 1
    }

    /// Optional whitespace: SP or HTAB.
    @inline(__always)
    static func isOWS(_ byte: UInt8) -> Bool { byte == sp || byte == ht }

    /// field-vchar / SP / HTAB / obs-text: anything but controls other than HTAB, and DEL.
    @inline(__always)
    static func isFieldValueByte(_ byte: UInt8) -> Bool {
        byte == ht || (byte >= 0x20 && byte != 0x7F)
    }

    @inline(__always)
    static func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    @inline(__always)
    static func lower(_ byte: UInt8) -> UInt8 {
        byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte
    }

    /// Value of a hex digit, or nil.
    @inline(__always)
    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

extension UnsafeRawBufferPointer {
    /// The bytes in `range` as a buffer, without copying.
    @inline(__always)
    func slice(_ range: Range<Int>) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: self[range])
    }

    /// The bytes in `range` decoded as UTF-8 (invalid sequences repaired).
    func string(_ range: Range<Int>) -> String {
        String(decoding: slice(range), as: UTF8.self)
    }

    /// True if the bytes in `range` equal the lowercase ASCII `literal`, ignoring ASCII case.
    func equalsLowercased(_ range: Range<Int>, _ literal: StaticString) -> Bool {
        guard range.count == literal.utf8CodeUnitCount else { return false }
        let expected = literal.utf8Start
        var offset = 0
        for index in range {
            if HTTPBytes.lower(self[index]) != expected[offset] { return false }
            offset += 1
        }
        return true
    }

    /// True if the bytes in `range` equal the ASCII `literal` exactly.
    func equalsExactly(_ range: Range<Int>, _ literal: StaticString) -> Bool {
        guard range.count == literal.utf8CodeUnitCount else { return false }
        let expected = literal.utf8Start
        var offset = 0
        for index in range {
            if self[index] != expected[offset] { return false }
            offset += 1
        }
        return true
    }

    /// `range` with leading and trailing SP/HTAB removed.
    func trimmingOWS(_ range: Range<Int>) -> Range<Int> {
        var lower = range.lowerBound
        var upper = range.upperBound
        while lower < upper, HTTPBytes.isOWS(self[lower]) { lower += 1 }
        while upper > lower, HTTPBytes.isOWS(self[upper - 1]) { upper -= 1 }
        return lower..<upper
    }
}
