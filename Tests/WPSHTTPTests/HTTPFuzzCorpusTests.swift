import Testing
import WPSHTTP

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Replays the committed fuzz corpus (Tests/Fuzz/corpus/http) through the parsers.
@Suite struct HTTPFuzzCorpusTests {
    static let corpusDirectory: String = {
        // #filePath is …/Tests/WPSHTTPTests/HTTPFuzzCorpusTests.swift.
        var components = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
        components.removeLast(2)
        return components.joined(separator: "/") + "/Fuzz/corpus/http"
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
        let limits = HTTPLimits(maxHeadBytes: 4096, maxHeaderCount: 32, maxURIBytes: 1024, maxBodyBytes: 4096)
        let whole = Outcome(parseWhole(bytes, limits: limits))
        if case .complete(_, let length) = whole { #expect(length <= bytes.count) }
        // Split points: every offset for small inputs, a bounded spread for large ones.
        let bound = min(bytes.count, 512)
        for split in 0...bound {
            let (first, second) = parseSplit(bytes, at: split, limits: limits)
            #expect(second == whole, "split \(split)")
            if first != .needMore { #expect(first == whole, "split \(split)") }
        }
        var decoder = HTTPChunkedDecoder(limits: limits)
        var body: [UInt8] = []
        let progress = bytes.withUnsafeBytes { decoder.feed($0, into: &body) }
        if case .complete(let consumed) = progress { #expect(consumed <= bytes.count) }
        #expect(body.count <= limits.maxBodyBytes)
    }
}
