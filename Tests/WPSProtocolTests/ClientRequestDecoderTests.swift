import Testing
import WPSBytes
import WPSProtocol

/// Decodes `frame` and renders the result compactly, with `data` shown as its raw bytes.
func decoded(_ frame: String) -> String {
    let bytes = Array(frame.utf8)
    return bytes.withUnsafeBytes { raw in
        switch ClientRequestDecoder.decode(raw) {
        case .failure(let error): return "error \(error)"
        case .success(let request): return render(request, raw)
        }
    }
}

func render(_ request: ClientRequest, _ raw: UnsafeRawBufferPointer) -> String {
    func ack(_ id: UInt64?) -> String { id.map { "\($0)" } ?? "-" }
    func text(_ range: Range<Int>) -> String { String(decoding: raw[range], as: UTF8.self) }
    switch request {
    case .joinGroup(let group, let ackId): return "join \(group) \(ack(ackId))"
    case .leaveGroup(let group, let ackId): return "leave \(group) \(ack(ackId))"
    case .sendToGroup(let group, let ackId, let noEcho, let type, let data):
        return "send \(group) \(ack(ackId)) noEcho=\(noEcho) \(type) \(text(data))"
    case .event(let event, let ackId, let type, let data): return "event \(event) \(ack(ackId)) \(type) \(text(data))"
    case .sequenceAck(let id): return "seqAck \(id)"
    case .ping: return "ping"
    case .invoke(let id, let event, let type, let data):
        return "invoke \(id) \(event) \(type) \(data.map(text) ?? "-")"
    case .cancelInvocation(let id): return "cancel \(id)"
    }
}

@Suite struct ClientRequestDecoderTests {
    // The exact frames the Python SDK sends (reference §2.1, observed), then other shapes.
    static let valid: [(String, String)] = [
        (#"{"type": "joinGroup", "group": "g1", "ackId": 1}"#, "join g1 1"),
        (
            #"{"type": "sendToGroup", "group": "g1", "ackId": 2, "dataType": "text", "data": "hi", "noEcho": false}"#,
            #"send g1 2 noEcho=false text "hi""#
        ),
        (
            #"{"type": "sendToGroup", "group": "g1", "ackId": 3, "dataType": "json", "data": {"a": 1}, "noEcho": true}"#,
            #"send g1 3 noEcho=true json {"a": 1}"#
        ),
        (
            #"{"type": "sendToGroup", "group": "g1", "dataType": "binary", "data": "AQI=", "noEcho": false}"#,
            #"send g1 - noEcho=false binary "AQI=""#
        ),
        (#"{"type": "event", "event": "ev", "ackId": 4, "dataType": "text", "data": "x"}"#, #"event ev 4 text "x""#),
        (#"{"type": "sequenceAck", "sequenceId": 3}"#, "seqAck 3"),
        // .NET: PascalCase dataType.
        (
            #"{"type":"sendToGroup","group":"g","ackId":5,"dataType":"Text","data":"t","noEcho":false}"#,
            #"send g 5 noEcho=false text "t""#
        ),
        (#"{"type":"sendToGroup","group":"g","dataType":"Json","data":[1, 2]}"#, "send g - noEcho=false json [1, 2]"),
        (#"{"type":"sendToGroup","group":"g","dataType":"BINARY","data":""}"#, #"send g - noEcho=false binary """#),
        (#"{"type":"event","event":"e","dataType":"Protobuf","data":"AAEC"}"#, #"event e - protobuf "AAEC""#),
        // Case-insensitive type; defaults; extra fields; null optionals.
        (#"{"type":"JOINGROUP","group":"g"}"#, "join g -"),
        (#"{"type":"leavegroup","group":"g","ackId":0}"#, "leave g 0"),
        (#"{"type":"Ping"}"#, "ping"),
        (#"{"type":"ping","ackId":"ignored"}"#, "ping"),
        (
            #"{"type":"sendToGroup","group":"g","data":{"x":[true,null]}}"#,
            #"send g - noEcho=false json {"x":[true,null]}"#
        ),
        (
            #"{"type":"sendToGroup","group":"g","data":"s","extra":{"deep":[1]},"noEcho":null,"dataType":null}"#,
            #"send g - noEcho=false json "s""#
        ),
        (#"{"type":"joinGroup","group":"g","ackId":null}"#, "join g -"),
        (#"{"type":"joinGroup","group":"g","ackId":18446744073709551615}"#, "join g 18446744073709551615"),
        (#"{"type":"sequenceAck","sequenceId":0}"#, "seqAck 0"),
        (#"  {"sequenceId":18446744073709551615,"type":"sequenceAck"}  "#, "seqAck 18446744073709551615"),
        (#"{"type":"event","event":"a.b-c_D9","data":null}"#, "event a.b-c_D9 - json null"),
        (#"{"type":"event","event":"e","data":  12.5e3  }"#, "event e - json 12.5e3"),
        // Escapes in keys and values; last duplicate wins.
        (#"{"\u0074ype":"joinGroup","gr\u006fup":"g\u00e9\n"}"#, "join gé\n -"),
        // Every type in other cases, and spelled with an escape (the slow path).
        (#"{"type":"SEQUENCEACK","sequenceId":1}"#, "seqAck 1"),
        (
            #"{"type":"SeNdToGrOuP","group":"g","data":1}"#,
            "send g - noEcho=false json 1"
        ),
        (#"{"type":"EVENT","event":"e","data":1}"#, "event e - json 1"), (#"{"type":"PING"}"#, "ping"),
        (#"{"type":"LeaveGroup","group":"g"}"#, "leave g -"), (#"{"type":"\u006aoinGroup","group":"g"}"#, "join g -"),
        (#"{"type":"se\u0071uenceAck","sequenceId":2}"#, "seqAck 2"), (#"{"type":"\u0050ing"}"#, "ping"),
        (#"{"type":"joinGroup","group":"a","group":"b"}"#, "join b -"),
        (
            #"{"type":"sendToGroup","group":"g","dataType":"binary","data":"AQ\/="}"#,
            #"send g - noEcho=false binary "AQ\/=""#
        ),
        (#"{"type":"joinGroup","group":" x "}"#, "join  x  -"),
        (#"{"type":"joinGroup","group":"日本"}"#, "join 日本 -"),
    ]

    @Test(arguments: valid) func decodes(frame: String, expected: String) {
        #expect(decoded(frame) == expected)
    }

    static let invalid: [(String, ClientRequestError)] = [
        ("", .invalidJSON("unexpected end of input, expected an object at offset 0")),
        ("not json", .invalidJSON("expected an object at offset 0")),
        ("[]", .invalidJSON("expected an object at offset 0")),
        (#""joinGroup""#, .invalidJSON("expected an object at offset 0")),
        (#"{"type":"ping",}"#, .invalidJSON("expected a string key at offset 15")),
        (#"{"type":"ping"} {}"#, .invalidJSON("unexpected data after the JSON value at offset 16")),
        (#"{"type":"joinGroup","group":"g""#, .invalidJSON("unexpected end of input in object at offset 31")),
        ("{}", .unknownType("")),
        (#"{"group":"g"}"#, .unknownType("")),
        (#"{"type":"subscribe"}"#, .unknownType("subscribe")),
        // Near misses of every length a type has.
        (#"{"type":"pong"}"#, .unknownType("pong")), (#"{"type":"evens"}"#, .unknownType("evens")),
        (#"{"type":"joinGroop"}"#, .unknownType("joinGroop")), (#"{"type":"leaveGroop"}"#, .unknownType("leaveGroop")),
        (#"{"type":"sendToGroop"}"#, .unknownType("sendToGroop")),
        (#"{"type":"sequenceAcc"}"#, .unknownType("sequenceAcc")),
        (#"{"type":"seXuenceAck"}"#, .unknownType("seXuenceAck")), (#"{"type":"\u0070ong"}"#, .unknownType("pong")),
        (#"{"type":5}"#, .unknownType("5")),
        (#"{"type":null}"#, .unknownType("null")),
        (#"{"Type":"ping"}"#, .unknownType("")),
        (#"{"type":"invokeResponse","invocationId":"1"}"#, .unknownType("invokeResponse")),
        (#"{"type":"invok"}"#, .unknownType("invok")), (#"{"type":"invokf"}"#, .unknownType("invokf")),
        (#"{"type":"cancelInvocatio\u006E2"}"#, .unknownType("cancelInvocation2")),
        (#"{"type":"cancelInvocatiom"}"#, .unknownType("cancelInvocatiom")),
        // badRequest without an ackId: the request is ignored.
        (#"{"type":"joinGroup"}"#, .badRequest(ackId: nil, message: "group is required")),
        (
            #"{"type":"joinGroup","group":"g","ackId":-1}"#,
            .badRequest(ackId: nil, message: "ackId must be a non-negative integer")
        ),
        (
            #"{"type":"joinGroup","group":"g","ackId":1.5}"#,
            .badRequest(ackId: nil, message: "ackId must be a non-negative integer")
        ),
        (
            #"{"type":"joinGroup","group":"g","ackId":"1"}"#,
            .badRequest(ackId: nil, message: "ackId must be a non-negative integer")
        ),
        (
            #"{"type":"joinGroup","group":"g","ackId":18446744073709551616}"#,
            .badRequest(ackId: nil, message: "ackId must be a non-negative integer")
        ),
        (#"{"type":"sequenceAck"}"#, .badRequest(ackId: nil, message: "sequenceId must be a non-negative integer")),
        (
            #"{"type":"sequenceAck","sequenceId":-1}"#,
            .badRequest(ackId: nil, message: "sequenceId must be a non-negative integer")
        ),
        (
            #"{"type":"sequenceAck","sequenceId":"3"}"#,
            .badRequest(ackId: nil, message: "sequenceId must be a non-negative integer")
        ),
        // badRequest with an ackId: answered with a BadRequest ack.
        (#"{"type":"leaveGroup","ackId":7}"#, .badRequest(ackId: 7, message: "group is required")),
        (#"{"type":"joinGroup","group":1,"ackId":7}"#, .badRequest(ackId: 7, message: "group must be a string")),
        (#"{"type":"joinGroup","group":null,"ackId":7}"#, .badRequest(ackId: 7, message: "group must be a string")),
        (
            #"{"type":"joinGroup","group":"","ackId":7}"#,
            .badRequest(ackId: 7, message: "group must be 1 to 1024 characters")
        ),
        (
            #"{"type":"joinGroup","group":" \t\n","ackId":7}"#,
            .badRequest(ackId: 7, message: "group must not be only whitespace")
        ),
        (
            #"{"type":"joinGroup","group":"\u3000","ackId":7}"#,
            .badRequest(ackId: 7, message: "group must not be only whitespace")
        ),
        (#"{"type":"sendToGroup","group":"g","ackId":8}"#, .badRequest(ackId: 8, message: "data is required")),
        (
            #"{"type":"sendToGroup","group":"g","ackId":8,"data":null}"#,
            .badRequest(ackId: 8, message: "data must not be null")
        ),
        (
            #"{"type":"sendToGroup","group":"g","ackId":8,"dataType":"text","data":1}"#,
            .badRequest(ackId: 8, message: "data must be a string when dataType is text")
        ),
        (
            #"{"type":"sendToGroup","group":"g","ackId":8,"dataType":"text","data":null}"#,
            .badRequest(ackId: 8, message: "data must be a string when dataType is text")
        ),
        (
            #"{"type":"sendToGroup","group":"g","ackId":8,"dataType":"binary","data":"AQI"}"#,
            .badRequest(ackId: 8, message: "data must be a base64 string when dataType is binary")
        ),
        (
            #"{"type":"sendToGroup","group":"g","ackId":8,"dataType":"protobuf","data":[1]}"#,
            .badRequest(ackId: 8, message: "data must be a base64 string when dataType is protobuf")
        ),
        (
            #"{"type":"sendToGroup","group":"g","ackId":8,"dataType":"xml","data":"x"}"#,
            .badRequest(ackId: 8, message: "dataType must be one of json, text, binary, protobuf")
        ),
        (
            #"{"type":"sendToGroup","group":"g","ackId":8,"dataType":1,"data":"x"}"#,
            .badRequest(ackId: 8, message: "dataType must be one of json, text, binary, protobuf")
        ),
        (
            #"{"type":"sendToGroup","group":"g","ackId":8,"noEcho":"false","data":1}"#,
            .badRequest(ackId: 8, message: "noEcho must be true or false")
        ),
        (#"{"type":"sendToGroup","ackId":8,"data":1}"#, .badRequest(ackId: 8, message: "group is required")),
        (#"{"type":"event","ackId":9,"data":1}"#, .badRequest(ackId: 9, message: "event is required")),
        (#"{"type":"event","event":3,"ackId":9,"data":1}"#, .badRequest(ackId: 9, message: "event must be a string")),
        (#"{"type":"event","event":"ev","ackId":9}"#, .badRequest(ackId: 9, message: "data is required")),
        (
            #"{"type":"event","event":"ev","ackId":9,"dataType":"text","data":{}}"#,
            .badRequest(ackId: 9, message: "data must be a string when dataType is text")
        ),
    ]

    // The shapes the JavaScript (invokeEvent) and .NET clients send, then other spellings.
    static let validInvocations: [(String, String)] = [
        (
            #"{"type":"invoke","invocationId":"1","target":"event","event":"echo","dataType":"text","data":"hi"}"#,
            #"invoke 1 echo text "hi""#
        ),
        (
            #"{"type":"invoke","invocationId":"a-b","target":"event","event":"e","dataType":"json","data":{"a": [1]}}"#,
            #"invoke a-b e json {"a": [1]}"#
        ),
        (
            #"{"type":"invoke","invocationId":"2","target":"event","event":"e","dataType":"binary","data":"AAH+"}"#,
            #"invoke 2 e binary "AAH+""#
        ),
        (
            #"{"type":"Invoke","invocationId":"3","target":"Event","event":"e","dataType":"Protobuf","data":""}"#,
            #"invoke 3 e protobuf """#
        ),
        (#"{"type":"INVOKE","invocationId":"4","target":"event","event":"e"}"#, "invoke 4 e json -"),
        (
            #"{"type":"invoke","invocationId":"5","target":"event","event":"e","dataType":"binary"}"#,
            "invoke 5 e binary -"
        ),
        (#"{"type":"invoke","invocationId":"6","target":"event","event":"e","data":null}"#, "invoke 6 e json null"),
        (
            #"{"type":"invoke","invocationId":"7","target":"event","event":"e","data":1,"ackId":"ignored"}"#,
            "invoke 7 e json 1"
        ),
        (#"{"type":"\u0069nvoke","\u0069nvocationId":"8","t\u0061rget":"event","event":"e"}"#, "invoke 8 e json -"),
        (#"{"type":"invoke","invocationId":"\u00e9\n","target":"event","event":"e"}"#, "invoke é\n e json -"),
        (#"{"type":"cancelInvocation","invocationId":"1"}"#, "cancel 1"),
        (#"{"type":"CANCELINVOCATION","invocationId":"x","ackId":3}"#, "cancel x"),
        (#"{"type":"cancel\u0049nvocation","invocationId":"y"}"#, "cancel y"),
    ]

    @Test(arguments: validInvocations) func decodesInvocation(frame: String, expected: String) {
        #expect(decoded(frame) == expected)
    }

    static let invalidInvocations: [(String, ClientRequestError)] = [
        // No usable invocationId: nothing to answer, the request is ignored.
        (
            #"{"type":"invoke","target":"event","event":"e"}"#,
            .badRequest(ackId: nil, message: "invocationId is required")
        ),
        (
            #"{"type":"invoke","invocationId":1,"target":"event","event":"e"}"#,
            .badRequest(ackId: nil, message: "invocationId must be a string")
        ),
        (
            #"{"type":"invoke","invocationId":null,"target":"event","event":"e"}"#,
            .badRequest(ackId: nil, message: "invocationId must be a string")
        ),
        (
            #"{"type":"invoke","invocationId":"","target":"event","event":"e"}"#,
            .badRequest(ackId: nil, message: "invocationId must be 1 to 128 bytes")
        ),
        (#"{"type":"cancelInvocation"}"#, .badRequest(ackId: nil, message: "invocationId is required")),
        (
            #"{"type":"cancelInvocation","invocationId":["1"]}"#,
            .badRequest(ackId: nil, message: "invocationId must be a string")
        ),
        // A known invocationId: answered with invokeResponse BadRequest.
        (
            #"{"type":"invoke","invocationId":"9","event":"e"}"#,
            .badInvocation(invocationId: "9", message: "target must be 'event'")
        ),
        (
            #"{"type":"invoke","invocationId":"9","target":"method","event":"e"}"#,
            .badInvocation(invocationId: "9", message: "target must be 'event'")
        ),
        (
            #"{"type":"invoke","invocationId":"9","target":1,"event":"e"}"#,
            .badInvocation(invocationId: "9", message: "target must be 'event'")
        ),
        (
            #"{"type":"invoke","invocationId":"9","target":"event"}"#,
            .badInvocation(invocationId: "9", message: "event is required")
        ),
        (
            #"{"type":"invoke","invocationId":"9","target":"event","event":7}"#,
            .badInvocation(invocationId: "9", message: "event must be a string")
        ),
        (
            #"{"type":"invoke","invocationId":"9","target":"event","event":"1e"}"#,
            .badInvocation(
                invocationId: "9",
                message: "event must start with a letter and contain only letters, digits, '_', '.', '-' (at most 128)")
        ),
        (
            #"{"type":"invoke","invocationId":"9","target":"event","event":"e","dataType":"xml","data":"x"}"#,
            .badInvocation(invocationId: "9", message: "dataType must be one of json, text, binary, protobuf")
        ),
        (
            #"{"type":"invoke","invocationId":"9","target":"event","event":"e","dataType":"xml"}"#,
            .badInvocation(invocationId: "9", message: "dataType must be one of json, text, binary, protobuf")
        ),
        (
            #"{"type":"invoke","invocationId":"9","target":"event","event":"e","dataType":"text","data":{}}"#,
            .badInvocation(invocationId: "9", message: "data must be a string when dataType is text")
        ),
        (
            #"{"type":"invoke","invocationId":"9","target":"event","event":"e","dataType":"binary","data":"AQI"}"#,
            .badInvocation(invocationId: "9", message: "data must be a base64 string when dataType is binary")
        ),
    ]

    @Test(arguments: invalidInvocations) func rejectsInvocation(frame: String, expected: ClientRequestError) {
        #expect(decoded(frame) == "error \(expected)")
    }

    @Test(arguments: [(127, true), (128, true), (129, false)])
    func invocationIdLength(bytes: Int, accepted: Bool) {
        let id = String(repeating: "i", count: bytes)
        let result = decoded(#"{"type":"cancelInvocation","invocationId":"\#(id)"}"#)
        let refused = ClientRequestError.badRequest(ackId: nil, message: "invocationId must be 1 to 128 bytes")
        #expect(result == (accepted ? "cancel \(id)" : "error \(refused)"))
        // Counted in UTF-8 bytes: 64 two-byte characters fit, 65 do not.
        let wide = String(repeating: "é", count: (bytes + 1) / 2)
        #expect(decoded(#"{"type":"cancelInvocation","invocationId":"\#(wide)"}"#).hasPrefix("cancel") == accepted)
    }

    @Test func invocationErrorsAnswerUnderTheirId() {
        let error = ClientRequestError.badInvocation(invocationId: "7", message: "m")
        #expect(error.close == nil && error.ackError == nil)
        #expect(error.invocationError?.invocationId == "7")
        #expect(error.invocationError?.error == AckError(name: .badRequest, message: "m"))
        #expect(ClientRequestError.badRequest(ackId: 1, message: "m").invocationError == nil)
        #expect(ClientRequest.cancelInvocation(invocationId: "1").ackId == nil)
    }

    @Test(arguments: invalid) func rejects(frame: String, expected: ClientRequestError) {
        #expect(decoded(frame) == "error \(expected)")
    }

    static let badEventNames = ["", "1ev", "_ev", "e v", "e/v", "é", "ev!", String(repeating: "a", count: 129)]
    static let goodEventNames = ["e", "E", "message", "a1_.-", String(repeating: "a", count: 128)]

    @Test(arguments: badEventNames) func rejectsEventName(name: String) {
        let frame = #"{"type":"event","event":"\#(name)","ackId":1,"data":1}"#
        let message = "event must start with a letter and contain only letters, digits, '_', '.', '-' (at most 128)"
        #expect(decoded(frame) == "error \(ClientRequestError.badRequest(ackId: 1, message: message))")
    }

    @Test(arguments: goodEventNames) func acceptsEventName(name: String) {
        #expect(decoded(#"{"type":"event","event":"\#(name)","data":1}"#) == "event \(name) - json 1")
    }

    @Test(arguments: [(0, false), (1, true), (1023, true), (1024, true), (1025, false), (5000, false)])
    func groupNameLength(count: Int, accepted: Bool) {
        let group = String(repeating: "é", count: count)  // 2 UTF-8 bytes, 1 scalar each
        let result = decoded(#"{"type":"joinGroup","group":"\#(group)","ackId":1}"#)
        if accepted {
            #expect(result == "join \(group) 1")
        } else {
            #expect(
                result
                    == "error \(ClientRequestError.badRequest(ackId: 1, message: "group must be 1 to 1024 characters"))"
            )
        }
    }

    @Test func groupNameCountsScalarsNotGraphemes() {
        // 1024 scalars forming 512 grapheme clusters (e + combining acute) is the limit.
        let group = String(repeating: "e\u{301}", count: 512)
        #expect(decoded(#"{"type":"joinGroup","group":"\#(group)"}"#) == "join \(group) -")
        let over = group + "e"
        #expect(decoded(#"{"type":"joinGroup","group":"\#(over)"}"#).hasPrefix("error"))
    }

    @Test func dataRangePointsAtRawBytes() {
        let frame = Array(#"{"type":"sendToGroup","group":"g","data": { "a" :  [1, 2] } ,"noEcho":true}"#.utf8)
        frame.withUnsafeBytes { raw in
            guard case .success(.sendToGroup(_, _, _, _, let range)) = ClientRequestDecoder.decode(raw) else {
                Issue.record("not decoded")
                return
            }
            #expect(range == 42..<59)
            #expect(String(decoding: raw[range], as: UTF8.self) == #"{ "a" :  [1, 2] }"#)
        }
    }

    @Test func deepDataIsInvalidJSON() {
        let deep = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
        #expect(
            decoded(#"{"type":"event","event":"e","data":\#(deep)}"#).hasPrefix("error invalidJSON(\"nesting deeper"))
        let fits = String(repeating: "[", count: 63) + String(repeating: "]", count: 63)
        #expect(decoded(#"{"type":"event","event":"e","data":\#(fits)}"#) == "event e - json \(fits)")
    }

    @Test func invalidUTF8IsInvalidJSON() {
        let bytes: [UInt8] = Array(#"{"type":"joinGroup","group":""#.utf8) + [0xFF] + Array(#""}"#.utf8)
        let result = bytes.withUnsafeBytes { ClientRequestDecoder.decode($0) }
        #expect(result == .failure(.invalidJSON("invalid UTF-8 in string at offset 29")))
    }

    @Test func errorsMapToCloseOrAck() {
        #expect(
            ClientRequestError.invalidJSON("x").close
                == ClientProtocolClose(code: .invalidPayload, reason: "Invalid message: x"))
        #expect(ClientRequestError.unknownType("").close?.reason == "Invalid message: missing type")
        #expect(ClientRequestError.unknownType("foo").close?.reason == "Invalid message: unknown type 'foo'")
        #expect(ClientRequestError.badRequest(ackId: 3, message: "m").close == nil)
        #expect(ClientRequestError.badRequest(ackId: nil, message: "m").ackError == nil)
        let ack = ClientRequestError.badRequest(ackId: 3, message: "m").ackError
        #expect(ack?.ackId == 3 && ack?.error == AckError(name: .badRequest, message: "m"))
        #expect(ClientProtocolClose.binaryFrame.code.rawValue == 1003)
    }

    @Test func longUnknownTypeIsTruncatedForTheCloseReason() {
        let name = String(repeating: "x", count: 500)
        let result = decoded(#"{"type":"\#(name)"}"#)
        #expect(result == "error \(ClientRequestError.unknownType(String(repeating: "x", count: 48)))")
        #expect(ClientRequestError.unknownType(String(repeating: "x", count: 48)).close!.reason.utf8.count <= 123)
    }

    @Test func ackIdAccessor() {
        let frame = Array(#"{"type":"joinGroup","group":"g","ackId":4}"#.utf8)
        let request = try? frame.withUnsafeBytes { ClientRequestDecoder.decode($0) }.get()
        #expect(request?.ackId == 4)
        #expect(ClientRequest.ping.ackId == nil)
    }
}
