/// The `error` object of a failed ack: `{"name": ..., "message": ...}` (reference §2.2).
public struct AckError: Sendable, Equatable, Error {
    /// Machine-readable error name; clients branch on it (all treat `Duplicate` as success).
    public var name: AckErrorName
    /// Human-readable detail.
    public var message: String

    /// Creates an ack error.
    public init(name: AckErrorName, message: String) {
        self.name = name
        self.message = message
    }

    /// The `Duplicate` answer to a repeated ackId, worded as the service and emulator do.
    public static func duplicate(ackId: UInt64) -> AckError {
        AckError(name: .duplicate, message: "Message with ack-id: \(ackId) has been processed")
    }
}

/// An ack error name. The value space is open: the service documents some names, the
/// schema and emulator add others, so any string is representable.
public struct AckErrorName: Hashable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
    /// The name as written on the wire.
    public var rawValue: String

    /// Creates a name from its wire text.
    public init(_ rawValue: String) { self.rawValue = rawValue }

    /// Creates a name from a literal.
    public init(stringLiteral value: String) { self.rawValue = value }

    /// The connection lacks the permission (role) the request needs.
    public static let forbidden: AckErrorName = "Forbidden"
    /// The ackId was already processed successfully on this logical connection.
    public static let duplicate: AckErrorName = "Duplicate"
    /// The request was malformed (missing or invalid field).
    public static let badRequest: AckErrorName = "BadRequest"
    /// The server failed; the client may retry with the same ackId.
    public static let internalServerError: AckErrorName = "InternalServerError"
    /// The target does not exist (schema name; not used by wps-server so far).
    public static let notFound: AckErrorName = "NotFound"
    /// The operation timed out (schema name; e.g. an upstream event handler that did not answer).
    public static let timeout: AckErrorName = "Timeout"

    /// The wire text.
    public var description: String { rawValue }
}
