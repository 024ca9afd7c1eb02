/// Why a JWT was refused (protocol-spec/auth.md §3.4); the server answers each with 401.
public enum JWTError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Not three base64url parts, or a header or payload that is not the expected JSON.
    case malformed(String)
    /// A header `alg` other than HS256, including `none`.
    case unsupportedAlgorithm(String)
    /// No configured key produces the signature.
    case badSignature
    /// `exp` is in the past, beyond the allowed clock skew.
    case expired
    /// `nbf` is in the future, beyond the allowed clock skew.
    case notYetValid
    /// The token has no `exp` but one is required.
    case missingExpiry

    /// A one-line reason suitable for a 401 response body; never echoes key material.
    public var description: String {
        switch self {
        case .malformed(let reason): "The access token is malformed: \(reason)."
        case .unsupportedAlgorithm(let alg):
            "The access token algorithm '\(Self.clipped(alg))' is not supported; use HS256."
        case .badSignature: "The access token signature is invalid."
        case .expired: "The access token has expired."
        case .notYetValid: "The access token is not valid yet."
        case .missingExpiry: "The access token has no expiry ('exp' claim)."
        }
    }

    /// The header's `alg` is attacker-chosen text; keep the response short.
    static func clipped(_ text: String) -> String {
        text.unicodeScalars.count <= 32 ? text : String(String.UnicodeScalarView(text.unicodeScalars.prefix(32))) + "…"
    }
}
