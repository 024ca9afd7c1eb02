/// Group names as the service accepts them (protocol-spec/client-protocol.md §3): 1–1024
/// Unicode scalars, not only whitespace, any characters otherwise.
public enum GroupName {
    public static let maxScalars = ClientRequestDecoder.maxGroupNameScalars

    /// Why `name` is not a valid group name, or nil when it is.
    public static func problem(_ name: String) -> String? {
        var count = 0
        var allWhitespace = true
        for scalar in name.unicodeScalars {
            count += 1
            if allWhitespace, !scalar.properties.isWhitespace { allWhitespace = false }
            if count > maxScalars { break }
        }
        guard count >= 1, count <= maxScalars else { return "group must be 1 to \(maxScalars) characters" }
        guard !allWhitespace else { return "group must not be only whitespace" }
        return nil
    }

    public static func isValid(_ name: String) -> Bool { problem(name) == nil }
}
