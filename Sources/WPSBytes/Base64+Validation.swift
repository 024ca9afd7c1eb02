/// Allocation-free checks on base64 text, for validating payloads that are forwarded as is.
extension Base64 {
    /// Whether `text` is standard padded base64 (RFC 4648 §4) that `decode` would accept.
    ///
    /// Used on the hot path where a client's `binary` data is checked but not decoded: the
    /// JSON subscribers get the same base64 text, only raw subscribers need the bytes.
    public static func isValid(_ text: UnsafeRawBufferPointer) -> Bool {
        let count = text.count
        guard count % 4 == 0 else { return false }
        var index = 0
        while index < count {
            let byte = text[index]
            if byte == UInt8(ascii: "=") {
                // Padding: only the last one or two symbols of the final quantum.
                let remaining = count - index
                guard remaining <= 2 else { return false }
                return remaining == 1 || text[index + 1] == UInt8(ascii: "=")
            }
            guard isSymbol(byte) else { return false }
            index += 1
        }
        return true
    }

    /// The number of bytes `text` decodes to, assuming `isValid(text)`.
    public static func decodedCount(_ text: UnsafeRawBufferPointer) -> Int {
        var padding = 0
        if text.count >= 1, text[text.count - 1] == UInt8(ascii: "=") { padding += 1 }
        if text.count >= 2, text[text.count - 2] == UInt8(ascii: "=") { padding += 1 }
        return text.count / 4 * 3 - padding
    }

    @inline(__always)
    private static func isSymbol(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "+"), UInt8(ascii: "/"):
            return true
        default:
            return false
        }
    }
}
