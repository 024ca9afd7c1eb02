import Testing
import WPSHTTP

/// Header lookup and token helpers, percent and query decoding.
@Suite struct HTTPHeadersTests {
    static let headers: HTTPHeaders = [
        "Host": "a",
        "Connection": "keep-alive, Upgrade",
        "upgrade": "WebSocket",
        "Sec-WebSocket-Protocol": "json.webpubsub.azure.v1,  ,protobuf.webpubsub.azure.v1",
        "sec-websocket-protocol": " json.reliable.webpubsub.azure.v1 ",
        "X-Empty": "",
    ]

    @Test(
        arguments: [
            ("host", "a"), ("HOST", "a"), ("Upgrade", "WebSocket"), ("x-empty", ""), ("missing", nil),
            ("Sec-WebSocket-Protocol", "json.webpubsub.azure.v1,  ,protobuf.webpubsub.azure.v1"),
        ] as [(String, String?)])
    func firstValueIgnoringCase(name: String, value: String?) {
        #expect(Self.headers[name] == value)
    }

    @Test(arguments: [
        ("Connection", ["keep-alive", "Upgrade"]),
        (
            "sec-websocket-protocol",
            ["json.webpubsub.azure.v1", "protobuf.webpubsub.azure.v1", "json.reliable.webpubsub.azure.v1"]
        ),
        ("X-Empty", []),
        ("Missing", []),
    ])
    func tokensAcrossFields(name: String, tokens: [String]) {
        #expect(Self.headers.tokens(name) == tokens)
    }

    @Test(arguments: [
        ("connection", "upgrade", true), ("Connection", "KEEP-ALIVE", true), ("Connection", "close", false),
        ("Upgrade", "websocket", true), ("Upgrade", "websock", false),
        ("Sec-WebSocket-Protocol", "json.reliable.webpubsub.azure.v1", true), ("Missing", "x", false),
        ("X-Empty", "", false),
    ])
    func containsTokenIgnoringCase(name: String, token: String, expected: Bool) {
        #expect(Self.headers.containsToken(name, token) == expected)
    }

    @Test func valuesKeepOrderAndDuplicates() {
        #expect(Self.headers.values("SEC-WEBSOCKET-PROTOCOL").count == 2)
        #expect(Self.headers.map(\.name).first == "Host")
        var copy = Self.headers
        copy.add(name: "Host", value: "b")
        #expect(copy.values("host") == ["a", "b"])
        #expect(copy["host"] == "a")
    }

    @Test(
        arguments: [
            ("abc", false, "abc"), ("a%20b", false, "a b"), ("a+b", false, "a+b"), ("a+b", true, "a b"),
            ("%E2%82%AC", false, "€"), ("%e2%82%ac", false, "€"), ("%2B", true, "+"), ("", false, ""),
            ("%41%42", false, "AB"), ("caf%C3%A9", true, "café"), ("café", false, "café"),
            (String(repeating: "token.", count: 60), true, String(repeating: "token.", count: 60)),
        ] as [(String, Bool, String)])
    func percentDecodes(input: String, plusAsSpace: Bool, output: String) {
        #expect(HTTPPercent.decode(input, plusAsSpace: plusAsSpace) == output)
    }

    @Test(arguments: ["%", "%4", "%4G", "%G4", "a%00b", "%C3%28", "%FF", "%E2%82", "a\u{0}b", "%%41"])
    func percentRejects(input: String) {
        #expect(HTTPPercent.decode(input) == nil)
        #expect(HTTPPercent.decode(input, plusAsSpace: true) == nil)
    }

    @Test(
        arguments: [
            ("", []),
            ("a=1", ["a=1"]),
            ("a=1&b=2&a=3", ["a=1", "b=2", "a=3"]),
            ("a", ["a="]),
            ("a=", ["a="]),
            ("=v", ["=v"]),
            ("&&a=1&&", ["a=1"]),
            ("a=x=y", ["a=x=y"]),
            ("q=hello+world%21", ["q=hello world!"]),
            ("k%20e+y=v", ["k e y=v"]),
            ("access_token=eyJ.eyJ.sig&hub=chat", ["access_token=eyJ.eyJ.sig", "hub=chat"]),
        ] as [(String, [String])])
    func queryDecodes(input: String, pairs: [String]) {
        #expect(HTTPQuery.decode(input)?.map { "\($0.name)=\($0.value)" } == pairs)
    }

    @Test(arguments: ["a=%zz", "%zz=1", "a=1&b=%00", "a=%C3"])
    func queryRejects(input: String) {
        #expect(HTTPQuery.decode(input) == nil)
    }

    @Test func queryValueLookup() {
        #expect(HTTPQuery.value("b", in: "a=1&b=2+3&b=4") == "2 3")
        #expect(HTTPQuery.value("c", in: "a=1") == nil)
        #expect(HTTPQuery.value("a", in: "a=%zz") == nil)
    }
}
