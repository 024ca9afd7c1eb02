import Testing
import WPSHTTP

/// Chunked body decoding, whole and split at every offset (protocol-spec/http.md §5).
@Suite struct HTTPChunkedDecoderTests {
    enum Expected: Equatable {
        case body(String, consumed: Int)
        case needMore
        case failure(Int)
    }

    /// Decodes `input` fed in pieces cut at `splits`.
    static func decode(_ input: [UInt8], splits: [Int] = [], maxBodyBytes: Int = 1024) -> Expected {
        var decoder = HTTPChunkedDecoder(maxBodyBytes: maxBodyBytes)
        var body: [UInt8] = []
        var start = 0
        for end in splits + [input.count] where end >= start {
            let progress = input.withUnsafeBytes {
                decoder.feed(UnsafeRawBufferPointer(rebasing: $0[start..<end]), into: &body)
            }
            switch progress {
            case .needMore:
                start = end
            case .complete(let consumed):
                #expect(decoder.isComplete)
                #expect(decoder.bodyBytes == body.count)
                return .body(String(decoding: body, as: UTF8.self), consumed: start + consumed)
            case .failure(let error):
                return .failure(error.status.code)
            }
        }
        return .needMore
    }

    static let valid: [(String, String)] = [
        ("0\r\n\r\n", ""),
        ("5\r\nhello\r\n0\r\n\r\n", "hello"),
        ("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", "hello world"),
        ("A\r\n0123456789\r\n0\r\n\r\n", "0123456789"),
        ("a\r\n0123456789\r\n00\r\n\r\n", "0123456789"),
        ("005\r\nhello\r\n0\r\n\r\n", "hello"),
        ("5;name=value\r\nhello\r\n0;last\r\n\r\n", "hello"),
        ("5 ;ext\r\nhello\r\n0\r\n\r\n", "hello"),
        ("5\r\nhello\r\n0\r\nExpires: never\r\nX-Trailer: 1\r\n\r\n", "hello"),
        ("3\r\n\r\n\r\r\n0\r\n\r\n", "\r\n\r"),
    ]

    @Test(arguments: valid)
    func decodesWhole(input: String, body: String) {
        let bytes = Array(input.utf8)
        #expect(Self.decode(bytes) == .body(body, consumed: bytes.count))
    }

    @Test(arguments: valid)
    func decodesSplitAtEveryOffset(input: String, body: String) {
        let bytes = Array(input.utf8)
        for split in 0...bytes.count {
            #expect(Self.decode(bytes, splits: [split]) == .body(body, consumed: bytes.count), "split \(split)")
        }
        let everyByte = Array(0...bytes.count)
        #expect(Self.decode(bytes, splits: everyByte) == .body(body, consumed: bytes.count))
    }

    @Test func stopsAtTheEndOfTheBody() {
        let bytes = Array("3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n".utf8)
        #expect(Self.decode(bytes) == .body("abc", consumed: 13))
    }

    static let malformed: [String] = [
        "\r\n", "x\r\n", "-1\r\n", "5\nhello\r\n", "5\r\nhelloX\r\n", "5\r\nhello\rX", "5\r\nhello\n0\r\n\r\n",
        "5\r\nhello\r\n0\r\n\rX", "0\r\n\n", "5;a\u{1}b\r\n", "0\r\n:bad\r\n\r\n", "0\r\nX: a\u{1}\r\n\r\n",
        "0\r\nX: a\n\r\n", "00000000000000000\r\n", "5x\r\n",
    ]

    @Test(arguments: malformed)
    func rejectsMalformed(input: String) {
        #expect(Self.decode(Array(input.utf8)) == .failure(400))
    }

    @Test(arguments: [(-1, true), (0, true), (1, false)])
    func bodyLimit(delta: Int, accepted: Bool) {
        let limit = 100
        let size = limit + delta
        let first = size / 2
        let second = size - first
        let text =
            String(first, radix: 16) + "\r\n" + String(repeating: "a", count: first) + "\r\n"
            + String(second, radix: 16) + "\r\n" + String(repeating: "b", count: second) + "\r\n0\r\n\r\n"
        let bytes = Array(text.utf8)
        let expected: Expected =
            accepted
            ? .body(String(repeating: "a", count: first) + String(repeating: "b", count: second), consumed: bytes.count)
            : .failure(413)
        #expect(Self.decode(bytes, maxBodyBytes: limit) == expected)
    }

    @Test func oversizedChunkIsRejectedFromItsSizeLine() {
        // 413 comes from the size line alone, before any data is buffered.
        #expect(Self.decode(Array("ffffffff".utf8), maxBodyBytes: 1024) == .failure(413))
        #expect(Self.decode(Array("401".utf8), maxBodyBytes: 1024) == .failure(413))
        #expect(Self.decode(Array("400".utf8), maxBodyBytes: 1024) == .needMore)
    }

    @Test(arguments: [Int.max, 0, -1])
    func extremeLimitsNeverOverflow(maxBodyBytes: Int) {
        let huge = Array("ffffffffffffffff\r\nab".utf8)
        #expect(Self.decode(huge, maxBodyBytes: maxBodyBytes) == .failure(413))
        let empty = Array("0\r\n\r\n".utf8)
        let expected: Expected = maxBodyBytes >= 0 ? .body("", consumed: 5) : .failure(413)
        #expect(Self.decode(empty, maxBodyBytes: maxBodyBytes) == expected)
    }

    @Test func metadataIsCapped() {
        let longExtension = "1;" + String(repeating: "x", count: HTTPChunkedDecoder.maxMetadataBytes) + "\r\n"
        #expect(Self.decode(Array(longExtension.utf8)) == .failure(400))
    }

    @Test func incompleteInputNeedsMore() {
        #expect(Self.decode(Array("5\r\nhel".utf8)) == .needMore)
        #expect(Self.decode(Array("5\r\nhello\r\n0\r\n".utf8)) == .needMore)
    }

    @Test func doneAndFailedStatesAreSticky() {
        var decoder = HTTPChunkedDecoder(limits: HTTPLimits(maxBodyBytes: 10))
        var body: [UInt8] = []
        let done = Array("0\r\n\r\n".utf8)
        #expect(done.withUnsafeBytes { decoder.feed($0, into: &body) } == .complete(consumed: 5))
        #expect(done.withUnsafeBytes { decoder.feed($0, into: &body) } == .complete(consumed: 0))
        decoder.reset()
        #expect(!decoder.isComplete)
        let bad = Array("z".utf8)
        guard case .failure = bad.withUnsafeBytes({ decoder.feed($0, into: &body) }) else {
            Issue.record("expected failure")
            return
        }
        guard case .failure = done.withUnsafeBytes({ decoder.feed($0, into: &body) }) else {
            Issue.record("expected failure to repeat")
            return
        }
    }
}
