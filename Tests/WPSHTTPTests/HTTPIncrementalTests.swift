import Testing
import WPSHTTP

/// Feeding heads in pieces, pipelining and parser reuse.
@Suite struct HTTPIncrementalTests {
    static let requests: [String] = [
        "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET /client/hubs/chat?access_token=abc.def%2Bg HTTP/1.1\r\nHost: localhost:8080\r\n"
            + "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            + "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: json.webpubsub.azure.v1, json.reliable.webpubsub.azure.v1\r\n\r\n",
        "\r\nPOST /api/hubs/h/:send?api-version=2024-01-01 HTTP/1.1\nHost: a\nContent-Length: 3\n\nabc",
        "GET / HTTP/1.0\r\nConnection: keep-alive\r\nX-Empty:\r\n\r\n",
    ]

    @Test(arguments: requests)
    func everySplitGivesTheSameHead(request: String) {
        let bytes = Array(request.utf8)
        let whole = Outcome(parseWhole(bytes))
        guard case .complete(_, let length) = whole else {
            Issue.record("expected complete, got \(whole)")
            return
        }
        for split in 0...bytes.count {
            let (first, second) = parseSplit(bytes, at: split)
            if split < length {
                #expect(first == .needMore, "split \(split)")
            } else {
                #expect(first == whole, "split \(split)")
            }
            #expect(second == whole, "split \(split)")
        }
    }

    @Test(arguments: requests)
    func growingByteByByteCompletesExactlyAtHeadEnd(request: String) {
        let bytes = Array(request.utf8)
        let whole = Outcome(parseWhole(bytes))
        let outcomes = parseGrowing(bytes)
        guard case .complete(_, let length) = whole else {
            Issue.record("expected complete")
            return
        }
        #expect(outcomes.count == length)
        #expect(outcomes.dropLast().allSatisfy { $0 == .needMore })
        #expect(outcomes.last == whole)
    }

    @Test func resultRepeatsUntilReset() {
        var parser = HTTPHeadParser()
        let first = Array("GET /one HTTP/1.1\r\nHost: a\r\n\r\n".utf8)
        let second = Array("GET /two HTTP/1.1\r\nHost: a\r\n\r\n".utf8)
        let once = first.withUnsafeBytes { Outcome(parser.parse($0)) }
        let again = second.withUnsafeBytes { Outcome(parser.parse($0)) }
        #expect(once == again)
        parser.reset()
        let next = second.withUnsafeBytes { Outcome(parser.parse($0)) }
        guard case .complete(let summary, _) = next else {
            Issue.record("expected complete")
            return
        }
        #expect(summary.path == "/two")
    }

    /// `parseNext` gives what `parse` gives, byte by byte, for head after head on one parser,
    /// and starts each next head fresh without a `reset()` (also after a failure).
    @Test func parseNextReadsHeadAfterHead() {
        var parser = HTTPHeadParser()
        for request in Self.requests + ["BAD\r\n\r\n"] + Self.requests {
            let bytes = Array(request.utf8)
            let expected = parseGrowing(bytes)
            var outcomes: [Outcome] = []
            bytes.withUnsafeBytes { all in
                for end in 1...all.count {
                    let outcome = Outcome(parser.parseNext(UnsafeRawBufferPointer(rebasing: all[0..<end])))
                    outcomes.append(outcome)
                    if outcome != .needMore { break }
                }
            }
            #expect(outcomes == expected, "\(request)")
        }
        // After a final result from parseNext, parse also starts the next head fresh.
        let last = Array(Self.requests[1].utf8)
        #expect(last.withUnsafeBytes { Outcome(parser.parse($0)) } == Outcome(parseWhole(last)))
    }

    @Test func failureRepeatsUntilReset() {
        var parser = HTTPHeadParser()
        let bad = Array("BAD\r\n\r\n".utf8)
        #expect(bad.withUnsafeBytes { Outcome(parser.parse($0)) } == .failure(code: 400))
        #expect(bad.withUnsafeBytes { Outcome(parser.parse($0)) } == .failure(code: 400))
        parser.reset()
        let good = Array("GET / HTTP/1.0\r\n\r\n".utf8)
        #expect(good.withUnsafeBytes { Outcome(parser.parse($0)) }.code == 200)
    }

    @Test(arguments: [1, 2, 5])
    func pipelinedRequestsAreFoundThroughHeadLength(count: Int) {
        var stream: [UInt8] = []
        for index in 0..<count {
            stream += Array("POST /r\(index) HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nbody".utf8)
            stream += Array("GET /g\(index) HTTP/1.1\r\nHost: a\r\n\r\n".utf8)
        }
        var parser = HTTPHeadParser()
        var offset = 0
        var paths: [String] = []
        stream.withUnsafeBytes { all in
            while offset < all.count {
                guard
                    case .complete(let head, let length) = parser.parse(
                        UnsafeRawBufferPointer(rebasing: all[offset...]))
                else {
                    Issue.record("expected a head at offset \(offset)")
                    return
                }
                paths.append(head.path)
                offset += length + head.contentLength
                parser.reset()
            }
        }
        #expect(offset == stream.count)
        #expect(paths == (0..<count).flatMap { ["/r\($0)", "/g\($0)"] })
    }

    @Test func shorterBufferRestartsTheScan() {
        var parser = HTTPHeadParser()
        let long = Array("GET / HTTP/1.1\r\nHost: a\r\nX-Long: aaaaaaaa".utf8)
        #expect(long.withUnsafeBytes { Outcome(parser.parse($0)) } == .needMore)
        let other = Array("GET /x HTTP/1.0\r\n\r\n".utf8)
        let outcome = other.withUnsafeBytes { Outcome(parser.parse($0)) }
        guard case .complete(let summary, _) = outcome else {
            Issue.record("expected complete, got \(outcome)")
            return
        }
        #expect(summary.path == "/x")
    }
}
