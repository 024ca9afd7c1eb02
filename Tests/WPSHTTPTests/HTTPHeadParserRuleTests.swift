import Testing
import WPSHTTP

/// One rule of protocol-spec/http.md §2–3 per row: the request and the status it must yield
/// (200 means the head parses).
@Suite struct HTTPHeadParserRuleTests {
    static let requestLineRules: [(String, Int)] = [
        ("GET / HTTP/1.1\r\nHost: a\r\n\r\n", 200),
        ("GET / HTTP/1.0\r\n\r\n", 200),
        ("GET / HTTP/1.1\nHost: a\n\n", 200),  // bare LF, like picohttpparser
        ("GET / HTTP/1.1\r\nHost: a\n\r\n", 200),  // mixed line ends
        ("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 200),  // leading empty lines
        ("\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 200),
        ("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", 200),
        ("M-SEARCH / HTTP/1.1\r\nHost: a\r\n\r\n", 200),
        ("GET http://example.com/a?b=c HTTP/1.1\r\nHost: a\r\n\r\n", 200),
        ("GET http://example.com HTTP/1.1\r\nHost: a\r\n\r\n", 200),
        ("GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
        ("GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505),
        ("GET / HTTP/0.9\r\n\r\n", 505),
        ("GET / HTTP/3.0\r\n\r\n", 505),
        ("GET /\r\n\r\n", 505),  // HTTP/0.9-looking
        ("GET /index.html\r\n", 505),
        ("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505),
        ("GET / HTTX/1.1\r\nHost: a\r\n\r\n", 400),
        ("GET / http/1.1\r\nHost: a\r\n\r\n", 400),
        ("GET / HTTP/1.10\r\nHost: a\r\n\r\n", 400),
        ("GET / HTTP/1\r\nHost: a\r\n\r\n", 400),
        ("GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400),
        ("GET / HTTP/1.x\r\nHost: a\r\n\r\n", 400),
        ("GET / \r\nHost: a\r\n\r\n", 400),
        ("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\r\nHost: a\r\n\r\n", 400),
        (" GET / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        ("G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        ("GET\r\n\r\n", 400),
        ("\u{1}\r\n\r\n", 400),
        ("GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        ("GET /a\u{7F} HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        ("GET /é HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        ("GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        ("GET foo HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        ("GET 1http://x/ HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        ("GET http:/x HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ]

    static let fieldRules: [(String, Int)] = [
        ("GET / HTTP/1.1\r\nHost: a\r\nX-A:b\r\n\r\n", 200),
        ("GET / HTTP/1.1\r\nHost: a\r\nX-A: \t b \t \r\n\r\n", 200),
        ("GET / HTTP/1.1\r\nHost: a\r\nX-A:\r\n\r\n", 200),
        ("GET / HTTP/1.1\r\nHost: a\r\nX-A: a\tb\r\n\r\n", 200),
        ("GET / HTTP/1.1\r\nHost: a\r\nX-A: caf\u{E9}\r\n\r\n", 200),  // obs-text
        ("GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: a\r\n\tfolded\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: a\r\n: empty\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: a\r\nX@Y: z\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: a\r\nX: a\u{1}b\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: a\r\nX: a\u{0}b\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: a\r\nX: a\u{7F}b\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: a\r\n\r\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\n\r\n", 400),  // 1.1 without Host
        ("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", 400),
        ("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHOST: a\r\n\r\n", 200),
    ]

    static let framingRules: [(String, Int)] = [
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n", 200),
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", 200),
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\n", 200),
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 05\r\nContent-Length: 5\r\n\r\n", 200),
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: abc\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5 5\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999999\r\n\r\n", 413),
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1048577\r\n\r\n", 413),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", 200),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: CHUNKED\r\n\r\n", 200),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 501),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 501),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n", 501),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n\r\n", 501),
    ]

    static let targetRules: [(String, Int)] = [
        ("GET /a%20b HTTP/1.1\r\nHost: a\r\n\r\n", 200),
        ("GET /a%zz HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        ("GET /a%2 HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        ("GET /a% HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        ("GET /a%00 HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        ("GET /a%C3%28 HTTP/1.1\r\nHost: a\r\n\r\n", 400),  // invalid UTF-8
        ("GET /a?x=%zz HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        ("GET /a?x=%00 HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        ("GET /a?x=%FF HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        ("GET /a?%zz HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        ("GET /a?x=%41 HTTP/1.1\r\nHost: a\r\n\r\n", 200),
    ]

    @Test(arguments: requestLineRules + fieldRules + framingRules + targetRules)
    func statusForRule(request: String, expected: Int) {
        let outcome = Outcome(parseWhole(request))
        #expect(outcome.code == expected, "\(request.debugDescription) → \(outcome)")
    }

    @Test(arguments: requestLineRules + fieldRules + framingRules + targetRules)
    func sameStatusWhenGrownByteByByte(request: String, expected: Int) {
        let outcomes = parseGrowing(Array(request.utf8))
        #expect(outcomes.last?.code == expected)
        #expect(outcomes.dropLast().allSatisfy { $0 == .needMore })
    }

    @Test(arguments: 0...255)
    func headerNameBytesAreTokenCharacters(byte: Int) {
        let tchars = Array("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".utf8)
        let isToken = tchars.contains(UInt8(byte))
        let request =
            Array("GET / HTTP/1.1\r\nHost: a\r\nX".utf8) + [UInt8(byte)]
            + Array("Y: v\r\n\r\n".utf8)
        let method = [UInt8(byte)] + Array(" / HTTP/1.1\r\nHost: a\r\n\r\n".utf8)
        let expected = isToken ? 200 : 400
        // ":" ends the name early ("X" with value "Y: v"), a valid field.
        if byte != 0x3A { #expect(Outcome(parseWhole(request)).code == expected) }
        // A method byte that ends the line early makes a different (still rejected) request.
        if byte != 0x0A && byte != 0x0D { #expect(Outcome(parseWhole(method)).code == expected) }
    }

    /// Every byte value inside a long target, at positions that fall in and out of the
    /// eight-byte scan: only visible ASCII other than "#" is accepted (SP ends the target).
    /// Checked to fail with the scan's upper edge moved from 0x7F to 0x80.
    @Test(arguments: 0...255)
    func targetBytesAreVisibleASCII(byte: Int) {
        let visible = byte > 0x20 && byte < 0x7F && byte != 0x23
        for position in [1, 7, 8, 15, 16, 40] {
            var target = Array("/client/hubs/chat?access_token=abcdefghijklmnop".utf8)
            target[position] = UInt8(byte)
            let request = Array("GET ".utf8) + target + Array(" HTTP/1.1\r\nHost: a\r\n\r\n".utf8)
            let code = Outcome(parseWhole(request)).code
            if byte == 0x25 {
                // A "%" without two hex digits after it is bad percent-encoding.
                #expect(code == 400, "byte \(byte) at \(position)")
            } else if visible {
                #expect(code == 200, "byte \(byte) at \(position)")
            } else {
                // SP and line ends reshape the line; whatever they make of it is refused.
                #expect(code != 200, "byte \(byte) at \(position)")
            }
        }
    }

    /// Every byte value inside a long header value, in and out of the eight-byte scan: only
    /// controls other than HTAB, and DEL, are refused (CR and LF end the line instead).
    @Test(arguments: 0...255)
    func fieldValueBytesRefuseControls(byte: Int) {
        let allowed = byte == 0x09 || (byte >= 0x20 && byte != 0x7F)
        for position in [1, 7, 8, 15, 16, 30] {
            var value = Array("abcdefghijklmnopqrstuvwxyz0123456789".utf8)
            value[position] = UInt8(byte)
            let request = Array("GET / HTTP/1.1\r\nHost: a\r\nX-Long: ".utf8) + value + Array("\r\n\r\n".utf8)
            let code = Outcome(parseWhole(request)).code
            if byte == 0x0A || byte == 0x0D {
                #expect(code != 200, "byte \(byte) at \(position)")  // the rest is a malformed line
            } else {
                #expect(code == (allowed ? 200 : 400), "byte \(byte) at \(position)")
            }
        }
    }

    @Test func parsesAllParts() throws {
        let text =
            "POST /api/hubs/chat%20room/send?user=a+b&x=%41&flag&&=v HTTP/1.1\r\n"
            + "Host: example.com\r\nContent-Length: 12\r\nX-Dup: 1\r\nx-dup:  2 \r\n\r\nbody"
        guard case .complete(let head, let length) = parseWhole(text) else {
            Issue.record("expected a complete head")
            return
        }
        #expect(length == text.utf8.count - 4)
        #expect(head.method == "POST")
        #expect(head.target == "/api/hubs/chat%20room/send?user=a+b&x=%41&flag&&=v")
        #expect(head.path == "/api/hubs/chat room/send")
        #expect(head.rawPath == "/api/hubs/chat%20room/send")
        #expect(head.query.map(\.name) == ["user", "x", "flag", ""])
        #expect(head.query.map(\.value) == ["a b", "A", "", "v"])
        #expect(head.queryValue("user") == "a b")
        #expect(head.queryValue("missing") == nil)
        #expect(head.version == .http1_1)
        #expect(head.headers["x-DUP"] == "1")
        #expect(head.headers.values("X-Dup") == ["1", "2"])
        #expect(head.headers.count == 4)
        #expect(head.contentLength == 12)
        #expect(!head.isChunked)
        #expect(head.keepAlive)
    }

    /// A parsed head keeps its query encoded and decodes parameters as they are read: the
    /// lookups agree with the decoded list whatever the escapes, the first of a repeated name
    /// wins, and a value without escapes is lent from the request's own bytes.
    @Test func queryParametersAreReadInPlace() throws {
        let query = "a=1&b=x+y&%62=second&c%3D=eq&plain=%41%42&empty=&bare&a=again&t=eyJ.e30.sig&sp+ace=1"
        let parsed = try #require(head("GET /p?\(query) HTTP/1.1\r\nHost: a\r\n\r\n"))
        let decoded = try #require(HTTPQuery.decode(query))
        #expect(parsed.query.map { "\($0.name)=\($0.value)" } == decoded.map { "\($0.name)=\($0.value)" })
        for name in ["a", "b", "c=", "plain", "empty", "bare", "t", "sp ace", "sp+ace", "missing", "", "%62"] {
            #expect(parsed.queryValue(name) == decoded.first { $0.name == name }?.value, "\(name)")
        }
        #expect(parsed.queryValue("b") == "x y")
        #expect(parsed.withQueryValue("t") { String(decoding: $0, as: UTF8.self) } == "eyJ.e30.sig")
        #expect(parsed.withQueryValue("empty") { $0.count } == 0)
        #expect(parsed.withQueryValue("nope") { $0.count } == nil)

        // A query without "%" or "+" is read without looking for them again.
        let plainQuery = "a=1&t=eyJ.e30.sig&a=2&bare&=v&&x="
        let plain = try #require(head("GET /p?\(plainQuery) HTTP/1.1\r\nHost: a\r\n\r\n"))
        let plainDecoded = try #require(HTTPQuery.decode(plainQuery))
        #expect(plain.query.map { "\($0.name)=\($0.value)" } == plainDecoded.map { "\($0.name)=\($0.value)" })
        for name in ["a", "t", "bare", "", "x", "missing", "a=1"] {
            #expect(plain.queryValue(name) == plainDecoded.first { $0.name == name }?.value, "\(name)")
        }

        // Setting the query replaces what was parsed.
        var changed = parsed
        changed.query = [(name: "z", value: "1")]
        #expect(changed.queryValue("a") == nil && changed.queryValue("z") == "1")
        #expect(changed.withQueryValue("z") { Array($0) } == [UInt8(ascii: "1")])

        // Without a query, or with one that is only separators, nothing is found.
        for request in ["GET /p HTTP/1.1\r\nHost: a\r\n\r\n", "GET /p?&& HTTP/1.1\r\nHost: a\r\n\r\n"] {
            let bare = try #require(head(request))
            #expect(bare.query.isEmpty && bare.queryValue("a") == nil)
        }
        // A bad escape anywhere in the query still fails the whole request.
        for bad in ["a=1&b=%zz", "%zz=1", "a=%00", "a=%C3", "a=%4"] {
            guard case .failure = parseWhole("GET /p?\(bad) HTTP/1.1\r\nHost: a\r\n\r\n") else {
                Issue.record("expected \(bad) to be refused")
                continue
            }
        }
    }

    @Test(arguments: [
        ("GET http://example.com/a/b?c=d HTTP/1.1\r\nHost: a\r\n\r\n", "/a/b", "c=d"),
        ("GET http://example.com HTTP/1.1\r\nHost: a\r\n\r\n", "/", ""),
        ("GET https://example.com:8443?k=v HTTP/1.1\r\nHost: a\r\n\r\n", "/", "k=v"),
        ("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", "*", ""),
        ("GET /plus+stays HTTP/1.1\r\nHost: a\r\n\r\n", "/plus+stays", ""),
        ("GET /%2F?q=1+2%2B3 HTTP/1.1\r\nHost: a\r\n\r\n", "//", "q=1 2+3"),
    ])
    func targetForms(request: String, path: String, query: String) {
        let parsed = head(request)
        #expect(parsed?.path == path)
        #expect(parsed?.query.map { "\($0.name)=\($0.value)" }.joined(separator: "&") == query)
    }

    static let keepAliveCases: [(String, String?, Bool)] = [
        ("1.1", nil, true),
        ("1.1", "close", false),
        ("1.1", "Close", false),
        ("1.1", "keep-alive", true),
        ("1.1", "Upgrade, close", false),
        ("1.1", "Upgrade", true),
        ("1.0", nil, false),
        ("1.0", "keep-alive", true),
        ("1.0", "Keep-Alive", true),
        ("1.0", "close", false),
        ("1.0", "keep-alive, close", false),
    ]

    @Test(arguments: keepAliveCases)
    func keepAliveDefaults(version: String, connection: String?, expected: Bool) {
        var text = "GET / HTTP/\(version)\r\nHost: a\r\n"
        if let connection { text += "Connection: \(connection)\r\n" }
        text += "\r\n"
        #expect(head(text)?.keepAlive == expected)
    }

    @Test func chunkedHeadHasNoContentLength() {
        let parsed = head("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
        #expect(parsed?.isChunked == true)
        #expect(parsed?.contentLength == 0)
        #expect(parsed?.hasBody == true)
    }

    @Test func failureCarriesReason() {
        guard case .failure(let error) = parseWhole("GET / HTTP/1.1\r\n\r\n") else {
            Issue.record("expected failure")
            return
        }
        #expect(error == HTTPParseError(status: .badRequest, reason: "missing Host"))
    }
}
