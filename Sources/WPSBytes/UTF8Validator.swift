/// An incremental UTF-8 validator (RFC 3629) for text messages split across frames and reads.
///
/// Rejects overlong encodings, UTF-16 surrogates (U+D800-U+DFFF), code points above U+10FFFF
/// and stray continuation bytes. ASCII runs are checked eight bytes at a time.
public struct UTF8Validator: Sendable {
    /// Continuation bytes still expected for the current code point.
    private var pending: UInt8 = 0
    /// Inclusive bounds for the next continuation byte; tighter than 0x80-0xBF only for the
    /// first continuation after E0, ED, F0 and F4 (this is what rules out overlongs,
    /// surrogates and values above U+10FFFF).
    private var lower: UInt8 = 0x80
    private var upper: UInt8 = 0xBF
    /// Set on the first invalid byte; sticky until `reset()`.
    private var failed = false

    /// Creates a validator at the start of a text.
    public init() {}

    /// True when the bytes so far are valid and end on a code point boundary.
    public var isComplete: Bool { pending == 0 && !failed }

    /// True while no invalid byte has been seen.
    public var isValid: Bool { !failed }

    /// Forgets all state, ready for a new text.
    public mutating func reset() { self = UTF8Validator() }

    /// Validates the next bytes of the text; false once any byte so far is invalid.
    public mutating func validate(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard !failed else { return false }
        guard let base = bytes.baseAddress else { return true }
        let count = bytes.count
        var index = 0
        var pending = self.pending
        var lower = self.lower
        var upper = self.upper
        defer {
            self.pending = pending
            self.lower = lower
            self.upper = upper
        }
        while index < count {
            if pending == 0 {
                // ASCII fast path: eight bytes per step while no byte has its high bit set.
                while index &+ 8 <= count {
                    let word = base.loadUnaligned(fromByteOffset: index, as: UInt64.self)
                    if word & 0x8080_8080_8080_8080 != 0 { break }
                    index &+= 8
                }
                guard index < count else { break }
                let byte = base.load(fromByteOffset: index, as: UInt8.self)
                index &+= 1
                if byte < 0x80 { continue }
                lower = 0x80
                upper = 0xBF
                switch byte {
                case 0xC2...0xDF: pending = 1
                case 0xE0:
                    pending = 2
                    lower = 0xA0  // below would be an overlong 2-byte value
                case 0xE1...0xEC, 0xEE...0xEF: pending = 2
                case 0xED:
                    pending = 2
                    upper = 0x9F  // above would be a surrogate
                case 0xF0:
                    pending = 3
                    lower = 0x90  // below would be an overlong 3-byte value
                case 0xF1...0xF3: pending = 3
                case 0xF4:
                    pending = 3
                    upper = 0x8F  // above would exceed U+10FFFF
                default:
                    // 80-BF stray continuation, C0/C1 overlong, F5-FF out of range.
                    failed = true
                    return false
                }
            } else {
                let byte = base.load(fromByteOffset: index, as: UInt8.self)
                guard byte >= lower, byte <= upper else {
                    failed = true
                    return false
                }
                index &+= 1
                pending &-= 1
                lower = 0x80
                upper = 0xBF
            }
        }
        return true
    }

    /// Validates a whole text in one call: valid bytes that end on a code point boundary.
    public static func isValid(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var validator = UTF8Validator()
        return validator.validate(bytes) && validator.isComplete
    }
}
