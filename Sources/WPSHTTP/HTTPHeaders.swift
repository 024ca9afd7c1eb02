public import WPSBytes

/// Ordered header fields of a request or response; duplicates are kept in arrival order.
///
/// A parsed request keeps its fields as raw bytes (`RawHeaderFields`) and makes strings only
/// for the fields that are asked for; headers built in code hold strings.
public struct HTTPHeaders: Sendable, Sequence, ExpressibleByDictionaryLiteral {
    private var list: [(name: String, value: String)]
    private var raw: RawHeaderFields?

    /// The fields in order; names as received, values trimmed of optional whitespace.
    public var fields: [(name: String, value: String)] {
        get { raw?.materialize() ?? list }
        set {
            list = newValue
            raw = nil
        }
    }

    /// The fields as bytes; made from the strings when the headers were built in code.
    public var rawFields: RawHeaderFields { raw ?? RawHeaderFields(list) }

    /// Creates headers from ordered fields.
    public init(_ fields: [(name: String, value: String)] = []) {
        self.list = fields
        self.raw = nil
    }

    /// Creates headers over fields still held as bytes.
    public init(raw: RawHeaderFields) {
        self.list = []
        self.raw = raw
    }

    /// Creates headers from a literal; order is preserved.
    public init(dictionaryLiteral elements: (String, String)...) {
        self.list = elements.map { (name: $0.0, value: $0.1) }
        self.raw = nil
    }

    /// Number of fields, duplicates included.
    public var count: Int { raw?.count ?? list.count }

    /// Iterates the fields in order.
    public func makeIterator() -> IndexingIterator<[(name: String, value: String)]> {
        fields.makeIterator()
    }

    /// The first value of the field `name` (case-insensitive), or nil.
    public subscript(name: String) -> String? {
        if let raw {
            return raw.firstIndex(named: name).map { raw.string(raw.value($0)) }
        }
        for field in list where HTTPHeaders.namesEqual(field.name, name) {
            return field.value
        }
        return nil
    }

    /// Calls `body` with the bytes of the first value of the field `name` (case-insensitive);
    /// nil when there is none. The bytes are valid only inside `body`.
    @inlinable
    public func withValue<R>(_ name: String, _ body: (UnsafeRawBufferPointer) -> R) -> R? {
        var result: R?
        guard readValue(name, { result = body($0) }) else { return nil }
        return result
    }

    /// `withValue` without a result type: false when the field is absent. Fields still held
    /// as the request's bytes are lent without making a String.
    public func readValue(_ name: String, _ body: (UnsafeRawBufferPointer) -> Void) -> Bool {
        if let raw {
            guard let index = raw.firstIndex(named: name) else { return false }
            let range = raw.value(index)
            raw.bytes.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[range])) }
            return true
        }
        guard var value = self[name] else { return false }
        value.withUTF8 { body(UnsafeRawBufferPointer($0)) }
        return true
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
        if let raw {
            list = raw.materialize()
            self.raw = nil
        }
        list.append((name: name, value: value))
    }

    /// Compares two header names ignoring ASCII case.
    public static func namesEqual(_ lhs: String, _ rhs: String) -> Bool {
        guard lhs.utf8.count == rhs.utf8.count else { return false }
        var left = lhs
        var right = rhs
        return left.withUTF8 { leftBytes in
            right.withUTF8 {
                ByteScan.equalIgnoringASCIICase(UnsafeRawBufferPointer(leftBytes), UnsafeRawBufferPointer($0))
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
