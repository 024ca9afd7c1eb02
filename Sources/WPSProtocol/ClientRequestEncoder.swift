public import WPSBytes

/// Encodes client → server requests of the JSON subprotocols as text-frame payloads, in the
/// field order the Python SDK uses (protocol-spec/client-protocol.md §2), compact.
///
/// `data` arguments are the raw bytes of one JSON value that the caller vouches for; build
/// them with `appendData(text:)`, `appendData(binary:)` or pass JSON text through.
public enum ClientRequestEncoder {
    /// `{"type":"joinGroup","group":G[,"ackId":N]}`.
    public static func joinGroup(group: String, ackId: UInt64?, into out: inout OutputBuffer) {
        groupRequest("joinGroup", group: group, ackId: ackId, into: &out)
    }

    /// `{"type":"leaveGroup","group":G[,"ackId":N]}`.
    public static func leaveGroup(group: String, ackId: UInt64?, into out: inout OutputBuffer) {
        groupRequest("leaveGroup", group: group, ackId: ackId, into: &out)
    }

    /// `{"type":"sendToGroup","group":G[,"ackId":N],"dataType":T,"data":<raw>,"noEcho":B}`.
    public static func sendToGroup(
        group: String, ackId: UInt64?, noEcho: Bool, dataType: DataType, data: UnsafeRawBufferPointer,
        into out: inout OutputBuffer
    ) {
        out.append(#"{"type":"sendToGroup","group":"#)
        JSONWriter.appendString(group, to: &out)
        appendAckId(ackId, to: &out)
        appendData(dataType: dataType, data: data, to: &out)
        out.append(noEcho ? #","noEcho":true}"# : #","noEcho":false}"#)
    }

    /// `{"type":"event","event":E[,"ackId":N],"dataType":T,"data":<raw>}`.
    public static func event(
        event: String, ackId: UInt64?, dataType: DataType, data: UnsafeRawBufferPointer, into out: inout OutputBuffer
    ) {
        out.append(#"{"type":"event","event":"#)
        JSONWriter.appendString(event, to: &out)
        appendAckId(ackId, to: &out)
        appendData(dataType: dataType, data: data, to: &out)
        out.append("}")
    }

    /// `{"type":"invoke","invocationId":I,"target":"event","event":E,"dataType":T,"data":<raw>}`
    /// (protocol-spec/upstream.md §9).
    public static func invoke(
        invocationId: String, event: String, dataType: DataType, data: UnsafeRawBufferPointer,
        into out: inout OutputBuffer
    ) {
        out.append(#"{"type":"invoke","invocationId":"#)
        JSONWriter.appendString(invocationId, to: &out)
        out.append(#","target":"event","event":"#)
        JSONWriter.appendString(event, to: &out)
        appendData(dataType: dataType, data: data, to: &out)
        out.append("}")
    }

    /// `{"type":"cancelInvocation","invocationId":I}`.
    public static func cancelInvocation(invocationId: String, into out: inout OutputBuffer) {
        out.append(#"{"type":"cancelInvocation","invocationId":"#)
        JSONWriter.appendString(invocationId, to: &out)
        out.append("}")
    }

    /// `{"type":"sequenceAck","sequenceId":N}`.
    public static func sequenceAck(sequenceId: UInt64, into out: inout OutputBuffer) {
        out.append(#"{"type":"sequenceAck","sequenceId":"#)
        out.appendDecimal(sequenceId)
        out.append("}")
    }

    /// `{"type":"ping"}`.
    public static func ping(into out: inout OutputBuffer) {
        out.append(#"{"type":"ping"}"#)
    }

    /// The JSON value carrying `text` for `dataType` text: a JSON string.
    public static func appendData(text: String, to out: inout OutputBuffer) {
        JSONWriter.appendString(text, to: &out)
    }

    /// The JSON value carrying `bytes` for `dataType` binary: a padded base64 string.
    public static func appendData(binary bytes: some Collection<UInt8>, to out: inout OutputBuffer) {
        var encoded: [UInt8] = [UInt8(ascii: "\"")]
        encoded.reserveCapacity((bytes.count + 2) / 3 * 4 + 2)
        Base64.encode(bytes, into: &encoded)
        encoded.append(UInt8(ascii: "\""))
        out.append(contentsOf: encoded)
    }

    private static func groupRequest(_ type: String, group: String, ackId: UInt64?, into out: inout OutputBuffer) {
        out.append(#"{"type":""#)
        out.append(type)
        out.append(#"","group":"#)
        JSONWriter.appendString(group, to: &out)
        appendAckId(ackId, to: &out)
        out.append("}")
    }

    private static func appendAckId(_ ackId: UInt64?, to out: inout OutputBuffer) {
        guard let ackId else { return }
        out.append(#","ackId":"#)
        out.appendDecimal(ackId)
    }

    private static func appendData(dataType: DataType, data: UnsafeRawBufferPointer, to out: inout OutputBuffer) {
        out.append(#","dataType":""#)
        out.append(dataType.wireName)
        out.append(#"","data":"#)
        out.append(data)
    }
}
