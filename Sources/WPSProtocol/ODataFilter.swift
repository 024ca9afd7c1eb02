/// A compiled filter over connections: the REST API's `filter` query parameter
/// (protocol-spec/rest-filter.md). Compile once with `init(_:)`, then call `matches` per
/// connection; evaluation walks an immutable tree and allocates only for `tolower`,
/// `toupper`, `concat` and computed `in groups` operands.
public struct ODataFilter: Sendable {
    /// Most clauses per filter, where a clause is one comparison operator (`eq` `ne` `gt`
    /// `ge` `lt` `le`), one `in` (however long its list) or one function call. Azure's
    /// guidance is "over 100 clauses risks the limit", so 100 are accepted, 101 rejected.
    public static let maxClauses = 100
    /// Longest filter text in UTF-8 bytes; a 4 KiB query value covers any hand-written filter
    /// and keeps compile time and the tree small.
    public static let maxLengthBytes = 4096
    /// Deepest nesting, counting every `(` (grouping, function call, `in` list) and every
    /// `not` that is still open; bounds recursion in the parser and in evaluation.
    public static let maxDepth = 32

    /// The compiled expression.
    let root: ODataFilterNode
    /// How many clauses the text had (see `maxClauses`).
    public let clauseCount: Int

    /// Compiles filter text, or throws with the position of the offending token.
    public init(_ text: String) throws(ODataFilterError) {
        let utf8 = text.utf8
        if utf8.count > Self.maxLengthBytes {
            throw ODataFilterError(
                text: text, offset: Self.maxLengthBytes,
                message: "filter longer than \(Self.maxLengthBytes) bytes")
        }
        do {
            var parser = try ODataFilterParser(bytes: Array(utf8))
            root = try parser.parseFilter()
            clauseCount = parser.clauses
        } catch {
            throw ODataFilterError(text: text, offset: error.offset, message: error.message)
        }
    }

    /// Whether the connection described by `subject` passes the filter.
    public func matches(_ subject: some ODataFilterSubject) -> Bool {
        root.test(subject)
    }

    /// Whether a connection passes; `groups` membership uses `Set.contains`.
    public func matches(userId: String?, connectionId: String, groups: Set<String>) -> Bool {
        root.test(ODataFilterConnection(userId: userId, connectionId: connectionId, groups: groups))
    }

    /// Whether a connection passes; `groups` is searched with `contains` (linear for arrays).
    public func matches(userId: String?, connectionId: String, groups: some Collection<String>) -> Bool {
        root.test(ODataFilterConnection(userId: userId, connectionId: connectionId, groups: groups))
    }
}

/// What a filter can ask about a connection. Conform a connection record to this to
/// evaluate filters without copying its group set.
public protocol ODataFilterSubject {
    /// The connection's user id, or nil for an anonymous connection.
    var userId: String? { get }
    /// The connection id.
    var connectionId: String { get }
    /// The number of groups the connection is in (`length(groups)`).
    var groupCount: Int { get }
    /// Whether the connection is in the named group (`'name' in groups`).
    func isInGroup(_ group: String) -> Bool
}

/// A subject made of plain values, for the `matches(userId:connectionId:groups:)` overloads.
struct ODataFilterConnection<Groups: Collection<String>>: ODataFilterSubject {
    var userId: String?
    var connectionId: String
    var groups: Groups

    var groupCount: Int { groups.count }

    func isInGroup(_ group: String) -> Bool { groups.contains(group) }
}

/// Why filter text was rejected. The REST layer answers 400 with `description`.
public struct ODataFilterError: Error, Sendable, Equatable, CustomStringConvertible {
    /// 0-based position of the offending token, in Unicode scalars from the start of the text
    /// (equal to the character offset for ASCII text).
    public var position: Int
    /// What is wrong, in lower case without a final period.
    public var message: String

    /// Creates an error at a scalar position.
    public init(position: Int, message: String) {
        self.position = position
        self.message = message
    }

    /// Creates an error at a UTF-8 offset into `text`, converting the offset to scalars.
    init(text: String, offset: Int, message: String) {
        var scalars = 0
        for byte in text.utf8.prefix(offset) where byte & 0xC0 != 0x80 { scalars += 1 }
        self.init(position: scalars, message: message)
    }

    /// `Invalid filter at position N: message`, the REST error text.
    public var description: String { "Invalid filter at position \(position): \(message)" }
}
