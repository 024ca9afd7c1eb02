/// The six kinds of JSON value (RFC 8259 §3).
public enum JSONKind: Sendable {
    case object, array, string, number, bool, null
}

/// One JSON value found in an input buffer: its kind and where its bytes are.
///
/// Tokens borrow nothing: they are offsets into the buffer the scanner was given, so the
/// caller must pass the same bytes back to the accessors in `JSON`.
public struct JSONToken: Sendable, Equatable {
    /// What kind of value the bytes hold.
    public var kind: JSONKind
    /// The value's bytes in the input; strings include their quotes, containers their brackets.
    public var range: Range<Int>

    /// Creates a token; the scanner is the usual source, tests may build them by hand.
    public init(kind: JSONKind, range: Range<Int>) {
        self.kind = kind
        self.range = range
    }
}

/// Why a text is not acceptable JSON, and the byte offset where the scanner noticed.
public struct JSONError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Offset of the offending byte (or the input length when the text ended early).
    public var offset: Int
    /// A short human-readable reason, safe to put in a close reason or log line.
    public var message: String

    /// Creates an error at `offset`.
    public init(offset: Int, message: String) {
        self.offset = offset
        self.message = message
    }

    /// `message at offset N`.
    public var description: String { "\(message) at offset \(offset)" }
}

/// Strict UTF-8 sequence checks shared by the scanner and the writer (RFC 3629 §4).
enum JSONUTF8 {
    /// Length of the valid UTF-8 sequence starting at `index` whose lead byte is non-ASCII,
    /// or 0 when it is invalid (overlong, surrogate, above U+10FFFF, truncated).
    @inline(__always)
    static func sequenceLength(_ bytes: UnsafeRawBufferPointer, at index: Int, end: Int) -> Int {
        let lead = bytes[index]
        var need = 0
        var low: UInt8 = 0x80
        var high: UInt8 = 0xBF
        switch lead {
        case 0xC2...0xDF: need = 1
        case 0xE0: need = 2; low = 0xA0  // below A0 would be overlong
        case 0xE1...0xEC, 0xEE...0xEF: need = 2
        case 0xED: need = 2; high = 0x9F  // above 9F would encode a UTF-16 surrogate
        case 0xF0: need = 3; low = 0x90  // below 90 would be overlong
        case 0xF1...0xF3: need = 3
        case 0xF4: need = 3; high = 0x8F  // above 8F would exceed U+10FFFF
        default: return 0
        }
        guard index + need < end else { return 0 }
        let first = bytes[index + 1]
        guard first >= low, first <= high else { return 0 }
        var offset = 2
        while offset <= need {
            guard bytes[index + offset] & 0xC0 == 0x80 else { return 0 }
            offset += 1
        }
        return need + 1
    }

    /// Appends the UTF-8 encoding of a scalar value known to be valid.
    @inline(__always)
    static func encode(_ scalar: UInt32, _ sink: (UInt8) -> Bool) -> Bool {
        switch scalar {
        case 0..<0x80:
            return sink(UInt8(scalar))
        case 0x80..<0x800:
            return sink(UInt8(0xC0 | scalar >> 6)) && sink(UInt8(0x80 | scalar & 0x3F))
        case 0x800..<0x10000:
            return sink(UInt8(0xE0 | scalar >> 12)) && sink(UInt8(0x80 | scalar >> 6 & 0x3F))
                && sink(UInt8(0x80 | scalar & 0x3F))
        default:
            return sink(UInt8(0xF0 | scalar >> 18)) && sink(UInt8(0x80 | scalar >> 12 & 0x3F))
                && sink(UInt8(0x80 | scalar >> 6 & 0x3F)) && sink(UInt8(0x80 | scalar & 0x3F))
        }
    }

    /// The value of an ASCII hex digit, or nil.
    @inline(__always)
    static func hexDigit(_ byte: UInt8) -> UInt32? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return UInt32(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return UInt32(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return UInt32(byte - UInt8(ascii: "A") + 10)
        default: return nil
        }
    }

    /// The four hex digits at `index` as a UTF-16 code unit, or nil if any is missing/invalid.
    @inline(__always)
    static func hex4(_ bytes: UnsafeRawBufferPointer, at index: Int, end: Int) -> UInt32? {
        guard index + 4 <= end else { return nil }
        var value: UInt32 = 0
        for offset in 0..<4 {
            guard let digit = hexDigit(bytes[index + offset]) else { return nil }
            value = value << 4 | digit
        }
        return value
    }
}
