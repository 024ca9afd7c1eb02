internal import WPSBytes

/// One claim of a verified token as upstream `connect` events report it: a name and its values
/// as strings (arrays give one value each; numbers and booleans keep their JSON text; objects
/// and nested arrays are passed as raw JSON text; `null` gives no value).
public struct JWTClaim: Sendable, Hashable {
    /// The claim name, e.g. `sub` or `role`.
    public let name: String
    /// The claim's values, stringified.
    public let values: [String]
}

/// The claims of a verified token (protocol-spec/auth.md §3.2).
public struct JWTClaims: Sendable, Hashable {
    /// `aud` (a string or an array of strings); empty when absent.
    public internal(set) var audiences: [String] = []
    /// `sub`, the user id; nil when absent or empty.
    public internal(set) var subject: String?
    /// `exp`, unix seconds (a fractional NumericDate is truncated).
    public internal(set) var expiresAt: Int64?
    /// `nbf`, unix seconds.
    public internal(set) var notBefore: Int64?
    /// `iat`, unix seconds.
    public internal(set) var issuedAt: Int64?
    /// `role` values (a string or an array of strings).
    public internal(set) var roles: [String] = []
    /// `webpubsub.group` values: groups joined on connect.
    public internal(set) var groups: [String] = []
    /// The decoded payload, already validated; `all` is built from it only when asked for,
    /// since connecting needs just the registered claims above.
    let payload: [UInt8]

    init(payload: [UInt8]) {
        self.payload = payload
    }

    /// Every claim, in token order, for upstream `connect` events and custom claims.
    public var all: [JWTClaim] {
        payload.withUnsafeBytes { raw in
            var claims: [JWTClaim] = []
            try? JSON.scanObject(raw) { (key, value) throws(JSONError) in
                claims.append(JWTClaim(name: JSON.string(raw, key) ?? "", values: Self.stringified(raw, value)))
            }
            return claims
        }
    }

    /// The first value of claim `name`, or nil when it is absent or has no value.
    public func string(_ name: String) -> String? {
        all.first { $0.name == name }?.values.first
    }

    /// All values of claim `name`; empty when absent.
    public func values(_ name: String) -> [String] {
        all.first { $0.name == name }?.values ?? []
    }

    /// Parses a payload; `.malformed` unless it is one JSON object without duplicate names whose
    /// registered claims have the right types. Duplicates are refused because two parsers
    /// picking different copies is a classic way to smuggle claims.
    static func parse(_ payload: [UInt8]) -> Result<JWTClaims, JWTError> {
        payload.withUnsafeBytes { raw -> Result<JWTClaims, JWTError> in
            var claims = JWTClaims(payload: payload)
            var names = ClaimNames()
            do throws(JSONError) {
                try JSON.scanObject(raw) { (key, value) throws(JSONError) in
                    guard let name = JSON.string(raw, key), names.insert(name) else {
                        throw JSONError(offset: key.range.lowerBound, message: "duplicate claim name")
                    }
                    try claims.absorb(name: name, value: value, raw: raw)
                }
            } catch {
                return .failure(.malformed("the payload is not a valid claims object (\(error.message))"))
            }
            return .success(claims)
        }
    }

    private mutating func absorb(name: String, value: JSONToken, raw: UnsafeRawBufferPointer) throws(JSONError) {
        let offset = value.range.lowerBound
        switch name {
        case "aud":
            audiences = try Self.strings(raw, value, claim: name)
        case "sub":
            guard value.kind == .string, let text = JSON.string(raw, value) else {
                throw JSONError(offset: offset, message: "'sub' is not a string")
            }
            subject = text.isEmpty ? nil : text
        case "exp", "nbf", "iat":
            guard let seconds = Self.numericDate(raw, value) else {
                throw JSONError(offset: offset, message: "'\(name)' is not a NumericDate")
            }
            switch name {
            case "exp": expiresAt = seconds
            case "nbf": notBefore = seconds
            default: issuedAt = seconds
            }
        case "role":
            roles = try Self.strings(raw, value, claim: name)
        case "webpubsub.group":
            groups = try Self.strings(raw, value, claim: name)
        default:
            break
        }
    }

    /// A string or an array of strings.
    static func strings(_ raw: UnsafeRawBufferPointer, _ value: JSONToken, claim: String) throws(JSONError) -> [String]
    {
        if value.kind == .string, let text = JSON.string(raw, value) { return [text] }
        guard value.kind == .array else {
            throw JSONError(
                offset: value.range.lowerBound, message: "'\(claim)' is not a string or an array of strings")
        }
        var result: [String] = []
        var valid = true
        JSON.forEachElement(raw, in: value) { element in
            if element.kind == .string, let text = JSON.string(raw, element) {
                result.append(text)
            } else {
                valid = false
            }
        }
        guard valid else {
            throw JSONError(offset: value.range.lowerBound, message: "'\(claim)' has an element that is not a string")
        }
        return result
    }

    /// Unix seconds from a NumericDate: an integer, or a plain decimal whose fraction is dropped
    /// (RFC 7519 allows fractions; no SDK writes them). Exponents are refused.
    static func numericDate(_ raw: UnsafeRawBufferPointer, _ value: JSONToken) -> Int64? {
        if let seconds = JSON.int64(raw, value) { return seconds }
        guard value.kind == .number else { return nil }
        let text = raw[value.range]
        guard !text.contains(UInt8(ascii: "e")), !text.contains(UInt8(ascii: "E")),
            let dot = text.firstIndex(of: UInt8(ascii: "."))
        else { return nil }
        return Int64(String(decoding: text[..<dot], as: UTF8.self))
    }

    /// The upstream view of a value; see `JWTClaim`.
    static func stringified(_ raw: UnsafeRawBufferPointer, _ value: JSONToken) -> [String] {
        switch value.kind {
        case .array:
            var result: [String] = []
            JSON.forEachElement(raw, in: value) { result.append(contentsOf: scalarText(raw, $0)) }
            return result
        default:
            return scalarText(raw, value)
        }
    }

    private static func scalarText(_ raw: UnsafeRawBufferPointer, _ value: JSONToken) -> [String] {
        switch value.kind {
        case .string: JSON.string(raw, value).map { [$0] } ?? []
        case .null: []
        default: [String(decoding: raw[value.range], as: UTF8.self)]
        }
    }
}

/// Claim names seen so far. A token carries a handful, so a list is cheaper than hashing;
/// past `listLimit` names a set keeps a token full of custom claims from costing n² compares.
struct ClaimNames {
    static let listLimit = 16
    private var list: [String] = []
    private var set: Set<String>?

    /// False when `name` was already seen.
    mutating func insert(_ name: String) -> Bool {
        if set != nil { return set!.insert(name).inserted }
        if list.contains(name) { return false }
        if list.isEmpty { list.reserveCapacity(8) }
        list.append(name)
        if list.count > Self.listLimit { set = Set(list) }
        return true
    }
}
