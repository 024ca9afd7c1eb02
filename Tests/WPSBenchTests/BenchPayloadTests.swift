import Testing
import WPSBytes

@testable import wps_bench

@Suite struct BenchPayloadTests {
    /// Runs `body` over the bytes of `text`.
    func with<R>(_ text: String, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        Array(text.utf8).withUnsafeBytes(body)
    }

    @Test(arguments: [64, 100, 256])
    func payloadHasTheAskedSizeAndIsJSON(size: Int) throws {
        let payload = BenchPayload.make(sentNanos: 123_456_789_012, publisher: 3, sequence: 42, size: size)
        #expect(payload.count == size)
        let text = String(decoding: payload.bytes, as: UTF8.self)
        #expect(text.hasPrefix(#"{"t":123456789012,"p":3,"n":42,"pad":"x"#))
        #expect(text.hasSuffix(#"x"}"#))
    }

    @Test func stampIsFoundInsideAGroupMessage() throws {
        let data = String(
            decoding: BenchPayload.make(sentNanos: 99, publisher: 7, sequence: 1234, size: 100).bytes, as: UTF8.self)
        let message =
            #"{"type":"message","from":"group","group":"g","dataType":"json","data":"# + data
            + #","fromUserId":null,"sequenceId":17}"#
        let stamp = try #require(with(message) { BenchPayload.stamp(in: $0) })
        #expect(stamp.sentNanos == 99)
        #expect(stamp.publisher == 7)
        #expect(stamp.sequence == 1234)
        #expect(with(message) { BenchPayload.sequenceId(in: $0) } == 17)
        #expect(with(message) { BenchPayload.kind($0) } == .message)
    }

    @Test(arguments: [
        #"{"type":"message","from":"group","data":"plain","fromUserId":null}"#,
        #"{"type":"message","data":{"t":12,"p":1}}"#,
        #"{"t":"#,
    ])
    func noStampInOtherMessages(_ message: String) {
        #expect(with(message) { BenchPayload.stamp(in: $0) } == nil)
    }

    @Test func sequenceIdOnlyFromTheTrailingField() {
        #expect(with(#"{"type":"message","data":1}"#) { BenchPayload.sequenceId(in: $0) } == nil)
        #expect(with(#"{"type":"message","data":{"sequenceId":5}}"#) { BenchPayload.sequenceId(in: $0) } == nil)
        #expect(with(#"{"type":"message","data":1,"sequenceId":1}"#) { BenchPayload.sequenceId(in: $0) } == 1)
    }

    @Test func acksAndConnectedAreRecognised() throws {
        let ok = try #require(with(#"{"type":"ack","ackId":77,"success":true}"#) { BenchPayload.ack(in: $0) })
        #expect(ok.id == 77 && ok.success)
        let failed = try #require(
            with(#"{"type":"ack","ackId":3,"success":false,"error":{"name":"Forbidden","message":"x"}}"#) {
                BenchPayload.ack(in: $0)
            })
        #expect(failed.id == 3 && !failed.success)
        let connected = #"{"type":"system","event":"connected","userId":null,"connectionId":"abc"}"#
        #expect(with(connected) { BenchPayload.isConnected($0) })
        #expect(!with(#"{"type":"system","event":"disconnected","message":"x"}"#) { BenchPayload.isConnected($0) })
        #expect(with(#"{"type":"pong"}"#) { BenchPayload.kind($0) } == .pong)
    }

    @Test func requestsAreTheProtocolsShapes() {
        let data = BenchPayload.make(sentNanos: 1, publisher: 0, sequence: 1, size: 64)
        let send = String(decoding: BenchPayload.sendToGroup(group: "g\"1", ackId: 9, data: data), as: UTF8.self)
        #expect(send.hasPrefix(#"{"type":"sendToGroup","group":"g\"1","ackId":9,"dataType":"json","data":{"t":1,"#))
        #expect(
            String(decoding: BenchPayload.groupRequest(join: false, group: "a", ackId: 2), as: UTF8.self)
                == #"{"type":"leaveGroup","group":"a","ackId":2}"#)
        #expect(
            String(decoding: BenchPayload.sequenceAck(12), as: UTF8.self) == #"{"type":"sequenceAck","sequenceId":12}"#)
    }
}
