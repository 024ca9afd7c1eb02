/// Hub names as Azure accepts them: a letter, then up to 127 of letters, digits and `_`,
/// backtick, comma, dot, brackets (reference §1.1).
public enum HubName {
    /// Whether `name` is a valid hub name.
    public static func isValid(_ name: String) -> Bool {
        var name = name
        return name.withUTF8 { bytes in
            guard let first = bytes.first, bytes.count <= 128, isLetter(first) else { return false }
            return bytes.dropFirst().allSatisfy { byte in
                switch byte {
                case 0x30...0x39, UInt8(ascii: "_"), UInt8(ascii: "`"), UInt8(ascii: ","), UInt8(ascii: "."),
                    UInt8(ascii: "["), UInt8(ascii: "]"):
                    true
                default:
                    isLetter(byte)
                }
            }
        }
    }

    /// The name in lowercase, or nil when it is not valid. Valid names are ASCII, so a name
    /// without capitals is returned as it is, with no new string.
    public static func canonical(_ name: String) -> String? {
        guard isValid(name) else { return nil }
        var name = name
        let hasCapital = name.withUTF8 { $0.contains { $0 >= 0x41 && $0 <= 0x5A } }
        return hasCapital ? name.lowercased() : name
    }

    private static func isLetter(_ byte: UInt8) -> Bool {
        (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
    }
}
