import WPSBytes

/// Decodes one text frame a JSON-subprotocol server sent into a `ServerMessage`
/// (protocol-spec/client-protocol.md §6): the client side of `ServerMessageEncoder`.
///
/// Field names are matched exactly; unknown fields are ignored; `type`, `event` and `from`
/// values the decoder does not know give `.unknown`, as the JavaScript and Python SDKs skip
/// them. Required fields that are missing or of the wrong kind are errors.
public enum ServerMessageDecoder {
    /// Deepest nesting accepted in a frame (the server's own limit).
    public static let maxDepth = 64

    /// Decodes `frame`, the complete payload of one text message.
    public static func decode(_ frame: UnsafeRawBufferPointer) -> Result<ServerMessage, ServerMessageError> {
        var fields = ServerFields()
        do throws(JSONError) {
            try JSON.scanObject(frame, maxDepth: maxDepth) { key, value throws(JSONError) in
                fields.record(frame, key: key, value: value)
            }
        } catch {
            return .failure(ServerMessageError("invalid JSON: \(error.description)"))
        }
        guard let type = fields.type, type.kind == .string else {
            return .failure(ServerMessageError("missing type"))
        }
        if JSON.stringEquals(frame, type, "message") { return fields.dataMessage(frame) }
        if JSON.stringEquals(frame, type, "ack") { return fields.ack(frame) }
        if JSON.stringEquals(frame, type, "system") { return fields.system(frame) }
        if JSON.stringEquals(frame, type, "pong") { return .success(.pong) }
        if JSON.stringEquals(frame, type, "invokeResponse") { return fields.invokeResponse(frame) }
        return .success(.unknown(JSON.string(frame, type) ?? ""))
    }

    /// The text of a `text` data value (a JSON string), or nil when it is not one.
    public static func text(_ frame: UnsafeRawBufferPointer, data: Range<Int>) -> String? {
        JSON.string(frame, JSONToken(kind: .string, range: data))
    }

    /// The raw JSON bytes of a `json` data value, copied.
    public static func json(_ frame: UnsafeRawBufferPointer, data: Range<Int>) -> [UInt8] {
        guard data.lowerBound >= 0, data.upperBound <= frame.count else { return [] }
        return Array(frame[data])
    }

    /// The bytes of a `binary` or `protobuf` data value (a base64 string), or nil when invalid.
    public static func binary(_ frame: UnsafeRawBufferPointer, data: Range<Int>) -> [UInt8]? {
        guard let encoded = JSON.stringBytes(frame, JSONToken(kind: .string, range: data)) else { return nil }
        return Base64.decode(encoded)
    }
}

/// The tokens of the known fields of one server frame.
struct ServerFields {
    var type: JSONToken?
    var event: JSONToken?
    var from: JSONToken?
    var group: JSONToken?
    var dataType: JSONToken?
    var data: JSONToken?
    var fromUserId: JSONToken?
    var sequenceId: JSONToken?
    var ackId: JSONToken?
    var success: JSONToken?
    var error: JSONToken?
    var userId: JSONToken?
    var connectionId: JSONToken?
    var reconnectionToken: JSONToken?
    var message: JSONToken?
    var invocationId: JSONToken?

    mutating func record(_ frame: UnsafeRawBufferPointer, key: JSONToken, value: JSONToken) {
        guard let contents = JSON.unescapedContents(frame, key) else { return }
        switch String(decoding: contents, as: UTF8.self) {
        case "type": type = value
        case "event": event = value
        case "from": from = value
        case "group": group = value
        case "dataType": dataType = value
        case "data": data = value
        case "fromUserId": fromUserId = value
        case "sequenceId": sequenceId = value
        case "ackId": ackId = value
        case "success": success = value
        case "error": error = value
        case "userId": userId = value
        case "connectionId": connectionId = value
        case "reconnectionToken": reconnectionToken = value
        case "message": message = value
        case "invocationId": invocationId = value
        default: break
        }
    }

    /// A string field that may be absent or null; `.failure` for any other kind.
    func optionalString(_ frame: UnsafeRawBufferPointer, _ token: JSONToken?, _ name: String) -> Result<
        String?, ServerMessageError
    > {
        guard let token, token.kind != .null else { return .success(nil) }
        guard let text = JSON.string(frame, token) else {
            return .failure(ServerMessageError("\(name) is not a string"))
        }
        return .success(text)
    }

    func optionalUInt64(_ frame: UnsafeRawBufferPointer, _ token: JSONToken?, _ name: String) -> Result<
        UInt64?, ServerMessageError
    > {
        guard let token, token.kind != .null else { return .success(nil) }
        guard let value = JSON.uint64(frame, token) else { return .failure(ServerMessageError("invalid \(name)")) }
        return .success(value)
    }

    func dataMessage(_ frame: UnsafeRawBufferPointer) -> Result<ServerMessage, ServerMessageError> {
        guard let from, from.kind == .string else { return .failure(ServerMessageError("missing from")) }
        guard let dataTypeToken = dataType else { return .failure(ServerMessageError("missing dataType")) }
        guard let kind = DataType.parse(frame, dataTypeToken) else {
            return .success(.unknown("dataType " + (JSON.string(frame, dataTypeToken) ?? "")))
        }
        guard let data, data.kind != .null else { return .failure(ServerMessageError("missing data")) }
        if kind != .json, data.kind != .string { return .failure(ServerMessageError("data is not a string")) }
        let sequence: UInt64?
        switch optionalUInt64(frame, sequenceId, "sequenceId") {
        case .success(let value): sequence = value
        case .failure(let error): return .failure(error)
        }
        if JSON.stringEquals(frame, from, "server") {
            return .success(.serverMessage(dataType: kind, data: data.range, sequenceId: sequence))
        }
        guard JSON.stringEquals(frame, from, "group") else {
            return .success(.unknown("from " + (JSON.string(frame, from) ?? "")))
        }
        guard let groupToken = group, let groupName = JSON.string(frame, groupToken) else {
            return .failure(ServerMessageError("missing group"))
        }
        return optionalString(frame, fromUserId, "fromUserId").map { user in
            .groupMessage(group: groupName, fromUserId: user, dataType: kind, data: data.range, sequenceId: sequence)
        }
    }

    func ack(_ frame: UnsafeRawBufferPointer) -> Result<ServerMessage, ServerMessageError> {
        guard let ackId, let id = JSON.uint64(frame, ackId) else {
            return .failure(ServerMessageError("invalid ackId"))
        }
        guard let success, let ok = JSON.bool(frame, success) else {
            return .failure(ServerMessageError("invalid success"))
        }
        return .success(.ack(ackId: id, success: ok, error: errorObject(frame)))
    }

    /// The `error` object of an ack or invokeResponse, nil when absent.
    func errorObject(_ frame: UnsafeRawBufferPointer) -> AckError? {
        guard let error, error.kind == .object else { return nil }
        var name = ""
        var message = ""
        JSON.forEachMember(frame, in: error) { key, value in
            if JSON.stringEquals(frame, key, "name") {
                name = JSON.string(frame, value) ?? ""
            } else if JSON.stringEquals(frame, key, "message") {
                message = JSON.string(frame, value) ?? ""
            }
        }
        return AckError(name: AckErrorName(name), message: message)
    }

    func invokeResponse(_ frame: UnsafeRawBufferPointer) -> Result<ServerMessage, ServerMessageError> {
        guard let invocationId, let id = JSON.string(frame, invocationId) else {
            return .failure(ServerMessageError("invalid invocationId"))
        }
        guard let success, let ok = JSON.bool(frame, success) else {
            return .failure(ServerMessageError("invalid success"))
        }
        var kind: DataType?
        var value: Range<Int>?
        if let dataType, dataType.kind != .null {
            guard let parsed = DataType.parse(frame, dataType) else {
                return .success(.unknown("dataType " + (JSON.string(frame, dataType) ?? "")))
            }
            guard let data, data.kind != .null else { return .failure(ServerMessageError("missing data")) }
            if parsed != .json, data.kind != .string { return .failure(ServerMessageError("data is not a string")) }
            kind = parsed
            value = data.range
        }
        return .success(
            .invokeResponse(invocationId: id, success: ok, dataType: kind, data: value, error: errorObject(frame)))
    }

    func system(_ frame: UnsafeRawBufferPointer) -> Result<ServerMessage, ServerMessageError> {
        guard let event, event.kind == .string else { return .failure(ServerMessageError("missing event")) }
        if JSON.stringEquals(frame, event, "connected") {
            guard let connectionId, let id = JSON.string(frame, connectionId) else {
                return .failure(ServerMessageError("missing connectionId"))
            }
            let user: String?
            switch optionalString(frame, userId, "userId") {
            case .success(let value): user = value
            case .failure(let error): return .failure(error)
            }
            return optionalString(frame, reconnectionToken, "reconnectionToken").map { token in
                .connected(userId: user, connectionId: id, reconnectionToken: token)
            }
        }
        if JSON.stringEquals(frame, event, "disconnected") {
            return optionalString(frame, message, "message").map { .disconnected(message: $0) }
        }
        return .success(.unknown("event " + (JSON.string(frame, event) ?? "")))
    }
}
