import Testing

@testable import WPSAuth

@Suite struct GroupPatternTests {
    static let matching: [(pattern: String, group: String, expected: Bool)] = [
        ("chat", "chat", true),
        ("chat", "Chat", false),  // case-sensitive
        ("chat", "chat2", false),
        ("chat?", "chat2", true),
        ("chat?", "chat", false),
        ("chat?", "chat.", false),  // ? never matches a dot
        ("chat?", "chat22", false),
        ("a?c", "aéc", true),  // one Unicode scalar
        ("room.*", "room.1", true),
        ("room.*", "room.", true),  // * may be empty
        ("room.*", "room.1.2", false),  // * stops at dots
        ("room.*.log", "room.abc.log", true),
        ("room.*.log", "room.a.b.log", false),
        ("room.**", "room.a.b.c", true),
        ("room.**", "room.", true),
        ("room.**", "room", false),
        ("**", "anything.at.all", true),
        ("*", "no-dots", true),
        ("*", "has.dot", false),
        ("a**b", "a.x.y.b", true),
        ("a***b", "a.x.b", true),  // runs longer than two act as **
        ("*.*", "x.y", true),
        ("*.*", "xy", false),
        ("\\*", "*", true),
        ("\\*", "x", false),
        ("\\?", "?", true),
        ("\\?", "x", false),
        ("a\\\\b", "a\\b", true),
        ("a\\\\*", "a\\bc", true),
        ("1*2*3*4*5*", "1a2b3c4d5e", true),  // five stars: allowed
        ("**.end", ".end", true),
        ("x*y*z", "xaaaaaaaaaaaaaaaaaaaay", false),
    ]

    @Test(arguments: matching) func matches(pattern: String, group: String, expected: Bool) throws {
        let compiled = try #require(GroupPattern(pattern))
        #expect(compiled.matches(group) == expected)
    }

    @Test(arguments: [
        "",  // empty
        "1*2*3*4*5*6*",  // six stars
        "******",  // six stars in one run
        "a\\",  // lone escape at the end
        "a\\b",  // escape of an ordinary character
        "a\\.",
    ])
    func rejectsInvalid(_ pattern: String) {
        #expect(GroupPattern(pattern) == nil)
    }

    @Test func escapedStarsDoNotCount() {
        #expect(GroupPattern("\\*\\*\\*\\*\\*\\*a*") != nil)
    }

    /// A backtracking matcher takes exponential time here; the NFA stays linear in each input.
    @Test func adversarialInputsStayFast() throws {
        let patterns = ["*a*a*a*a*b", "**a**a*b", "?*?*?*?*?*b", "**.**.x"]
        let inputs = [
            String(repeating: "a", count: 4096),
            String(repeating: "a.", count: 2048),
            String(repeating: ".", count: 4096),
        ]
        let clock = ContinuousClock()
        let elapsed = try clock.measure {
            for pattern in patterns {
                let compiled = try #require(GroupPattern(pattern))
                for input in inputs { #expect(!compiled.matches(input)) }
            }
        }
        #expect(elapsed < .seconds(2))
    }
}
