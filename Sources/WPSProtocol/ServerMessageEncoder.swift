public import WPSBytes

/// Encodes server → client messages of the JSON subprotocols as the text-frame payload
/// (exact shapes and field order: protocol-spec/client-protocol.md §6).
///
/// Everything is appended to an `OutputBuffer`; strings go through `JSONWriter`, and the
/// `data` of data messages is copied as raw JSON bytes that the caller vouches for (the
/// range the decoder validated, or a value built with `appendData`).
public enum ServerMessageEncoder {
    /// The byte that closes a data message on a non-reliable connection.
    public static let messageEnd: UInt8 = UInt8(ascii: "}")

    /// `{"type":"ack","ackId":N,"success":true}`, or with `"success":false,"error":{...}`.
    public static func ack(ackId: UInt64, error: AckError?, into out: inout OutputBuffer) {
        out.append(#"{"type":"ack","ackId":"#)
        out.appendDecimal(ackId)
        guard let error else {
            out.append(#","success":true}"#)
            return
        }
        appendFailure(error, to: &out)
    }

    /// `{"type":"invokeResponse","invocationId":"<id>","success":true}`, with
    /// `,"dataType":...,"data":<raw>` before the `}` when `dataType` is set (never for an
    /// empty answer). Not a data message: it never carries a `sequenceId`.
    public static func invokeResponse(
        invocationId: String, dataType: DataType?, data: UnsafeRawBufferPointer, into out: inout OutputBuffer
    ) {
        out.append(#"{"type":"invokeResponse","invocationId":"#)
        JSONWriter.appendString(invocationId, to: &out)
        out.append(#","success":true"#)
        if let dataType { appendData(dataType: dataType, data: data, to: &out) }
        out.append(messageEnd)
    }

    /// `{"type":"invokeResponse","invocationId":"<id>","success":false,"error":{...}}`.
    public static func invokeResponse(invocationId: String, error: AckError, into out: inout OutputBuffer) {
        out.append(#"{"type":"invokeResponse","invocationId":"#)
        JSONWriter.appendString(invocationId, to: &out)
        appendFailure(error, to: &out)
    }

    /// `,"success":false,"error":{"name":...,"message":...}}`: the end of a failed answer.
    private static func appendFailure(_ error: AckError, to out: inout OutputBuffer) {
        out.append(#","success":false,"error":{"name":"#)
        JSONWriter.appendString(error.name.rawValue, to: &out)
        out.append(#","message":"#)
        JSONWriter.appendString(error.message, to: &out)
        out.append("}}")
    }

    /// `{"type":"system","event":"connected","userId":...,"connectionId":...[,"reconnectionToken":...]}`.
    ///
    /// `userId` is written as `null` when absent (clients accept it; `connectionId` is the
    /// field they require); `reconnectionToken` only appears on reliable connections.
    public static func connected(
        userId: String?,
        connectionId: String,
        reconnectionToken: String?,
        into out: inout OutputBuffer
    ) {
        out.append(#"{"type":"system","event":"connected","userId":"#)
        appendOptionalString(userId, to: &out)
        out.append(#","connectionId":"#)
        JSONWriter.appendString(connectionId, to: &out)
        if let reconnectionToken {
            out.append(#","reconnectionToken":"#)
            JSONWriter.appendString(reconnectionToken, to: &out)
        }
        out.append(messageEnd)
    }

    /// `{"type":"system","event":"disconnected","message":...}`, sent right before a server close.
    public static func disconnected(message: String, into out: inout OutputBuffer) {
        out.append(#"{"type":"system","event":"disconnected","message":"#)
        JSONWriter.appendString(message, to: &out)
        out.append(messageEnd)
    }

    /// `{"type":"pong"}`, the reply to a client `ping` (never sent unsolicited: .NET throws on it).
    public static func pong(into out: inout OutputBuffer) {
        out.append(#"{"type":"pong"}"#)
    }

    /// A group data message without its closing part, so one encoding serves every recipient:
    /// `{"type":"message","from":"group","group":...,"dataType":...,"data":<raw>,"fromUserId":...`.
    ///
    /// Finish each copy with `messageEnd` (non-reliable) or `sequenceSuffix` (reliable).
    /// `fromUserId` is `null` when the publisher is anonymous or the REST API.
    public static func groupMessagePrefix(
        group: String,
        fromUserId: String?,
        dataType: DataType,
        data: UnsafeRawBufferPointer,
        into out: inout OutputBuffer
    ) {
        out.append(#"{"type":"message","from":"group","group":"#)
        JSONWriter.appendString(group, to: &out)
        appendData(dataType: dataType, data: data, to: &out)
        out.append(#","fromUserId":"#)
        appendOptionalString(fromUserId, to: &out)
    }

    /// A server data message without its closing part:
    /// `{"type":"message","from":"server","dataType":...,"data":<raw>`.
    public static func serverMessagePrefix(
        dataType: DataType, data: UnsafeRawBufferPointer, into out: inout OutputBuffer
    ) {
        out.append(#"{"type":"message","from":"server""#)
        appendData(dataType: dataType, data: data, to: &out)
    }

    /// `,"sequenceId":N}`: the per-recipient end of a data message on a reliable connection.
    public static func sequenceSuffix(_ sequenceId: UInt64, into out: inout OutputBuffer) {
        out.append(#","sequenceId":"#)
        out.appendDecimal(sequenceId)
        out.append(messageEnd)
    }

    /// Appends the JSON value carrying `text` (for `dataType` text), e.g. from a REST
    /// `text/plain` body or an upstream reply.
    public static func appendData(text: String, to out: inout OutputBuffer) {
        JSONWriter.appendString(text, to: &out)
    }

    /// Appends the JSON value carrying `bytes` (for `dataType` binary): a base64 string.
    public static func appendData(binary bytes: UnsafeRawBufferPointer, to out: inout OutputBuffer) {
        var encoded: [UInt8] = []
        encoded.reserveCapacity((bytes.count + 2) / 3 * 4 + 2)
        encoded.append(UInt8(ascii: "\""))
        Base64.encode(bytes, into: &encoded)
        encoded.append(UInt8(ascii: "\""))
        out.append(contentsOf: encoded)
    }

    private static func appendData(dataType: DataType, data: UnsafeRawBufferPointer, to out: inout OutputBuffer) {
        out.append(#","dataType":""#)
        out.append(dataType.wireName)
        out.append(#"","data":"#)
        out.append(data)
    }

    private static func appendOptionalString(_ text: String?, to out: inout OutputBuffer) {
        if let text {
            JSONWriter.appendString(text, to: &out)
        } else {
            out.append("null")
        }
    }
}
