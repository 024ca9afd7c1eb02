import Testing
import WPSAuth

@Suite struct ClientTokenTests {
    let key = AccessKey("k")
    let now: Int64 = 1_700_000_000

    @Test(arguments: [
        ("http://localhost:8080", "ws://localhost:8080/client/hubs/MyHub?access_token=T"),
        ("https://x.webpubsub.azure.com/", "wss://x.webpubsub.azure.com/client/hubs/MyHub?access_token=T"),
        ("HTTPS://X.example", "wss://X.example/client/hubs/MyHub?access_token=T"),
        ("wss://h:8443", "wss://h:8443/client/hubs/MyHub?access_token=T"),
    ])
    func clientURL(endpoint: String, expected: String) {
        #expect(ClientToken.clientURL(endpoint: endpoint, hub: "MyHub", token: "T") == expected)
    }

    @Test func tokenVerifiesWithItsAudienceAndClaims() throws {
        let token = ClientToken.make(
            endpoint: "wss://example.com/", hub: "Chat", userId: nil, roles: [], groups: [], key: key, now: now,
            lifetime: 60)
        let claims = try JWT.verify(token, keys: [key], now: now).get()
        #expect(claims.audiences == ["https://example.com/client/hubs/Chat"])
        #expect(claims.subject == nil)
        #expect(claims.roles.isEmpty)
        #expect(claims.expiresAt == now + 60)
        #expect(claims.all.map(\.name) == ["aud", "iat", "exp"])
        #expect(
            ClientAudience.matches(audience: claims.audiences[0], requestHost: "example.com", isTLS: true, hub: "chat"))
    }

    @Test func userIdAndGroupsNeedEscaping() throws {
        let token = ClientToken.make(
            endpoint: "http://h", hub: "h", userId: "a\"b\\c\n", roles: ["r"], groups: ["g\u{1}"], key: key, now: now)
        let claims = try JWT.verify(token, keys: [key], now: now).get()
        #expect(claims.subject == "a\"b\\c\n")
        #expect(claims.groups == ["g\u{1}"])
        #expect(claims.expiresAt == now + 3600)
    }
}
