import Testing
import WPSDeflate

/// RFC 7692 §7.2.3 worked examples, decompressed, and compressed where zlib is deterministic.
@Suite struct RFCExampleTests {
    static let hello = Array("Hello".utf8)

    /// Payloads that each decompress to "Hello" on a fresh stream.
    static let helloPayloads: [(section: String, hex: String)] = [
        ("7.2.3.1 compressed", "f2 48 cd c9 c9 07 00"),
        ("7.2.3.3 no compression", "00 05 00 fa ff 48 65 6c 6c 6f 00"),
        ("7.2.3.4 BFINAL set", "f3 48 cd c9 c9 07 00 00"),
        ("7.2.3.4 BFINAL set, trailing empty block omitted", "f3 48 cd c9 c9 07 00"),
        ("7.2.3.5 two DEFLATE blocks", "f2 48 05 00 00 00 ff ff ca c9 c9 07 00"),
    ]

    @Test(arguments: helloPayloads)
    func decompressesToHello(section: String, hex: String) throws {
        for noContextTakeover in [true, false] {
            let inflater = try MessageInflater(windowBits: 15, noContextTakeover: noContextTakeover)
            #expect(inflater.inflate([UInt8](hex: hex)) == Self.hello, "\(section)")
            // The stream is usable for a second message either way.
            #expect(inflater.inflate([UInt8](hex: "f2 48 cd c9 c9 07 00")) == Self.hello, "\(section)")
        }
    }

    @Test func compressesHelloAsTheRFCShows() throws {
        let deflater = try MessageDeflater(windowBits: 15, noContextTakeover: true, level: 6, memLevel: 8)
        // §7.2.3.1, twice: without context takeover every message compresses identically.
        #expect(deflater.deflate(Self.hello)?.hex == "f2 48 cd c9 c9 07 00")
        #expect(deflater.deflate(Self.hello)?.hex == "f2 48 cd c9 c9 07 00")
    }

    @Test func sharesTheWindowWithContextTakeover() throws {
        // §7.2.3.2: the second "Hello" is a back-reference into the first message.
        let deflater = try MessageDeflater(windowBits: 15, noContextTakeover: false, level: 6, memLevel: 8)
        #expect(deflater.deflate(Self.hello)?.hex == "f2 48 cd c9 c9 07 00")
        #expect(deflater.deflate(Self.hello)?.hex == "f2 00 11 00 00")

        let inflater = try MessageInflater(windowBits: 15, noContextTakeover: false)
        #expect(inflater.inflate([UInt8](hex: "f2 48 cd c9 c9 07 00")) == Self.hello)
        #expect(inflater.inflate([UInt8](hex: "f2 00 11 00 00")) == Self.hello)
    }

    @Test func backReferenceWithoutContextIsCorrupt() throws {
        let inflater = try MessageInflater(windowBits: 15, noContextTakeover: true)
        #expect(inflater.inflate([UInt8](hex: "f2 48 cd c9 c9 07 00")) == Self.hello)
        #expect(inflater.decompress([UInt8](hex: "f2 00 11 00 00"), maxOutputBytes: 100).0 == .corrupt)
        // Reset after the failure: a shared inflater keeps serving other connections.
        #expect(inflater.inflate([UInt8](hex: "f2 48 cd c9 c9 07 00")) == Self.hello)
    }

    @Test func keepsTheWindowAcrossAFinalBlock() throws {
        // A peer that flushes with BFINAL (§7.2.3.4) may still refer to that message later.
        let inflater = try MessageInflater(windowBits: 15, noContextTakeover: false)
        #expect(inflater.inflate([UInt8](hex: "f3 48 cd c9 c9 07 00 00")) == Self.hello)
        #expect(inflater.inflate([UInt8](hex: "f2 00 11 00 00")) == Self.hello)
    }

    @Test(arguments: [true, false])
    func emptyMessages(noContextTakeover: Bool) throws {
        let deflater = try MessageDeflater(windowBits: 15, noContextTakeover: noContextTakeover)
        let inflater = try MessageInflater(windowBits: 15, noContextTakeover: noContextTakeover)
        for message in [[], Self.hello, [], [], Self.hello] as [[UInt8]] {
            let compressed = try #require(deflater.deflate(message))
            if message.isEmpty { #expect(compressed == [0x00]) }
            #expect(inflater.inflate(compressed) == message)
        }
        // An empty payload (some peers send it for an empty message) is an empty message.
        #expect(inflater.inflate([]) == [])
    }

    @Test func streamsAreAllocatedLazily() throws {
        let deflater = try MessageDeflater(windowBits: 15, noContextTakeover: true, level: 6, memLevel: 8)
        let inflater = try MessageInflater(windowBits: 15, noContextTakeover: true)
        #expect(!deflater.isAllocated && deflater.allocatedBytes == 0)
        #expect(!inflater.isAllocated && inflater.allocatedBytes == 0)
        _ = deflater.deflate([])
        _ = inflater.inflate([0x00])
        #expect(!deflater.isAllocated)  // the empty message needs no zlib
        let compressed = try #require(deflater.deflate(Self.hello))
        #expect(inflater.inflate(compressed) == Self.hello)
        #expect(deflater.isAllocated && deflater.allocatedBytes > 256 * 1024)
        #expect(inflater.isAllocated && inflater.allocatedBytes > 32 * 1024)
        deflater.releaseMemory()
        #expect(inflater.releaseMemory())
        #expect(deflater.allocatedBytes == 0 && inflater.allocatedBytes == 0)
        // Released streams come back on demand.
        #expect(deflater.deflate(Self.hello)?.hex == "f2 48 cd c9 c9 07 00")
        #expect(inflater.inflate([UInt8](hex: "f2 48 cd c9 c9 07 00")) == Self.hello)
    }

    @Test func contextInflaterKeepsItsWindowOnRelease() throws {
        let inflater = try MessageInflater(windowBits: 15, noContextTakeover: false)
        #expect(inflater.inflate([UInt8](hex: "f2 48 cd c9 c9 07 00")) == Self.hello)
        #expect(!inflater.releaseMemory())
        #expect(inflater.inflate([UInt8](hex: "f2 00 11 00 00")) == Self.hello)
    }

    /// zlib memory per stream, measured through the counting allocator.
    @Test(arguments: [(15, 8), (15, 9), (12, 8), (9, 8), (8, 8), (10, 1)])
    func memoryPerStream(windowBits: Int, memLevel: Int) throws {
        let configuration = DeflateConfiguration(memLevel: memLevel)
        let deflater = try MessageDeflater(
            windowBits: windowBits, noContextTakeover: true, level: 6, memLevel: memLevel)
        let inflater = try MessageInflater(windowBits: windowBits, noContextTakeover: true)
        let message = Payload.random.bytes(count: 70_000, variant: 1)
        let compressed = try #require(deflater.deflate(message))
        #expect(inflater.inflate(compressed) == message)
        let deflateEstimate = configuration.deflateStreamBytes(windowBits: windowBits)
        let inflateEstimate = DeflateConfiguration.inflateStreamBytes(windowBits: windowBits)
        print(
            "zlib bytes window=\(windowBits) memLevel=\(memLevel): deflate \(deflater.allocatedBytes) (estimate \(deflateEstimate)), inflate \(inflater.allocatedBytes) (estimate \(inflateEstimate))"
        )
        #expect(abs(deflater.allocatedBytes - deflateEstimate) <= deflateEstimate / 10)
        #expect(abs(inflater.allocatedBytes - inflateEstimate) <= inflateEstimate / 10)
    }

    @Test(arguments: [7, 16, 0, -1])
    func rejectsBadWindows(windowBits: Int) {
        #expect(throws: DeflateError.invalidParameters) {
            try MessageDeflater(windowBits: windowBits, noContextTakeover: true)
        }
        #expect(throws: DeflateError.invalidParameters) {
            try MessageInflater(windowBits: windowBits, noContextTakeover: true)
        }
    }
}
