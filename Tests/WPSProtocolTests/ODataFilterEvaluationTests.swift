import Testing
import WPSProtocol

/// A connection to evaluate filters against.
struct FilterSubject: ODataFilterSubject, CustomStringConvertible {
    var userId: String?
    var connectionId: String
    var groups: Set<String>

    var groupCount: Int { groups.count }
    func isInGroup(_ group: String) -> Bool { groups.contains(group) }
    var description: String { "\(userId ?? "nil")/\(connectionId)" }

    static let user1 = FilterSubject(userId: "user1", connectionId: "123", groups: ["group1", "g2"])
    static let anonymous = FilterSubject(userId: nil, connectionId: "c-anon", groups: [])
    static let dashed = FilterSubject(userId: "user-ab-de", connectionId: "c2", groups: ["group1"])
    static let padded = FilterSubject(userId: " user1 ", connectionId: "c3", groups: ["a", "b", "c"])
    static let quoted = FilterSubject(userId: "O'Brien", connectionId: "c4", groups: ["it's"])
    static let upper = FilterSubject(userId: "USER1", connectionId: "c5", groups: ["group2"])
    static let accented = FilterSubject(userId: "é😀x", connectionId: "c6", groups: ["é"])
}

/// Every operator, function and precedence rule, as (filter, subject, expected) rows.
@Suite struct ODataFilterEvaluationTests {
    typealias Row = (String, FilterSubject, Bool)

    static let literalsAndLogic: [Row] = [
        ("true", .user1, true),
        ("false", .user1, false),
        ("TRUE and not FALSE", .user1, true),
        ("true and false", .user1, false),
        ("false or true", .user1, true),
        ("not true", .user1, false),
        ("not not true", .user1, true),
        ("(true)", .user1, true),
        ("((false)) or ((true))", .user1, true),
        // not > comparison > and > or.
        ("not false or true and false", .user1, true),
        ("not (false or true) and false", .user1, false),
        ("false and false or true", .user1, true),
        ("false and (false or true)", .user1, false),
        ("true or false and false", .user1, true),
        ("(true or false) and false", .user1, false),
        ("not (userId eq 'x') or false", .user1, true),
        ("userId eq 'user1' and connectionId eq '123' or false", .user1, true),
        ("null eq null", .user1, true),
        ("null ne null", .user1, false),
        ("1 eq 1", .user1, true),
        ("-5 lt +3", .user1, true),
        ("-9223372036854775808 lt 9223372036854775807", .user1, true),
        ("true eq true", .user1, true),
        ("true ne false", .user1, true),
        ("(1 eq 1) eq true", .user1, true),
        ("(1 eq 2) eq null", .user1, false),
    ]

    static let comparisons: [Row] = [
        ("userId eq 'user1'", .user1, true),
        ("userId eq 'user1'", .upper, false),
        ("UserID eq 'user1'", .user1, true),
        ("USERID EQ 'user1'", .user1, true),
        ("userId ne 'user1'", .user1, false),
        ("userId ne 'user1'", .anonymous, true),
        ("connectionId eq '123'", .user1, true),
        ("ConnectionId ne '123'", .user1, false),
        ("userId gt 'user0'", .user1, true),
        ("userId gt 'user1'", .user1, false),
        ("userId ge 'user1'", .user1, true),
        ("userId lt 'user2'", .user1, true),
        ("userId le 'user1'", .user1, true),
        ("userId lt 'user1'", .user1, false),
        ("'a' lt 'b'", .user1, true),
        ("'B' lt 'a'", .user1, true),  // ordinal: uppercase sorts first
        ("'z' lt 'é'", .user1, true),
        ("'\u{FFFF}' lt '😀'", .user1, true),  // scalar order, not UTF-16 order
        ("'ab' gt 'a'", .user1, true),
        ("'' lt 'a'", .user1, true),
        ("'e\u{301}' eq 'é'", .user1, false),  // ordinal, no canonical equivalence
        ("userId eq null", .anonymous, true),
        ("userId eq null", .user1, false),
        ("null eq userId", .anonymous, true),
        ("userId ne null", .user1, true),
        ("userId ne null", .anonymous, false),
        ("userId gt 'a'", .anonymous, false),
        ("userId lt 'a'", .anonymous, false),
        ("userId ge null", .anonymous, false),
        ("userId le null", .anonymous, false),
        ("connectionId eq null", .anonymous, false),
        ("userId eq 'O''Brien'", .quoted, true),
        ("'it''s' in groups", .quoted, true),
        ("userId eq ''''", .quoted, false),
        ("userId eq 'user''1'", .user1, false),
        ("(userId) eq ('user1')", .user1, true),
    ]

    static let inForms: [Row] = [
        ("'group1' in groups", .user1, true),
        ("'group1' in groups", .upper, false),
        ("'GROUP1' in groups", .user1, false),
        ("'group1' in (groups)", .user1, true),
        ("'group1' in ((groups))", .user1, true),
        ("'group1' in groups", .anonymous, false),
        ("userId in groups", .user1, false),
        ("concat('group', '1') in groups", .user1, true),
        ("null in groups", .user1, false),
        ("userId in ('user1', 'user2')", .user1, true),
        ("userId in ('user2','user3')", .user1, false),
        ("userId in ('user1')", .user1, true),
        ("userId in ('x', null)", .anonymous, true),
        ("userId in ('x', 'y')", .anonymous, false),
        ("connectionId in ('1', '123')", .user1, true),
        ("length(userId) in (4, 5)", .user1, true),
        ("userId in (connectionId, 'user1')", .user1, true),
        ("not ('group1' in groups)", .user1, false),
        ("not ('group1' in groups)", .anonymous, true),
        ("'group1' in groups or 'group2' in groups or 'group3' in groups", .upper, true),
        ("userId in ('user1', 'user2', 'user3') and 'group1' in groups", .user1, true),
        ("userId in ('user1', 'user2', 'user3') and 'group1' in groups", .upper, false),
        ("userId eq 'user1' and connectionId ne '123'", .user1, false),
        ("userId eq 'user1' and (not ('group1' in groups))", .user1, false),
        ("userId eq 'user''1'", .quoted, false),
        ("length(groups) gt 1", .user1, true),
        ("length(groups) gt 1", .dashed, false),
        ("length(groups) eq 0", .anonymous, true),
        ("length((groups)) eq 3", .padded, true),
    ]

    static let functions: [Row] = [
        ("tolower(userId) eq 'user1'", .upper, true),
        ("toupper(userId) eq 'USER1'", .user1, true),
        ("toupper('é') eq 'É'", .user1, true),
        ("trim(userId) eq 'user1'", .padded, true),
        ("trim('\t x \u{3000}') eq 'x'", .user1, true),
        ("trim('   ') eq ''", .user1, true),
        ("substring(userId, 5, 2) eq 'ab'", .dashed, true),
        ("substring(userId, 5) eq 'ab-de'", .dashed, true),
        ("substring(userId, 0) eq userId", .dashed, true),
        ("substring(userId, -3, 2) eq 'us'", .dashed, true),
        ("substring(userId, 100) eq ''", .dashed, true),
        ("substring(userId, 8, 100) eq 'de'", .dashed, true),
        ("substring(userId, 2, -1) eq ''", .dashed, true),
        ("substring(userId, 1, 1) eq '😀'", .accented, true),
        ("substring(userId, 0, indexof(userId, '-')) eq 'user'", .dashed, true),
        ("substring(userId, 1) eq null", .anonymous, true),
        ("endswith(userId, 'de')", .dashed, true),
        ("endswith(userId, 'ab')", .dashed, false),
        ("endswith(userId, '')", .dashed, true),
        ("endswith('a', 'ba')", .dashed, false),
        ("not endswith(userId, 'milk')", .dashed, true),
        ("startswith(userId, 'user')", .dashed, true),
        ("startswith(userId, 'ser')", .dashed, false),
        ("contains(userId, '-ab-')", .dashed, true),
        ("contains(userId, 'ba')", .dashed, false),
        ("contains(userId, '')", .dashed, true),
        ("contains('aab', 'ab')", .dashed, true),
        ("concat(userId, '!') eq 'user1!'", .user1, true),
        ("concat(concat('a', 'b'), 'c') eq 'abc'", .user1, true),
        ("indexof(userId, '-ab-') ge 0", .dashed, true),
        ("indexof(userId, '-ab-') eq 4", .dashed, true),
        ("indexof(userId, 'zz') eq -1", .dashed, true),
        ("indexof(userId, '') eq 0", .dashed, true),
        ("indexof(userId, 'x') eq 2", .accented, true),
        ("length(userId) gt 1", .dashed, true),
        ("length(userId) eq 3", .accented, true),
        ("length('') eq 0", .user1, true),
        ("length(userId) le 10 and length(userId) gt 3", .user1, true),
        ("length(userId) gt 10 or length(userId) le 3", .user1, false),
        ("length(userId) gt 0 and length(userId) lt 3 or length(userId) gt 7 and length(userId) lt 11", .dashed, true),
        ("not (length(userId) gt 5)", .user1, true),
        ("TOLOWER(USERID) EQ 'user1'", .upper, true),
        ("userId eq 'user1' or (not (startswith(userId,'user2')))", .user1, true),
    ]

    /// A null userId: string functions yield null, boolean functions false.
    static let nulls: [Row] = [
        ("tolower(userId) eq null", .anonymous, true),
        ("trim(userId) eq null", .anonymous, true),
        ("length(userId) eq null", .anonymous, true),
        ("length(userId) gt 5", .anonymous, false),
        ("length(userId) lt 5", .anonymous, false),
        ("length(null) eq null", .anonymous, true),
        ("concat(userId, 'x') eq null", .anonymous, true),
        ("concat('x', userId) eq 'x'", .anonymous, false),
        ("indexof(userId, 'x') eq null", .anonymous, true),
        ("indexof('x', null) eq null", .anonymous, true),
        ("startswith(userId, 'a')", .anonymous, false),
        ("endswith(userId, '')", .anonymous, false),
        ("contains(userId, '')", .anonymous, false),
        ("contains('abc', null)", .anonymous, false),
        ("not startswith(userId, 'a')", .anonymous, true),
        ("substring(userId, 0, 1) ne 'a'", .anonymous, true),
        ("tolower(null) eq null", .user1, true),
    ]

    @Test(arguments: literalsAndLogic + comparisons + inForms + functions + nulls)
    func evaluates(filter: String, subject: FilterSubject, expected: Bool) throws {
        let compiled = try ODataFilter(filter)
        #expect(compiled.matches(subject) == expected, "\(filter)")
        let groups = subject.groups
        #expect(
            compiled.matches(userId: subject.userId, connectionId: subject.connectionId, groups: groups) == expected)
        let array = Array(groups)
        #expect(compiled.matches(userId: subject.userId, connectionId: subject.connectionId, groups: array) == expected)
    }

    @Test func compiledFilterIsReusableAcrossSubjects() throws {
        let filter = try ODataFilter("userId in ('user1', 'USER1') and not ('group2' in groups)")
        let subjects: [FilterSubject] = [.user1, .upper, .anonymous, .dashed]
        #expect(subjects.map(filter.matches) == [true, false, false, false])
        #expect(filter.clauseCount == 2)
    }

    @Test func whitespaceBetweenTokens() throws {
        let filter = try ODataFilter("\t userId\teq\t'user1'\r\n and\n('group1'in groups)  ")
        #expect(filter.matches(FilterSubject.user1))
        #expect(try ODataFilter("userId eq'user1'").matches(FilterSubject.user1))
    }
}
