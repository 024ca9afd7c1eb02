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
    /// `sub`, the user id; nil when absent or empty.
    public internal(set) var subject: String?
    /// `exp`, unix seconds (a fractional NumericDate is truncated).
    public internal(set) var expiresAt: Int64?
    /// `nbf`, unix seconds.
    public internal(set) var notBefore: Int64?
    /// `iat`, unix seconds.
    public internal(set) var issuedAt: Int64?
    /// The decoded payload, already validated; `all` is built from it only when asked for,
    /// since connecting needs just the registered claims above.
    let payload: [UInt8]
    /// Where the values of `aud`, `role` and `webpubsub.group` lie in `payload` (a string or
    /// an array of strings, checked by `parse`). Connecting reads them as bytes; Strings are
    /// made only when a caller asks for the arrays below.
    var audienceValue: Range<Int>?
    var roleValue: Range<Int>?
    var groupValue: Range<Int>?

    init(payload: [UInt8]) {
        self.payload = payload
    }

    /// `aud` (a string or an array of strings); empty when absent.
    public var audiences: [String] { strings(audienceValue) }
    /// `role` values (a string or an array of strings).
    public var roles: [String] { strings(roleValue) }
    /// `webpubsub.group` values: groups joined on connect.
    public var groups: [String] { strings(groupValue) }

    /// Whether some `aud` value satisfies `body`, which sees each value's decoded UTF-8.
    public func anyAudience(_ body: (UnsafeBufferPointer<UInt8>) -> Bool) -> Bool {
        anyValue(audienceValue, body)
    }

    /// The group permissions the `role` values grant.
    public var permissions: Permissions {
        var permissions = Permissions()
        _ = anyValue(roleValue) { role in
            permissions.apply(role: role)
            return false
        }
        return permissions
    }

    private func strings(_ range: Range<Int>?) -> [String] {
        var result: [String] = []
        _ = anyValue(range) { value in
            result.append(String(decoding: value, as: UTF8.self))
            return false
        }
        return result
    }

    /// Calls `body` with each value of a string-or-array claim until it returns true.
    private func anyValue(_ range: Range<Int>?, _ body: (UnsafeBufferPointer<UInt8>) -> Bool) -> Bool {
        guard let range, !range.isEmpty else { return false }
        return payload.withUnsafeBytes { raw in
            let kind: JSONKind = raw[range.lowerBound] == UInt8(ascii: "[") ? .array : .string
            let token = JSONToken(kind: kind, range: range)
            guard kind == .array else { return Self.withText(raw, token, body) }
            var found = false
            JSON.forEachElement(raw, in: token) { element in
                if !found { found = Self.withText(raw, element, body) }
            }
            return found
        }
    }

    /// Calls `body` with a string token's decoded bytes: in place unless it has escapes.
    private static func withText(
        _ raw: UnsafeRawBufferPointer, _ token: JSONToken, _ body: (UnsafeBufferPointer<UInt8>) -> Bool
    ) -> Bool {
        if let plain = JSON.unescapedContents(raw, token) { return body(plain.assumingMemoryBound(to: UInt8.self)) }
        guard var text = JSON.string(raw, token) else { return false }
        return text.withUTF8(body)
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
            return withUnsafeTemporaryAllocation(of: UnsafeRawBufferPointer.self, capacity: ClaimNames.listLimit) {
                var names = ClaimNames(slots: $0)
                do throws(JSONError) {
                    try JSON.scanObject(raw) { (key, value) throws(JSONError) in
                        // A name without escapes is its own bytes: checked and recognised in
                        // place. One with escapes is decoded first.
                        let claim: Registered
                        let fresh: Bool
                        if let plain = JSON.unescapedContents(raw, key) {
                            fresh = names.insert(plain)
                            claim = Registered(plain)
                        } else if let name = JSON.string(raw, key) {
                            fresh = names.insert(name)
                            claim = Registered(name)
                        } else {
                            fresh = false
                            claim = .other
                        }
                        guard fresh else {
                            throw JSONError(offset: key.range.lowerBound, message: "duplicate claim name")
                        }
                        try claims.absorb(claim, value: value, raw: raw)
                    }
                } catch {
                    return .failure(.malformed("the payload is not a valid claims object (\(error.message))"))
                }
                return .success(claims)
            }
        }
    }

    /// The registered claims a connection reads; every other name is kept only in `payload`.
    enum Registered: String {
        case aud, sub, exp, nbf, iat, role
        case group = "webpubsub.group"
        case other = ""

        init(_ name: String) {
            self = Registered(rawValue: name) ?? .other
        }

        /// Recognised by length, then bytes: no String is made for a name.
        init(_ bytes: UnsafeRawBufferPointer) {
            switch bytes.count {
            case 3:
                switch (bytes[0], bytes[1], bytes[2]) {
                case (0x61, 0x75, 0x64): self = .aud
                case (0x73, 0x75, 0x62): self = .sub
                case (0x65, 0x78, 0x70): self = .exp
                case (0x6E, 0x62, 0x66): self = .nbf
                case (0x69, 0x61, 0x74): self = .iat
                default: self = .other
                }
            case 4:
                self = ByteScan.equal(bytes, Self.roleBytes) ? .role : .other
            case 15:
                self = ByteScan.equal(bytes, Self.groupBytes) ? .group : .other
            default:
                self = .other
            }
        }

        private static var roleBytes: UnsafeRawBufferPointer { bytes("role") }
        private static var groupBytes: UnsafeRawBufferPointer { bytes("webpubsub.group") }
        private static func bytes(_ literal: StaticString) -> UnsafeRawBufferPointer {
            UnsafeRawBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount)
        }
    }

    private mutating func absorb(_ claim: Registered, value: JSONToken, raw: UnsafeRawBufferPointer) throws(JSONError) {
        let offset = value.range.lowerBound
        let name = claim.rawValue
        switch claim {
        case .aud:
            try Self.checkStrings(raw, value, claim: name)
            audienceValue = value.range
        case .sub:
            guard value.kind == .string, let text = JSON.string(raw, value) else {
                throw JSONError(offset: offset, message: "'sub' is not a string")
            }
            subject = text.isEmpty ? nil : text
        case .exp, .nbf, .iat:
            guard let seconds = Self.numericDate(raw, value) else {
                throw JSONError(offset: offset, message: "'\(name)' is not a NumericDate")
            }
            switch claim {
            case .exp: expiresAt = seconds
            case .nbf: notBefore = seconds
            default: issuedAt = seconds
            }
        case .role:
            try Self.checkStrings(raw, value, claim: name)
            roleValue = value.range
        case .group:
            try Self.checkStrings(raw, value, claim: name)
            groupValue = value.range
        case .other:
            break
        }
    }

    /// Refuses a value that is not a string or an array of strings.
    static func checkStrings(_ raw: UnsafeRawBufferPointer, _ value: JSONToken, claim: String) throws(JSONError) {
        if value.kind == .string, isText(raw, value) { return }
        guard value.kind == .array else {
            throw JSONError(
                offset: value.range.lowerBound, message: "'\(claim)' is not a string or an array of strings")
        }
        var valid = true
        JSON.forEachElement(raw, in: value) { element in
            if valid { valid = element.kind == .string && isText(raw, element) }
        }
        guard valid else {
            throw JSONError(offset: value.range.lowerBound, message: "'\(claim)' has an element that is not a string")
        }
    }

    /// Whether a string token decodes; checked without making a String when it has no escapes.
    private static func isText(_ raw: UnsafeRawBufferPointer, _ token: JSONToken) -> Bool {
        JSON.unescapedContents(raw, token) != nil || JSON.string(raw, token) != nil
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

/// Claim names seen so far. A token carries a handful, so the escape-free ones are kept as
/// their bytes in caller-provided slots and compared directly; past `listLimit` names, or at
/// the first name with escapes, a set of decoded names takes over (a token full of custom
/// claims then costs no n² compares).
struct ClaimNames {
    static let listLimit = 16
    private let slots: UnsafeMutableBufferPointer<UnsafeRawBufferPointer>
    private var count = 0
    private var set: Set<String>?

    init(slots: UnsafeMutableBufferPointer<UnsafeRawBufferPointer>) {
        self.slots = slots
    }

    /// False when the name, given as its bytes, was already seen.
    mutating func insert(_ name: UnsafeRawBufferPointer) -> Bool {
        if set == nil, count < slots.count {
            for index in 0..<count where ByteScan.equal(slots[index], name) { return false }
            slots[count] = name
            count += 1
            return true
        }
        return insert(String(decoding: name, as: UTF8.self))
    }

    /// False when the decoded name was already seen.
    mutating func insert(_ name: String) -> Bool {
        if set == nil {
            set = Set((0..<count).map { String(decoding: slots[$0], as: UTF8.self) })
        }
        return set!.insert(name).inserted
    }
}
