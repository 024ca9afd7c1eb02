/// Group names as the service accepts them (protocol-spec/client-protocol.md §3): 1–1024
/// Unicode scalars, not only whitespace, any characters otherwise.
public enum GroupName {
    public static let maxScalars = ClientRequestDecoder.maxGroupNameScalars

    /// Why `name` is not a valid group name, or nil when it is.
    public static func problem(_ name: String) -> String? {
        // A name no longer in bytes than the limit is within it in scalars too; if it starts
        // with a visible ASCII byte after any ASCII whitespace, it is valid without a walk
        // through its scalars.
        let bytes = name.utf8.count
        if bytes >= 1, bytes <= maxScalars,
            let visible = name.utf8.withContiguousStorageIfAvailable({ firstNonWhitespaceIsASCII($0) }), visible
        {
            return nil
        }
        var count = 0
        var allWhitespace = true
        for scalar in name.unicodeScalars {
            count += 1
            if allWhitespace, !Self.isWhitespace(scalar) { allWhitespace = false }
            if count > maxScalars { break }
        }
        guard count >= 1, count <= maxScalars else { return "group must be 1 to \(maxScalars) characters" }
        guard !allWhitespace else { return "group must not be only whitespace" }
        return nil
    }

    public static func isValid(_ name: String) -> Bool { problem(name) == nil }

    /// Whether the first byte that is not ASCII whitespace is ASCII; false when there is none.
    private static func firstNonWhitespaceIsASCII(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        for byte in bytes {
            if byte >= 0x80 { return false }
            if byte != 0x20, !(0x09...0x0D).contains(byte) { return true }
        }
        return false
    }

    /// Unicode's White_Space property, answered for ASCII without the property tables: a
    /// lookup there costs more than the rest of a join.
    static func isWhitespace(_ scalar: Unicode.Scalar) -> Bool {
        if scalar.value < 0x80 { return scalar.value == 0x20 || (0x09...0x0D).contains(scalar.value) }
        return scalar.properties.isWhitespace
    }
}
