import Testing
import WPSAuth

@Suite struct AudienceTests {
    typealias ClientRow = (audience: String, host: String, tls: Bool, hub: String, expected: Bool)

    static let clientTable: [ClientRow] = [
        // Exactly what the Python service SDK signs for Endpoint=http://localhost;Port=8080, hub MyHub.
        ("http://localhost:8080/client/hubs/MyHub", "localhost:8080", false, "myhub", true),
        ("http://localhost:8080/client/hubs/MyHub", "localhost:8080", false, "MyHub", true),
        ("https://localhost:8080/client/hubs/MyHub", "localhost:8080", false, "myhub", true),
        ("ws://localhost:8080/client/hubs/MyHub", "localhost:8080", false, "myhub", true),
        ("wss://localhost:8080/client/hubs/MyHub", "localhost:8080", true, "myhub", true),
        ("HTTP://LOCALHOST:8080/CLIENT/HUBS/MYHUB", "localhost:8080", false, "myhub", true),
        ("http://localhost:8080/client/hubs/MyHub/", "localhost:8080", false, "myhub", true),
        ("http://localhost:8080/client/hubs/MyHub", "LocalHost:8080", false, "myhub", true),
        ("http://localhost:8080/client/hubs/My%48ub", "localhost:8080", false, "myhub", true),
        // Default ports may be omitted on either side.
        ("http://example.com/client/hubs/h", "example.com", false, "h", true),
        ("http://example.com:80/client/hubs/h", "example.com", false, "h", true),
        ("http://example.com/client/hubs/h", "example.com:80", false, "h", true),
        ("https://example.com/client/hubs/h", "example.com:443", true, "h", true),
        ("https://example.com:443/client/hubs/h", "example.com", true, "h", true),
        ("https://example.com/client/hubs/h", "example.com", false, "h", true),  // TLS ended at a proxy
        ("http://[::1]:8080/client/hubs/h", "[::1]:8080", false, "h", true),
        // Mismatches.
        ("http://localhost:8080/client/hubs/MyHub", "localhost:8081", false, "myhub", false),
        ("http://localhost:8080/client/hubs/MyHub", "localhost", false, "myhub", false),
        ("http://localhost/client/hubs/MyHub", "localhost:8080", false, "myhub", false),
        ("http://localhost:8080/client/hubs/MyHub", "otherhost:8080", false, "myhub", false),
        ("http://localhost:8080/client/hubs/MyHub", "localhost:8080", false, "otherhub", false),
        ("http://localhost:8080/client/hubs/MyHub", "localhost:8080", false, "myhu", false),
        ("http://localhost:8080/client/hubs/", "localhost:8080", false, "myhub", false),
        ("http://localhost:8080/client/hubs/MyHub/x", "localhost:8080", false, "myhub", false),
        ("http://localhost:8080/client/MyHub", "localhost:8080", false, "myhub", false),
        ("http://localhost:8080/prefix/client/hubs/MyHub", "localhost:8080", false, "myhub", false),
        ("http://localhost:8080/clients/mqtt/hubs/MyHub", "localhost:8080", false, "myhub", false),
        ("http://localhost:8080/client/hubs/MyHub?x=1", "localhost:8080", false, "myhub", false),
        ("http://localhost:8080/client/hubs/MyHub//", "localhost:8080", false, "myhub", false),
        ("ftp://localhost:8080/client/hubs/MyHub", "localhost:8080", false, "myhub", false),
        ("localhost:8080/client/hubs/MyHub", "localhost:8080", false, "myhub", false),
        ("http://user@localhost:8080/client/hubs/MyHub", "localhost:8080", false, "myhub", false),
        ("http://localhost:99999/client/hubs/MyHub", "localhost:99999", false, "myhub", false),
        ("http://localhost:80/client/hubs/h", "localhost:443", false, "h", false),
        ("", "localhost", false, "h", false),
        ("http://", "", false, "h", false),
    ]

    @Test(arguments: clientTable) func client(audience: String, host: String, tls: Bool, hub: String, expected: Bool) {
        #expect(ClientAudience.matches(audience: audience, requestHost: host, isTLS: tls, hub: hub) == expected)
    }

    typealias RequestRow = (audience: String, host: String, target: String, expected: Bool)

    static let sendAudience =
        "http://localhost:8080/api/hubs/MyHub/groups/g%201/:send?excluded=c1&excluded=c2&api-version=2024-12-01&filter=userId%20eq%20%27x%27"
    static let sendTarget =
        "/api/hubs/MyHub/groups/g%201/:send?excluded=c1&excluded=c2&api-version=2024-12-01&filter=userId%20eq%20%27x%27"
    static let userAudience = "http://localhost:8080/api/hubs/MyHub/users/user%2F1/groups/g1?api-version=2024-12-01"
    static let userTarget = "/api/hubs/MyHub/users/user%2F1/groups/g1?api-version=2024-12-01"

    static let requestTable: [RequestRow] = [
        // The Python SDK examples, byte for byte.
        (sendAudience, "localhost:8080", sendTarget, true),
        (userAudience, "localhost:8080", userTarget, true),
        // Lenient forms.
        (userAudience.lowercased(), "localhost:8080", userTarget, true),
        (
            "http://localhost:8080/api/hubs/MyHub/groups/g 1/:send?api-version=2024-12-01", "localhost:8080",
            "/api/hubs/MyHub/groups/g%201/:send?api-version=2024-12-01", true
        ),
        (
            "http://localhost:8080/api/hubs/MyHub/groups/g%201/:send?api-version=2024-12-01", "localhost:8080",
            "/api/hubs/MyHub/groups/g%201/:send?api-version=2024-12-01", true
        ),
        ("http://localhost:8080/api/hubs/MyHub/users/user%2f1/groups/g1", "localhost:8080", userTarget, true),
        (
            "https://localhost:8080/api/hubs/MyHub/:send?api-version=2024-12-01", "localhost:8080",
            "/api/hubs/MyHub/:send?api-version=2024-12-01", true
        ),
        (
            "http://example.com/api/hubs/h/:send?api-version=1", "example.com:80", "/api/hubs/h/:send?api-version=1",
            true
        ),
        ("http://localhost:8080/api/health", "localhost:8080", "/api/health", true),
        // Mismatches.
        (userAudience, "localhost:8081", userTarget, false),
        (userAudience, "evil:8080", userTarget, false),
        (userAudience, "localhost:8080", "/api/hubs/MyHub/users/user%2F2/groups/g1?api-version=2024-12-01", false),
        (userAudience, "localhost:8080", "/api/hubs/MyHub/users/user%2F1/groups/g1?api-version=2021-10-01", false),
        (userAudience, "localhost:8080", "/api/hubs/MyHub/users/user%2F1/groups/g1", false),
        (sendAudience, "localhost:8080", "/api/hubs/MyHub/:send?api-version=2024-12-01", false),
        (
            "http://localhost:8080/api/hubs/MyHub/groups/g1/:send", "localhost:8080",
            "/api/hubs/MyHub/groups/g2/:send?api-version=1", false
        ),
        (userAudience, "localhost:8080", "", false),
        (userAudience, "localhost:8080", "*", false),
        ("not a url", "localhost:8080", userTarget, false),
    ]

    @Test(arguments: requestTable) func request(audience: String, host: String, target: String, expected: Bool) {
        #expect(
            RequestAudience.matches(audience: audience, requestHost: host, isTLS: false, rawTarget: target) == expected)
    }

    @Test func audienceWithoutQueryMatchesAnyQuery() {
        #expect(
            RequestAudience.matches(
                audience: "http://localhost:8080/api/hubs/MyHub/:send", requestHost: "localhost:8080", isTLS: false,
                rawTarget: "/api/hubs/MyHub/:send?api-version=2024-12-01"))
    }
}
