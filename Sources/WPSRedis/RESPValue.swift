/// One value of the Redis serialization protocol, RESP2 or RESP3
/// (https://redis.io/docs/latest/develop/reference/protocol-spec/).
public enum RESPValue: Sendable, Equatable {
    /// `+OK`
    case simpleString([UInt8])
    /// `-ERR ...` (and RESP3 blob errors `!`)
    case error([UInt8])
    /// `:42`
    case integer(Int64)
    /// `$5 hello`; RESP3 verbatim strings `=` arrive here without their format prefix.
    case bulkString([UInt8])
    /// `*N ...`; RESP3 sets `~` arrive here too.
    case array([RESPValue])
    /// `$-1`, `*-1` or RESP3 `_`.
    case null
    /// RESP3 `#t` / `#f`.
    case boolean(Bool)
    /// RESP3 `,3.14`, kept as its text (`inf`, `-inf`, `nan` included).
    case double([UInt8])
    /// RESP3 `(3492890328409238509324850943850943825024385`, kept as its text.
    case bigNumber([UInt8])
    /// RESP3 `%N` key/value pairs, in order.
    case map([(RESPValue, RESPValue)])
    /// RESP3 `>N`: out-of-band data (pub/sub messages, invalidations).
    case push([RESPValue])

    public static func == (lhs: RESPValue, rhs: RESPValue) -> Bool {
        switch (lhs, rhs) {
        case (.simpleString(let a), .simpleString(let b)), (.error(let a), .error(let b)),
            (.bulkString(let a), .bulkString(let b)), (.double(let a), .double(let b)),
            (.bigNumber(let a), .bigNumber(let b)):
            a == b
        case (.integer(let a), .integer(let b)): a == b
        case (.array(let a), .array(let b)), (.push(let a), .push(let b)): a == b
        case (.null, .null): true
        case (.boolean(let a), .boolean(let b)): a == b
        case (.map(let a), .map(let b)): a.count == b.count && zip(a, b).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: false
        }
    }

    /// The text of a simple or bulk string, or of an error.
    public var string: String? {
        switch self {
        case .simpleString(let bytes), .bulkString(let bytes), .error(let bytes), .double(let bytes),
            .bigNumber(let bytes):
            String(decoding: bytes, as: UTF8.self)
        default: nil
        }
    }

    /// The elements of an array, set or push.
    public var elements: [RESPValue]? {
        switch self {
        case .array(let values), .push(let values): values
        default: nil
        }
    }

    public var isError: Bool {
        if case .error = self { return true }
        return false
    }
}
