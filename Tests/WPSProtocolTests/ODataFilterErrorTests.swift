import Testing
import WPSProtocol

/// Every rejection path with its position, and every limit at N-1, N and N+1.
@Suite struct ODataFilterErrorTests {
    /// (filter, position, message).
    static let errors: [(String, Int, String)] = [
        // Lexical.
        ("", 0, "empty filter"),
        ("   ", 3, "empty filter"),
        ("userId eq 'abc", 10, "unterminated string literal"),
        ("userId eq 'it''", 10, "unterminated string literal"),
        ("userId eq \"x\"", 10, "unexpected character '\"'"),
        ("userId == 'x'", 7, "unexpected character '='"),
        ("userId eq 'x' && true", 14, "unexpected character '&'"),
        ("'é' eq 'x' $", 11, "unexpected character '$'"),
        ("é eq 'x'", 0, "unexpected character"),
        ("length(userId) gt -", 18, "unexpected character '-'"),
        ("length(userId) gt 12abc", 18, "invalid integer literal"),
        ("length(userId) gt 9223372036854775808", 18, "integer literal out of range"),
        ("length(userId) gt -9223372036854775809", 18, "integer literal out of range"),
        // Syntax.
        ("userId eq", 9, "unexpected end of filter"),
        ("userId 'x'", 7, "unexpected string literal"),
        ("userId eq 'x' 'y'", 14, "unexpected string literal"),
        ("userId eq 'x' and", 17, "unexpected end of filter"),
        ("and true", 0, "unexpected 'and'"),
        ("true or or true", 8, "unexpected 'or'"),
        ("(true", 5, "expected ')', found end of filter"),
        ("(true))", 6, "unexpected ')'"),
        ("()", 1, "unexpected ')'"),
        ("true,", 4, "unexpected ','"),
        ("user eq 'x'", 0, "unknown identifier 'user'"),
        ("user in ('user1','user2')", 0, "unknown identifier 'user'"),
        ("userId eq x", 10, "unknown identifier 'x'"),
        ("foo(userId)", 0, "unknown identifier 'foo'"),
        ("tolower userId eq 'x'", 8, "expected '(' after 'tolower'"),
        ("tolower(userId eq 'x'", 21, "expected ',' or ')', found end of filter"),
        ("tolower() eq 'x'", 8, "unexpected ')'"),
        ("userId eq 'a' eq true", 14, "comparisons cannot be chained; add parentheses"),
        ("'g' in groups eq true", 14, "comparisons cannot be chained; add parentheses"),
        ("userId in ('a' 'b')", 15, "expected ',' or ')', found string literal"),
        ("userId in ()", 11, "unexpected ')'"),
        ("userId in 'a'", 10, "'in' needs 'groups' or a parenthesised list"),
        ("userId in userId", 10, "'in' needs 'groups' or a parenthesised list"),
        // Types.
        ("length(userId)", 0, "the filter has type 'int', expected 'bool'"),
        ("userId", 0, "the filter has type 'string', expected 'bool'"),
        ("null", 0, "the filter has type 'null', expected 'bool'"),
        ("1", 0, "the filter has type 'int', expected 'bool'"),
        ("groups", 0, "'groups' can only be used with 'in' or 'length'"),
        ("not length(userId) gt 5", 4, "the operand of 'not' has type 'int', expected 'bool'"),
        ("not userId eq 'x'", 4, "the operand of 'not' has type 'string', expected 'bool'"),
        ("not userId", 4, "the operand of 'not' has type 'string', expected 'bool'"),
        ("true and userId", 9, "the operand of 'and' has type 'string', expected 'bool'"),
        ("'x' or true", 0, "the operand of 'or' has type 'string', expected 'bool'"),
        ("true or null", 8, "the operand of 'or' has type 'null', expected 'bool'"),
        ("userId eq 1", 7, "cannot compare 'string' with 'int'"),
        ("length(userId) eq 'x'", 15, "cannot compare 'int' with 'string'"),
        ("true eq 'true'", 5, "cannot compare 'bool' with 'string'"),
        ("true gt false", 5, "'gt' cannot order 'bool' values"),
        ("null lt true", 5, "'lt' cannot order 'bool' values"),
        ("groups eq null", 0, "'groups' can only be used with 'in' or 'length'"),
        ("userId eq groups", 10, "'groups' can only be used with 'in' or 'length'"),
        ("groups in groups", 0, "'groups' can only be used with 'in' or 'length'"),
        ("userId in ('a', groups)", 16, "'groups' can only be used with 'in' or 'length'"),
        ("userId in ('a', 1)", 16, "cannot compare 'string' with 'int'"),
        ("1 in groups", 0, "the left side of 'in groups' has type 'int', expected 'string'"),
        ("true in groups", 0, "the left side of 'in groups' has type 'bool', expected 'string'"),
        ("tolower(groups) eq 'x'", 8, "'groups' can only be used with 'in' or 'length'"),
        ("tolower(1) eq 'x'", 8, "argument 1 of 'tolower' has type 'int', expected 'string'"),
        ("startswith(userId, 1)", 19, "argument 2 of 'startswith' has type 'int', expected 'string'"),
        ("substring(userId, 'a') eq 'x'", 18, "argument 2 of 'substring' has type 'string', expected 'int'"),
        ("substring(userId, null) eq 'x'", 18, "argument 2 of 'substring' has type 'null', expected 'int'"),
        ("substring(userId, 1, true) eq 'x'", 21, "argument 3 of 'substring' has type 'bool', expected 'int'"),
        ("length(1) eq 1", 7, "argument 1 of 'length' has type 'int', expected 'string'"),
        ("tolower(userId, 'x') eq 'x'", 0, "'tolower' takes 1 argument, found 2"),
        ("substring(userId) eq 'x'", 0, "'substring' takes 2 or 3 arguments, found 1"),
        ("substring(userId, 1, 2, 3) eq 'x'", 0, "'substring' takes 2 or 3 arguments, found 4"),
        ("contains(userId)", 0, "'contains' takes 2 arguments, found 1"),
        ("length(groups, userId) eq 1", 0, "'length' takes 1 argument, found 2"),
        ("indexof(userId, 'a')", 0, "the filter has type 'int', expected 'bool'"),
        // Positions count Unicode scalars, not bytes.
        ("userId eq 'é😀' and 1", 19, "the operand of 'and' has type 'int', expected 'bool'"),
    ]

    @Test(arguments: errors)
    func rejects(filter: String, position: Int, message: String) {
        #expect(throws: ODataFilterError(position: position, message: message)) {
            _ = try ODataFilter(filter)
        }
    }

    @Test func errorDescriptionIsTheRESTText() {
        let error = ODataFilterError(position: 7, message: "cannot compare 'string' with 'int'")
        #expect(error.description == "Invalid filter at position 7: cannot compare 'string' with 'int'")
    }

    // MARK: Limits

    /// `count` comparisons joined by `or`.
    static func clauses(_ count: Int) -> String {
        (0..<count).map { "userId eq 'u\($0)'" }.joined(separator: " or ")
    }

    @Test func clauseLimit() throws {
        #expect(try ODataFilter(Self.clauses(ODataFilter.maxClauses - 1)).clauseCount == 99)
        let atLimit = try ODataFilter(Self.clauses(ODataFilter.maxClauses))
        #expect(atLimit.clauseCount == 100)
        #expect(atLimit.matches(FilterSubject(userId: "u99", connectionId: "c", groups: [])))
        let over = Self.clauses(ODataFilter.maxClauses + 1)
        // The 101st clause's operator: after 100 rows of "userId eq 'uN' or " plus "userId ".
        let prefix = (0..<100).map { "userId eq 'u\($0)' or " }.joined()
        #expect(throws: ODataFilterError(position: prefix.count + 7, message: "more than 100 clauses")) {
            _ = try ODataFilter(over)
        }
    }

    @Test func clausesCountFunctionsAndInOperators() throws {
        // length( … ) gt: two clauses each; an `in` list is one clause however long.
        #expect(try ODataFilter("length(userId) gt 1").clauseCount == 2)
        #expect(try ODataFilter("userId in ('a', 'b', 'c', 'd')").clauseCount == 1)
        #expect(try ODataFilter("'g' in groups and true").clauseCount == 1)
        #expect(try ODataFilter("startswith(tolower(trim(userId)), 'a')").clauseCount == 3)
        let fifty = (0..<50).map { _ in "length(userId) gt 1" }.joined(separator: " and ")
        #expect(try ODataFilter(fifty).clauseCount == 100)
        #expect(throws: ODataFilterError.self) { _ = try ODataFilter(fifty + " and startswith(userId, 'a')") }
    }

    /// `depth` nested `not`s around `true`.
    static func nots(_ depth: Int) -> String { String(repeating: "not ", count: depth) + "true" }

    /// `depth` nested parentheses around `true`.
    static func parens(_ depth: Int) -> String {
        String(repeating: "(", count: depth) + "true" + String(repeating: ")", count: depth)
    }

    @Test func depthLimit() throws {
        #expect(try ODataFilter(Self.nots(ODataFilter.maxDepth - 1)).matches(FilterSubject.user1) == false)
        #expect(try ODataFilter(Self.nots(ODataFilter.maxDepth)).matches(FilterSubject.user1) == true)
        #expect(throws: ODataFilterError(position: 128, message: "nesting deeper than 32")) {
            _ = try ODataFilter(Self.nots(ODataFilter.maxDepth + 1))
        }
        #expect(try ODataFilter(Self.parens(ODataFilter.maxDepth - 1)).matches(FilterSubject.user1))
        #expect(try ODataFilter(Self.parens(ODataFilter.maxDepth)).matches(FilterSubject.user1))
        #expect(throws: ODataFilterError(position: 32, message: "nesting deeper than 32")) {
            _ = try ODataFilter(Self.parens(ODataFilter.maxDepth + 1))
        }
        // Function and `in` parentheses count too: 31 `(` + tolower( = 32.
        let nested = String(repeating: "(", count: 31) + "tolower(userId) eq 'x'" + String(repeating: ")", count: 31)
        #expect(throws: Never.self) { _ = try ODataFilter(nested) }
        let deeper = "(" + nested + ")"
        #expect(throws: ODataFilterError(position: 39, message: "nesting deeper than 32")) {
            _ = try ODataFilter(deeper)
        }
        let list = String(repeating: "not ", count: 31) + "(userId in ('a'))"
        #expect(throws: ODataFilterError(position: 135, message: "nesting deeper than 32")) {
            _ = try ODataFilter(list)
        }
    }

    /// A true filter of exactly `bytes` UTF-8 bytes (padded with trailing spaces).
    static func filter(bytes: Int) -> String {
        let core = "userId eq 'user1'"
        return core + String(repeating: " ", count: bytes - core.utf8.count)
    }

    @Test func lengthLimit() throws {
        #expect(try ODataFilter(Self.filter(bytes: ODataFilter.maxLengthBytes - 1)).matches(FilterSubject.user1))
        #expect(try ODataFilter(Self.filter(bytes: ODataFilter.maxLengthBytes)).matches(FilterSubject.user1))
        #expect(throws: ODataFilterError(position: 4096, message: "filter longer than 4096 bytes")) {
            _ = try ODataFilter(Self.filter(bytes: ODataFilter.maxLengthBytes + 1))
        }
        // Bytes, not characters: 2 042 two-byte scalars fit, one more does not; the position
        // is the scalar holding byte 4 096 (1 quote + 2 043 é + 9 ASCII before it).
        let literal = { (count: Int) in "'" + String(repeating: "é", count: count) + "' eq userId" }
        let fits = literal((4096 - 12) / 2)
        #expect(fits.utf8.count == 4096)
        #expect(throws: Never.self) { _ = try ODataFilter(fits) }
        #expect(throws: ODataFilterError(position: 2053, message: "filter longer than 4096 bytes")) {
            _ = try ODataFilter(literal((4096 - 12) / 2 + 1))
        }
    }
}
