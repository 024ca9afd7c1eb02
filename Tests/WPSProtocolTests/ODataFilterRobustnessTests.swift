import Testing
import WPSProtocol

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Arbitrary text never traps the compiler or the evaluator; the committed fuzz corpus
/// (Tests/Fuzz/corpus/filter) is replayed here in the normal build.
@Suite struct ODataFilterRobustnessTests {
    /// Token-alphabet pieces random filters are built from: valid tokens, near misses and junk.
    static let alphabet: [String] = [
        "userId", "connectionId", "groups", "UserID", "eq", "ne", "gt", "ge", "lt", "le", "and", "or",
        "not", "in", "true", "false", "null", "tolower", "toupper", "trim", "substring", "endswith",
        "startswith", "contains", "concat", "indexof", "length", "(", ")", "(", ")", ",", "'", "''",
        "'g1'", "'user1'", "'O''Brien'", "'é😀'", "0", "-1", "+7", "9223372036854775807",
        "99999999999999999999", " ", " ", " ", "\t", "\n", "$", "é", "=", "x", "_",
    ]

    /// SplitMix64: a seeded generator so failures reproduce.
    struct Generator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    static let subjects: [FilterSubject] = [.user1, .anonymous, .quoted, .accented]

    /// Compiles `text`; on success evaluates it on every subject, on failure checks the position.
    static func exercise(_ text: String) -> Bool {
        do {
            let filter = try ODataFilter(text)
            for subject in subjects { _ = filter.matches(subject) }
            #expect(filter.clauseCount <= ODataFilter.maxClauses)
            return true
        } catch {
            #expect(error.position >= 0 && error.position <= text.unicodeScalars.count, "\(text)")
            #expect(!error.message.isEmpty)
            return false
        }
    }

    @Test func randomTokenStringsNeverCrash() {
        var generator = Generator(state: 0x0DA7_A5EE_D000_0001)
        var compiled = 0
        for _ in 0..<3000 {
            let count = Int.random(in: 1...24, using: &generator)
            var text = ""
            for index in 0..<count {
                if index > 0 && Bool.random(using: &generator) { text += " " }
                text += Self.alphabet.randomElement(using: &generator)!
            }
            if Self.exercise(text) { compiled += 1 }
        }
        // Mostly rejections, but the generator does reach valid filters.
        #expect(compiled > 0)
    }

    @Test func largestFiltersCompileAndEvaluate() throws {
        // A 4 KiB `in` list (one clause) and a 100-clause chain: both linear work.
        var list = "userId in ('x'"
        while list.utf8.count < ODataFilter.maxLengthBytes - 15 { list += ", 'y'" }
        list += ", 'user1')"
        #expect(try ODataFilter(list).matches(FilterSubject.user1))
        let chain = (0..<33).map { _ in "contains(concat(userId, userId), 'r1u')" }.joined(separator: " and ")
        #expect(try ODataFilter(chain).matches(FilterSubject.user1))
        // 32 nested concats of userId with itself stay a tree: 33 leaves, linear size.
        var nested = "userId"
        for _ in 0..<31 { nested = "concat(\(nested), 'a')" }
        #expect(try ODataFilter("length(\(nested)) eq 36").matches(FilterSubject.user1))
    }

    // MARK: Corpus replay

    static let corpusDirectory: String = {
        // #filePath is …/Tests/WPSProtocolTests/ODataFilterRobustnessTests.swift.
        var components = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
        components.removeLast(2)
        return components.joined(separator: "/") + "/Fuzz/corpus/filter"
    }()

    static func corpusFiles() -> [String] {
        guard let directory = opendir(corpusDirectory) else { return [] }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if !name.hasPrefix(".") { names.append(name) }
        }
        return names.sorted()
    }

    static func read(_ path: String) -> [UInt8]? {
        guard let file = fopen(path, "rb") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = fread(&chunk, 1, chunk.count, file)
            if count <= 0 { break }
            bytes += chunk[0..<count]
        }
        return bytes
    }

    @Test func corpusIsPresent() {
        #expect(Self.corpusFiles().count >= 10)
    }

    @Test(arguments: corpusFiles())
    func replay(name: String) throws {
        let bytes = try #require(Self.read(Self.corpusDirectory + "/" + name))
        let text = String(decoding: bytes, as: UTF8.self)
        let compiled = Self.exercise(text)
        // The same text compiles the same way twice, and `not (…)` negates it where it compiles.
        #expect(Self.exercise(text) == compiled)
        if compiled, let filter = try? ODataFilter(text), let negated = try? ODataFilter("not (\(text))") {
            for subject in Self.subjects { #expect(negated.matches(subject) == !filter.matches(subject)) }
        }
    }
}
