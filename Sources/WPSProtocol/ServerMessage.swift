/// One message a JSON-subprotocol server sends to a client (protocol-spec/client-protocol.md §6),
/// as decoded by `ServerMessageDecoder`.
///
/// `data` is the byte range of the raw JSON value of `"data"` inside the decoded frame; decode
/// it with `ServerMessageDecoder.text`, `.json` or `.binary` per `dataType`.
public enum ServerMessage: Sendable, Equatable {
    /// The answer to a request with an `ackId`; `error` is set when `success` is false.
    case ack(ackId: UInt64, success: Bool, error: AckError?)
    /// `system/connected`: the first frame; `reconnectionToken` only on reliable connections.
    case connected(userId: String?, connectionId: String, reconnectionToken: String?)
    /// `system/disconnected`, sent right before a server-initiated close.
    case disconnected(message: String?)
    /// A data message published to `group`.
    case groupMessage(group: String, fromUserId: String?, dataType: DataType, data: Range<Int>, sequenceId: UInt64?)
    /// A data message from the server (REST API or upstream).
    case serverMessage(dataType: DataType, data: Range<Int>, sequenceId: UInt64?)
    /// The answer to an `invoke`: `dataType`/`data` when it carries a value, `error` when
    /// `success` is false.
    case invokeResponse(
        invocationId: String, success: Bool, dataType: DataType?, data: Range<Int>?, error: AckError?)
    /// The reply to a `ping`.
    case pong
    /// A well-formed message of a type, event or origin this decoder does not know; clients
    /// ignore these (forward compatibility).
    case unknown(String)
}

/// Why a server frame could not be decoded.
public struct ServerMessageError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A short description of the fault.
    public var reason: String

    /// Creates an error.
    public init(_ reason: String) { self.reason = reason }

    /// The reason.
    public var description: String { reason }
}
