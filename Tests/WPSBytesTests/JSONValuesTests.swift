import Testing
import WPSBytes

/// Validates `text` and applies `read` to its top-level token.
func readJSON<T>(_ text: String, _ read: (UnsafeRawBufferPointer, JSONToken) -> T?) -> T? {
    let bytes = Array(text.utf8)
    return bytes.withUnsafeBytes { raw in
        guard let token = try? JSON.validate(raw) else { return nil }
        return read(raw, token)
    }
}

@Suite struct JSONValuesTests {
    static let strings: [(String, String)] = [
        ("\"\"", ""), ("\"abc\"", "abc"), ("\"\\\"\"", "\""), ("\"\\\\\"", "\\"), ("\"\\/\"", "/"),
        ("\"\\b\"", "\u{08}"), ("\"\\f\"", "\u{0C}"), ("\"\\n\"", "\n"), ("\"\\r\"", "\r"), ("\"\\t\"", "\t"),
        ("\"\\u0041\"", "A"), ("\"\\u00e9\"", "é"), ("\"\\u00E9\"", "é"), ("\"\\u65e5\"", "日"),
        ("\"\\uD83D\\uDE00\"", "😀"), ("\"\\u0000\"", "\u{0}"), ("\"a\\u0022b\"", "a\"b"),
        ("\"é日😀\"", "é日😀"), ("\"x\\ny\\tz\"", "x\ny\tz"), ("\"\\uFFFF\"", "\u{FFFF}"),
    ]

    /// Strings long enough for the eight-byte scan, with the byte that matters at each
    /// position: escapes decode, raw controls are refused, non-ASCII passes or is refused by
    /// its UTF-8 validity.
    @Test func longStringsAtEveryPosition() {
        for length in 1..<24 {
            for position in 0..<length {
                var plain = Array(repeating: UInt8(ascii: "a"), count: length)
                plain[position] = UInt8(ascii: "b")
                let text = String(decoding: plain, as: UTF8.self)
                #expect(readJSON("\"\(text)\"") { JSON.string($0, $1) } == text)
                var escaped = plain
                escaped.replaceSubrange(position...position, with: Array("\\n".utf8))
                let expected = String(decoding: plain, as: UTF8.self).replacingCharacters(position, with: "\n")
                #expect(
                    readJSON("\"" + String(decoding: escaped, as: UTF8.self) + "\"") { JSON.string($0, $1) } == expected
                )
                var control = plain
                control[position] = 0x1F
                #expect(readJSON("\"" + String(decoding: control, as: UTF8.self) + "\"") { JSON.string($0, $1) } == nil)
                var accented = plain
                accented.replaceSubrange(position...position, with: Array("é".utf8))
                let withAccent = String(decoding: accented, as: UTF8.self)
                #expect(readJSON("\"\(withAccent)\"") { JSON.string($0, $1) } == withAccent)
                var broken = plain
                broken[position] = 0xC3  // a lead byte with no continuation
                let invalid = [UInt8(ascii: "\"")] + broken + [UInt8(ascii: "\"")]
                let scanned = invalid.withUnsafeBytes { try? JSON.validate($0) }
                #expect(scanned == nil, "length \(length) position \(position)")
            }
        }
    }

    @Test(arguments: strings) func decodesStrings(json: String, expected: String) {
        #expect(readJSON(json) { JSON.string($0, $1) } == expected)
    }

    @Test(arguments: ["1", "true", "null", "[]", "{}"]) func stringOfNonStringIsNil(json: String) {
        #expect(readJSON(json) { JSON.string($0, $1) } == nil)
    }

    static let equality: [(String, StaticString, Bool, Bool)] = [
        ("\"joinGroup\"", "joinGroup", false, true),
        ("\"joingroup\"", "joinGroup", false, false),
        ("\"JOINGROUP\"", "joinGroup", true, true),
        ("\"join\\u0047roup\"", "joinGroup", false, true),
        ("\"joinGroupX\"", "joinGroup", false, false),
        ("\"joinGrou\"", "joinGroup", false, false),
        ("\"\"", "", false, true),
        ("\"Text\"", "text", true, true),
        ("\"T\\u0065xt\"", "TEXT", true, true),
        ("\"é\"", "\u{E9}", false, true),
        ("\"É\"", "é", true, false),  // folding is ASCII only
        // As long as the literal but holding an escape: decodes shorter, never equal.
        ("\"ab\\ncd\"", "abxncd", false, false),
        ("\"\\u0041\"", "\\u0041", false, false),
        ("\"\\u0041\"", "\\U0041", true, false),
        // As long as the literal, no escape, one letter off: settled by the bytes alone.
        ("\"Texz\"", "text", true, false),
        // Longer than the literal with no escape: never equal; with one: decided by decoding.
        ("\"groupX\"", "group", false, false),
        ("\"gr\\u006Fup\"", "group", false, true),
        ("\"gr\\u006Fup\"", "GROUP", true, true),
        ("\"g\\\\\"", "g\\", false, true),
    ]

    @Test(arguments: equality) func stringEquals(json: String, literal: StaticString, folding: Bool, expected: Bool) {
        #expect(readJSON(json) { JSON.stringEquals($0, $1, literal, caseInsensitive: folding) } == expected)
    }

    @Test func stringEqualsRejectsNonStrings() {
        #expect(readJSON("1") { JSON.stringEquals($0, $1, "1") } == false)
        #expect(readJSON("null") { JSON.stringEquals($0, $1, "null") } == false)
    }

    static let unsigned: [(String, UInt64?)] = [
        ("0", 0), ("1", 1), ("42", 42), ("18446744073709551615", .max), ("18446744073709551616", nil),
        ("99999999999999999999", nil), ("9999999999999999999", 9_999_999_999_999_999_999),
        ("10000000000000000000", 10_000_000_000_000_000_000), ("1000000000000000000", 1_000_000_000_000_000_000),
        ("-1", nil), ("-0", nil), ("1.0", nil), ("1e3", nil), ("1E3", nil),
        ("\"1\"", nil), ("true", nil), ("null", nil),
    ]

    @Test(arguments: unsigned) func uint64(json: String, expected: UInt64?) {
        #expect(readJSON(json) { JSON.uint64($0, $1) } == expected)
    }

    static let signed: [(String, Int64?)] = [
        ("0", 0), ("-0", 0), ("7", 7), ("-7", -7), ("9223372036854775807", .max), ("9223372036854775808", nil),
        ("-9223372036854775808", .min), ("-9223372036854775809", nil), ("1.7e9", nil), ("2.0", nil), ("\"3\"", nil),
    ]

    @Test(arguments: signed) func int64(json: String, expected: Int64?) {
        #expect(readJSON(json) { JSON.int64($0, $1) } == expected)
    }

    @Test func bools() {
        #expect(readJSON("true") { JSON.bool($0, $1) } == true)
        #expect(readJSON("false") { JSON.bool($0, $1) } == false)
        #expect(readJSON("null") { JSON.bool($0, $1) } == nil)
        #expect(readJSON("1") { JSON.bool($0, $1) } == nil)
    }

    @Test func handBuiltTokensNeverTrap() {
        let bytes = Array("\"ab\"".utf8)
        bytes.withUnsafeBytes { raw in
            let bad: [JSONToken] = [
                JSONToken(kind: .string, range: 0..<10), JSONToken(kind: .string, range: 0..<1),
                JSONToken(kind: .string, range: 1..<3), JSONToken(kind: .number, range: 0..<4),
                JSONToken(kind: .bool, range: 2..<9), JSONToken(kind: .number, range: 3..<3),
                JSONToken(kind: .string, range: -1..<3),
            ]
            for token in bad {
                #expect(JSON.string(raw, token) == nil)
                #expect(JSON.uint64(raw, token) == nil)
                #expect(JSON.int64(raw, token) == nil)
                #expect(JSON.bool(raw, token) == nil)
                #expect(!JSON.stringEquals(raw, token, "ab"))
            }
        }
        let escapes = Array("\"\\u12\"\"\\uD800\"".utf8)
        escapes.withUnsafeBytes { raw in
            #expect(JSON.string(raw, JSONToken(kind: .string, range: 0..<6)) == nil)
            #expect(JSON.string(raw, JSONToken(kind: .string, range: 6..<14)) == nil)
        }
    }
}

@Suite struct JSONWriterTests {
    static func written(_ text: String) -> String {
        var out = OutputBuffer()
        JSONWriter.appendString(text, to: &out)
        return String(decoding: out.bytes, as: UTF8.self)
    }

    static let cases: [(String, String)] = [
        ("", "\"\""), ("abc", "\"abc\""), ("a\"b", "\"a\\\"b\""), ("a\\b", "\"a\\\\b\""), ("/", "\"/\""),
        ("\n\r\t\u{08}\u{0C}", "\"\\n\\r\\t\\b\\f\""), ("\u{0}\u{1}\u{1F}", "\"\\u0000\\u0001\\u001f\""),
        ("\u{7F}", "\"\u{7F}\""), ("é日😀", "\"é日😀\""), ("\u{2028}", "\"\u{2028}\""),
    ]

    @Test(arguments: cases) func escapes(text: String, expected: String) {
        #expect(Self.written(text) == expected)
    }

    static let roundTrips: [String] = [
        "", "hello", "quote \" backslash \\ slash /",
        "all controls: " + (0..<32).map { String(UnicodeScalar(UInt8($0))) }.joined(),
        "unicode é 日本 😀 \u{10FFFF} \u{FFFD}", String(repeating: "x", count: 5000) + "\"",
    ]

    @Test(arguments: roundTrips) func roundTripsThroughScanner(text: String) throws {
        let json = Self.written(text)
        #expect(readJSON(json) { JSON.string($0, $1) } == text)
        #expect(readJSON(json) { raw, token in token.range == 0..<raw.count } == true)
    }

    @Test func rawBytesWithInvalidUTF8BecomeReplacementCharacters() {
        let cases: [([UInt8], String)] = [
            ([0x61, 0xFF, 0x62], "a\u{FFFD}b"), ([0xC3], "\u{FFFD}"), ([0xED, 0xA0, 0x80], "\u{FFFD}\u{FFFD}\u{FFFD}"),
            ([0xC3, 0xA9, 0x0A], "é\n"),
        ]
        for (input, expected) in cases {
            var out = OutputBuffer()
            input.withUnsafeBytes { JSONWriter.appendString($0, to: &out) }
            let json = String(decoding: out.bytes, as: UTF8.self)
            #expect(readJSON(json) { JSON.string($0, $1) } == expected)
        }
    }
}

private extension String {
    /// This ASCII string with the character at `offset` replaced.
    func replacingCharacters(_ offset: Int, with replacement: String) -> String {
        var characters = Array(self)
        characters.replaceSubrange(offset...offset, with: Array(replacement))
        return String(characters)
    }
}
