import Testing

@testable import WPSProtocol

/// Group names: 1 to 1024 scalars, not only whitespace (protocol-spec/client-protocol.md §3).
@Suite struct GroupNameTests {
    /// The ASCII shortcut agrees with Unicode's White_Space property on every ASCII scalar
    /// and on the non-ASCII spaces that still go through the tables.
    @Test func whitespaceAgreesWithUnicode() {
        let scalars =
            (0..<0x80).compactMap(Unicode.Scalar.init) + ["\u{85}", "\u{A0}", "\u{2003}", "\u{3000}", "é", "\u{200B}"]
        for scalar in scalars {
            #expect(
                GroupName.isWhitespace(scalar) == scalar.properties.isWhitespace, "U+\(String(scalar.value, radix: 16))"
            )
        }
    }

    @Test(arguments: [
        ("g", true), (" g ", true), (" ", false), ("\t\n\u{0B}\u{0C}\r", false), ("\u{A0}\u{3000}", false),
        ("\u{200B}", true), ("", false), (String(repeating: "a", count: 1024), true),
        (String(repeating: "a", count: 1025), false),
        // Past the byte shortcut: non-ASCII names are counted in scalars, not bytes.
        (String(repeating: "é", count: 1024), true), (String(repeating: "é", count: 1025), false),
        (String(repeating: " ", count: 1023) + "x", true), (String(repeating: " ", count: 1024), false),
        ("\u{A0}g", true), (" \u{3000} g", true), ("a" + String(repeating: "é", count: 1023), true),
        ("a" + String(repeating: "é", count: 1024), false), ("\u{1F600}", true),
    ])
    func validity(name: String, valid: Bool) {
        #expect(GroupName.isValid(name) == valid)
    }
}
