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

    /// The fuzz harness's limit sets: roomy, tiny, and a URI limit above the head limit.
    static let limitSets = [
        HTTPLimits(maxHeadBytes: 1024, maxHeaderCount: 12, maxURIBytes: 256, maxBodyBytes: 2048),
        HTTPLimits(maxHeadBytes: 48, maxHeaderCount: 2, maxURIBytes: 20, maxBodyBytes: 16),
        HTTPLimits(maxHeadBytes: 40, maxHeaderCount: 1, maxURIBytes: 64, maxBodyBytes: 0),
    ]

    @Test(arguments: corpusFiles())
    func replay(name: String) throws {
        let bytes = try #require(Self.read(Self.corpusDirectory + "/" + name))
        for limits in Self.limitSets {
            let whole = Outcome(parseWhole(bytes, limits: limits))
            if case .complete(_, let length) = whole { #expect(length <= bytes.count) }
            // Split points: every offset for small inputs, the first 512 for large ones.
            for split in 0...min(bytes.count, 512) {
                let (first, second) = parseSplit(bytes, at: split, limits: limits)
                #expect(second == whole, "split \(split)")
                if first != .needMore { #expect(first == whole, "split \(split)") }
            }
            var decoder = HTTPChunkedDecoder(limits: limits)
            var body: [UInt8] = []
            let progress = bytes.withUnsafeBytes { decoder.feed($0, into: &body) }
            if case .complete(let consumed) = progress { #expect(consumed <= bytes.count) }
            #expect(body.count <= max(limits.maxBodyBytes, 0))
        }
    }
}
