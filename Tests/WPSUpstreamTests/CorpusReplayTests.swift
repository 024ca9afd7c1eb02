import Glibc
import Testing
import WPSHTTP
import WPSUpstream

/// Replays the committed fuzz corpus (Tests/Fuzz/corpus/upstream) through what reads handler
/// answers and templates, so inputs the fuzzer found stay covered in the normal build.
@Suite struct CorpusReplayTests {
    static let directory: String = {
        var components = String(#filePath).split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        components.removeLast(2)
        return components.joined(separator: "/") + "/Fuzz/corpus/upstream"
    }()

    static func files() -> [String] {
        guard let handle = opendir(directory) else { return [] }
        defer { closedir(handle) }
        var names: [String] = []
        while let entry = readdir(handle) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) {
                String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
            }
            if !name.hasPrefix(".") { names.append(name) }
        }
        return names.sorted()
    }

    static func read(_ name: String) -> [UInt8] {
        guard let file = fopen(directory + "/" + name, "rb") else { return [] }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = fread(&chunk, 1, chunk.count, file)
            bytes += chunk[0..<count]
            if count < chunk.count { break }
        }
        return bytes
    }

    @Test func corpusIsThere() {
        #expect(Self.files().count >= 8)
    }

    @Test(arguments: files())
    func replays(_ name: String) {
        let bytes = Self.read(name)
        bytes.withUnsafeBytes { input in
            var parser = HTTPResponseHeadParser()
            if case .complete(_, let length) = parser.parse(input) { #expect(length <= input.count) }
            var decoder = HTTPChunkedDecoder(maxBodyBytes: 256)
            var body: [UInt8] = []
            _ = decoder.feed(input, into: &body)
            #expect(body.count <= 256)
            _ = try? ConnectEvent.parseAnswer(input)
        }
        if let template = try? URLTemplate(String(decoding: bytes, as: UTF8.self)) {
            #expect(template.target(hub: "a b", event: "c/d").hasPrefix("/"))
        }
    }
}
