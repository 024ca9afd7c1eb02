import Testing
import WPSBytes
import WPSProtocol

@Suite struct ClientRequestEncoderTests {
    static func raw(_ text: String, _ body: (UnsafeRawBufferPointer, inout OutputBuffer) -> Void) -> String {
        prefix(text, body)
    }

    static let cases: [(String, String)] = [
        (
            encoded { ClientRequestEncoder.joinGroup(group: "g1", ackId: 1, into: &$0) },
            #"{"type":"joinGroup","group":"g1","ackId":1}"#
        ),
        (
            encoded { ClientRequestEncoder.joinGroup(group: "a\"b", ackId: nil, into: &$0) },
            #"{"type":"joinGroup","group":"a\"b"}"#
        ),
        (
            encoded { ClientRequestEncoder.leaveGroup(group: "g1", ackId: 18446744073709551615, into: &$0) },
            #"{"type":"leaveGroup","group":"g1","ackId":18446744073709551615}"#
        ),
        (
            raw(#""hi""#) {
                ClientRequestEncoder.sendToGroup(
                    group: "g1", ackId: 2, noEcho: false, dataType: .text, data: $0, into: &$1)
            },
            #"{"type":"sendToGroup","group":"g1","ackId":2,"dataType":"text","data":"hi","noEcho":false}"#
        ),
        (
            raw(#"{"a": 1}"#) {
                ClientRequestEncoder.sendToGroup(
                    group: "g1", ackId: nil, noEcho: true, dataType: .json, data: $0, into: &$1)
            },
            #"{"type":"sendToGroup","group":"g1","dataType":"json","data":{"a": 1},"noEcho":true}"#
        ),
        (
            raw(#""x""#) { ClientRequestEncoder.event(event: "ev", ackId: 4, dataType: .text, data: $0, into: &$1) },
            #"{"type":"event","event":"ev","ackId":4,"dataType":"text","data":"x"}"#
        ),
        (
            raw(#"[1]"#) {
                ClientRequestEncoder.invoke(invocationId: "i\"1", event: "sum", dataType: .json, data: $0, into: &$1)
            },
            #"{"type":"invoke","invocationId":"i\"1","target":"event","event":"sum","dataType":"json","data":[1]}"#
        ),
        (
            encoded { ClientRequestEncoder.cancelInvocation(invocationId: "7", into: &$0) },
            #"{"type":"cancelInvocation","invocationId":"7"}"#
        ),
        (
            encoded { ClientRequestEncoder.sequenceAck(sequenceId: 3, into: &$0) },
            #"{"type":"sequenceAck","sequenceId":3}"#
        ),
        (encoded { ClientRequestEncoder.ping(into: &$0) }, #"{"type":"ping"}"#),
        (encoded { ClientRequestEncoder.appendData(binary: [1, 2], to: &$0) }, #""AQI=""#),
        (encoded { ClientRequestEncoder.appendData(text: "a\nb", to: &$0) }, #""a\nb""#),
    ]

    @Test func encodesEachRequestExactly() {
        for (actual, expected) in Self.cases {
            #expect(actual == expected)
            #expect(isJSONObject(actual) || actual.first == "\"")
        }
    }

    @Test func serverDecoderAcceptsEveryEncodedRequest() {
        for (actual, _) in Self.cases where actual.first == "{" {
            let result = Array(actual.utf8).withUnsafeBytes { ClientRequestDecoder.decode($0) }
            guard case .success = result else {
                Issue.record("server refused \(actual)")
                continue
            }
        }
    }
}
