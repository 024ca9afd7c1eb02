internal import WPSBytes

/// Decoding of `application/x-www-form-urlencoded` style query strings.
public enum HTTPQuery {
    /// Splits `query` (without the "?") on "&", each part on its first "=", and percent-decodes
    /// both sides with "+" as space. Empty parts are skipped; a part without "=" has value "".
    /// Nil if any escape is invalid (see `HTTPPercent.decode`).
    public static func decode(_ query: some StringProtocol) -> [(name: String, value: String)]? {
        var copy = String(query)
        return copy.withUTF8 { decode(bytes: UnsafeRawBufferPointer($0)) }
    }

    /// Decodes raw query bytes; see `decode(_:)`.
    public static func decode(bytes: UnsafeRawBufferPointer) -> [(name: String, value: String)]? {
        var result: [(name: String, value: String)] = []
        var start = 0
        while start <= bytes.count {
            let end = ByteScan.firstIndex(of: UInt8(ascii: "&"), in: bytes, from: start) ?? bytes.count
            if end > start {
                guard let pair = decodePair(bytes.slice(start..<end)) else { return nil }
                result.append(pair)
            }
            start = end + 1
        }
        return result
    }

    /// Returns the first value for `name` in an encoded query, or nil if absent or invalid.
    public static func value(_ name: String, in query: some StringProtocol) -> String? {
        decode(query)?.first { $0.name == name }?.value
    }

    private static func decodePair(_ part: UnsafeRawBufferPointer) -> (name: String, value: String)? {
        let equals = ByteScan.firstIndex(of: UInt8(ascii: "="), in: part, from: 0) ?? part.count
        guard let name = HTTPPercent.decode(bytes: part.slice(0..<equals), plusAsSpace: true) else { return nil }
        guard equals < part.count else { return (name: name, value: "") }
        guard let value = HTTPPercent.decode(bytes: part.slice(equals + 1..<part.count), plusAsSpace: true) else {
            return nil
        }
        return (name: name, value: value)
    }
}
