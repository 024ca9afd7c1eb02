import Testing
import WPSWebSocket

@testable import wps_bench

@Suite struct FloorFrameTests {
    /// Every message the client-side reader yields for `bytes`, fed in pieces of `chunk` bytes.
    func messages(_ bytes: [UInt8], chunk: Int) -> [[UInt8]] {
        var reader = WebSocketReader(role: .client)
        var out: [[UInt8]] = []
        var input = bytes
        var start = 0
        while start < input.count {
            let end = min(start + chunk, input.count)
            let error = input.withUnsafeMutableBytes { raw in
                reader.feed(UnsafeMutableRawBufferPointer(rebasing: raw[start..<end])) { event in
                    if case .message(let opcode, let payload, let compressed) = event {
                        #expect(opcode == .text)
                        #expect(!compressed)
                        out.append(Array(payload))
                    }
                    return .continue
                }
            }
            #expect(error == nil)
            start = end
        }
        return out
    }

    @Test func frameIsAnUnmaskedTextFrameWithTheServersGroupMessage() throws {
        let frame = FloorFrame.make(sentNanos: 1_234_567, sequence: 9, payloadBytes: 100)
        let message = try #require(messages(frame, chunk: frame.count).first)
        // FIN + text; no mask bit; a 16-bit extended length, since the message exceeds 125 bytes.
        #expect(frame[0] == 0x81)
        #expect(frame[1] == 126)
        #expect(Int(frame[2]) << 8 | Int(frame[3]) == message.count)
        #expect(frame.count == 4 + message.count)
        let text = String(decoding: message, as: UTF8.self)
        #expect(
            text.hasPrefix(
                #"{"type":"message","from":"group","group":"fanout","dataType":"json","data":{"t":1234567,"p":0,"n":9,"pad":"xx"#
            ))
        #expect(text.hasSuffix(#""},"fromUserId":"publisher"}"#))
    }

    @Test func stampAndKindAreFoundAsInAFanOutDelivery() throws {
        let message = try #require(
            messages(FloorFrame.make(sentNanos: 42, sequence: 7, payloadBytes: 100), chunk: 1 << 16).first)
        let stamp = try #require(message.withUnsafeBytes { BenchPayload.stamp(in: $0) })
        #expect(stamp.sentNanos == 42)
        #expect(stamp.publisher == 0)
        #expect(stamp.sequence == 7)
        #expect(message.withUnsafeBytes { BenchPayload.kind($0) } == .message)
    }

    @Test(arguments: [1, 2, 3, 5, 64, 181])
    func batchedFramesSurviveAnySplit(chunk: Int) {
        var batch: [UInt8] = []
        for sequence in 1...16 {
            FloorFrame.append(sentNanos: 1_000, sequence: UInt64(sequence), payloadBytes: 100, to: &batch)
        }
        let received = messages(batch, chunk: chunk)
        #expect(received.count == 16)
        let sequences = received.compactMap { $0.withUnsafeBytes { BenchPayload.stamp(in: $0) }?.sequence }
        #expect(sequences == Array(1...16))
    }

    @Test(arguments: [64, 100, 1_000])
    func payloadKeepsItsSize(size: Int) throws {
        let frame = FloorFrame.make(sentNanos: 1, sequence: 1, payloadBytes: size)
        let message = try #require(messages(frame, chunk: frame.count).first)
        let envelope =
            #"{"type":"message","from":"group","group":"fanout","dataType":"json","data":"#.utf8.count
            + #","fromUserId":"publisher"}"#.utf8.count
        #expect(message.count == envelope + size)
    }
}
