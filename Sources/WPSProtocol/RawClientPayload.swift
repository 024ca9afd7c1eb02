import WPSBytes

/// The bare WebSocket frame a raw (no-subprotocol) client receives for a data message
/// (reference §1.4; protocol-spec/client-protocol.md §4.2).
///
/// text → the decoded string's UTF-8 in a text frame; json → the JSON text as is in a text
/// frame (a JSON string arrives with its quotes); binary/protobuf → the base64-decoded bytes
/// in a binary frame.
public enum RawClientPayload {
    /// The frame for `data` (the raw JSON value bytes) of `dataType`, or nil when the value
    /// does not fit the type (which the decoder never lets through).
    public static func frame(dataType: DataType, data: UnsafeRawBufferPointer) -> (isText: Bool, payload: [UInt8])? {
        guard let token = try? JSON.validate(data, maxDepth: JSONLimits.forwardedDepth) else { return nil }
        switch dataType {
        case .json:
            return (true, Array(data))
        case .text:
            guard token.kind == .string, let text = JSON.stringBytes(data, token) else { return nil }
            return (true, text)
        default:
            guard token.kind == .string else { return nil }
            if let plain = JSON.unescapedContents(data, token) {
                return Base64.decode(plain).map { (false, $0) }
            }
            guard let text = JSON.stringBytes(data, token) else { return nil }
            return Base64.decode(text).map { (false, $0) }
        }
    }
}

/// Depth limits shared by the codecs.
enum JSONLimits {
    /// Depth for re-checking data already validated at `ClientRequestDecoder.maxDepth`
    /// inside its envelope (one level shallower there), with room to spare.
    static let forwardedDepth = 1024
}
