/// The static type of a filter expression (protocol-spec/rest-filter.md §4.1).
enum ODataFilterType: String, Sendable {
    case bool
    case int
    case string
    /// The `null` literal: comparable with anything but a collection, accepted as a string argument.
    case null
    /// `groups`: only the right side of `in` and the argument of `length`.
    case collection

    /// Whether a value of this type may fill a parameter of type `parameter`.
    func fits(_ parameter: ODataFilterType) -> Bool {
        self == parameter || (self == .null && parameter == .string)
    }
}

/// The built-in functions (protocol-spec/rest-filter.md §4.3). Lengths and indexes count
/// Unicode scalars; a `null` string argument makes the result `null` (or `false` for the
/// boolean functions).
enum ODataFilterFunction: String, Sendable, CaseIterable {
    case tolower, toupper, trim, substring, endswith, startswith, contains, concat, indexof, length

    /// Parameter types (the last `optionalCount` may be left out) and the result type.
    /// `length` is listed with a string parameter; the parser also accepts `groups`.
    var signature: (parameters: [ODataFilterType], optionalCount: Int, result: ODataFilterType) {
        switch self {
        case .tolower, .toupper, .trim: return ([.string], 0, .string)
        case .substring: return ([.string, .int, .int], 1, .string)
        case .endswith, .startswith, .contains: return ([.string, .string], 0, .bool)
        case .concat: return ([.string, .string], 0, .string)
        case .indexof: return ([.string, .string], 0, .int)
        case .length: return ([.string], 0, .int)
        }
    }

    /// Evaluates the function on already type-checked arguments.
    func apply(_ arguments: [ODataFilterNode], _ subject: some ODataFilterSubject) -> ODataFilterValue {
        guard case .string(let text) = arguments[0].value(subject) else {
            return self == .endswith || self == .startswith || self == .contains ? .bool(false) : .null
        }
        switch self {
        case .tolower:
            return .string(Substring(text.lowercased()))
        case .toupper:
            return .string(Substring(text.uppercased()))
        case .trim:
            return .string(Self.trimmed(text))
        case .length:
            return .int(Int64(text.unicodeScalars.count))
        case .substring:
            guard case .int(let start) = arguments[1].value(subject) else { return .null }
            var count: Int64? = nil
            if arguments.count > 2 {
                guard case .int(let given) = arguments[2].value(subject) else { return .null }
                count = given
            }
            return .string(Self.substring(text, start: start, count: count))
        case .endswith, .startswith, .contains, .concat, .indexof:
            guard case .string(let other) = arguments[1].value(subject) else {
                return self == .concat || self == .indexof ? .null : .bool(false)
            }
            return binary(text, other)
        }
    }

    private func binary(_ text: Substring, _ other: Substring) -> ODataFilterValue {
        switch self {
        case .startswith:
            return .bool(text.utf8.starts(with: other.utf8))
        case .endswith:
            return .bool(
                text.utf8.count >= other.utf8.count && text.utf8.reversed().starts(with: other.utf8.reversed()))
        case .contains:
            return .bool(Self.byteOffset(of: other, in: text) != nil)
        case .concat:
            return .string(Substring(String(text) + String(other)))
        case .indexof:
            guard let offset = Self.byteOffset(of: other, in: text) else { return .int(-1) }
            // UTF-8 is self-synchronising, so a match starts on a scalar boundary.
            let scalars = text.utf8.prefix(offset).reduce(0) { $0 + ($1 & 0xC0 == 0x80 ? 0 : 1) }
            return .int(Int64(scalars))
        default:
            return .null
        }
    }

    /// Removes leading and trailing Unicode white space (like .NET `String.Trim()`).
    static func trimmed(_ text: Substring) -> Substring {
        let scalars = text.unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }) else {
            return text[text.endIndex...]
        }
        let last = scalars.lastIndex(where: { !$0.properties.isWhitespace }) ?? first
        return Substring(scalars[first...last])
    }

    /// Scalars `start ..< start + count`, clamped to the string: a negative start counts as
    /// 0, a start past the end gives "", a negative count gives "", and a missing or
    /// too-large count runs to the end.
    static func substring(_ text: Substring, start: Int64, count: Int64?) -> Substring {
        let scalars = text.unicodeScalars
        let total = Int64(scalars.count)
        let from = min(max(start, 0), total)
        let length = min(max(count ?? total, 0), total - from)
        let lower = scalars.index(scalars.startIndex, offsetBy: Int(from))
        let upper = scalars.index(lower, offsetBy: Int(length))
        return Substring(scalars[lower..<upper])
    }

    /// The UTF-8 offset of the first occurrence of `needle` in `haystack`; 0 for "".
    static func byteOffset(of needle: Substring, in haystack: Substring) -> Int? {
        var hay = haystack
        var pin = needle
        return hay.withUTF8 { h in
            pin.withUTF8 { n -> Int? in
                guard n.count <= h.count else { return nil }
                if n.isEmpty { return 0 }
                var start = 0
                while start + n.count <= h.count {
                    if h[start] == n[0] {
                        var matched = 1
                        while matched < n.count && h[start + matched] == n[matched] { matched += 1 }
                        if matched == n.count { return start }
                    }
                    start += 1
                }
                return nil
            }
        }
    }
}
