import Testing
import WPSDeflate

/// The output cap, corrupt input and random input: never a crash, never an unbounded buffer.
@Suite struct InflateLimitTests {
    static let mebibyte = 1 << 20

    @Test func bombStopsAtTheCap() throws {
        let deflater = try MessageDeflater(windowBits: 15, noContextTakeover: true, level: 9, memLevel: 9)
        let bomb = try #require(deflater.deflate([UInt8](repeating: 0, count: 2 * Self.mebibyte)))
        #expect(bomb.count < 2200)
        let inflater = try MessageInflater(windowBits: 15, noContextTakeover: true)
        var output: [UInt8] = []
        output.reserveCapacity(Self.mebibyte + MessageInflater.outputChunkBytes)
        let capacity = output.capacity
        let result = bomb.withUnsafeBytes { inflater.decompress($0, maxOutputBytes: Self.mebibyte, into: &output) }
        #expect(result == .tooBig)
        #expect(output.isEmpty)
        // The buffer never grew past cap + one chunk, or it would have been reallocated.
        #expect(output.capacity == capacity)
    }

    @Test func hugeBombIsCheap() throws {
        // ~100 KiB that would inflate to 100 MiB: stops after the first MiB.
        let deflater = try MessageDeflater(windowBits: 15, noContextTakeover: true, level: 9, memLevel: 9)
        let chunk = [UInt8](repeating: 0x61, count: 4 * Self.mebibyte)
        var bomb: [UInt8] = []
        for _ in 0..<25 { bomb += try #require(deflater.deflate(chunk)) + [0, 0, 0xFF, 0xFF] }
        let inflater = try MessageInflater(windowBits: 15, noContextTakeover: true)
        let clock = ContinuousClock()
        let start = clock.now
        let (result, output) = inflater.decompress(bomb, maxOutputBytes: Self.mebibyte)
        #expect(result == .tooBig)
        #expect(output.isEmpty)
        #expect(clock.now - start < .seconds(2))
    }

    /// The cap at N-1, N and N+1 for a message of N bytes.
    @Test(arguments: [
        (1000, 999, InflateResult.tooBig), (1000, 1000, .ok), (1000, 1001, .ok),
        (1, 0, .tooBig), (1, 1, .ok), (0, 0, .ok), (40_000, 39_999, .tooBig), (40_000, 40_000, .ok),
    ])
    func capEdges(size: Int, cap: Int, expected: InflateResult) throws {
        let message = Payload.compressible.bytes(count: size, variant: 5)
        let compressed = try #require(try MessageDeflater(windowBits: 15, noContextTakeover: true).deflate(message))
        let (result, output) = try MessageInflater(windowBits: 15, noContextTakeover: true)
            .decompress(compressed, maxOutputBytes: cap)
        #expect(result == expected)
        #expect(output == (expected == .ok ? message : []))
    }

    static let corrupt: [(name: String, hex: String)] = [
        ("reserved block type 11", "07"),
        ("reserved block type, not final", "06 00"),
        ("stored block length mismatch", "00 05 00 00 00 48 65 6c 6c 6f"),
        ("stored block cut short", "00 05 00 fa ff 48 65"),
        ("fixed block cut inside", "f2 48 cd"),
        ("distance beyond the window", "f2 00 11 00 00"),
        ("invalid code lengths", "04 00 fe ff"),
        ("all ones", "ff ff ff ff ff ff ff ff"),
        ("dynamic block with bad header", "ec bd 07 60 1c 49 96 25 26 2f"),
    ]

    @Test(arguments: corrupt)
    func corruptInput(name: String, hex: String) throws {
        for noContextTakeover in [true, false] {
            let inflater = try MessageInflater(windowBits: 15, noContextTakeover: noContextTakeover)
            let (result, output) = inflater.decompress([UInt8](hex: hex), maxOutputBytes: 1 << 16)
            #expect(result == .corrupt, "\(name)")
            #expect(output.isEmpty, "\(name)")
            // After a failure the inflater is reset and reads a fresh valid message.
            #expect(inflater.inflate([UInt8](hex: "f2 48 cd c9 c9 07 00")) == Array("Hello".utf8), "\(name)")
        }
    }

    /// 2000 seeded inputs: random bytes and damaged valid messages. Every result is one of the
    /// defined values, output respects the cap, and a valid message still reads back after.
    @Test(arguments: [true, false])
    func randomInputsNeverCrash(noContextTakeover: Bool) throws {
        var generator = SeededGenerator(seed: noContextTakeover ? 7692 : 6455)
        let deflater = try MessageDeflater(windowBits: 15, noContextTakeover: true)
        let valid = try (0..<8 as Range<UInt64>).map { variant in
            try #require(deflater.deflate(Payload.compressible.bytes(count: 3000, variant: variant)))
        }
        let shared = try MessageInflater(windowBits: 15, noContextTakeover: true)
        var counts: [InflateResult: Int] = [:]
        for round in 0..<1000 {
            var input: [UInt8]
            switch round % 4 {
            case 0:
                input = (0..<Int.random(in: 0..<64, using: &generator)).map { _ in
                    UInt8.random(in: 0...255, using: &generator)
                }
            case 1:
                input = valid[round % valid.count]
                for _ in 0..<Int.random(in: 1...4, using: &generator) {
                    let index = Int.random(in: 0..<input.count, using: &generator)
                    input[index] ^= UInt8(1) << UInt8.random(in: 0...7, using: &generator)
                }
            case 2:
                input = Array(valid[round % valid.count].prefix(Int.random(in: 0..<valid[0].count, using: &generator)))
            default:
                input = valid[round % valid.count]
                let index = Int.random(in: 0..<input.count, using: &generator)
                input.insert(contentsOf: (0..<8).map { _ in UInt8.random(in: 0...255, using: &generator) }, at: index)
            }
            let cap = Int.random(in: 0...4096, using: &generator)
            let inflater = noContextTakeover ? shared : try MessageInflater(windowBits: 15, noContextTakeover: false)
            let (result, output) = inflater.decompress(input, maxOutputBytes: cap)
            counts[result, default: 0] += 1
            #expect(result != .failed)
            #expect(output.count <= cap)
            if result != .ok { #expect(output.isEmpty) }
            if round % 50 == 0 { #expect(shared.inflate(valid[0]) != nil) }
        }
        print("random inflate results (noContextTakeover \(noContextTakeover)): \(counts)")
        #expect(counts[.corrupt, default: 0] > 100)
    }
}
