import Glibc
import Testing
import WPSTLS

/// Certificates made once per test process with the openssl CLI in a fresh temp directory.
///
/// Two unrelated CAs; `server` and `other` are leaf certificates for `localhost` and
/// `127.0.0.1`, signed by `ca` and `otherCA` respectively.
struct TLSFixture: Sendable {
    let directory: String
    var caPath: String { directory + "/ca.pem" }
    var otherCAPath: String { directory + "/other-ca.pem" }
    var serverCertPath: String { directory + "/server.pem" }
    var serverKeyPath: String { directory + "/server.key" }
    var otherCertPath: String { directory + "/other.pem" }
    var otherKeyPath: String { directory + "/other.key" }

    static let shared: TLSFixture = {
        do {
            return try TLSFixture()
        } catch {
            fatalError("cannot create TLS test certificates: \(error)")
        }
    }()

    struct ShellError: Error, CustomStringConvertible {
        let description: String
    }

    private init() throws {
        var template = Array("/tmp/wps-tls-test-XXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw ShellError(description: "mkdtemp failed")
        }
        directory = String(cString: made)
        let d = directory
        let ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
        try Self.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n", to: d + "/san.ext")
        fixtureDirectoryToRemove = d
        atexit { if let d = fixtureDirectoryToRemove { _ = system("rm -rf '\(d)'") } }
        for ca in ["ca", "other-ca"] {
            try Self.run("openssl req -x509 \(ec) -keyout \(d)/\(ca).key -out \(d)/\(ca).pem -days 2 -subj /CN=\(ca)")
        }
        for (leaf, ca) in [("server", "ca"), ("other", "other-ca")] {
            try Self.run("openssl req -new \(ec) -keyout \(d)/\(leaf).key -out \(d)/\(leaf).csr -subj /CN=localhost")
            try Self.run(
                "openssl x509 -req -in \(d)/\(leaf).csr -CA \(d)/\(ca).pem -CAkey \(d)/\(ca).key -CAcreateserial"
                    + " -out \(d)/\(leaf).pem -days 2 -extfile \(d)/san.ext"
            )
        }
    }

    /// Runs a shell command quietly and throws when it fails.
    static func run(_ command: String) throws {
        let status = system(command + " >/dev/null 2>&1")
        guard status == 0 else { throw ShellError(description: "command failed (\(status)): \(command)") }
    }

    /// Writes text to a file, replacing it.
    static func write(_ text: String, to path: String) throws {
        guard let file = fopen(path, "w") else { throw ShellError(description: "cannot write \(path)") }
        defer { fclose(file) }
        guard fputs(text, file) >= 0 else { throw ShellError(description: "cannot write \(path)") }
    }

    /// A directory of its own for a test that replaces files (reload).
    func makeScratchDirectory() throws -> String {
        var template = Array((directory + "/scratch-XXXXXX").utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw ShellError(description: "mkdtemp failed")
        }
        return String(cString: made)
    }

    func serverContext(minimumVersion: TLSVersion = .v1_2, alpn: [String] = ["http/1.1"]) throws -> TLSServerContext {
        try TLSServerContext(
            TLSConfiguration(
                certificateChainPath: serverCertPath, privateKeyPath: serverKeyPath,
                minimumVersion: minimumVersion, alpn: alpn
            )
        )
    }

    func clientContext(
        caFile: String? = nil, insecure: Bool = false, alpn: [String] = ["http/1.1"],
        minimumVersion: TLSVersion = .v1_2, maximumVersion: TLSVersion = .v1_3
    ) throws -> TLSClientContext {
        try TLSClientContext(
            caFile: caFile ?? caPath, insecure: insecure, alpn: alpn,
            minimumVersion: minimumVersion, maximumVersion: maximumVersion
        )
    }
}

/// The fixture's temp directory, removed when the test process exits.
nonisolated(unsafe) private var fixtureDirectoryToRemove: String?

/// One side of an in-memory connection: the session plus everything it decrypted and its last result.
final class Endpoint {
    let session: TLSSession
    var plaintext: [UInt8] = []
    var results: [TLSReadResult] = []
    /// Split ciphertext into chunks of these sizes, cycling (empty means whole).
    var chunkSizes: [Int] = []
    private var chunkIndex = 0

    init(_ session: TLSSession) { self.session = session }

    /// Feeds `bytes` in chunks and collects plaintext and results.
    func feed(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            var size = bytes.count - offset
            if !chunkSizes.isEmpty {
                size = min(size, chunkSizes[chunkIndex % chunkSizes.count])
                chunkIndex += 1
            }
            let result = bytes.withUnsafeBytes { raw in
                session.receive(UnsafeRawBufferPointer(rebasing: raw[offset..<offset + size])) { plain in
                    self.plaintext.append(contentsOf: plain)
                }
            }
            results.append(result)
            offset += size
        }
    }

    func takeOutput() -> [UInt8] {
        var bytes: [UInt8] = []
        session.takeOutput { bytes.append(contentsOf: $0) }
        return bytes
    }

    func send(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try session.send($0) }
    }

    var failures: [TLSError] {
        results.compactMap { if case .failed(let error) = $0 { error } else { nil } }
    }
}

/// Moves output between the two endpoints until neither has any left.
func pump(_ a: Endpoint, _ b: Endpoint, maxRounds: Int = 10_000) {
    for _ in 0..<maxRounds {
        let fromA = a.takeOutput()
        if !fromA.isEmpty { b.feed(fromA) }
        let fromB = b.takeOutput()
        if !fromB.isEmpty { a.feed(fromB) }
        if fromA.isEmpty && fromB.isEmpty { return }
    }
}

/// A client and a server session, connected in memory and handshaken.
func connectedPair(
    server: TLSServerContext, client: TLSClientContext, serverName: String = "localhost"
) -> (client: Endpoint, server: Endpoint) {
    let c = Endpoint(client.makeSession(serverName: serverName))
    let s = Endpoint(server.makeSession())
    c.session.startHandshake()
    pump(c, s)
    return (c, s)
}

/// Deterministic pseudo-random bytes (xorshift) so failures reproduce.
func patternBytes(count: Int, seed: UInt64) -> [UInt8] {
    var state = seed | 1
    return (0..<count).map { _ in
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return UInt8(truncatingIfNeeded: state)
    }
}
