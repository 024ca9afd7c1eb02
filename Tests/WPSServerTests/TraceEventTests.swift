import Testing
import WPSAuth

@testable import WPSServer

@Suite struct TraceEventTests {
    struct FilterCase: Sendable, CustomTestStringConvertible {
        var name: String
        var filter: TraceFilter
        var matches: Bool
        var testDescription: String { name }
    }

    /// alice's sendToGroup to "chat" on hub "h", from a connection that is also in "ops".
    static let event: TraceEvent = {
        var event = TraceEvent("sendToGroup", hub: "h", connectionId: "c1", userId: "alice", group: "chat")
        event.fields = [.init("bytes", .int(5))]
        return event
    }()

    static let filterCases: [FilterCase] = [
        FilterCase(name: "no filter", filter: TraceFilter(), matches: true),
        FilterCase(name: "hub", filter: TraceFilter(hub: "h"), matches: true),
        FilterCase(name: "other hub", filter: TraceFilter(hub: "x"), matches: false),
        FilterCase(name: "user", filter: TraceFilter(user: "alice"), matches: true),
        FilterCase(name: "other user", filter: TraceFilter(user: "bob"), matches: false),
        FilterCase(name: "connection", filter: TraceFilter(connection: "c1"), matches: true),
        FilterCase(name: "other connection", filter: TraceFilter(connection: "c2"), matches: false),
        FilterCase(name: "named group", filter: TraceFilter(group: "chat"), matches: true),
        // The event names its group; membership elsewhere does not count.
        FilterCase(name: "member of another group", filter: TraceFilter(group: "ops"), matches: false),
        FilterCase(name: "all fields", filter: TraceFilter(hub: "h", user: "alice", connection: "c1"), matches: true),
        FilterCase(name: "one field off", filter: TraceFilter(hub: "h", user: "bob", connection: "c1"), matches: false),
    ]

    @Test(arguments: filterCases)
    func filterMatches(_ c: FilterCase) {
        #expect(c.filter.matches(Self.event, isMember: { $0 == "ops" }) == c.matches)
    }

    @Test func groupFilterUsesMembershipForLifecycleEvents() {
        let opened = TraceEvent("opened", hub: "h", connectionId: "c1", userId: "alice")
        #expect(TraceFilter(group: "ops").matches(opened, isMember: { $0 == "ops" }))
        #expect(!TraceFilter(group: "chat").matches(opened, isMember: { $0 == "ops" }))
        let refused = TraceEvent("upgradeRefused", hub: "h")
        #expect(!TraceFilter(group: "ops").matches(refused, isMember: { _ in true }))
    }

    @Test func parse() {
        func parse(_ query: [String: String]) -> Result<TraceFilter, TraceFilterError> {
            TraceFilter.parse { query[$0] }
        }
        #expect(parse(["hub": "Chat", "group": "g"]) == .success(TraceFilter(hub: "chat", group: "g")))
        #expect(parse(["payloads": "true"]) == .failure(TraceFilterError("payloads=true needs a connection filter")))
        #expect(
            parse(["payloads": "yes", "connection": "c"])
                == .failure(TraceFilterError("payloads must be true or false")))
        #expect(
            parse(["payloads": "true", "connection": "c"]) == .success(TraceFilter(connection: "c", payloads: true)))
    }

    @Test func encodingLeavesOutThePayloadUnlessAsked() {
        var event = Self.event
        event.payload = Array(#"{"a":"q\""}"#.utf8)
        let plain = String(decoding: event.encode(timeMillis: 7, loop: 1, withPayload: false), as: UTF8.self)
        #expect(
            plain
                == #"{"type":"sendToGroup","time":7,"loop":1,"hub":"h","connectionId":"c1","userId":"alice","group":"chat","bytes":5}"#
        )
        let full = String(decoding: event.encode(timeMillis: 7, loop: 1, withPayload: true), as: UTF8.self)
        #expect(full == plain.dropLast() + #","data":{"a":"q\""}}"#)
        event.payloadForm = .text
        let text = String(decoding: event.encode(timeMillis: 7, loop: 1, withPayload: true), as: UTF8.self)
        #expect(text == plain.dropLast() + #","data":"{\"a\":\"q\\\"\"}"}"#)
    }

    @Test func binaryPayloadIsBase64() {
        var event = TraceEvent("event", connectionId: "c")
        event.payload = [0, 255]
        event.payloadForm = .base64
        let text = String(decoding: event.encode(timeMillis: 0, loop: 0, withPayload: true), as: UTF8.self)
        #expect(text.hasSuffix(#""data":"AP8="}"#))
    }

    @Test func adminTokenAudience() throws {
        let key = AccessKey("k0123456789abcdef0123456789abcdef")
        let token = AdminToken.make(endpoint: "ws://127.0.0.1:8080/", key: key, now: 1000, lifetime: 60)
        let claims = try JWT.verify(token, keys: [key], now: 1000).get()
        #expect(claims.audiences == ["http://127.0.0.1:8080/admin"])
        #expect(
            RequestAudience.matches(
                audience: claims.audiences[0], requestHost: "127.0.0.1:8080", isTLS: false, rawTarget: "/admin"))
    }
}
