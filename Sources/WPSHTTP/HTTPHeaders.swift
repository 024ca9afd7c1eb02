/// Ordered header fields of a request or response; duplicates are kept in arrival order.
public struct HTTPHeaders: Sendable, Sequence, ExpressibleByDictionaryLiteral {
    /// The fields in order; names as received, values trimmed of optional whitespace.
    public var fields: [(name: String, value: String)]

    /// Creates headers from ordered fields.
    public init(_ fields: [(name: String, value: String)] = []) {
        self.fields = fields
    }

    /// Creates headers from a literal; order is preserved.
    public init(dictionaryLiteral elements: (String, String)...) {
        self.fields = elements.map { (name: $0.0, value: $0.1) }
    }

    /// Number of fields, duplicates included.
    public var count: Int { fields.count }

    /// Iterates the fields in order.
    public func makeIterator() -> IndexingIterator<[(name: String, value: String)]> {
        fields.makeIterator()
    }

    /// The first value of the field `name` (case-insensitive), or nil.
    public subscript(name: String) -> String? {
        for field in fields where HTTPHeaders.namesEqual(field.name, name) {
            return field.value
        }
        return nil
    }

    /// Every value of the field `name` (case-insensitive), in order.
    public func values(_ name: String) -> [String] {
        fields.lazy.filter { HTTPHeaders.namesEqual($0.name, name) }.map(\.value)
    }

    /// All comma-separated elements of every `name` field, trimmed, empty ones dropped.
    public func tokens(_ name: String) -> [String] {
        var result: [String] = []
        for field in fields where HTTPHeaders.namesEqual(field.name, name) {
            for element in field.value.utf8.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: true) {
                let trimmed = HTTPHeaders.trimmingOWS(element)
                if !trimmed.isEmpty { result.append(String(Substring(trimmed))) }
            }
        }
        return result
    }

    /// True if some comma-separated element of a `name` field equals `token` (case-insensitive).
    public func containsToken(_ name: String, _ token: String) -> Bool {
        for field in fields where HTTPHeaders.namesEqual(field.name, name) {
            for element in field.value.utf8.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: true)
            where HTTPHeaders.asciiCaseInsensitiveEqual(HTTPHeaders.trimmingOWS(element), token.utf8) {
                return true
            }
        }
        return false
    }

    /// Appends a field at the end.
    public mutating func add(name: String, value: String) {
        fields.append((name: name, value: value))
    }

    /// Compares two header names ignoring ASCII case.
    public static func namesEqual(_ lhs: String, _ rhs: String) -> Bool {
        guard lhs.utf8.count == rhs.utf8.count else { return false }
        var left = lhs
        var right = rhs
        return left.withUTF8 { leftBytes in
            right.withUTF8 { rightBytes in
                for index in 0..<leftBytes.count
                where HTTPBytes.lower(leftBytes[index]) != HTTPBytes.lower(rightBytes[index]) {
                    return false
                }
                return true
            }
        }
    }

    static func asciiCaseInsensitiveEqual<L: Collection, R: Collection>(_ lhs: L, _ rhs: R) -> Bool
    where L.Element == UInt8, R.Element == UInt8 {
        guard lhs.count == rhs.count else { return false }
        for (left, right) in zip(lhs, rhs) where HTTPBytes.lower(left) != HTTPBytes.lower(right) {
            return false
        }
        return true
    }

    static func trimmingOWS(_ bytes: Substring.UTF8View) -> Substring.UTF8View {
        var slice = bytes
        while let first = slice.first, HTTPBytes.isOWS(first) { slice = slice.dropFirst() }
        while let last = slice.last, HTTPBytes.isOWS(last) { slice = slice.dropLast() }
        return slice
    }
}
