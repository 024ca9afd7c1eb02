import Testing
import WPSBytes
import WPSProtocol

@Suite struct WireValuesTests {
    static let subprotocols: [(String, WebPubSubSubprotocol?)] = [
        ("json.webpubsub.azure.v1", .json), ("json.reliable.webpubsub.azure.v1", .jsonReliable),
        ("JSON.Reliable.WebPubSub.Azure.V1", .jsonReliable), (" json.webpubsub.azure.v1 ", .json),
        ("protobuf.webpubsub.azure.v1", nil), ("protobuf.reliable.webpubsub.azure.v1", nil), ("", nil),
        ("json.webpubsub.azure.v2", nil), ("json.webpubsub.azure.v1x", nil),
    ]

    @Test(arguments: subprotocols) func parsesSubprotocol(name: String, expected: WebPubSubSubprotocol?) {
        #expect(WebPubSubSubprotocol.parse(name) == expected)
    }

    @Test func subprotocolProperties() {
        #expect(!WebPubSubSubprotocol.json.isReliable)
        #expect(WebPubSubSubprotocol.jsonReliable.isReliable)
        #expect(WebPubSubSubprotocol.jsonReliable.name == "json.reliable.webpubsub.azure.v1")
        #expect(
            WebPubSubSubprotocol.select(offered: [
                "chat", "json.webpubsub.azure.v1", "json.reliable.webpubsub.azure.v1",
            ]) == .json)
        #expect(WebPubSubSubprotocol.select(offered: ["protobuf.webpubsub.azure.v1"]) == nil)
        #expect(WebPubSubSubprotocol.select(offered: []) == nil)
    }

    static let dataTypes: [(String, DataType?)] = [
        ("json", .json), ("Json", .json), ("JSON", .json), ("text", .text), ("Text", .text), ("binary", .binary),
        ("Binary", .binary), ("protobuf", .protobuf), ("Protobuf", .protobuf), ("xml", nil), ("", nil), ("texts", nil),
    ]

    @Test(arguments: dataTypes) func parsesDataType(name: String, expected: DataType?) {
        #expect(DataType.parse(name) == expected)
        let json = Array("\"\(name)\"".utf8)
        let fromToken = json.withUnsafeBytes { raw in
            DataType.parse(raw, JSONToken(kind: .string, range: 0..<raw.count))
        }
        #expect(fromToken == expected)
    }

    @Test func dataTypeWireNames() {
        #expect(DataType.all.map(\.wireName) == ["json", "text", "binary", "protobuf"])
        #expect(DataType.all.map(\.isBase64) == [false, false, true, true])
        let number = Array("1".utf8).withUnsafeBytes { DataType.parse($0, JSONToken(kind: .number, range: 0..<1)) }
        #expect(number == nil)
    }

    @Test func ackErrorNames() {
        #expect(AckErrorName.forbidden.rawValue == "Forbidden")
        #expect(AckErrorName.duplicate.rawValue == "Duplicate")
        #expect(AckErrorName.badRequest.rawValue == "BadRequest")
        #expect(AckErrorName.internalServerError.rawValue == "InternalServerError")
        #expect(AckErrorName("Custom") == "Custom")
        #expect(AckError.duplicate(ackId: 9).message == "Message with ack-id: 9 has been processed")
    }

    static let rawFrames: [(DataType, String, Bool?, [UInt8])] = [
        (.text, #""Hello World""#, true, Array("Hello World".utf8)),
        (.text, #""a\nb\u00e9""#, true, Array("a\nbé".utf8)),
        (.json, #""Hello World""#, true, Array(#""Hello World""#.utf8)),
        (.json, #"{ "a": 1 }"#, true, Array(#"{ "a": 1 }"#.utf8)),
        (.binary, #""AQI=""#, false, [1, 2]),
        (.protobuf, #""AAEC""#, false, [0, 1, 2]),
        (.binary, #""""#, false, []),
        (.binary, #""AQ\u0049=""#, false, [1, 2]),
        (.text, "1", nil, []),
        (.binary, #""AQI""#, nil, []),
        (.binary, "[1]", nil, []),
        (.json, "{", nil, []),
    ]

    @Test(arguments: rawFrames) func rawClientFrame(type: DataType, data: String, isText: Bool?, payload: [UInt8]) {
        let frame = Array(data.utf8).withUnsafeBytes { RawClientPayload.frame(dataType: type, data: $0) }
        #expect(frame?.isText == isText)
        if isText != nil { #expect(frame?.payload == payload) }
    }

    static let base64: [(String, Bool, Int)] = [
        ("", true, 0), ("Zg==", true, 1), ("Zm8=", true, 2), ("Zm9v", true, 3), ("Zm9vYmFy", true, 6),
        ("Zg=", false, 0), ("Z===", false, 0), ("Zm=v", false, 0), ("Zg==Zg==", false, 0), ("Zm9v!A==", false, 0),
        ("Zm9", false, 0), ("Zm 9v", false, 0), ("Zm9v\n", false, 0),
    ]

    @Test(arguments: base64) func base64Validation(text: String, valid: Bool, count: Int) {
        let bytes = Array(text.utf8)
        bytes.withUnsafeBytes { raw in
            #expect(Base64.isValid(raw) == valid)
            #expect(Base64.isValid(raw) == (Base64.decode(bytes) != nil))
            if valid { #expect(Base64.decodedCount(raw) == count) }
        }
    }
}
