/// Appends JSON string literals to an `OutputBuffer`.
///
/// Output is always valid RFC 8259 JSON that `JSON.validate` accepts: `"` and `\` are
/// escaped, control characters use the short escapes (`\n`, `\t`, ...) or `\u00XX`, and
/// everything else is copied as UTF-8 in runs, so mostly-ASCII text costs one copy.
public struct JSONWriter {
    private static let hexDigits: StaticString = "0123456789abcdef"

    /// Appends `text` as a quoted, escaped JSON string.
    public static func appendString(_ text: String, to out: inout OutputBuffer) {
        var copy = text
        copy.withUTF8 { appendString(UnsafeRawBufferPointer($0), to: &out) }
    }

    /// Appends UTF-8 bytes as a quoted, escaped JSON string.
    ///
    /// Invalid UTF-8 (which a Swift `String` never holds, but raw bytes may) is replaced by
    /// U+FFFD per offending byte, so the output stays valid JSON whatever the input.
    public static func appendString(_ utf8: UnsafeRawBufferPointer, to out: inout OutputBuffer) {
        out.append(UInt8(ascii: "\""))
        let count = utf8.count
        var runStart = 0
        var index = 0
        while index < count {
            let byte = utf8[index]
            if byte >= 0x20, byte < 0x80, byte != UInt8(ascii: "\""), byte != UInt8(ascii: "\\") {
                index += 1
                continue
            }
            if byte >= 0x80 {
                let length = JSONUTF8.sequenceLength(utf8, at: index, end: count)
                if length > 0 {
                    index += length
                    continue
                }
            }
            if runStart < index { out.append(UnsafeRawBufferPointer(rebasing: utf8[runStart..<index])) }
            appendEscape(for: byte, to: &out)
            index += 1
            runStart = index
        }
        if runStart < count { out.append(UnsafeRawBufferPointer(rebasing: utf8[runStart..<count])) }
        out.append(UInt8(ascii: "\""))
    }

    /// Appends the escaped form of one byte that cannot be copied as is.
    private static func appendEscape(for byte: UInt8, to out: inout OutputBuffer) {
        switch byte {
        case UInt8(ascii: "\""): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
        case UInt8(ascii: "\\"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
        case 0x08: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "b")])
        case 0x0C: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "f")])
        case 0x0A: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
        case 0x0D: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
        case 0x09: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
        case 0..<0x20:
            let hex = hexDigits.utf8Start
            out.append(contentsOf: [
                UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                hex[Int(byte >> 4)], hex[Int(byte & 0x0F)],
            ])
        default:
            // A byte that starts no valid UTF-8 sequence: U+FFFD REPLACEMENT CHARACTER.
            out.append(contentsOf: [0xEF, 0xBF, 0xBD])
        }
    }
}
