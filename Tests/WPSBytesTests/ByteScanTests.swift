import Testing
import WPSBytes

/// The scans agree with a plain byte loop at every length, start and position,
/// including bytes that differ from the target only in the high bit.
@Suite struct ByteScanTests {
    static func naiveSpecial(_ bytes: [UInt8], _ first: UInt8, _ second: UInt8, from start: Int) -> Int? {
        bytes.indices.first {
            $0 >= start && [first, second, 0].contains(bytes[$0]) || $0 >= start && bytes[$0] >= 0x80
        }
    }

    @Test func firstIndexAgreesWithAPlainLoop() {
        // Past 64 bytes too, where the search steps over whole vectors.
        for length in Array(0..<40) + [63, 64, 65, 95, 127, 128, 129, 200] {
            for position in -1..<length {
                var bytes = (0..<length).map { UInt8(truncatingIfNeeded: 0x61 + $0 % 20) }
                if position >= 0 { bytes[position] = UInt8(ascii: "&") }
                // Neighbours that share every bit of "&" but the high one must not match.
                if position + 1 < length, position >= 0 { bytes[position + 1] = UInt8(ascii: "&") | 0x80 }
                for start in 0...length {
                    let expected = bytes.indices.first { $0 >= start && bytes[$0] == UInt8(ascii: "&") }
                    let found = bytes.withUnsafeBytes {
                        ByteScan.firstIndex(of: UInt8(ascii: "&"), in: $0, from: start)
                    }
                    #expect(found == expected, "length \(length) position \(position) start \(start)")
                }
            }
        }
    }

    @Test(arguments: [UInt8(ascii: "%"), UInt8(ascii: "+"), 0, 0x80, 0xFF, 0x7F])
    func firstSpecialAgreesWithAPlainLoop(special: UInt8) {
        for length in 0..<40 {
            for position in -1..<length {
                var bytes = (0..<length).map { UInt8(truncatingIfNeeded: 0x41 + $0 % 26) }
                if position >= 0 { bytes[position] = special }
                for start in [0, 1, 7, 8, 9] where start <= length {
                    let expected = Self.naiveSpecial(bytes, UInt8(ascii: "%"), UInt8(ascii: "+"), from: start)
                    let found = bytes.withUnsafeBytes {
                        ByteScan.firstSpecial(UInt8(ascii: "%"), UInt8(ascii: "+"), in: $0, from: start)
                    }
                    #expect(found == expected, "length \(length) position \(position) start \(start)")
                }
            }
        }
    }

    /// Plants `odd` at every position of every length below 40 in a run of `filler` bytes
    /// that never stop, puts a stopping byte just past `end` (it must never count), and
    /// compares `scan` with a plain loop over `stops` from several starts.
    static func agreesWithAPlainLoop(
        filler: (Int) -> UInt8, odd: UInt8, past: UInt8,
        stops: (UInt8) -> Bool, scan: (UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> Int?
    ) {
        for length in 0..<40 {
            for position in -1..<length {
                var bytes = (0..<length).map(filler)
                if position >= 0 { bytes[position] = odd }
                bytes.append(past)
                for start in [0, 1, 7, 8, 9] where start <= length {
                    let expected = bytes[..<length].indices.first { $0 >= start && stops(bytes[$0]) }
                    let found = bytes.withUnsafeBytes { scan($0, start, length) }
                    #expect(found == expected, "length \(length) position \(position) start \(start)")
                }
            }
        }
    }

    /// 0x20 and 0x7F are the edges, "#" the excluded byte.
    @Test(arguments: [UInt8(0x20), 0x21, 0x7E, 0x7F, 0x80, 0xFF, 0x00, 0x09, UInt8(ascii: "#"), UInt8(ascii: "a")])
    func firstNotVisibleAgreesWithAPlainLoop(odd: UInt8) {
        Self.agreesWithAPlainLoop(
            filler: { UInt8(truncatingIfNeeded: 0x24 + $0 % 90) }, odd: odd, past: 0x00,
            stops: { $0 <= 0x20 || $0 >= 0x7F || $0 == UInt8(ascii: "#") },
            scan: { ByteScan.firstNotVisible(except: UInt8(ascii: "#"), in: $0, from: $1, to: $2) })
    }

    @Test(arguments: [UInt8(0x1F), 0x20, 0x09, 0x00, 0x7F, 0x7E, 0x80, 0xFF])
    func firstControlAgreesWithAPlainLoop(odd: UInt8) {
        Self.agreesWithAPlainLoop(
            filler: { UInt8(truncatingIfNeeded: 0x20 + $0 % 95) }, odd: odd, past: 0x00,
            stops: { $0 < 0x20 || $0 == 0x7F },
            scan: { ByteScan.firstControl(in: $0, from: $1, to: $2) })
    }

    @Test(arguments: [UInt8(ascii: "\""), UInt8(ascii: "\\"), 0x1F, 0x00, 0x80, 0xFF, 0x20, 0x7F, 0x21, 0x5B])
    func firstStringBreakAgreesWithAPlainLoop(odd: UInt8) {
        Self.agreesWithAPlainLoop(
            filler: { UInt8(truncatingIfNeeded: 0x23 + $0 % 57) }, odd: odd, past: 0x22,
            stops: { $0 < 0x20 || $0 >= 0x80 || $0 == 0x22 || $0 == 0x5C },
            scan: { ByteScan.firstStringBreak(in: $0, from: $1, to: $2) })
    }

    /// Every length up to three words, with one byte changed at every position: a prefix
    /// holds exactly when the plain comparison says so.
    @Test func prefixAndEqualityAgreeWithThePlainComparison() {
        let text: [UInt8] = (0..<30).map { UInt8(truncatingIfNeeded: 0x41 + $0) }
        text.withUnsafeBytes { whole in
            for length in 0...24 {
                for changed in -1..<length {
                    var prefix = Array(text[0..<length])
                    if changed >= 0 { prefix[changed] ^= 0x20 }
                    prefix.withUnsafeBytes { candidate in
                        #expect(ByteScan.hasPrefix(whole, candidate) == text.starts(with: prefix))
                        let same = UnsafeRawBufferPointer(rebasing: whole[0..<length])
                        #expect(ByteScan.equal(same, candidate) == (changed < 0))
                        #expect(!ByteScan.equal(whole, candidate))
                        #expect(ByteScan.hasPrefix(candidate, whole) == false)
                    }
                }
            }
        }
    }

    static func naiveEqualIgnoringCase(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        func lower(_ byte: UInt8) -> UInt8 { (0x41...0x5A).contains(byte) ? byte + 32 : byte }
        return a.count == b.count && zip(a, b).allSatisfy { lower($0) == lower($1) }
    }

    /// Every pair of byte values, in a whole word and in the tail, among equal letters and
    /// digits: only an ASCII letter against its other case compares equal.
    @Test func caseInsensitiveEqualityForEveryBytePair() {
        let filler = Array("Sec-WebSocket-Key1".utf8)
        for position in [3, 16] {
            for a in 0...255 {
                for b in 0...255 {
                    var left = filler
                    var right = filler
                    left[position] = UInt8(a)
                    right[position] = UInt8(b)
                    let found = left.withUnsafeBytes { l in
                        right.withUnsafeBytes { ByteScan.equalIgnoringASCIICase(l, $0) }
                    }
                    if found != Self.naiveEqualIgnoringCase(left, right) {
                        Issue.record("bytes \(a) and \(b) at \(position): \(found)")
                    }
                }
            }
        }
    }

    /// Several bytes differing at once, across word boundaries and lengths.
    @Test func caseInsensitiveEqualityAcrossWords() {
        let base = Array("upgrade-WebSocket_Protocol.v1 json{}[]@`~".utf8)
        for length in 0...base.count {
            let left = Array(base[0..<length])
            for flips in [[], [0], [0, 9], [7, 8], [1, 15, 16, 30], Array(0..<length)] {
                for mask: UInt8 in [0x20, 0x01, 0x80, 0x60] {
                    var right = left
                    for index in flips where index < length { right[index] ^= mask }
                    let found = left.withUnsafeBytes { l in
                        right.withUnsafeBytes { ByteScan.equalIgnoringASCIICase(l, $0) }
                    }
                    #expect(
                        found == Self.naiveEqualIgnoringCase(left, right),
                        "length \(length) flips \(flips) mask \(mask)")
                }
            }
            let shorter = Array(left.dropLast())
            if length > 0 {
                #expect(
                    !left.withUnsafeBytes { l in shorter.withUnsafeBytes { ByteScan.equalIgnoringASCIICase(l, $0) } })
            }
        }
    }

    /// Arrays filled in place hold exactly the bytes written, on the stack's side of the limit
    /// and past it; giving up yields nil.
    @Test func byteArraysFilledInPlace() {
        for capacity in [0, 1, 7, 190, 4095, 4096, 4097, 10_000] {
            for written in Set([0, capacity / 2, capacity]) {
                let made = ByteArray.make(capacity: capacity) { buffer in
                    #expect(buffer.count == capacity)
                    for index in 0..<written { buffer[index] = UInt8(truncatingIfNeeded: index &* 31 &+ 5) }
                    return written
                }
                #expect(
                    made == (0..<written).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 5) }, "\(capacity) \(written)")
            }
            #expect(ByteArray.make(capacity: capacity) { _ in nil } == nil)
        }
    }
}
