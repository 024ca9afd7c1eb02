import WPSDeflate

/// SplitMix64: a tiny deterministic generator so random tests replay exactly.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Kinds of payload for round trips.
enum Payload: String, CaseIterable, Sendable, CustomStringConvertible {
    case random
    case compressible

    var description: String { rawValue }

    /// `count` bytes of this kind; `variant` changes the content between messages.
    func bytes(count: Int, variant: UInt64) -> [UInt8] {
        var generator = SeededGenerator(seed: 0xDEF1A7E ^ variant &* 7919 ^ UInt64(count))
        switch self {
        case .random:
            // Eight bytes per draw: byte-by-byte generation is slow in debug builds.
            let words = (0..<(count + 7) / 8).map { _ in generator.next() }
            return words.withUnsafeBytes { Array($0.prefix(count)) }
        case .compressible:
            let words = ["group", "message", "hello", "\"data\":", "{\"type\":\"sendToGroup\",", "json", "ack", " "]
            var bytes: [UInt8] = []
            bytes.reserveCapacity(count + 32)
            while bytes.count < count {
                bytes += Array(words[Int.random(in: 0..<words.count, using: &generator)].utf8)
                if Int.random(in: 0..<10, using: &generator) == 0 { bytes.append(UInt8(truncatingIfNeeded: variant)) }
            }
            return Array(bytes.prefix(count))
        }
    }
}

/// Hex helpers for readable RFC vectors.
extension Array where Element == UInt8 {
    init(hex: String) {
        let digits = hex.split(separator: " ")
        self = digits.map { UInt8($0, radix: 16)! }
    }

    var hex: String {
        map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined(separator: " ")
    }
}

extension MessageInflater {
    /// Decompresses under a generous cap and returns the bytes, or nil unless `.ok`.
    func inflate(_ compressed: [UInt8], cap: Int = 1 << 24) -> [UInt8]? {
        let (result, output) = decompress(compressed, maxOutputBytes: cap)
        return result == .ok ? output : nil
    }
}

extension MessageDeflater {
    /// Compresses and fails the test with a nil on error.
    func deflate(_ message: [UInt8]) -> [UInt8]? {
        try? compress(message)
    }
}
