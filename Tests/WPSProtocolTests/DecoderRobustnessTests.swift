import Testing
import WPSBytes
import WPSProtocol

/// Truncations and byte mutations of valid frames: the decoder must never trap, must agree
/// with the scanner on what is JSON, and must hand out data ranges inside the frame.
@Suite struct DecoderRobustnessTests {
    static let seeds: [String] =
        ClientRequestDecoderTests.valid.map(\.0) + ClientRequestDecoderTests.validInvocations.map(\.0) + [
            #"{"type":"sendToGroup","group":"g","dataType":"binary","data":"AQI=","ackId":1}"#,
            #"{"type":"event","event":"e","data":{"k":["\u00e9\uD83D\uDE00",1.5e-3,true,null]}}"#,
        ]

    /// Bytes substituted at each offset: structure, quotes, escapes, digits, UTF-8 leads.
    static let replacements: [UInt8] = [
        0x00, 0x20, 0x22, 0x2C, 0x30, 0x3A, 0x5C, 0x5D, 0x7B, 0x7D, 0x80, 0xC3, 0xED, 0xFF,
    ]

    static func check(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { raw in
            let scanned = (try? JSON.validate(raw))?.kind
            let result = ClientRequestDecoder.decode(raw)
            switch result {
            case .failure(.invalidJSON):
                #expect(scanned != .object)
            case .failure:
                #expect(scanned == .object)
            case .success(let request):
                #expect(scanned == .object)
                switch request {
                case .sendToGroup(_, _, _, let type, let range), .event(_, _, let type, let range):
                    #expect(range.lowerBound >= 0 && range.upperBound <= raw.count)
                    // The range must itself be a valid JSON value of the right shape.
                    let data = UnsafeRawBufferPointer(rebasing: raw[range])
                    #expect(RawClientPayload.frame(dataType: type, data: data) != nil)
                case .invoke(let id, _, let type, let range?):
                    #expect(!id.isEmpty && id.utf8.count <= ClientRequestDecoder.maxInvocationIdBytes)
                    #expect(range.lowerBound >= 0 && range.upperBound <= raw.count)
                    let data = UnsafeRawBufferPointer(rebasing: raw[range])
                    #expect(RawClientPayload.frame(dataType: type, data: data) != nil)
                default:
                    break
                }
            }
        }
    }

    @Test(arguments: seeds) func everyTruncation(seed: String) {
        let bytes = Array(seed.utf8)
        for length in 0...bytes.count { Self.check(Array(bytes[0..<length])) }
    }

    @Test(arguments: seeds) func everySingleByteMutation(seed: String) {
        let bytes = Array(seed.utf8)
        for index in bytes.indices {
            for replacement in Self.replacements {
                var mutated = bytes
                mutated[index] = replacement
                Self.check(mutated)
            }
            var removed = bytes
            removed.remove(at: index)
            Self.check(removed)
        }
    }

    @Test func deterministicRandomInputs() {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        let alphabet = Array(#"{}[]":,\ -0123456789.eEtrufalsn"typeg"#.utf8) + [0x80, 0xC3, 0xA9, 0xFF, 0x09]
        for _ in 0..<3000 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let length = Int(state >> 58)
            var bytes: [UInt8] = []
            for _ in 0..<length {
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                bytes.append(alphabet[Int(state >> 33) % alphabet.count])
            }
            Self.check(bytes)
        }
    }
}
