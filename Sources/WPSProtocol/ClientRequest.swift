public import WPSBytes

/// One request a client sends on a JSON subprotocol (protocol-spec/client-protocol.md §2).
///
/// `data` is the byte range of the raw JSON value of `"data"` in the received frame: it is
/// validated against `dataType` but never decoded, so it can be copied into every outbound
/// message as is.
public enum ClientRequest: Sendable, Equatable {
    /// `joinGroup`: add this connection to `group`.
    case joinGroup(group: String, ackId: UInt64?)
    /// `leaveGroup`: remove this connection from `group`.
    case leaveGroup(group: String, ackId: UInt64?)
    /// `sendToGroup`: publish `data` to `group`; `noEcho` skips the sending connection.
    case sendToGroup(group: String, ackId: UInt64?, noEcho: Bool, dataType: DataType, data: Range<Int>)
    /// `event`: a user event for the upstream event handler.
    case event(event: String, ackId: UInt64?, dataType: DataType, data: Range<Int>)
    /// `sequenceAck`: the client has every data message with a sequence id up to this one.
    case sequenceAck(sequenceId: UInt64)
    /// `ping`: JSON-level keep-alive, answered with `pong`.
    case ping
    /// `invoke` with `target` `event`: a user event whose handler's answer comes back as
    /// `invokeResponse` (protocol-spec/upstream.md §9); `data` is nil when absent.
    case invoke(invocationId: String, event: String, dataType: DataType, data: Range<Int>?)
    /// `cancelInvocation`: the client no longer waits for the answer to `invocationId`.
    case cancelInvocation(invocationId: String)

    /// The request's ackId, if it is a kind that can carry one and did.
    public var ackId: UInt64? {
        switch self {
        case .joinGroup(_, let ackId), .leaveGroup(_, let ackId): ackId
        case .sendToGroup(_, let ackId, _, _, _), .event(_, let ackId, _, _): ackId
        case .sequenceAck, .ping, .invoke, .cancelInvocation: nil
        }
    }
}

/// Why a client frame could not be turned into a `ClientRequest`, in the three ways the
/// server reacts (protocol-spec/client-protocol.md §5).
public enum ClientRequestError: Error, Sendable, Equatable {
    /// Not JSON, or not a JSON object: send `system/disconnected` with `reason`, close 1007.
    case invalidJSON(String)
    /// `type` missing, not a string or not known (the payload is the received name, `""`
    /// when absent, the raw JSON text when not a string): disconnected + close 1007.
    case unknownType(String)
    /// A known type with a missing or invalid field: answer an ack with error `BadRequest`
    /// when `ackId` is known; without an ackId the request is ignored and the connection
    /// stays open, because dropping a client for one bad publish would also drop its
    /// reliable session and every other group it is in.
    case badRequest(ackId: UInt64?, message: String)
    /// An `invoke` with a valid `invocationId` and another missing or invalid field: answer
    /// `invokeResponse` with error `BadRequest`; the connection stays open.
    case badInvocation(invocationId: String, message: String)

    /// How the server ends the connection for this error, or nil when it stays open.
    public var close: ClientProtocolClose? {
        switch self {
        case .invalidJSON(let detail): ClientProtocolClose(code: .invalidPayload, reason: "Invalid message: \(detail)")
        case .unknownType(let name):
            ClientProtocolClose(
                code: .invalidPayload,
                reason: name.isEmpty ? "Invalid message: missing type" : "Invalid message: unknown type '\(name)'"
            )
        case .badRequest, .badInvocation: nil
        }
    }

    /// The ack to answer with, or nil when no ack is due.
    public var ackError: (ackId: UInt64, error: AckError)? {
        guard case .badRequest(let ackId?, let message) = self else { return nil }
        return (ackId, AckError(name: .badRequest, message: message))
    }

    /// The failed `invokeResponse` to answer with, or nil when none is due.
    public var invocationError: (invocationId: String, error: AckError)? {
        guard case .badInvocation(let invocationId, let message) = self else { return nil }
        return (invocationId, AckError(name: .badRequest, message: message))
    }
}

/// A server-initiated close caused by a client protocol violation: the `message` of the
/// `system/disconnected` sent first, and the WebSocket close code that follows.
public struct ClientProtocolClose: Sendable, Equatable {
    /// WebSocket close code (RFC 6455 §7.4.1).
    public var code: WebSocketCloseCode
    /// Text for `system/disconnected` and the close frame's reason.
    public var reason: String

    /// Creates a close description.
    public init(code: WebSocketCloseCode, reason: String) {
        self.code = code
        self.reason = reason
    }

    /// A binary frame on a JSON subprotocol: 1003 (unsupported data), as the emulator does.
    public static let binaryFrame = ClientProtocolClose(
        code: .unsupportedData,
        reason: "Invalid message: binary frames are not supported by the JSON subprotocol"
    )
}
