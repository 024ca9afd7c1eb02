import Testing
import WPSBytes
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

    /// The same fields as a parsed request holds them: bytes with offsets, no strings yet.
    static let rawHeaders = HTTPHeaders(raw: RawHeaderFields(headers.fields))
    static let both = [headers, rawHeaders]

    @Test(
        arguments: [
            ("host", "a"), ("HOST", "a"), ("Upgrade", "WebSocket"), ("x-empty", ""), ("missing", nil),
            ("Sec-WebSocket-Protocol", "json.webpubsub.azure.v1,  ,protobuf.webpubsub.azure.v1"),
        ] as [(String, String?)])
    func firstValueIgnoringCase(name: String, value: String?) {
        for headers in Self.both {
            #expect(headers[name] == value)
            // The bytes lent for a value are the value's, whether the fields are bytes or strings.
            #expect(headers.withValue(name) { String(decoding: $0, as: UTF8.self) } == value)
        }
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
        for headers in Self.both { #expect(headers.tokens(name) == tokens) }
    }

    @Test(arguments: [
        ("connection", "upgrade", true), ("Connection", "KEEP-ALIVE", true), ("Connection", "close", false),
        ("Upgrade", "websocket", true), ("Upgrade", "websock", false),
        ("Sec-WebSocket-Protocol", "json.reliable.webpubsub.azure.v1", true), ("Missing", "x", false),
        ("X-Empty", "", false),
    ])
    func containsTokenIgnoringCase(name: String, token: String, expected: Bool) {
        for headers in Self.both { #expect(headers.containsToken(name, token) == expected) }
    }

    @Test(arguments: [0, 1])
    func valuesKeepOrderAndDuplicates(form: Int) {
        let headers = Self.both[form]
        #expect(headers.values("SEC-WEBSOCKET-PROTOCOL").count == 2)
        #expect(headers.map(\.name).first == "Host")
        #expect(headers.count == 6)
        var copy = headers
        copy.add(name: "Host", value: "b")
        #expect(copy.values("host") == ["a", "b"])
        #expect(copy["host"] == "a")
        #expect(copy.count == 7)
        #expect(copy.fields.map(\.name) == Self.headers.fields.map(\.name) + ["Host"])
    }

    /// A parsed head keeps its fields as bytes; what callers read back is what the strings
    /// would have been, invalid UTF-8 repaired the same way, and the upgrade checks see the
    /// same bytes.
    @Test func parsedFieldsReadBackAsStrings() throws {
        var request = Array("GET /p HTTP/1.1\r\nHost: h:1\r\nX-A:  one , two \r\nx-a:three\r\nX-Bin: ".utf8)
        request += [0xC3, 0x28, 0x41]
        request += Array("\r\nX-Empty:\r\n\r\n".utf8)
        guard case .complete(let head, _) = parseWhole(request) else {
            Issue.record("head did not parse")
            return
        }
        let expected: [(String, String)] = [
            ("Host", "h:1"), ("X-A", "one , two"), ("x-a", "three"), ("X-Bin", "\u{FFFD}(A"), ("X-Empty", ""),
        ]
        #expect(head.headers.count == expected.count)
        #expect(head.headers.fields.map(\.name) == expected.map(\.0))
        #expect(head.headers.fields.map(\.value) == expected.map(\.1))
        #expect(head.headers["X-BIN"] == "\u{FFFD}(A")
        #expect(head.headers.tokens("x-a") == ["one", "two", "three"])
        #expect(head.headers["x-empty"] == "")
        let raw = head.headers.rawFields
        #expect(raw.count == expected.count)
        #expect(raw.string(raw.name(1)) == "X-A")
        #expect(raw.firstIndex(named: "X-A", from: 2) == 2)
        #expect(raw.firstIndex(named: "missing") == nil)
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
