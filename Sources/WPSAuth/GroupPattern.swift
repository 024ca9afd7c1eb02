/// A wildcard group pattern from a plural role such as `webpubsub.joinLeaveGroups.<pattern>`
/// (protocol-spec/auth.md §4.2).
///
/// Syntax, matched against Unicode scalars and case-sensitively: `?` is one scalar other
/// than `.`, `*` is zero or more scalars other than `.`, `**` (a run of two or more `*`) is
/// zero or more of any scalar, and `\` escapes `\`, `*` or `?`. Matching simulates the
/// pattern as an NFA, so it costs O(pattern × group) with no backtracking, whatever the input.
public struct GroupPattern: Sendable, Hashable {
    /// Unescaped `*` characters allowed in one pattern; a longer one is rejected, as Azure does.
    public static let maxStars = 5

    enum Element: Sendable, Hashable {
        case literal(Unicode.Scalar)
        /// `?`
        case one
        /// `*`
        case segment
        /// `**`
        case any
    }

    let elements: [Element]

    /// The pattern text as it appeared in the role.
    public let text: String

    /// Parses `text`; nil when it is empty, has more than `maxStars` unescaped `*`, ends in a
    /// lone `\`, or escapes anything other than `\`, `*` or `?` (so the role is ignored).
    public init?(_ text: String) {
        var elements: [Element] = []
        var stars = 0
        var scalars = text.unicodeScalars.makeIterator()
        while let scalar = scalars.next() {
            switch scalar {
            case "\\":
                guard let escaped = scalars.next(), escaped == "\\" || escaped == "*" || escaped == "?" else {
                    return nil
                }
                elements.append(.literal(escaped))
            case "?":
                elements.append(.one)
            case "*":
                stars += 1
                // A star right after a star turns the run into `**`; further stars add nothing
                // to what it matches but still count towards the limit.
                switch elements.last {
                case .segment?: elements[elements.count - 1] = .any
                case .any?: break
                default: elements.append(.segment)
                }
            default:
                elements.append(.literal(scalar))
            }
        }
        guard !elements.isEmpty, stars <= Self.maxStars else { return nil }
        self.elements = elements
        self.text = text
    }

    /// Whether `group` matches the whole pattern.
    public func matches(_ group: String) -> Bool {
        // active[i]: the pattern prefix of length i can match the input read so far.
        let count = elements.count
        var active = [Bool](repeating: false, count: count + 1)
        var next = active
        active[0] = true
        closeOverEmpty(&active)
        let dot: Unicode.Scalar = "."
        for scalar in group.unicodeScalars {
            for index in 0...count { next[index] = false }
            var any = false
            for index in 0..<count where active[index] {
                switch elements[index] {
                case .literal(let expected):
                    if expected == scalar {
                        next[index + 1] = true
                        any = true
                    }
                case .one:
                    if scalar != dot {
                        next[index + 1] = true
                        any = true
                    }
                case .segment:
                    if scalar != dot {
                        next[index] = true
                        any = true
                    }
                case .any:
                    next[index] = true
                    any = true
                }
            }
            guard any else { return false }
            closeOverEmpty(&next)
            swap(&active, &next)
        }
        return active[count]
    }

    /// Stars may match nothing, so being before one also means being after it.
    private func closeOverEmpty(_ states: inout [Bool]) {
        for index in 0..<elements.count where states[index] {
            switch elements[index] {
            case .segment, .any: states[index + 1] = true
            case .literal, .one: break
            }
        }
    }
}
