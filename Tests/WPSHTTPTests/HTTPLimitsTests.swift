import Testing
import WPSHTTP

/// Every limit at N-1, N and N+1 (protocol-spec/http.md §1).
@Suite struct HTTPLimitsTests {
    /// (limit, delta, accepted) for each limit: N-1 and N pass, N+1 fails.
    static func edges(_ limits: [Int]) -> [(Int, Int, Bool)] {
        limits.flatMap { [($0, -1, true), ($0, 0, true), ($0, 1, false)] }
    }

    /// A valid head of exactly `bytes` bytes (padding goes into one header value).
    static func request(headBytes bytes: Int) -> [UInt8] {
        let prefix = "GET / HTTP/1.1\r\nHost: a\r\nX-Pad: "
        let suffix = "\r\n\r\n"
        let padding = bytes - prefix.utf8.count - suffix.utf8.count
        return Array((prefix + String(repeating: "p", count: padding) + suffix).utf8)
    }

    /// A valid head whose request-target is exactly `bytes` bytes long.
    static func request(uriBytes bytes: Int) -> [UInt8] {
        let target = "/" + String(repeating: "u", count: bytes - 1)
        return Array("GET \(target) HTTP/1.1\r\nHost: a\r\n\r\n".utf8)
    }

    /// A valid head with `count` header fields (Host included).
    static func request(headerCount count: Int) -> [UInt8] {
        var text = "GET / HTTP/1.1\r\nHost: a\r\n"
        for index in 1..<count { text += "X-\(index): v\r\n" }
        return Array((text + "\r\n").utf8)
    }

    @Test(arguments: edges([64, 200, 16 * 1024]))
    func headBytes(limit: Int, delta: Int, accepted: Bool) {
        let limits = HTTPLimits(maxHeadBytes: limit)
        let bytes = Self.request(headBytes: limit + delta)
        #expect(bytes.count == limit + delta)
        let outcome = Outcome(parseWhole(bytes, limits: limits))
        #expect(outcome.code == (accepted ? 200 : 431), "\(outcome)")
        // Growing in large steps must agree with the one-shot answer.
        #expect(parseGrowing(bytes, step: 7, limits: limits).last?.code == outcome.code)
    }

    @Test(arguments: edges([1, 5000]))
    func headBytesIgnoreTrailingData(trailingBytes: Int, delta: Int, accepted: Bool) {
        // Bytes after the head (a body or the next request) never count against the head.
        let limits = HTTPLimits(maxHeadBytes: 100)
        let bytes = Self.request(headBytes: 100 + delta) + Array(repeating: UInt8(ascii: "b"), count: trailingBytes)
        #expect(Outcome(parseWhole(bytes, limits: limits)).code == (accepted ? 200 : 431))
    }

    @Test func incompleteHeadAtLimitIsRejectedEarly() {
        let limits = HTTPLimits(maxHeadBytes: 100)
        let partial = Array(Self.request(headBytes: 200).prefix(100))
        #expect(Outcome(parseWhole(partial, limits: limits)) == .failure(code: 431))
        #expect(Outcome(parseWhole(Array(partial.prefix(99)), limits: limits)) == .needMore)
    }

    @Test(arguments: edges([10, 8 * 1024]))
    func uriBytes(limit: Int, delta: Int, accepted: Bool) {
        let limits = HTTPLimits(maxURIBytes: limit)
        let bytes = Self.request(uriBytes: limit + delta)
        let outcome = Outcome(parseWhole(bytes, limits: limits))
        #expect(outcome.code == (accepted ? 200 : 414), "\(outcome)")
    }

    @Test(arguments: edges([10, 8 * 1024]))
    func uriBytesDetectedBeforeLineEnds(limit: Int, delta: Int, accepted: Bool) {
        // Only "GET " and the target have arrived: an over-long target is refused at once.
        let limits = HTTPLimits(maxURIBytes: limit)
        let bytes = Array(("GET /" + String(repeating: "u", count: limit + delta - 1)).utf8)
        let expected: Outcome = accepted ? .needMore : .failure(code: 414)
        #expect(Outcome(parseWhole(bytes, limits: limits)) == expected)
        let outcomes = parseGrowing(bytes, step: 3, limits: limits)
        #expect(outcomes.last == expected)
    }

    @Test func uriLimitBeatsHeadLimit() {
        let limits = HTTPLimits(maxHeadBytes: 64, maxURIBytes: 32)
        let bytes = Array(("GET /" + String(repeating: "u", count: 100)).utf8)
        #expect(Outcome(parseWhole(bytes, limits: limits)) == .failure(code: 414))
    }

    @Test(arguments: edges([1, 5, 100]))
    func headerCount(limit: Int, delta: Int, accepted: Bool) {
        let limits = HTTPLimits(maxHeaderCount: limit)
        guard limit + delta >= 1 else { return }
        let bytes = Self.request(headerCount: limit + delta)
        let outcome = Outcome(parseWhole(bytes, limits: limits))
        #expect(outcome.code == (accepted ? 200 : 431), "\(outcome)")
    }

    @Test func headerCountZeroAllowsOnlyHostlessHTTP10() {
        let limits = HTTPLimits(maxHeaderCount: 0)
        #expect(Outcome(parseWhole("GET / HTTP/1.0\r\n\r\n", limits: limits)).code == 200)
        #expect(Outcome(parseWhole("GET / HTTP/1.0\r\nA: b\r\n\r\n", limits: limits)).code == 431)
    }

    @Test(arguments: edges([0, 10, 1024 * 1024]))
    func contentLengthBytes(limit: Int, delta: Int, accepted: Bool) {
        guard limit + delta >= 0 else { return }
        let limits = HTTPLimits(maxBodyBytes: limit)
        let text = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \(limit + delta)\r\n\r\n"
        let outcome = Outcome(parseWhole(text, limits: limits))
        #expect(outcome.code == (accepted ? 200 : 413), "\(outcome)")
        if accepted { #expect(head(text, limits: limits)?.contentLength == limit + delta) }
    }

    @Test(arguments: [
        HTTPLimits(maxHeadBytes: .max, maxHeaderCount: .max, maxURIBytes: .max, maxBodyBytes: .max),
        HTTPLimits(maxHeadBytes: 0, maxHeaderCount: 0, maxURIBytes: 0, maxBodyBytes: 0),
        HTTPLimits(maxHeadBytes: -1, maxHeaderCount: -1, maxURIBytes: -1, maxBodyBytes: -1),
    ])
    func extremeLimitsNeverTrap(limits: HTTPLimits) {
        let requests = [
            "GET /abc HTTP/1.1\r\nHost: a\r\n\r\n", "GET /abc", "GET /abc HTTP/1.1\r\nHost: a",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999\r\n\r\n",
        ]
        for request in requests {
            let bytes = Array(request.utf8)
            let whole = Outcome(parseWhole(bytes, limits: limits))
            #expect(parseGrowing(bytes, limits: limits).last == whole)
        }
    }

    @Test func defaultsAreDocumentedValues() {
        let limits = HTTPLimits()
        #expect(limits.maxHeadBytes == 16_384)
        #expect(limits.maxHeaderCount == 100)
        #expect(limits.maxURIBytes == 8_192)
        #expect(limits.maxBodyBytes == 1_048_576)
    }
}
