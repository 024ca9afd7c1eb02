/// Recursive-descent parser and type checker for filter text (protocol-spec/rest-filter.md).
///
/// One token of look-ahead, no backtracking: time is linear in the text. Recursion only
/// goes deeper through `(` or `not`, both counted against `ODataFilter.maxDepth`, so the
/// stack is bounded whatever the input.
struct ODataFilterParser {
    /// A parsed sub-expression with its static type and the UTF-8 offset where it starts.
    struct Typed {
        var node: ODataFilterNode
        var type: ODataFilterType
        var offset: Int
    }

    private var lexer: ODataFilterLexer
    private var token: ODataFilterToken
    private var depth = 0
    private(set) var clauses = 0

    /// Reads the first token; a lexer error surfaces here.
    init(bytes: [UInt8]) throws(ODataFilterLexerError) {
        lexer = ODataFilterLexer(bytes: bytes)
        token = try lexer.next()
    }

    /// Parses the whole text as one boolean expression.
    mutating func parseFilter() throws(ODataFilterLexerError) -> ODataFilterNode {
        if token.kind == .end { throw failure("empty filter") }
        let expression = try parseOr()
        guard token.kind == .end else { throw unexpected() }
        if expression.type != .bool {
            throw ODataFilterLexerError(offset: expression.offset, message: typeMessage(expression.type, "the filter"))
        }
        return expression.node
    }

    // MARK: Precedence levels: or < and < comparison / in < not < primary.

    private mutating func parseOr() throws(ODataFilterLexerError) -> Typed {
        try parseChain(keyword: "or")
    }

    private mutating func parseAnd() throws(ODataFilterLexerError) -> Typed {
        try parseChain(keyword: "and")
    }

    /// `operand (keyword operand)*` for `or` (over `and` chains) and `and` (over
    /// comparisons), flattened into one n-ary node.
    private mutating func parseChain(keyword: String) throws(ODataFilterLexerError) -> Typed {
        let isOr = keyword == "or"
        let first = try isOr ? parseAnd() : parseComparison()
        guard token.kind == .word(keyword) else { return first }
        try requireBool(first, "'\(keyword)'")
        var nodes = [first.node]
        while token.kind == .word(keyword) {
            try advance()
            let next = try isOr ? parseAnd() : parseComparison()
            try requireBool(next, "'\(keyword)'")
            nodes.append(next.node)
        }
        return Typed(node: isOr ? .or(nodes) : .and(nodes), type: .bool, offset: first.offset)
    }

    /// `unary [op unary | in rhs]`; comparisons do not chain without parentheses.
    private mutating func parseComparison() throws(ODataFilterLexerError) -> Typed {
        let left = try parseUnary()
        guard case .word(let word) = token.kind else { return left }
        let result: Typed
        if let comparison = ODataFilterComparison(rawValue: word) {
            let operatorToken = token
            try countClause()
            try advance()
            let right = try parseUnary()
            try checkComparable(left, right, comparison, at: operatorToken)
            result = Typed(node: .compare(comparison, left.node, right.node), type: .bool, offset: left.offset)
        } else if word == "in" {
            try countClause()
            try advance()
            result = try parseIn(left)
        } else {
            return left
        }
        if case .word(let next) = token.kind, next == "in" || ODataFilterComparison(rawValue: next) != nil {
            throw failure("comparisons cannot be chained; add parentheses")
        }
        return result
    }

    private mutating func parseUnary() throws(ODataFilterLexerError) -> Typed {
        guard token.kind == .word("not") else { return try parsePrimary() }
        let offset = token.offset
        try enter()
        try advance()
        let operand = try parseUnary()
        try requireBool(operand, "'not'")
        depth -= 1
        return Typed(node: .not(operand.node), type: .bool, offset: offset)
    }

    private mutating func parsePrimary() throws(ODataFilterLexerError) -> Typed {
        let start = token
        switch start.kind {
        case .openParen:
            try enter()
            try advance()
            let inner = try parseOr()
            try expect(.closeParen, "')'")
            depth -= 1
            return Typed(node: inner.node, type: inner.type, offset: start.offset)
        case .string(let text):
            try advance()
            return Typed(node: .literal(.string(Substring(text))), type: .string, offset: start.offset)
        case .integer(let value):
            try advance()
            return Typed(node: .literal(.int(value)), type: .int, offset: start.offset)
        case .word(let word):
            let typed: Typed
            switch word {
            case "true", "false":
                typed = Typed(node: .literal(.bool(word == "true")), type: .bool, offset: start.offset)
            case "null": typed = Typed(node: .literal(.null), type: .null, offset: start.offset)
            case "userid": typed = Typed(node: .userId, type: .string, offset: start.offset)
            case "connectionid": typed = Typed(node: .connectionId, type: .string, offset: start.offset)
            case "groups": typed = Typed(node: .groupCount, type: .collection, offset: start.offset)
            default:
                guard let function = ODataFilterFunction(rawValue: word) else {
                    if Self.keywords.contains(word) { throw unexpected() }
                    throw failure("unknown identifier '\(word)'")
                }
                return try parseCall(function)
            }
            try advance()
            return typed
        case .closeParen, .comma, .end:
            throw unexpected()
        }
    }

    /// `name '(' expression (',' expression)* ')'` with arity and argument types checked.
    private mutating func parseCall(_ function: ODataFilterFunction) throws(ODataFilterLexerError) -> Typed {
        let nameToken = token
        try countClause()
        try advance()
        guard token.kind == .openParen else { throw failure("expected '(' after '\(function.rawValue)'") }
        try enter()
        try advance()
        var arguments = [try parseOr()]
        while token.kind == .comma {
            try advance()
            arguments.append(try parseOr())
        }
        try expect(.closeParen, "',' or ')'")
        depth -= 1

        let signature = function.signature
        let most = signature.parameters.count
        let least = most - signature.optionalCount
        guard arguments.count >= least && arguments.count <= most else {
            let wanted = least == most ? "\(most)" : "\(least) or \(most)"
            throw ODataFilterLexerError(
                offset: nameToken.offset,
                message:
                    "'\(function.rawValue)' takes \(wanted) argument\(most == 1 ? "" : "s"), found \(arguments.count)"
            )
        }
        if function == .length && arguments[0].type == .collection {
            return Typed(node: .groupCount, type: .int, offset: nameToken.offset)
        }
        for (index, argument) in arguments.enumerated() where !argument.type.fits(signature.parameters[index]) {
            throw ODataFilterLexerError(
                offset: argument.offset,
                message: typeMessage(
                    argument.type, "argument \(index + 1) of '\(function.rawValue)'",
                    expected: signature.parameters[index])
            )
        }
        let node = ODataFilterNode.call(function, arguments.map(\.node))
        return Typed(node: node, type: signature.result, offset: nameToken.offset)
    }

    /// The right side of `in`: `groups`, `(groups)`, or a parenthesised list of values.
    private mutating func parseIn(_ left: Typed) throws(ODataFilterLexerError) -> Typed {
        guard left.type != .collection else {
            throw ODataFilterLexerError(offset: left.offset, message: Self.collectionMisuse)
        }
        let start = token
        var items: [Typed]
        if start.kind == .openParen {
            try enter()
            try advance()
            items = [try parseOr()]
            while token.kind == .comma {
                try advance()
                items.append(try parseOr())
            }
            try expect(.closeParen, "',' or ')'")
            depth -= 1
        } else {
            items = [try parsePrimary()]
        }
        if items.count == 1 && items[0].type == .collection {
            guard left.type == .string || left.type == .null else {
                throw ODataFilterLexerError(
                    offset: left.offset,
                    message: typeMessage(left.type, "the left side of 'in groups'", expected: .string))
            }
            if case .literal(.string(let text)) = left.node {
                return Typed(node: .literalInGroups(String(text)), type: .bool, offset: left.offset)
            }
            return Typed(node: .inGroups(left.node), type: .bool, offset: left.offset)
        }
        guard start.kind == .openParen else {
            throw ODataFilterLexerError(offset: start.offset, message: "'in' needs 'groups' or a parenthesised list")
        }
        for item in items { try checkComparable(left, item, .eq, at: nil) }
        return Typed(node: .inList(left.node, items.map(\.node)), type: .bool, offset: left.offset)
    }

    // MARK: Checks

    /// Both sides must have one type, or one side must be `null`; ordering needs int or string.
    private func checkComparable(
        _ left: Typed, _ right: Typed, _ comparison: ODataFilterComparison, at operatorToken: ODataFilterToken?
    ) throws(ODataFilterLexerError) {
        for side in [left, right] where side.type == .collection {
            throw ODataFilterLexerError(offset: side.offset, message: Self.collectionMisuse)
        }
        let offset = operatorToken?.offset ?? right.offset
        if left.type != right.type && left.type != .null && right.type != .null {
            throw ODataFilterLexerError(
                offset: offset, message: "cannot compare '\(left.type.rawValue)' with '\(right.type.rawValue)'")
        }
        if comparison != .eq && comparison != .ne && (left.type == .bool || right.type == .bool) {
            throw ODataFilterLexerError(offset: offset, message: "'\(comparison.rawValue)' cannot order 'bool' values")
        }
    }

    private func requireBool(_ operand: Typed, _ context: String) throws(ODataFilterLexerError) {
        guard operand.type == .bool else {
            throw ODataFilterLexerError(
                offset: operand.offset, message: typeMessage(operand.type, "the operand of \(context)"))
        }
    }

    private func typeMessage(_ found: ODataFilterType, _ what: String, expected: ODataFilterType = .bool) -> String {
        if found == .collection { return Self.collectionMisuse }
        return "\(what) has type '\(found.rawValue)', expected '\(expected.rawValue)'"
    }

    static let collectionMisuse = "'groups' can only be used with 'in' or 'length'"
    static let keywords: Set<String> = ["and", "or", "not", "in", "eq", "ne", "gt", "ge", "lt", "le"]

    // MARK: Tokens and limits

    private mutating func advance() throws(ODataFilterLexerError) {
        token = try lexer.next()
    }

    private mutating func expect(_ kind: ODataFilterToken.Kind, _ wanted: String) throws(ODataFilterLexerError) {
        guard token.kind == kind else {
            throw failure("expected \(wanted), found \(Self.describe(token))")
        }
        try advance()
    }

    /// One more `(` or `not` level; ODataFilter.maxDepth is the most allowed.
    private mutating func enter() throws(ODataFilterLexerError) {
        depth += 1
        if depth > ODataFilter.maxDepth { throw failure("nesting deeper than \(ODataFilter.maxDepth)") }
    }

    /// One more comparison, `in` or function call; ODataFilter.maxClauses is the most allowed.
    private mutating func countClause() throws(ODataFilterLexerError) {
        clauses += 1
        if clauses > ODataFilter.maxClauses { throw failure("more than \(ODataFilter.maxClauses) clauses") }
    }

    private func failure(_ message: String) -> ODataFilterLexerError {
        ODataFilterLexerError(offset: token.offset, message: message)
    }

    private func unexpected() -> ODataFilterLexerError {
        failure("unexpected \(Self.describe(token))")
    }

    static func describe(_ token: ODataFilterToken) -> String {
        switch token.kind {
        case .openParen: return "'('"
        case .closeParen: return "')'"
        case .comma: return "','"
        case .string: return "string literal"
        case .integer(let value): return "'\(value)'"
        case .word(let word): return "'\(word.count > 40 ? String(word.prefix(40)) + "…" : word)'"
        case .end: return "end of filter"
        }
    }
}
