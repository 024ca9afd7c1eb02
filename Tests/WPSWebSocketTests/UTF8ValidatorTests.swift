import Testing
import WPSBytes
import WPSWebSocket

/// (name, bytes, valid as a whole text)
let utf8Cases: [(String, [UInt8], Bool)] = [
    ("empty", [], true),
    ("ascii", Array("hello, world".utf8), true),
    ("long ascii", Array(String(repeating: "abcdefgh", count: 9).utf8) + [0x21], true),
    ("2-byte min", [0xC2, 0x80], true),
    ("2-byte max", [0xDF, 0xBF], true),
    ("3-byte min", [0xE0, 0xA0, 0x80], true),
    ("3-byte before surrogates", [0xED, 0x9F, 0xBF], true),
    ("3-byte after surrogates", [0xEE, 0x80, 0x80], true),
    ("3-byte max", [0xEF, 0xBF, 0xBF], true),
    ("4-byte min", [0xF0, 0x90, 0x80, 0x80], true),
    ("4-byte max U+10FFFF", [0xF4, 0x8F, 0xBF, 0xBF], true),
    ("mixed", Array("aé€😀z".utf8), true),
    ("ascii then multibyte after 8", Array("12345678é".utf8), true),
    ("overlong 2-byte C0", [0xC0, 0x80], false),
    ("overlong 2-byte C1", [0xC1, 0xBF], false),
    ("overlong 3-byte", [0xE0, 0x9F, 0xBF], false),
    ("overlong 4-byte", [0xF0, 0x8F, 0xBF, 0xBF], false),
    ("surrogate low bound", [0xED, 0xA0, 0x80], false),
    ("surrogate high bound", [0xED, 0xBF, 0xBF], false),
    ("above U+10FFFF", [0xF4, 0x90, 0x80, 0x80], false),
    ("F5 lead", [0xF5, 0x80, 0x80, 0x80], false),
    ("FF", [0xFF], false),
    ("stray continuation", [0x61, 0x80], false),
    ("continuation missing", [0xC2, 0x41], false),
    ("truncated 2-byte", [0xC2], false),
    ("truncated 3-byte", [0xE2, 0x82], false),
    ("truncated 4-byte", [0xF0, 0x9F, 0x98], false),
    ("invalid after 8 ascii", Array("abcdefgh".utf8) + [0xFE], false),
    ("invalid inside a long ascii run", Array("abcdefghijk".utf8) + [0x80] + Array("abcdefgh".utf8), false),
]

@Suite struct UTF8ValidatorTests {
    static func check(_ bytes: [UInt8], cuts: [Int]) -> Bool {
        var validator = UTF8Validator()
        var start = 0
        for end in cuts + [bytes.count] {
            let ok = bytes[start..<end].withUnsafeBytes { validator.validate($0) }
            start = end
            if !ok { return false }
        }
        return validator.isComplete
    }

    @Test(arguments: utf8Cases)
    func whole(_ name: String, _ bytes: [UInt8], _ valid: Bool) {
        #expect(bytes.withUnsafeBytes { UTF8Validator.isValid($0) } == valid, "\(name)")
        #expect(Self.check(bytes, cuts: []) == valid, "\(name)")
    }

    @Test(arguments: utf8Cases)
    func splitAtEveryOffset(_ name: String, _ bytes: [UInt8], _ valid: Bool) {
        for cut in 0...bytes.count {
            #expect(Self.check(bytes, cuts: [cut]) == valid, "\(name) cut at \(cut)")
        }
        #expect(Self.check(bytes, cuts: Array(0..<bytes.count)) == valid, "\(name) byte by byte")
    }

    /// Agrees with the standard library's decoder on every 1- and 2-byte input and some 3-byte ones.
    @Test func agreesWithStandardLibrary() {
        func reference(_ bytes: [UInt8]) -> Bool { String(validating: bytes, as: UTF8.self) != nil }
        for first in 0...255 {
            #expect(Self.check([UInt8(first)], cuts: []) == reference([UInt8(first)]))
            for second in 0...255 {
                let bytes = [UInt8(first), UInt8(second)]
                if Self.check(bytes, cuts: []) != reference(bytes) { Issue.record("\(bytes)") }
            }
        }
        for first in [0xE0, 0xE1, 0xED, 0xEF, 0xF0, 0xF4] {
            for second in 0x70...0xC0 {
                let bytes: [UInt8] = [UInt8(first), UInt8(second), 0x80, 0x80]
                if Self.check(bytes, cuts: [1]) != reference(bytes) { Issue.record("\(bytes)") }
            }
        }
    }

    @Test func partialIsValidButNotComplete() {
        var validator = UTF8Validator()
        #expect(([0xE2, 0x82] as [UInt8]).withUnsafeBytes { validator.validate($0) })
        #expect(validator.isValid && !validator.isComplete)
        #expect(([0xAC] as [UInt8]).withUnsafeBytes { validator.validate($0) })
        #expect(validator.isComplete)
        #expect(!([0xFF] as [UInt8]).withUnsafeBytes { validator.validate($0) })
        #expect(!([0x61] as [UInt8]).withUnsafeBytes { validator.validate($0) }, "failure is sticky")
        validator.reset()
        #expect(([0x61] as [UInt8]).withUnsafeBytes { validator.validate($0) } && validator.isComplete)
    }
}
