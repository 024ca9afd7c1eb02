/// A compiled, type-checked filter expression (protocol-spec/rest-filter.md §3–§4).
///
/// The parser has already checked every type, so evaluation never fails: a value of the
/// wrong kind cannot reach an operator. Strings are `Substring`s sharing the subject's or
/// the literal's storage, so comparisons, `startswith`, `substring` and friends allocate
/// nothing; only `tolower`, `toupper`, `concat` and a computed left side of
/// `in groups` build new strings.
indirect enum ODataFilterNode: Sendable {
    case literal(ODataFilterValue)
    case userId
    case connectionId
    case not(ODataFilterNode)
    case and([ODataFilterNode])
    case or([ODataFilterNode])
    case compare(ODataFilterComparison, ODataFilterNode, ODataFilterNode)
    /// `left in (item, …)`: true when `left eq item` for some item.
    case inList(ODataFilterNode, [ODataFilterNode])
    /// `'literal' in groups`: the common case, looked up without building a string.
    case literalInGroups(String)
    /// `expression in groups`.
    case inGroups(ODataFilterNode)
    case groupCount
    case call(ODataFilterFunction, [ODataFilterNode])

    /// Evaluates a boolean-typed node.
    func test(_ subject: some ODataFilterSubject) -> Bool {
        switch self {
        case .literal(let value):
            if case .bool(let flag) = value { return flag }
            return false
        case .not(let operand):
            return !operand.test(subject)
        case .and(let operands):
            for operand in operands where !operand.test(subject) { return false }
            return true
        case .or(let operands):
            for operand in operands where operand.test(subject) { return true }
            return false
        case .compare(let comparison, let left, let right):
            return comparison.holds(left.value(subject), right.value(subject))
        case .inList(let left, let items):
            let value = left.value(subject)
            for item in items where ODataFilterComparison.eq.holds(value, item.value(subject)) { return true }
            return false
        case .literalInGroups(let group):
            return subject.isInGroup(group)
        case .inGroups(let left):
            guard case .string(let text) = left.value(subject) else { return false }
            return subject.isInGroup(String(text))
        case .call(let function, let arguments):
            if case .bool(let flag) = function.apply(arguments, subject) { return flag }
            return false
        case .userId, .connectionId, .groupCount:
            return false
        }
    }

    /// Evaluates any node to a value.
    func value(_ subject: some ODataFilterSubject) -> ODataFilterValue {
        switch self {
        case .literal(let value):
            return value
        case .userId:
            guard let id = subject.userId else { return .null }
            return .string(Substring(id))
        case .connectionId:
            return .string(Substring(subject.connectionId))
        case .groupCount:
            return .int(Int64(subject.groupCount))
        case .call(let function, let arguments):
            return function.apply(arguments, subject)
        case .not, .and, .or, .compare, .inList, .literalInGroups, .inGroups:
            return .bool(test(subject))
        }
    }
}

/// A runtime value: the static type says which case a node can produce (or `.null`).
enum ODataFilterValue: Sendable {
    case null
    case bool(Bool)
    case int(Int64)
    case string(Substring)
}

/// The six comparison operators.
enum ODataFilterComparison: String, Sendable {
    case eq, ne, gt, ge, lt, le

    /// Applies the operator. `null` equals only `null`; any ordering with `null` is false.
    /// Strings compare ordinally by Unicode scalar values, which is UTF-8 byte order.
    func holds(_ left: ODataFilterValue, _ right: ODataFilterValue) -> Bool {
        let order: Int
        switch (left, right) {
        case (.null, .null):
            return self == .eq
        case (.null, _), (_, .null):
            return self == .ne
        case (.bool(let a), .bool(let b)):
            order = a == b ? 0 : (a ? 1 : -1)
        case (.int(let a), .int(let b)):
            order = a == b ? 0 : (a < b ? -1 : 1)
        case (.string(let a), .string(let b)):
            order = Self.ordinal(a, b)
        default:
            // Ruled out by the type checker; unequal kinds are simply unequal.
            return self == .ne
        }
        switch self {
        case .eq: return order == 0
        case .ne: return order != 0
        case .gt: return order > 0
        case .ge: return order >= 0
        case .lt: return order < 0
        case .le: return order <= 0
        }
    }

    /// -1, 0 or 1 by UTF-8 bytes (equivalently, by Unicode scalar values).
    static func ordinal(_ a: Substring, _ b: Substring) -> Int {
        var left = a.utf8.makeIterator()
        var right = b.utf8.makeIterator()
        while true {
            switch (left.next(), right.next()) {
            case (nil, nil): return 0
            case (nil, _): return -1
            case (_, nil): return 1
            case (let x?, let y?):
                if x != y { return x < y ? -1 : 1 }
            }
        }
    }
}
