import Testing
import WPSBytes

@testable import WPSAuth

/// Vectors made with Python's standard library (hmac, hashlib, base64, json), signing exactly
/// as PyJWT does, at `now` = 1_700_000_000.
enum PythonVectors {
    static let now: Int64 = 1_700_000_000
    static let key = AccessKey("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGH")
    static let secondary = AccessKey("secondary-key")

    /// The Python SDK's client token: Port=8080, hub MyHub, user u1, two roles, group g1, 1 h.
    static let sdkClient =
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJodHRwOi8vbG9jYWxob3N0OjgwODAvY2xpZW50L2h1YnMvTXlIdWIiLCJpYXQiOjE3MDAwMDAwMDAsImV4cCI6MTcwMDAwMzYwMCwic3ViIjoidTEiLCJyb2xlIjpbIndlYnB1YnN1Yi5qb2luTGVhdmVHcm91cCIsIndlYnB1YnN1Yi5zZW5kVG9Hcm91cC5nMSJdLCJ3ZWJwdWJzdWIuZ3JvdXAiOlsiZzEiXX0.wK3gvekbZtGTeq40Q3EbkKyDELvOCJyxqyNWajh1AeM"
    /// Spaced JSON, header keys reversed, aud array, role and group as strings, custom claims.
    static let spacedRoleString =
        "eyJ0eXAiOiAiSldUIiwgImFsZyI6ICJIUzI1NiJ9.eyJhdWQiOiBbImh0dHA6Ly9hL2NsaWVudC9odWJzL2giLCAiaHR0cDovL2IvY2xpZW50L2h1YnMvaCJdLCAiZXhwIjogMTcwMDAwMDA2MCwgInJvbGUiOiAid2VicHVic3ViLnNlbmRUb0dyb3VwIiwgIndlYnB1YnN1Yi5ncm91cCI6ICJnMiIsICJjdXN0b20iOiBbMSwgdHJ1ZSwgbnVsbCwgIngiLCB7ImsiOiAidiJ9XSwgIm4iOiAxLjV9.6XwPcPFXoNHninRibrIxEYwZfUO7YFpPmohcRTazsWQ"
    /// A REST token without `sub`, exp = now + 60.
    static let restNoSub =
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJodHRwOi8vbG9jYWxob3N0OjgwODAvYXBpL2h1YnMvTXlIdWIvOnNlbmQ_YXBpLXZlcnNpb249MjAyNC0xMi0wMSIsImV4cCI6MTcwMDAwMDA2MH0.oVUIJAI4gCFzNZMFFAdNNHbqVllwdRbQqVX9j6wo1hs"
    /// .NET-style claims (nbf = iat = now, exp = now + 300), signed with the secondary key; sub `é"q`.
    static let netStyle =
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJodHRwOi8vbG9jYWxob3N0OjgwODAvY2xpZW50L2h1YnMvTXlIdWIiLCJuYmYiOjE3MDAwMDAwMDAsImlhdCI6MTcwMDAwMDAwMCwiZXhwIjoxNzAwMDAwMzAwLCJzdWIiOiJcdTAwZTlcInEifQ._u0QwvQNYuaDS-wQQ_1Prq30F1cfwQqc1FmWyurA67A"
    /// exp = now + 10.75.
    static let fractionalExp =
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjE3MDAwMDAwMTAuNzV9.vhX1THCguvmaK7GsxcdnDwALEiVWENgRPZ8_YBtyS9I"
    static let algNone = "eyJhbGciOiAibm9uZSIsICJ0eXAiOiAiSldUIn0.eyJleHAiOiAxNzAwMDAwMDYwfQ."
    /// RS256 header, yet HMAC-signed with the key: the classic algorithm-confusion forgery.
    static let algRS256 =
        "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjE3MDAwMDAwNjB9.xpoHnzTNXCPuxbEp4JiGW0sZ9--qeHYboUg12Gd1338"
}

@Suite struct JWTTests {
    typealias V = PythonVectors

    func verify(_ token: String, keys: [AccessKey] = [V.key], now: Int64 = V.now, requireExpiry: Bool = true)
        -> Result<JWTClaims, JWTError>
    {
        JWT.verify(token, keys: keys, now: now, requireExpiry: requireExpiry)
    }

    @Test func pythonSDKClientToken() throws {
        let claims = try verify(V.sdkClient).get()
        #expect(claims.audiences == ["http://localhost:8080/client/hubs/MyHub"])
        #expect(claims.subject == "u1")
        #expect(claims.issuedAt == V.now)
        #expect(claims.expiresAt == V.now + 3600)
        #expect(claims.notBefore == nil)
        #expect(claims.roles == ["webpubsub.joinLeaveGroup", "webpubsub.sendToGroup.g1"])
        #expect(claims.groups == ["g1"])
        #expect(claims.all.map(\.name) == ["aud", "iat", "exp", "sub", "role", "webpubsub.group"])
        #expect(claims.string("iat") == "1700000000")
        #expect(claims.values("role").count == 2)
        #expect(claims.string("missing") == nil)
        #expect(
            ClientAudience.matches(
                audience: claims.audiences[0], requestHost: "localhost:8080", isTLS: false, hub: "myhub"))
    }

    /// ClientToken writes the same bytes as the Python SDK for the same inputs.
    @Test func clientTokenMatchesPythonByteForByte() {
        let token = ClientToken.make(
            endpoint: "http://localhost:8080", hub: "MyHub", userId: "u1",
            roles: ["webpubsub.joinLeaveGroup", "webpubsub.sendToGroup.g1"], groups: ["g1"], key: V.key, now: V.now)
        #expect(token == V.sdkClient)
    }

    @Test func roleAndGroupAsStringsAndCustomClaims() throws {
        let claims = try verify(V.spacedRoleString).get()
        #expect(claims.audiences == ["http://a/client/hubs/h", "http://b/client/hubs/h"])
        #expect(claims.roles == ["webpubsub.sendToGroup"])
        #expect(claims.groups == ["g2"])
        #expect(claims.subject == nil)
        #expect(claims.values("custom") == ["1", "true", "x", #"{"k": "v"}"#])
        #expect(claims.string("n") == "1.5")
    }

    @Test func missingSubjectIsNil() throws {
        let claims = try verify(V.restNoSub).get()
        #expect(claims.subject == nil)
        #expect(claims.audiences == ["http://localhost:8080/api/hubs/MyHub/:send?api-version=2024-12-01"])
    }

    @Test func keyRotation() throws {
        #expect(throws: JWTError.badSignature) { try verify(V.netStyle).get() }
        let claims = try verify(V.netStyle, keys: [V.key, V.secondary]).get()
        #expect(claims.subject == "é\"q")
        #expect(claims.notBefore == V.now)
        _ = try verify(V.sdkClient, keys: [V.secondary, V.key]).get()
        #expect(throws: JWTError.badSignature) { try verify(V.sdkClient, keys: []).get() }
    }

    @Test func fractionalExpiryIsTruncated() throws {
        #expect(try verify(V.fractionalExp).get().expiresAt == V.now + 10)
    }

    @Test func otherAlgorithmsAreRefused() {
        #expect(throws: JWTError.unsupportedAlgorithm("none")) { try verify(V.algNone).get() }
        #expect(throws: JWTError.unsupportedAlgorithm("RS256")) { try verify(V.algRS256).get() }
    }

    // exp = now + 3600 and the skew is 300 s: valid until exp + 299.
    @Test(arguments: [(Int64(299), true), (300, false), (301, false)])
    func expiryAtSkewEdge(offset: Int64, valid: Bool) {
        let result = verify(V.sdkClient, now: V.now + 3600 + offset)
        if valid { #expect((try? result.get()) != nil) } else { #expect(throws: JWTError.expired) { try result.get() } }
    }

    // nbf = now and the skew is 300 s: valid from nbf - 300.
    @Test(arguments: [(Int64(-301), false), (-300, true), (-299, true)])
    func notBeforeAtSkewEdge(offset: Int64, valid: Bool) {
        let result = verify(V.netStyle, keys: [V.secondary], now: V.now + offset)
        if valid {
            #expect((try? result.get()) != nil)
        } else {
            #expect(throws: JWTError.notYetValid) { try result.get() }
        }
    }

    @Test func zeroSkewIsExact() {
        let atExpiry = JWT.verify(V.restNoSub, keys: [V.key], now: V.now + 60, clockSkew: 0)
        #expect(throws: JWTError.expired) { try atExpiry.get() }
        let before = JWT.verify(V.restNoSub, keys: [V.key], now: V.now + 59, clockSkew: 0)
        #expect((try? before.get()) != nil)
    }

    @Test func expiryRequirement() throws {
        let token = JWT.sign(payload: Array(#"{"sub":"u"}"#.utf8), key: V.key)
        #expect(throws: JWTError.missingExpiry) { try verify(token).get() }
        #expect(try verify(token, requireExpiry: false).get().subject == "u")
    }

    @Test func signThenVerify() throws {
        let payload = Array(#"{"aud":"x","exp":1700000100,"role":["a","b"],"webpubsub.group":[]}"#.utf8)
        let token = JWT.sign(payload: payload, key: V.key)
        #expect(token.hasPrefix("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."))
        let claims = try verify(token).get()
        #expect(claims.roles == ["a", "b"])
        #expect(claims.groups.isEmpty)
        #expect(throws: JWTError.badSignature) { try verify(token, keys: [AccessKey("other")]).get() }
    }

    /// The usual header is recognised by its bytes; one of the same length that names another
    /// algorithm, correctly signed, is still decoded and refused.
    @Test func aHeaderTheLengthOfTheUsualOneIsStillChecked() {
        let header = Base64URL.encode(Array(#"{"alg":"HS384","typ":"JWT"}"#.utf8))
        #expect(header.utf8.count == Self.header.utf8.count && header != Self.header)
        let signed = header + "." + Base64URL.encode(Array(#"{"exp":1700000100}"#.utf8))
        let mac = Crypto.hmacSHA256(key: V.key, data: Array(signed.utf8))
        #expect(throws: JWTError.unsupportedAlgorithm("HS384")) {
            try verify(signed + "." + Base64URL.encode(mac)).get()
        }
    }

    /// A signature one symbol short or long, or padded, is refused before anything is decoded.
    @Test func signatureLengthIsExact() {
        let token = V.sdkClient
        for variant in [String(token.dropLast()), token + "A", token + "=", String(token.dropLast()) + "="] {
            #expect(throws: JWTError.badSignature) { try verify(variant).get() }
        }
        #expect((try? verify(token).get()) != nil)
    }

    @Test func aTokenInsideALargerStringVerifiesAlike() throws {
        let text = "access_token=" + V.sdkClient + "&x=1"
        let token = text.dropFirst("access_token=".count).prefix(V.sdkClient.utf8.count)
        let claims = try JWT.verify(token, keys: [V.key], now: V.now).get()
        #expect(claims == (try verify(V.sdkClient).get()))
    }

    @Test func tamperedPayloadOrSignatureIsRefused() {
        let parts = V.sdkClient.split(separator: ".").map(String.init)
        let forgedPayload = Base64URL.encode(
            Array(#"{"aud":"x","exp":9999999999,"role":["webpubsub.sendToGroup"]}"#.utf8))
        #expect(throws: JWTError.badSignature) { try verify(parts[0] + "." + forgedPayload + "." + parts[2]).get() }
        var bytes = Array(V.sdkClient.utf8)
        for index in bytes.indices where bytes[index] != UInt8(ascii: ".") {
            let original = bytes[index]
            bytes[index] = original == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
            #expect((try? verify(String(decoding: bytes, as: UTF8.self)).get()) == nil)
            bytes[index] = original
        }
    }

    static let header = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"

    /// Each token is either malformed in shape, header or (correctly signed) payload.
    static let malformed: [String] = [
        "", ".", "..", "...", "a.b", "a.b.c.d", "!!!.e30.sig",
        Base64URL.encode(Array("not json".utf8)) + ".e30.x",
        Base64URL.encode(Array(#"{"typ":"JWT"}"#.utf8)) + ".e30.x",
        Base64URL.encode(Array(#"{"alg":5}"#.utf8)) + ".e30.x",
        Base64URL.encode(Array(#"["HS256"]"#.utf8)) + ".e30.x",
        Base64URL.encode(Array(#"{"alg":"HS256","crit":["b64"]}"#.utf8)) + ".e30.x",
    ]

    @Test(arguments: malformed) func malformedShapes(_ token: String) {
        let result = verify(token)
        guard case .failure(let error) = result else {
            Issue.record("accepted \(token)")
            return
        }
        switch error {
        case .malformed, .badSignature: break
        default: Issue.record("unexpected \(error)")
        }
    }

    static let badPayloads: [String] = [
        "not json", "[]", "5", #"{"exp":"1700000100"}"#, #"{"exp":1e10}"#, #"{"exp":1700000100,"exp":1}"#,
        #"{"exp":1700000100,"sub":5}"#, #"{"exp":1700000100,"role":[1]}"#, #"{"exp":1700000100,"aud":{}}"#,
        #"{"exp":1700000100,"webpubsub.group":null}"#, #"{"exp":99999999999999999999}"#, #"{"exp":1700000100"#,
    ]

    @Test(arguments: badPayloads) func signedButMalformedPayload(_ payload: String) {
        let token = JWT.sign(payload: Array(payload.utf8), key: V.key)
        guard case .failure(.malformed) = verify(token) else {
            Issue.record("expected malformed for \(payload)")
            return
        }
    }

    /// Past the short list of claim names the duplicate check switches to a set; a repeat is
    /// caught on both sides of that edge, and names that differ only by escapes still match.
    @Test(arguments: [ClaimNames.listLimit - 1, ClaimNames.listLimit, ClaimNames.listLimit + 1, 200])
    func duplicateClaimNamesAreRefusedAtAnyCount(customClaims: Int) {
        let custom = (0..<customClaims).map { #""c\#($0)":\#($0)"# }.joined(separator: ",")
        let unique = #"{"exp":1700000100,"# + custom + "}"
        guard case .success(let claims) = verify(JWT.sign(payload: Array(unique.utf8), key: V.key)) else {
            Issue.record("expected \(customClaims) distinct custom claims to verify")
            return
        }
        #expect(claims.all.count == customClaims + 1)
        let repeated = #"{"exp":1700000100,"# + custom + #","\u0063\#(customClaims - 1)":0}"#
        guard case .failure(.malformed) = verify(JWT.sign(payload: Array(repeated.utf8), key: V.key)) else {
            Issue.record("expected a repeated claim name among \(customClaims) to be refused")
            return
        }
    }

    /// Registered names are recognised whether written plainly or with escapes; a repeat is
    /// caught across the two spellings in either order; near misses are custom claims.
    @Test func claimNamesWithAndWithoutEscapes() throws {
        let escaped =
            #"{"\u0073ub":"u9","ex\u0070":1700000100,"rol\u0065":"webpubsub.joinLeaveGroup","#
            + #""webpubsub.grou\u0070":["g"],"au\u0064":"a"}"#
        let claims = try verify(JWT.sign(payload: Array(escaped.utf8), key: V.key)).get()
        #expect(claims.subject == "u9" && claims.expiresAt == 1_700_000_100 && claims.audiences == ["a"])
        #expect(claims.roles == ["webpubsub.joinLeaveGroup"] && claims.groups == ["g"])
        for repeated in [
            #"{"\u0065xp":1700000100,"exp":1}"#, #"{"exp":1700000100,"\u0065xp":1}"#,
            #"{"exp":1700000100,"sub":"a","x":1,"y":2,"\u0078":3}"#,
        ] {
            guard case .failure(.malformed) = verify(JWT.sign(payload: Array(repeated.utf8), key: V.key)) else {
                Issue.record("expected the repeat in \(repeated) to be refused")
                continue
            }
        }
        let nearMisses = #"{"exp":1700000100,"Sub":"x","rolE":5,"aud ":{},"webpubsub.groupX":1,"iat_":"y"}"#
        let lenient = try verify(JWT.sign(payload: Array(nearMisses.utf8), key: V.key)).get()
        #expect(lenient.subject == nil && lenient.roles.isEmpty && lenient.audiences.isEmpty && lenient.groups.isEmpty)
        #expect(lenient.issuedAt == nil && lenient.all.count == 6)
    }

    /// A token given as bytes (a query value read in place) verifies exactly as its String.
    @Test func bytesVerifyLikeStrings() {
        let tokens = [V.sdkClient, V.spacedRoleString, V.restNoSub, V.fractionalExp, V.algNone, V.algRS256, "a.b", ""]
        for token in tokens {
            for keys in [[V.key], [V.secondary], [V.secondary, V.key]] {
                let fromString = verify(token, keys: keys)
                let fromBytes = Array(("x" + token + "y").utf8).withUnsafeBytes {
                    JWT.verify(
                        bytes: UnsafeRawBufferPointer(rebasing: $0.dropFirst().dropLast()), keys: keys, now: V.now)
                }
                #expect("\(fromString)" == "\(fromBytes)", "\(token.prefix(20))")
            }
        }
    }

    /// `aud`, `role` and `webpubsub.group` are kept as places in the payload: the arrays, the
    /// byte-level audience walk and the permissions all read the same values, escaped or not,
    /// and a value of the wrong shape is still refused when the token is verified.
    @Test func stringClaimsReadInPlace() throws {
        let payload =
            #"{"exp":1700000100,"aud":["http://x/client/hubs/a","http:\/\/y\/client\/hubs\/b"],"#
            + #""role":["webpubsub.joinLeaveGroup.g\u0031","webpubsub.sendToGroups.p*","webpubsub.sendToGroup"],"#
            + #""webpubsub.group":"\u00e9"}"#
        let claims = try verify(JWT.sign(payload: Array(payload.utf8), key: V.key)).get()
        #expect(claims.audiences == ["http://x/client/hubs/a", "http://y/client/hubs/b"])
        #expect(claims.roles == ["webpubsub.joinLeaveGroup.g1", "webpubsub.sendToGroups.p*", "webpubsub.sendToGroup"])
        #expect(claims.groups == ["é"])
        #expect(claims.permissions == Permissions(roles: claims.roles))
        #expect(claims.permissions.canJoinLeave(group: "g1") && !claims.permissions.canJoinLeave(group: "g2"))
        #expect(claims.permissions.has(.sendToGroup, group: nil))

        // The walk sees decoded bytes and stops at the first match.
        var seen: [String] = []
        let found = claims.anyAudience { bytes in
            seen.append(String(decoding: bytes, as: UTF8.self))
            return true
        }
        #expect(found && seen == ["http://x/client/hubs/a"])
        #expect(claims.anyAudience { String(decoding: $0, as: UTF8.self) == "http://y/client/hubs/b" })
        #expect(!claims.anyAudience { _ in false })
        #expect(
            claims.anyAudience {
                ClientAudience.matches(audience: $0, requestHost: "y", isTLS: false, hub: "B")
            })

        let bare = try verify(JWT.sign(payload: Array(#"{"exp":1700000100}"#.utf8), key: V.key)).get()
        #expect(bare.audiences.isEmpty && bare.roles.isEmpty && bare.groups.isEmpty)
        #expect(!bare.anyAudience { _ in true })
        #expect(bare.permissions == Permissions())

        for wrong in [
            #"{"exp":1700000100,"aud":5}"#, #"{"exp":1700000100,"role":["a",1]}"#,
            #"{"exp":1700000100,"webpubsub.group":[["g"]]}"#, #"{"exp":1700000100,"role":{"a":"b"}}"#,
            #"{"exp":1700000100,"aud":"\ud800"}"#,
        ] {
            guard case .failure(.malformed) = verify(JWT.sign(payload: Array(wrong.utf8), key: V.key)) else {
                Issue.record("expected \(wrong) to be refused")
                continue
            }
        }
    }

    @Test func descriptionsAreReadable() {
        let errors: [JWTError] = [
            .malformed("x"), .unsupportedAlgorithm(String(repeating: "A", count: 100)), .badSignature, .expired,
            .notYetValid, .missingExpiry,
        ]
        for error in errors {
            #expect(error.description.hasPrefix("The access token"))
            #expect(error.description.utf8.count < 120)
        }
    }
}
