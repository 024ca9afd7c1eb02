import Foundation
import Testing
import WPSBytes
import WPSDeflate

@testable import wps_bench

@Suite struct PayloadStyleTests {
    /// Compressed size of `bytes` as a server with default settings sends it (level 6, no
    /// context takeover).
    func deflatedCount(_ bytes: [UInt8]) throws -> Int {
        let deflater = try MessageDeflater(windowBits: 15, noContextTakeover: true)
        return try deflater.compress(bytes).count
    }

    @Test(arguments: [64, 65, 100, 2048, 4096, 65_536])
    func textPayloadHasTheAskedSizeAndIsJSON(size: Int) throws {
        for sequence: UInt64 in [0, 1, 2, 4095, 4096, 1_000_003] {
            let payload = BenchPayload.make(
                sentNanos: 123_456_789_012, publisher: 3, sequence: sequence, size: size, style: .text)
            #expect(payload.count == size)
            let object = try #require(
                try JSONSerialization.jsonObject(with: Data(payload.bytes)) as? [String: Any])
            #expect(object["n"] as? Int == Int(sequence))
            let pad = try #require(object["pad"] as? String)
            #expect(pad.utf8.count == size - (payload.count - pad.utf8.count))
        }
    }

    @Test func textPayloadStillCarriesItsStamp() throws {
        let payload = BenchPayload.make(sentNanos: 77, publisher: 2, sequence: 9, size: 2048, style: .text)
        let stamp = try #require(payload.bytes.withUnsafeBytes { BenchPayload.stamp(in: $0) })
        #expect(stamp.sentNanos == 77 && stamp.publisher == 2 && stamp.sequence == 9)
    }

    @Test func defaultStyleIsUnchanged() {
        let plain = BenchPayload.make(sentNanos: 1, publisher: 0, sequence: 5, size: 100)
        let x = BenchPayload.make(sentNanos: 1, publisher: 0, sequence: 5, size: 100, style: .x)
        #expect(plain.bytes == x.bytes)
    }

    @Test func textPaddingIsWordsAndVariesWithTheSequence() {
        let one = BenchPayload.make(sentNanos: 1, publisher: 0, sequence: 1, size: 512, style: .text)
        let two = BenchPayload.make(sentNanos: 1, publisher: 0, sequence: 2, size: 512, style: .text)
        #expect(one.bytes.suffix(400) != two.bytes.suffix(400))
        let again = BenchPayload.make(sentNanos: 1, publisher: 0, sequence: 1, size: 512, style: .text)
        #expect(one.bytes == again.bytes)
        let allowed = Set(" abcdefghijklmnopqrstuvwxyz".utf8)
        #expect(BenchPayload.textCorpus.allSatisfy { allowed.contains($0) })
        #expect(BenchPayload.textCorpus.count >= 65_536 + BenchPayload.textCorpusSlack)
        #expect(BenchPayload.makeTextCorpus(bytes: 300) == Array(BenchPayload.textCorpus.prefix(300)))
    }

    /// 2 KiB text payloads compress like JSON text (3–5x), unlike a run of `x`.
    @Test func textCompressesLikeJSONAndXDoesNot() throws {
        for sequence: UInt64 in [1, 2, 3, 500] {
            let text = BenchPayload.make(sentNanos: 1, publisher: 0, sequence: sequence, size: 2048, style: .text)
            let ratio = Double(text.count) / Double(try deflatedCount(text.bytes))
            #expect(ratio > 3 && ratio < 5, "text ratio \(ratio)")
        }
        let x = BenchPayload.make(sentNanos: 1, publisher: 0, sequence: 1, size: 2048, style: .x)
        #expect(Double(x.count) / Double(try deflatedCount(x.bytes)) > 20)
    }
}

@Suite struct BenchTransportTests {
    @Test func noAnswerMeansNoCompression() {
        #expect(BenchTransport.negotiated(answer: nil, offered: true) == .none)
        #expect(BenchTransport.negotiated(answer: nil, offered: false) == .none)
    }

    @Test func anAnswerToTheOfferEnablesInflating() throws {
        let answer = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
        guard case .deflate(let parameters) = BenchTransport.negotiated(answer: answer, offered: true) else {
            Issue.record("answer not accepted")
            return
        }
        #expect(parameters.serverNoContextTakeover)
        _ = try parameters.makeClientInflater()
    }

    @Test(arguments: [
        ("permessage-deflate", false),
        ("x-webkit-deflate-frame", true),
        ("permessage-deflate; server_max_window_bits=16", true),
        ("permessage-deflate, permessage-deflate", true),
    ])
    func unofferedOrInvalidAnswersFail(answer: String, offered: Bool) {
        #expect(BenchTransport.negotiated(answer: answer, offered: offered) == .invalid)
    }

    @Test func theOfferAsksForNoContextEitherWay() {
        let value = DeflateNegotiation.clientOffer(BenchTransport.offer)
        #expect(value.hasPrefix("permessage-deflate"))
        #expect(value.contains("server_no_context_takeover"))
        #expect(value.contains("client_no_context_takeover"))
    }
}
