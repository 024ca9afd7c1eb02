/// Strict RFC 8259 JSON scanning over borrowed bytes, without building a tree.
///
/// Validation is one pass and never allocates; values come back as `JSONToken` byte ranges
/// so a caller can forward a value's raw bytes untouched (the `data` of a pub/sub message)
/// and decode only the few fields it needs.
///
/// Strictness: no comments, trailing commas, leading zeros, single quotes, NaN/Infinity or
/// byte-order mark; strings must be valid UTF-8 without raw control characters (< 0x20) and
/// `\u` escapes must not leave a surrogate unpaired. Nesting beyond `maxDepth` (an object or
/// array at the top level is depth 1) is an error; `maxDepth` is capped at 1024 to bound
/// stack use.
public enum JSON {
    /// Validates a whole JSON text (whitespace around allowed) and returns its top-level token.
    public static func validate(_ bytes: UnsafeRawBufferPointer, maxDepth: Int = 64) throws(JSONError) -> JSONToken {
        var scanner = JSONScanner(bytes, maxDepth: maxDepth)
        let token = try scanner.scanValue(depth: 0)
        try scanner.expectEnd()
        return token
    }

    /// Validates a whole text that must be an object, calling `member` for each top-level
    /// member in order (nested values are validated and skipped). One pass.
    ///
    /// Members are reported as they are scanned, so `member` may see some members of a text
    /// that later turns out to be invalid; act on them only after this returns.
    public static func scanObject(
        _ bytes: UnsafeRawBufferPointer,
        maxDepth: Int = 64,
        _ member: (_ key: JSONToken, _ value: JSONToken) throws(JSONError) -> Void
    ) throws(JSONError) {
        var scanner = JSONScanner(bytes, maxDepth: maxDepth)
        scanner.skipWhitespace()
        guard scanner.current == UInt8(ascii: "{") else {
            if scanner.current == nil { throw scanner.failure("unexpected end of input, expected an object") }
            throw scanner.failure("expected an object")
        }
        try scanner.scanObject(depth: 1, member)
        try scanner.expectEnd()
    }

    /// Calls `body` with each member (key, value) of an already-validated object token.
    ///
    /// A token that is not an object, or does not describe valid bytes, yields nothing (or
    /// the members before the fault); it never traps.
    public static func forEachMember(
        _ bytes: UnsafeRawBufferPointer,
        in object: JSONToken,
        _ body: (JSONToken, JSONToken) -> Void
    ) {
        guard object.kind == .object, let start = openingIndex(bytes, object, UInt8(ascii: "{")) else { return }
        var scanner = JSONScanner(bytes, start: start, end: object.range.upperBound, maxDepth: JSONScanner.depthCeiling)
        try? scanner.scanObject(depth: 1) { (key, value) throws(JSONError) in body(key, value) }
    }

    /// Calls `body` with each element of an already-validated array token.
    ///
    /// Like `forEachMember`, a token that does not fit the bytes yields nothing and never traps.
    public static func forEachElement(
        _ bytes: UnsafeRawBufferPointer,
        in array: JSONToken,
        _ body: (JSONToken) -> Void
    ) {
        guard array.kind == .array, let start = openingIndex(bytes, array, UInt8(ascii: "[")) else { return }
        var scanner = JSONScanner(bytes, start: start, end: array.range.upperBound, maxDepth: JSONScanner.depthCeiling)
        try? scanner.scanArray(depth: 1) { (element) throws(JSONError) in body(element) }
    }

    /// The token's first byte index if the token lies inside `bytes` and starts with `opener`.
    static func openingIndex(_ bytes: UnsafeRawBufferPointer, _ token: JSONToken, _ opener: UInt8) -> Int? {
        let range = token.range
        guard range.lowerBound >= 0, range.upperBound <= bytes.count, !range.isEmpty,
            bytes[range.lowerBound] == opener
        else { return nil }
        return range.lowerBound
    }

    /// Whether a token's bytes are a quoted string lying inside `bytes`.
    static func isQuoted(_ bytes: UnsafeRawBufferPointer, _ token: JSONToken) -> Bool {
        let range = token.range
        return token.kind == .string && range.lowerBound >= 0 && range.upperBound <= bytes.count
            && range.count >= 2 && bytes[range.lowerBound] == UInt8(ascii: "\"")
            && bytes[range.upperBound - 1] == UInt8(ascii: "\"")
    }
}
