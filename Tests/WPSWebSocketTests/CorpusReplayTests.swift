import Testing
import WPSWebSocket

#if canImport(Glibc)
    import WPSBytes
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Replays the committed fuzz corpus (Tests/Fuzz/corpus/frame) through the reader.
@Suite struct CorpusReplayTests {
    static var corpusDirectory: String {
        let file = "\(#filePath)"
        let testsDirectory = file.split(separator: "/", omittingEmptySubsequences: false).dropLast(2)
            .joined(separator: "/")
        return testsDirectory + "/Fuzz/corpus/frame"
    }

    static func corpusFiles() -> [(name: String, bytes: [UInt8])] {
        guard let directory = opendir(corpusDirectory) else { return [] }
        defer { closedir(directory) }
        var files: [(String, [UInt8])] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard !name.hasPrefix(".") else { continue }
            guard let handle = fopen(corpusDirectory + "/" + name, "rb") else { continue }
            var bytes: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 4096)
            while true {
                let count = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, 4096, handle) }
                if count <= 0 { break }
                bytes += chunk[..<count]
            }
            fclose(handle)
            files.append((name, bytes))
        }
        return files.sorted { $0.0 < $1.0 }
    }

    @Test func corpusIsPresent() {
        #expect(Self.corpusFiles().count >= 10)
    }

    @Test func replayWithoutCrash() {
        for (name, bytes) in Self.corpusFiles() {
            for role in [WebSocketRole.server, .client] {
                for allowCompressed in [false, true] {
                    let whole = read(bytes, role: role, maxMessageBytes: 256, allowCompressed: allowCompressed)
                    let halves = read(
                        bytes, role: role, maxMessageBytes: 256, allowCompressed: allowCompressed,
                        cuts: [bytes.count / 2])
                    #expect(whole == halves, "\(name)")
                }
            }
            var validator = UTF8Validator()
            _ = bytes.withUnsafeBytes { validator.validate($0) }
        }
    }
}
