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

    /// Calls `body` with the decoded bytes of the first value named `name` in an encoded
    /// query whose escapes are known to be valid (the parser checks them); false when absent.
    /// A name or value without escapes is read in place, so looking up one parameter of a long
    /// query makes no strings.
    ///
    /// With `plain`, the caller knows the query has no "%" and no "+", so every part is its
    /// own decoding and is not searched for them again.
    static func readValue(
        named name: String, in bytes: UnsafeRawBufferPointer, plain: Bool, _ body: (UnsafeRawBufferPointer) -> Void
    ) -> Bool {
        var start = 0
        while start < bytes.count {
            let end = ByteScan.firstIndex(of: UInt8(ascii: "&"), in: bytes, from: start) ?? bytes.count
            defer { start = end + 1 }
            guard end > start else { continue }
            let part = bytes.slice(start..<end)
            let equals = ByteScan.firstIndex(of: UInt8(ascii: "="), in: part, from: 0) ?? part.count
            guard nameMatches(part.slice(0..<equals), name, plain: plain) else { continue }
            let value = equals < part.count ? part.slice(equals + 1..<part.count) : part.slice(part.count..<part.count)
            if plain || !needsDecoding(value) {
                body(value)
                return true
            }
            guard var decoded = HTTPPercent.decode(bytes: value, plusAsSpace: true) else { return false }
            decoded.withUTF8 { body(UnsafeRawBufferPointer($0)) }
            return true
        }
        return false
    }

    /// Whether an encoded name decodes to `name`; names with escapes are decoded and compared
    /// as strings, as `decode` would give them.
    private static func nameMatches(_ encoded: UnsafeRawBufferPointer, _ name: String, plain: Bool) -> Bool {
        guard !plain, needsDecoding(encoded) else {
            var name = name
            return name.withUTF8 { ByteScan.equal(encoded, UnsafeRawBufferPointer($0)) }
        }
        return HTTPPercent.decode(bytes: encoded, plusAsSpace: true) == name
    }

    /// Whether bytes hold a "%" escape or a "+" (a space in a query).
    static func needsDecoding(_ bytes: UnsafeRawBufferPointer) -> Bool {
        ByteScan.firstIndex(of: UInt8(ascii: "%"), in: bytes) != nil
            || ByteScan.firstIndex(of: UInt8(ascii: "+"), in: bytes) != nil
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
