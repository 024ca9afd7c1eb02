import Testing
import WPSDeflate

/// Compress → decompress over many sizes, kinds and both context modes.
@Suite struct RoundTripTests {
    static let sizes = [0, 1, 255, 256, 65_536, 1 << 20]

    @Test(arguments: sizes, Payload.allCases)
    func roundTripsTenMessages(size: Int, payload: Payload) throws {
        for noContextTakeover in [true, false] {
            let deflater = try MessageDeflater(
                windowBits: 15, noContextTakeover: noContextTakeover, level: 6, memLevel: 8)
            let inflater = try MessageInflater(windowBits: 15, noContextTakeover: noContextTakeover)
            for variant in 0..<10 as Range<UInt64> {
                let message = payload.bytes(count: size, variant: variant)
                let compressed = try #require(deflater.deflate(message))
                let (result, output) = inflater.decompress(compressed, maxOutputBytes: size)
                #expect(result == .ok, "size \(size) variant \(variant) noContextTakeover \(noContextTakeover)")
                #expect(output == message, "size \(size) variant \(variant) noContextTakeover \(noContextTakeover)")
                if payload == .compressible && size >= 256 { #expect(compressed.count < size / 2) }
                // Random data grows by a few bytes per stored block, never more.
                #expect(compressed.count <= size + 5 * (size / 16_000 + 1) + 1)
            }
        }
    }

    @Test func contextTakeoverCompressesRepeatsBetter() throws {
        let message = Payload.compressible.bytes(count: 4096, variant: 3)
        let shared = try MessageDeflater(windowBits: 15, noContextTakeover: false)
        let fresh = try MessageDeflater(windowBits: 15, noContextTakeover: true)
        _ = shared.deflate(message)
        let withContext = try #require(shared.deflate(message))
        let without = try #require(fresh.deflate(message))
        #expect(withContext.count < without.count / 4)
    }

    /// Without context takeover the output depends only on the message: one compressed
    /// broadcast serves every recipient, whatever each was sent before.
    @Test func noContextOutputIsShareable() throws {
        let deflater = try MessageDeflater(windowBits: 15, noContextTakeover: true)
        let broadcast = Payload.compressible.bytes(count: 10_000, variant: 42)
        let first = try #require(deflater.deflate(broadcast))
        for variant in 0..<5 as Range<UInt64> {
            _ = deflater.deflate(Payload.compressible.bytes(count: 3000, variant: variant))
            #expect(deflater.deflate(broadcast) == first)
        }
        // Any connection's inflater (fresh or long-lived) reads the shared bytes.
        let longLived = try MessageInflater(windowBits: 15, noContextTakeover: true)
        for _ in 0..<3 { #expect(longLived.inflate(first) == broadcast) }
    }

    /// Every window size, including 8 (compressed with 9 internally), round-trips through an
    /// inflater that has exactly the negotiated window.
    @Test(arguments: 8...15)
    func everyWindowSize(bits: Int) throws {
        for noContextTakeover in [true, false] {
            let deflater = try MessageDeflater(windowBits: bits, noContextTakeover: noContextTakeover)
            let inflater = try MessageInflater(windowBits: bits, noContextTakeover: noContextTakeover)
            for variant in 0..<10 as Range<UInt64> {
                let message = Payload.compressible.bytes(count: 20_000 + Int(variant) * 997, variant: variant)
                #expect(inflater.inflate(try #require(deflater.deflate(message))) == message, "bits \(bits)")
            }
        }
    }

    @Test(arguments: [1, 6, 9])
    func everyLevel(level: Int) throws {
        let deflater = try MessageDeflater(windowBits: 15, noContextTakeover: false, level: level, memLevel: 8)
        let inflater = try MessageInflater(windowBits: 15, noContextTakeover: false)
        for variant in 0..<10 as Range<UInt64> {
            let message = Payload.compressible.bytes(count: 30_000, variant: variant)
            #expect(inflater.inflate(try #require(deflater.deflate(message))) == message)
        }
    }

    @Test func appendsAfterExistingBytes() throws {
        let deflater = try MessageDeflater(windowBits: 15, noContextTakeover: true)
        let inflater = try MessageInflater(windowBits: 15, noContextTakeover: true)
        let message = Payload.compressible.bytes(count: 1000, variant: 9)
        var compressed: [UInt8] = [0xAA, 0xBB]
        try message.withUnsafeBytes { try deflater.compress($0, into: &compressed) }
        #expect(compressed.prefix(2) == [0xAA, 0xBB])
        var output: [UInt8] = [1, 2, 3]
        let result = compressed.dropFirst(2).withUnsafeBytes {
            inflater.decompress($0, maxOutputBytes: message.count, into: &output)
        }
        #expect(result == .ok)
        #expect(output == [1, 2, 3] + message)
    }

    /// A peer may flush more than once inside one message (RFC 7692 §7.2.3.5): two
    /// sync-flushed parts with the marker kept between them are one valid payload.
    @Test func concatenatedFlushesFormOneMessage() throws {
        let deflater = try MessageDeflater(windowBits: 15, noContextTakeover: false)
        let inflater = try MessageInflater(windowBits: 15, noContextTakeover: false)
        let first = Array("Hello, ".utf8)
        let second = Array("World".utf8)
        let payload =
            try #require(deflater.deflate(first)) + [0x00, 0x00, 0xFF, 0xFF] + (try #require(deflater.deflate(second)))
        #expect(inflater.inflate(payload) == first + second)
    }
}
