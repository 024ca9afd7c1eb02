import Testing

@testable import WPSAuth

/// `SecretDigest` (the negotiate key check) and `AccessKey` equality: exact matches only, for
/// every kind of near miss, including different lengths and a prefix of the secret.
@Suite struct SecretDigestTests {
    static let secret = "rest-interop-negotiate-key-0123456789"

    @Test func exactMatchPasses() {
        #expect(SecretDigest(Self.secret).matches(Self.secret))
        #expect(SecretDigest(Self.secret).matches(Substring(Self.secret)))
        #expect(SecretDigest("").matches(""))
    }

    @Test(arguments: [
        "", "x", String(secret.dropLast()), secret + "x", secret.uppercased(), " " + secret, secret + "\n",
        String(secret.reversed()), String(repeating: "a", count: 4096),
    ])
    func nearMissesFail(offered: String) {
        #expect(!SecretDigest(Self.secret).matches(offered))
    }

    @Test func emptySecretMatchesOnlyEmpty() {
        #expect(!SecretDigest("").matches("a"))
    }

    @Test func accessKeyEquality() {
        #expect(AccessKey("abc=") == AccessKey("abc="))
        #expect(AccessKey("abc=") != AccessKey("abd="))
        #expect(AccessKey("abc=") != AccessKey("abc"))
        #expect(AccessKey("") == AccessKey(""))
    }
}
