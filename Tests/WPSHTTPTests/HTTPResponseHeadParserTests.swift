import Testing
import WPSHTTP

/// Parses `text` in one call.
func parseResponse(_ text: String, limits: HTTPLimits = .init()) -> HTTPResponseHeadParseResult {
    var parser = HTTPResponseHeadParser(limits: limits)
    return Array(text.utf8).withUnsafeBytes { parser.parse($0) }
}

@Suite struct HTTPResponseHeadParserTests {
    static let upgrade =
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        + "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"

    @Test func parsesAStatusLineAndHeaders() throws {
        guard case .complete(let head, let length) = parseResponse(Self.upgrade + "\u{81}\u{0}") else {
            Issue.record("not complete")
            return
        }
        #expect(length == Self.upgrade.utf8.count)
        #expect(head.status == 101)
        #expect(head.reason == "Switching Protocols")
        #expect(head.minorVersion == 1)
        #expect(head.headers["upgrade"] == "websocket")
        #expect(head.headers.count == 3)
    }

    @Test(
        arguments: [
            ("HTTP/1.0 200 OK\r\nContent-Length: 12\r\n\r\n", 200, "OK", 12),
            ("HTTP/1.1 204\r\n\r\n", 204, "", nil),
            ("HTTP/1.1 401 \r\nContent-Length:  0 \n\n", 401, "", 0),
            (
                "HTTP/1.1 500 Internal Server Error\r\nTransfer-Encoding: chunked\r\n\r\n", 500,
                "Internal Server Error", nil
            ),
        ] as [(String, Int, String, Int?)])
    func acceptsValidHeads(_ text: String, _ status: Int, _ reason: String, _ length: Int?) {
        guard case .complete(let head, _) = parseResponse(text) else {
            Issue.record("not complete: \(text)")
            return
        }
        #expect(head.status == status)
        #expect(head.reason == reason)
        #expect(head.contentLength == length)
    }

    @Test(arguments: [
        "HTTP/2 200 OK\r\n\r\n",
        "HTTP/1.1 20 OK\r\n\r\n",
        "HTTP/1.1 2000 OK\r\n\r\n",
        "HTTP/1.2 200 OK\r\n\r\n",
        "HTTP/1.1 099 Low\r\n\r\n",
        "ICY 200 OK\r\n\r\n",
        "HTTP/1.1 200 OK\r\n folded: x\r\n\r\n",
        "HTTP/1.1 200 OK\r\nNo Colon\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX: a\u{1}b\r\n\r\n",
    ])
    func rejectsMalformedHeads(_ text: String) {
        guard case .failure = parseResponse(text) else {
            Issue.record("accepted: \(text)")
            return
        }
    }

    @Test func needsMoreUntilTheBlankLine() {
        guard case .needMore = parseResponse("HTTP/1.1 200 OK\r\nA: b\r\n") else {
            Issue.record("expected needMore")
            return
        }
    }

    @Test func enforcesHeadAndFieldLimits() {
        let fields = (0..<3).map { "F\($0): v\r\n" }.joined()
        let text = "HTTP/1.1 200 OK\r\n" + fields + "\r\n"
        let count = text.utf8.count
        if case .failure = parseResponse(text, limits: HTTPLimits(maxHeadBytes: count)) {
            Issue.record("head of exactly maxHeadBytes refused")
        }
        guard case .failure = parseResponse(text, limits: HTTPLimits(maxHeadBytes: count - 1)) else {
            Issue.record("head over maxHeadBytes accepted")
            return
        }
        if case .failure = parseResponse(text, limits: HTTPLimits(maxHeaderCount: 3)) {
            Issue.record("3 fields refused at a limit of 3")
        }
        guard case .failure = parseResponse(text, limits: HTTPLimits(maxHeaderCount: 2)) else {
            Issue.record("3 fields accepted at a limit of 2")
            return
        }
    }

    @Test func everySplitOffsetGivesTheSameHead() {
        let bytes = Array((Self.upgrade + "rest").utf8)
        for split in 0...bytes.count {
            var parser = HTTPResponseHeadParser()
            var buffer = Array(bytes[..<split])
            var result = buffer.withUnsafeBytes { parser.parse($0) }
            if case .needMore = result {
                buffer.append(contentsOf: bytes[split...])
                result = buffer.withUnsafeBytes { parser.parse($0) }
            }
            guard case .complete(let head, let length) = result else {
                Issue.record("split \(split): not complete")
                continue
            }
            #expect(length == Self.upgrade.utf8.count, "split \(split)")
            #expect(head.status == 101 && head.headers.count == 3, "split \(split)")
        }
    }
}
