import Testing
import WPSBytes
import WPSProtocol

/// Runs an encoder and returns its output as text.
func encoded(_ body: (inout OutputBuffer) -> Void) -> String {
    var out = OutputBuffer()
    body(&out)
    return String(decoding: out.bytes, as: UTF8.self)
}

/// Whether `text` is one valid JSON object.
func isJSONObject(_ text: String) -> Bool {
    Array(text.utf8).withUnsafeBytes { (try? JSON.validate($0))?.kind == .object }
}

/// Encodes a data message prefix with `data` given as JSON text.
func prefix(_ data: String, _ body: (UnsafeRawBufferPointer, inout OutputBuffer) -> Void) -> String {
    let bytes = Array(data.utf8)
    return encoded { out in bytes.withUnsafeBytes { body($0, &out) } }
}

@Suite struct ServerMessageEncoderTests {
    static let cases: [(String, String)] = [
        (
            encoded { ServerMessageEncoder.ack(ackId: 1, error: nil, into: &$0) },
            #"{"type":"ack","ackId":1,"success":true}"#
        ),
        (
            encoded {
                ServerMessageEncoder.ack(
                    ackId: 2, error: AckError(name: .forbidden, message: "No \"permission\""), into: &$0)
            },
            #"{"type":"ack","ackId":2,"success":false,"error":{"name":"Forbidden","message":"No \"permission\""}}"#
        ),
        (
            encoded { ServerMessageEncoder.ack(ackId: 2, error: .duplicate(ackId: 2), into: &$0) },
            #"{"type":"ack","ackId":2,"success":false,"error":{"name":"Duplicate","message":"Message with ack-id: 2 has been processed"}}"#
        ),
        (
            encoded { ServerMessageEncoder.ack(ackId: .max, error: nil, into: &$0) },
            #"{"type":"ack","ackId":18446744073709551615,"success":true}"#
        ),
        (
            encoded {
                ServerMessageEncoder.connected(userId: "user1", connectionId: "abc", reconnectionToken: nil, into: &$0)
            },
            #"{"type":"system","event":"connected","userId":"user1","connectionId":"abc"}"#
        ),
        (
            encoded {
                ServerMessageEncoder.connected(userId: nil, connectionId: "id", reconnectionToken: "t/k=", into: &$0)
            },
            #"{"type":"system","event":"connected","userId":null,"connectionId":"id","reconnectionToken":"t/k="}"#
        ),
        (
            encoded { ServerMessageEncoder.disconnected(message: "bye\n", into: &$0) },
            #"{"type":"system","event":"disconnected","message":"bye\n"}"#
        ),
        (encoded { ServerMessageEncoder.pong(into: &$0) }, #"{"type":"pong"}"#),
        (
            prefix(#"{"hello":"world"}"#) { data, out in
                ServerMessageEncoder.groupMessagePrefix(
                    group: "g1", fromUserId: "user1", dataType: .json, data: data, into: &out)
                ServerMessageEncoder.sequenceSuffix(1, into: &out)
            },
            #"{"type":"message","from":"group","group":"g1","dataType":"json","data":{"hello":"world"},"fromUserId":"user1","sequenceId":1}"#
        ),
        (
            prefix(#""hi""#) { data, out in
                ServerMessageEncoder.groupMessagePrefix(
                    group: "r\"m", fromUserId: nil, dataType: .text, data: data, into: &out)
                out.append(ServerMessageEncoder.messageEnd)
            },
            #"{"type":"message","from":"group","group":"r\"m","dataType":"text","data":"hi","fromUserId":null}"#
        ),
        (
            prefix(#""Hello World""#) { data, out in
                ServerMessageEncoder.serverMessagePrefix(dataType: .text, data: data, into: &out)
                ServerMessageEncoder.sequenceSuffix(18_446_744_073_709_551_615, into: &out)
            },
            #"{"type":"message","from":"server","dataType":"text","data":"Hello World","sequenceId":18446744073709551615}"#
        ),
        (
            prefix(#""AQI=""#) { data, out in
                ServerMessageEncoder.serverMessagePrefix(dataType: .protobuf, data: data, into: &out)
                out.append(ServerMessageEncoder.messageEnd)
            },
            #"{"type":"message","from":"server","dataType":"protobuf","data":"AQI="}"#
        ),
        (encoded { ServerMessageEncoder.appendData(text: "a\"b", to: &$0) }, #""a\"b""#),
        (
            encoded { out in [UInt8]([1, 2]).withUnsafeBytes { ServerMessageEncoder.appendData(binary: $0, to: &out) }
            }, #""AQI=""#
        ),
        (
            encoded { out in [UInt8]().withUnsafeBytes { ServerMessageEncoder.appendData(binary: $0, to: &out) } },
            #""""#
        ),
        (
            encoded { out in
                [UInt8]().withUnsafeBytes {
                    ServerMessageEncoder.invokeResponse(invocationId: "1", dataType: nil, data: $0, into: &out)
                }
            },
            #"{"type":"invokeResponse","invocationId":"1","success":true}"#
        ),
        (
            prefix(#"{"a":[1]}"#) { data, out in
                ServerMessageEncoder.invokeResponse(invocationId: "i\"d", dataType: .json, data: data, into: &out)
            },
            #"{"type":"invokeResponse","invocationId":"i\"d","success":true,"dataType":"json","data":{"a":[1]}}"#
        ),
        (
            prefix(#""AQI=""#) { data, out in
                ServerMessageEncoder.invokeResponse(invocationId: "2", dataType: .binary, data: data, into: &out)
            },
            #"{"type":"invokeResponse","invocationId":"2","success":true,"dataType":"binary","data":"AQI="}"#
        ),
        (
            encoded {
                ServerMessageEncoder.invokeResponse(
                    invocationId: "3", error: AckError(name: .notFound, message: "no \"handler\""), into: &$0)
            },
            #"{"type":"invokeResponse","invocationId":"3","success":false,"error":{"name":"NotFound","message":"no \"handler\""}}"#
        ),
    ]

    @Test(arguments: cases) func exactBytes(actual: String, expected: String) {
        #expect(actual == expected)
    }

    @Test(arguments: cases) func outputIsValidJSON(actual: String, expected: String) {
        // appendData produces a value, not a message; everything else must be an object.
        let isValue = actual.hasPrefix("\"")
        let valid = Array(actual.utf8).withUnsafeBytes { (try? JSON.validate($0)) != nil }
        #expect(valid)
        #expect(isValue || isJSONObject(actual))
    }

    @Test func oneEncodingServesEveryRecipient() {
        // Reliable recipients differ only in the suffix; the shared prefix is reused as is.
        let shared = prefix(#"[1,2]"#) { data, out in
            ServerMessageEncoder.groupMessagePrefix(
                group: "g", fromUserId: "u", dataType: .json, data: data, into: &out)
        }
        for id: UInt64 in [1, 2, 1000] {
            let message = shared + encoded { ServerMessageEncoder.sequenceSuffix(id, into: &$0) }
            #expect(isJSONObject(message))
            #expect(message.hasSuffix(#","sequenceId":\#(id)}"#))
        }
        #expect(isJSONObject(shared + "}"))
    }

    @Test func decodedDataIsForwardedByteForByte() {
        let frame = Array(#"{"type":"sendToGroup","group":"g","data":{ "a" : [ 1 ] },"noEcho":false}"#.utf8)
        let message: String = frame.withUnsafeBytes { raw in
            guard case .success(.sendToGroup(let group, _, _, let type, let range)) = ClientRequestDecoder.decode(raw)
            else {
                return ""
            }
            return encoded { out in
                ServerMessageEncoder.groupMessagePrefix(
                    group: group, fromUserId: "u", dataType: type, data: UnsafeRawBufferPointer(rebasing: raw[range]),
                    into: &out)
                out.append(ServerMessageEncoder.messageEnd)
            }
        }
        #expect(
            message
                == #"{"type":"message","from":"group","group":"g","dataType":"json","data":{ "a" : [ 1 ] },"fromUserId":"u"}"#
        )
    }
}
