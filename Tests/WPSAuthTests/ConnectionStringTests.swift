import Testing
import WPSAuth

@Suite struct ConnectionStringTests {
    typealias Row = (text: String, endpoint: String, key: String, port: Int?, formatted: String)

    static let valid: [Row] = [
        (
            "Endpoint=http://localhost;Port=8080;AccessKey=abc;Version=1.0;", "http://localhost:8080", "abc", 8080,
            "Endpoint=http://localhost;Port=8080;AccessKey=abc;Version=1.0;"
        ),
        (
            "Endpoint=http://localhost:8080;AccessKey=ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGH;Version=1.0;",
            "http://localhost:8080", "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGH", 8080,
            "Endpoint=http://localhost;Port=8080;AccessKey=ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGH;Version=1.0;"
        ),
        (
            "Endpoint=https://x.webpubsub.azure.com;AccessKey=k+/=;Version=1.0;", "https://x.webpubsub.azure.com",
            "k+/=",
            nil, "Endpoint=https://x.webpubsub.azure.com;AccessKey=k+/=;Version=1.0;"
        ),
        (
            "endpoint=https://h/;accesskey=k;version=2.0", "https://h", "k", nil,
            "Endpoint=https://h;AccessKey=k;Version=1.0;"
        ),
        (
            "ENDPOINT=HTTPS://h;ACCESSKEY=k;PORT=443", "https://h:443", "k", 443,
            "Endpoint=https://h;Port=443;AccessKey=k;Version=1.0;"
        ),
        (
            "Endpoint=https://h:1000;Port=2000;AccessKey=k", "https://h:2000", "k", 2000,
            "Endpoint=https://h;Port=2000;AccessKey=k;Version=1.0;"
        ),
        (" Endpoint = http://h ; AccessKey = k ; ", "http://h", "k", nil, "Endpoint=http://h;AccessKey=k;Version=1.0;"),
        (
            "Endpoint=h.example;AccessKey=k;", "https://h.example", "k", nil,
            "Endpoint=https://h.example;AccessKey=k;Version=1.0;"
        ),
        (
            "Endpoint=http://h;AccessKey=k;Port=1", "http://h:1", "k", 1,
            "Endpoint=http://h;Port=1;AccessKey=k;Version=1.0;"
        ),
        (
            "Endpoint=http://h;AccessKey=k;Port=65535", "http://h:65535", "k", 65535,
            "Endpoint=http://h;Port=65535;AccessKey=k;Version=1.0;"
        ),
        ("Endpoint=http://h;AccessKey=k;Unknown=1", "http://h", "k", nil, "Endpoint=http://h;AccessKey=k;Version=1.0;"),
    ]

    @Test(arguments: valid) func parses(text: String, endpoint: String, key: String, port: Int?, formatted: String)
        throws
    {
        let parsed = try #require(ConnectionString.parse(text))
        #expect(parsed.endpoint == endpoint)
        #expect(parsed.accessKey == AccessKey(key))
        #expect(parsed.port == port)
        #expect(parsed.formatted() == formatted)
        #expect(ConnectionString.parse(parsed.formatted()) == parsed)
    }

    @Test(arguments: [
        "", "AccessKey=k", "Endpoint=http://h", "Endpoint=http://h;AccessKey=",
        "Endpoint=http://h;AccessKey=k;Port=0", "Endpoint=http://h;AccessKey=k;Port=65536",
        "Endpoint=http://h;AccessKey=k;Port=-1", "Endpoint=http://h;AccessKey=k;Port=80a",
        "Endpoint=ftp://h;AccessKey=k", "Endpoint=http://h/path;AccessKey=k", "Endpoint=http://;AccessKey=k",
        "Endpoint=http://h?x;AccessKey=k", "Endpoint=http://u@h;AccessKey=k", "Endpoint=http://h;AccessKey=k;junk",
        "Endpoint=http://h:0;AccessKey=k",
    ])
    func rejects(_ text: String) {
        #expect(ConnectionString.parse(text) == nil)
    }

    @Test func generatedKeysLookLikeAzures() {
        let key = AccessKey.generate()
        #expect(key.string.utf8.count == 44)
        #expect(key.string.hasSuffix("="))
        #expect(key != AccessKey.generate())
    }

    @Test func connectionIdsAreLowercaseHex() {
        let id = ConnectionID.generate()
        #expect(id.utf8.count == 32)
        #expect(id.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) })
        #expect(id != ConnectionID.generate())
    }

    @Test(arguments: [UInt8(0), 1, 0x0f, 0xa5, 0xff])
    func taggedConnectionIdsEndInTheirTag(tag: UInt8) {
        let ids = (0..<64).map { _ in ConnectionID.generate(tag: tag) }
        let suffix = String(tag, radix: 16)
        for id in ids {
            #expect(id.utf8.count == 32)
            #expect(id.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) })
            #expect(id.hasSuffix(suffix.count == 1 ? "0" + suffix : suffix))
        }
        // The other 30 digits are random: 64 draws do not repeat and do not share a prefix.
        #expect(Set(ids).count == ids.count)
        #expect(Set(ids.map { $0.prefix(8) }).count > 1)
    }
}
