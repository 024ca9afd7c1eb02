import Foundation
import Testing
import WPSRedis

@Suite struct RESPParserTests {
    let parser = RESPParser()

    func parse(_ text: String) -> RESPParser.Result {
        Array(text.utf8).withUnsafeBytes { parser.parse($0) }
    }

    func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    static let values: [(String, RESPValue)] = [
        ("+OK\r\n", .simpleString(Array("OK".utf8))),
        ("-ERR unknown command\r\n", .error(Array("ERR unknown command".utf8))),
        (":0\r\n", .integer(0)),
        (":-42\r\n", .integer(-42)),
        (":9223372036854775807\r\n", .integer(.max)),
        ("$5\r\nhello\r\n", .bulkString(Array("hello".utf8))),
        ("$0\r\n\r\n", .bulkString([])),
        ("$4\r\na\r\nb\r\n", .bulkString(Array("a\r\nb".utf8))),
        ("$-1\r\n", .null),
        ("*-1\r\n", .null),
        ("_\r\n", .null),
        ("#t\r\n", .boolean(true)),
        ("#f\r\n", .boolean(false)),
        (",3.14\r\n", .double(Array("3.14".utf8))),
        (
            "(3492890328409238509324850943850943825024385\r\n",
            .bigNumber(Array("3492890328409238509324850943850943825024385".utf8))
        ),
        ("!21\r\nSYNTAX invalid syntax\r\n", .error(Array("SYNTAX invalid syntax".utf8))),
        ("=15\r\ntxt:Some string\r\n", .bulkString(Array("Some string".utf8))),
        ("*0\r\n", .array([])),
        ("*2\r\n$3\r\nfoo\r\n:1\r\n", .array([.bulkString(Array("foo".utf8)), .integer(1)])),
        ("*2\r\n*1\r\n+a\r\n*0\r\n", .array([.array([.simpleString(Array("a".utf8))]), .array([])])),
        ("~2\r\n:1\r\n:2\r\n", .array([.integer(1), .integer(2)])),
        ("%1\r\n+key\r\n:7\r\n", .map([(.simpleString(Array("key".utf8)), .integer(7))])),
        (
            ">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n",
            .push([.bulkString(Array("message".utf8)), .bulkString(Array("ch".utf8)), .bulkString(Array("hi".utf8))])
        ),
    ]

    @Test(arguments: values)
    func parsesEveryType(text: String, expected: RESPValue) {
        #expect(parse(text) == .value(expected, consumed: text.utf8.count))
    }

    /// Every value, cut at every offset, asks for more until it is whole, and a value
    /// followed by another takes only its own bytes.
    @Test(arguments: values)
    func everySplitAsksForMore(text: String, expected: RESPValue) {
        let whole = bytes(text)
        for cut in 0..<whole.count {
            let result = Array(whole[..<cut]).withUnsafeBytes { parser.parse($0) }
            #expect(result == .needMore, "cut at \(cut) of \(text.debugDescription)")
        }
        let two = whole + bytes("+next\r\n")
        #expect(two.withUnsafeBytes { parser.parse($0) } == .value(expected, consumed: whole.count))
    }

    static let broken: [String] = [
        "?x\r\n", ":12a\r\n", ":\r\n", ":-\r\n", ":99999999999999999999\r\n", "$-2\r\n", "$3\r\nabcd\r\n",
        "*-2\r\n", "#x\r\n", "_x\r\n", "+a\rb\r\n", "+a\nb\r\n", "=3\r\nabc\r\n",
    ]

    @Test(arguments: broken)
    func brokenInputIsAnError(text: String) {
        guard case .failure = parse(text) else {
            Issue.record("\(text.debugDescription) parsed as \(parse(text))")
            return
        }
    }

    @Test func limitsHoldAtTheirEdges() {
        let small = RESPParser(maxBulkBytes: 4, maxElements: 2, maxDepth: 2)
        func run(_ text: String) -> RESPParser.Result { Array(text.utf8).withUnsafeBytes { small.parse($0) } }
        #expect(run("$4\r\nabcd\r\n") == .value(.bulkString(Array("abcd".utf8)), consumed: 10))
        #expect(run("$5\r\nabcde\r\n") == .failure(RESPProtocolError("bulk string over 4 bytes")))
        #expect(run("*2\r\n:1\r\n:2\r\n") == .value(.array([.integer(1), .integer(2)]), consumed: 12))
        #expect(run("*3\r\n") == .failure(RESPProtocolError("aggregate over 2 elements")))
        #expect(run("*1\r\n*1\r\n:1\r\n") == .value(.array([.array([.integer(1)])]), consumed: 12))
        #expect(run("*1\r\n*1\r\n*1\r\n:1\r\n") == .failure(RESPProtocolError("nested deeper than 2")))
        // A header that cannot end: refused before the bytes pile up.
        #expect(run("$" + String(repeating: "1", count: 80)) == .failure(RESPProtocolError("header line too long")))
    }

    @Test func commandsAreArraysOfBulkStrings() {
        var out: [UInt8] = []
        RESPEncoder.command(["SET", "k", .bytes([0, 13, 10, 255])], into: &out)
        #expect(out == bytes("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$4\r\n") + [0, 13, 10, 255] + bytes("\r\n"))
        // What the encoder writes, the parser reads back.
        let parsed = out.withUnsafeBytes { parser.parse($0) }
        #expect(
            parsed
                == .value(
                    .array([.bulkString(bytes("SET")), .bulkString(bytes("k")), .bulkString([0, 13, 10, 255])]),
                    consumed: out.count))
    }
}

@Suite struct RedisURLTests {
    static let good: [(String, String, Int, String?, String?, Int, Bool)] = [
        ("redis://localhost", "localhost", 6379, nil, nil, 0, false),
        ("redis://127.0.0.1:6380/2", "127.0.0.1", 6380, nil, nil, 2, false),
        ("redis://:secret@h:1", "h", 1, nil, "secret", 0, false),
        ("redis://user:p%40ss@h:7000/15", "h", 7000, "user", "p@ss", 15, false),
        ("rediss://[::1]:6379", "::1", 6379, nil, nil, 0, true),
    ]

    @Test(arguments: good)
    func readsURLs(url: String, host: String, port: Int, user: String?, password: String?, db: Int, tls: Bool) throws {
        let configuration = try RedisConfiguration(url: url)
        #expect(configuration.host == host && configuration.port == port)
        #expect(configuration.username == user && configuration.password == password)
        #expect(configuration.database == db && configuration.tls == tls)
    }

    @Test(arguments: ["http://h", "redis://", "redis://h:0", "redis://h:70000", "redis://h/x", "redis://[::1"])
    func refusesBadURLs(url: String) {
        #expect(throws: RedisURLError.self) { try RedisConfiguration(url: url) }
    }

    @Test func passwordsStayOutOfTheRedactedForm() throws {
        let configuration = try RedisConfiguration(url: "redis://user:hunter2@h:1/3")
        #expect(configuration.redactedURL == "redis://user:***@h:1/3")
        #expect(!configuration.redactedURL.contains("hunter2"))
    }
}

/// Replays the committed fuzz corpus (Tests/Fuzz/corpus/resp): each value found parses the
/// same way cut anywhere before its end.
@Suite struct RESPCorpusReplayTests {
    static var corpusDirectory: String {
        let file = #filePath
        let tests = file[..<file.range(of: "/WPSRedisTests/")!.lowerBound]
        return tests + "/Fuzz/corpus/resp"
    }

    @Test func corpusInputsParseConsistently() throws {
        let parser = RESPParser(maxBulkBytes: 256, maxElements: 64, maxDepth: 8)
        let names = try FileManager.default.contentsOfDirectory(atPath: Self.corpusDirectory)
        #expect(names.count >= 10)
        for name in names {
            let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: Self.corpusDirectory + "/" + name)))
            bytes.withUnsafeBytes { input in
                var offset = 0
                while offset < input.count {
                    let rest = UnsafeRawBufferPointer(rebasing: input[offset...])
                    guard case .value(_, let consumed) = parser.parse(rest) else { break }
                    for cut in 0..<consumed {
                        #expect(
                            parser.parse(UnsafeRawBufferPointer(rebasing: rest[0..<cut])) == .needMore,
                            "\(name): a prefix of \(cut) bytes")
                    }
                    offset += consumed
                }
            }
        }
    }
}
