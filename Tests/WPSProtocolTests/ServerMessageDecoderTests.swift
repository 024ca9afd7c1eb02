import Testing
import WPSBytes
import WPSProtocol

/// Decodes `text` as a server frame.
func decodeServer(_ text: String) -> Result<ServerMessage, ServerMessageError> {
    Array(text.utf8).withUnsafeBytes { ServerMessageDecoder.decode($0) }
}

@Suite struct ServerMessageDecoderTests {
    static let valid: [(String, ServerMessage)] = [
        (#"{"type":"ack","ackId":1,"success":true}"#, .ack(ackId: 1, success: true, error: nil)),
        (
            #"{"type":"ack","ackId":2,"success":false,"error":{"name":"Forbidden","message":"no"}}"#,
            .ack(ackId: 2, success: false, error: AckError(name: .forbidden, message: "no"))
        ),
        (
            #"{"type":"system","event":"connected","userId":"alice","connectionId":"c1"}"#,
            .connected(userId: "alice", connectionId: "c1", reconnectionToken: nil)
        ),
        (
            #"{"type":"system","event":"connected","userId":null,"connectionId":"c1","reconnectionToken":"t+/="}"#,
            .connected(userId: nil, connectionId: "c1", reconnectionToken: "t+/=")
        ),
        (#"{"type":"system","event":"disconnected","message":"bye"}"#, .disconnected(message: "bye")),
        (#"{"type":"pong"}"#, .pong),
        (
            #"{"type":"message","from":"group","group":"g1","dataType":"json","data":{"a":1},"fromUserId":"u","sequenceId":7}"#,
            .groupMessage(group: "g1", fromUserId: "u", dataType: .json, data: 71..<78, sequenceId: 7)
        ),
        (
            #"{"type":"message","from":"group","group":"g","dataType":"Text","data":"x","fromUserId":null}"#,
            .groupMessage(group: "g", fromUserId: nil, dataType: .text, data: 70..<73, sequenceId: nil)
        ),
        (
            #"{"type":"message","from":"server","dataType":"binary","data":"AQI=","sequenceId":2}"#,
            .serverMessage(dataType: .binary, data: 61..<67, sequenceId: 2)
        ),
        (
            #"{"type":"invokeResponse","invocationId":"1","success":true}"#,
            .invokeResponse(invocationId: "1", success: true, dataType: nil, data: nil, error: nil)
        ),
        (
            #"{"type":"invokeResponse","invocationId":"a","success":true,"dataType":"text","data":"hi"}"#,
            .invokeResponse(invocationId: "a", success: true, dataType: .text, data: 84..<88, error: nil)
        ),
        (
            #"{"type":"invokeResponse","invocationId":"b","success":false,"error":{"name":"NotFound","message":"m"}}"#,
            .invokeResponse(
                invocationId: "b", success: false, dataType: nil, data: nil,
                error: AckError(name: .notFound, message: "m"))
        ),
        (
            #"{"type":"invokeResponse","invocationId":"c","success":true,"dataType":"avro","data":"x"}"#,
            .unknown("dataType avro")
        ),
        (#"{"type":"system","event":"groupState"}"#, .unknown("event groupState")),
    ]

    static let invalid: [String] = [
        "not json",
        "[]",
        #"{"event":"connected"}"#,
        #"{"type":"ack","success":true}"#,
        #"{"type":"ack","ackId":-1,"success":true}"#,
        #"{"type":"ack","ackId":1}"#,
        #"{"type":"system","event":"connected","userId":"a"}"#,
        #"{"type":"system","event":"connected","connectionId":1}"#,
        #"{"type":"message","from":"group","dataType":"json","data":1}"#,
        #"{"type":"message","from":"server","data":1}"#,
        #"{"type":"message","from":"server","dataType":"json"}"#,
        #"{"type":"message","from":"server","dataType":"json","data":null}"#,
        #"{"type":"message","from":"server","dataType":"text","data":1}"#,
        #"{"type":"message","from":"server","dataType":"json","data":1,"sequenceId":"1"}"#,
        #"{"type":"invokeResponse","invocationId":"1"}"#,
        #"{"type":"invokeResponse","invocationId":1,"success":true}"#,
        #"{"type":"invokeResponse","success":true}"#,
        #"{"type":"invokeResponse","invocationId":"1","success":true,"dataType":"json"}"#,
        #"{"type":"invokeResponse","invocationId":"1","success":true,"dataType":"text","data":1}"#,
    ]

    @Test func decodesEachServerMessage() {
        for (text, expected) in Self.valid {
            #expect((try? decodeServer(text).get()) == expected, "\(text)")
        }
    }

    @Test func rejectsMalformedMessages() {
        for text in Self.invalid {
            guard case .failure = decodeServer(text) else {
                Issue.record("accepted \(text)")
                continue
            }
        }
    }

    @Test func dataHelpersDecodePerDataType() {
        let text = #"{"type":"message","from":"server","dataType":"text","data":"h\u00e9\n"}"#
        let binary = #"{"type":"message","from":"server","dataType":"binary","data":"AQI="}"#
        let json = #"{"type":"message","from":"server","dataType":"json","data":[1, 2]}"#
        for (frame, check) in [
            (
                text,
                { (bytes: UnsafeRawBufferPointer, range: Range<Int>) in
                    #expect(ServerMessageDecoder.text(bytes, data: range) == "hé\n")
                }
            ),
            (binary, { bytes, range in #expect(ServerMessageDecoder.binary(bytes, data: range) == [1, 2]) }),
            (
                json,
                { bytes, range in
                    #expect(ServerMessageDecoder.json(bytes, data: range) == Array("[1, 2]".utf8))
                }
            ),
        ] {
            Array(frame.utf8).withUnsafeBytes { bytes in
                guard case .success(.serverMessage(_, let range, _)) = ServerMessageDecoder.decode(bytes) else {
                    Issue.record("not decoded: \(frame)")
                    return
                }
                check(bytes, range)
            }
        }
    }

    @Test func roundTripsTheServerEncoder() {
        var out = OutputBuffer()
        Array(#"{"k":[true]}"#.utf8).withUnsafeBytes {
            ServerMessageEncoder.groupMessagePrefix(group: "g", fromUserId: nil, dataType: .json, data: $0, into: &out)
        }
        ServerMessageEncoder.sequenceSuffix(9, into: &out)
        out.bytes.withUnsafeBytes { bytes in
            guard case .success(.groupMessage("g", nil, .json, let range, 9)) = ServerMessageDecoder.decode(bytes)
            else {
                Issue.record("round trip failed")
                return
            }
            #expect(ServerMessageDecoder.json(bytes, data: range) == Array(#"{"k":[true]}"#.utf8))
        }
    }
}
