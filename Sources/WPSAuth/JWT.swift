internal import WPSBytes

/// HS256 JSON Web Tokens (RFC 7519) as Azure Web PubSub uses them (protocol-spec/auth.md §3).
public enum JWT {
    /// Tolerated clock difference between token issuer and server, as the emulator uses.
    public static let defaultClockSkew: Int64 = 300

    /// base64url of `{"alg":"HS256","typ":"JWT"}`, the header every official SDK writes.
    static let encodedHeader: [UInt8] = Array(Base64URL.encode(Array(#"{"alg":"HS256","typ":"JWT"}"#.utf8)).utf8)

    /// Symbols of an HS256 signature: 32 bytes, unpadded base64url.
    static let encodedSignatureLength = 43

    /// Signs `payload` (the bytes of a JSON object, written by the caller) with HS256.
    public static func sign(payload: [UInt8], key: AccessKey) -> String {
        var out = encodedHeader
        out.append(UInt8(ascii: "."))
        Base64URL.encode(payload, into: &out)
        let mac = Crypto.hmacSHA256(key: key, data: out)
        out.append(UInt8(ascii: "."))
        Base64URL.encode(mac, into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Verifies an HS256 token against any of `keys` (two during key rotation) and returns its
    /// claims. Checks, in order: shape, header (`alg` must be HS256; `crit` is refused),
    /// signature in constant time, payload JSON, then `exp` (required unless `requireExpiry`
    /// is false; valid while `now < exp + clockSkew`) and `nbf` (valid once
    /// `now >= nbf - clockSkew`). The audience is left to the caller, which knows the request.
    public static func verify(
        _ token: some StringProtocol, keys: [AccessKey], now: Int64, clockSkew: Int64 = defaultClockSkew,
        requireExpiry: Bool = true
    ) -> Result<JWTClaims, JWTError> {
        // A native String lends its bytes; anything else is copied once.
        token.utf8.withContiguousStorageIfAvailable {
            verify(
                bytes: UnsafeRawBufferPointer($0), keys: keys, now: now, clockSkew: clockSkew,
                requireExpiry: requireExpiry)
        }
            ?? Array(token.utf8).withUnsafeBytes {
                verify(bytes: $0, keys: keys, now: now, clockSkew: clockSkew, requireExpiry: requireExpiry)
            }
    }

    /// `verify(_:keys:now:clockSkew:requireExpiry:)` for a token given as its bytes, such as a
    /// query value read in place.
    public static func verify(
        bytes token: UnsafeRawBufferPointer, keys: [AccessKey], now: Int64, clockSkew: Int64 = defaultClockSkew,
        requireExpiry: Bool = true
    ) -> Result<JWTClaims, JWTError> {
        let parsed = splitAndCheck(token, keys: keys)
        let payload: [UInt8]
        switch parsed {
        case .success(let decoded): payload = decoded
        case .failure(let error): return .failure(error)
        }
        let claims: JWTClaims
        switch JWTClaims.parse(payload) {
        case .success(let parsed): claims = parsed
        case .failure(let error): return .failure(error)
        }

        let skew = max(0, clockSkew)
        if let expiry = claims.expiresAt {
            if now >= expiry.addingSaturating(skew) { return .failure(.expired) }
        } else if requireExpiry {
            return .failure(.missingExpiry)
        }
        if let notBefore = claims.notBefore, now < notBefore.subtractingSaturating(skew) {
            return .failure(.notYetValid)
        }
        return .success(claims)
    }

    /// The token's shape, header and signature; the decoded payload when all three hold.
    private static func splitAndCheck(_ raw: UnsafeRawBufferPointer, keys: [AccessKey]) -> Result<[UInt8], JWTError> {
        let dot = UInt8(ascii: ".")
        guard let firstDot = ByteScan.firstIndex(of: dot, in: raw),
            let secondDot = ByteScan.firstIndex(of: dot, in: raw, from: firstDot + 1),
            ByteScan.firstIndex(of: dot, in: raw, from: secondDot + 1) == nil
        else { return .failure(.malformed("expected three dot-separated parts")) }

        let encoded = UnsafeRawBufferPointer(rebasing: raw[..<firstDot])
        // The header every SDK writes is known to pass; any other is decoded and checked.
        if !encodedHeader.withUnsafeBytes({ ByteScan.equal(encoded, $0) }) {
            guard let header = Base64URL.decode(bytes: encoded) else {
                return .failure(.malformed("the header is not base64url"))
            }
            if let failure = checkHeader(header) { return .failure(failure) }
        }

        // Unpadded base64url of a 32-byte tag is exactly 43 symbols; no other length decodes
        // to 32 bytes, so the length is checked before any decoding.
        let encodedSignature = UnsafeRawBufferPointer(rebasing: raw[(secondDot + 1)...])
        guard encodedSignature.count == Self.encodedSignatureLength else { return .failure(.badSignature) }
        let signed = UnsafeRawBufferPointer(rebasing: raw[..<secondDot])
        // Tag and signature sit on the stack: verifying a token allocates only its payload.
        let authentic = withUnsafeTemporaryAllocation(byteCount: 2 * Crypto.macBytes, alignment: 8) { scratch in
            let signature = UnsafeMutableRawBufferPointer(rebasing: scratch[0..<Crypto.macBytes])
            let tag = scratch.baseAddress! + Crypto.macBytes
            guard Base64URL.decode(bytes: encodedSignature, into: signature) == Crypto.macBytes else { return false }
            // Every key is tried without stopping early, so timing does not tell which one matched.
            var authentic = false
            for key in keys {
                Crypto.hmacSHA256(key: key.mac, data: signed, into: tag)
                if Crypto.constantTimeEquals(tag, signature.baseAddress!, count: Crypto.macBytes) { authentic = true }
            }
            return authentic
        }
        guard authentic else { return .failure(.badSignature) }

        guard let payload = Base64URL.decode(bytes: UnsafeRawBufferPointer(rebasing: raw[(firstDot + 1)..<secondDot]))
        else { return .failure(.malformed("the payload is not base64url")) }
        return .success(payload)
    }

    /// Checks the decoded header; nil when acceptable.
    static func checkHeader(_ header: [UInt8]) -> JWTError? {
        header.withUnsafeBytes { raw -> JWTError? in
            var alg: String?
            var hasCritical = false
            do throws(JSONError) {
                try JSON.scanObject(raw) { (key, value) throws(JSONError) in
                    if JSON.stringEquals(raw, key, "alg") {
                        alg = value.kind == .string ? JSON.string(raw, value) : nil
                        if alg == nil {
                            throw JSONError(offset: value.range.lowerBound, message: "alg is not a string")
                        }
                    } else if JSON.stringEquals(raw, key, "crit") {
                        hasCritical = true
                    }
                }
            } catch {
                return .malformed("the header is not a JSON object (\(error.message))")
            }
            guard let alg else { return .malformed("the header has no 'alg'") }
            // "none" and every other algorithm are refused: only a shared-key HMAC is ever issued.
            guard alg == "HS256" else { return .unsupportedAlgorithm(alg) }
            // Extensions marked critical must be understood (RFC 7515 §4.1.11); none are.
            if hasCritical { return .malformed("the header has unsupported critical extensions") }
            return nil
        }
    }
}

extension Int64 {
    func addingSaturating(_ other: Int64) -> Int64 {
        let (sum, overflow) = addingReportingOverflow(other)
        return overflow ? (other > 0 ? .max : .min) : sum
    }

    func subtractingSaturating(_ other: Int64) -> Int64 {
        let (difference, overflow) = subtractingReportingOverflow(other)
        return overflow ? (other > 0 ? .min : .max) : difference
    }
}
