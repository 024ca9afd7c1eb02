import Testing

@testable import WPSHub

/// A session's group list behaves as a dictionary from name to slot, before and after it
/// outgrows its list; and the hub's member lists stay right however groups come and go.
@Suite struct GroupSlotsTests {
    @Test func behavesLikeADictionaryAcrossTheListLimit() {
        var slots = GroupSlots()
        var model: [String: Int] = [:]
        func check(_ step: String) {
            #expect(slots.count == model.count, "\(step)")
            #expect(slots.isEmpty == model.isEmpty, "\(step)")
            #expect(Set(slots.names) == Set(model.keys) && slots.names.count == model.count, "\(step)")
            for name in model.keys { #expect(slots[name] == model[name], "\(step): \(name)") }
            #expect(slots["absent"] == nil)
        }
        check("empty")
        // Grow past the limit one at a time, then shrink, overwrite and regrow.
        for index in 0..<(GroupSlots.listLimit + 3) {
            slots["g\(index)"] = index
            model["g\(index)"] = index
            check("insert \(index)")
        }
        slots["g1"] = 100
        model["g1"] = 100
        check("overwrite")
        for index in stride(from: 0, to: GroupSlots.listLimit + 3, by: 2) {
            #expect(slots.removeValue(forKey: "g\(index)") == model.removeValue(forKey: "g\(index)"))
            check("remove \(index)")
        }
        #expect(slots.removeValue(forKey: "g0") == nil)

        // Below the limit: removing from the middle keeps the others; setting nil removes.
        var small = GroupSlots()
        for index in 0..<5 { small["s\(index)"] = index }
        #expect(small.removeValue(forKey: "s1") == 1)
        small["s3"] = nil
        #expect(Set(small.names) == ["s0", "s2", "s4"] && small["s4"] == 4 && small["s2"] == 2 && small["s1"] == nil)
        small["s9"] = 9
        #expect(small.count == 4 && small["s9"] == 9)
    }

    @Test func membersStayRightAsGroupsComeAndGo() {
        let hub = LoopHub()
        var sessions: [HubSession] = []
        for n in 0..<6 {
            sessions.append(
                hub.open(
                    connectionId: Fixtures.id(n), identity: Fixtures.identity(.json, user: "u\(n)"),
                    reconnectionToken: nil, transport: FakeTransport()))
        }
        // Every session joins more groups than its list holds; groups empty and are made
        // again (from spare lists) in between.
        let groupCount = GroupSlots.listLimit + 4
        for round in 0..<3 {
            for (n, session) in sessions.enumerated() {
                for g in 0..<groupCount where (g + n + round) % 3 != 0 {
                    hub.receive(#"{"type":"joinGroup","group":"g\#(g)"}"#, on: session)
                }
            }
            for g in 0..<groupCount {
                let expected = sessions.enumerated().filter { (g + $0.offset + round) % 3 != 0 }.map(\.element)
                let members = hub.members(hub: "chat", group: "g\(g)")
                #expect(
                    Set(members.map(ObjectIdentifier.init)) == Set(expected.map(ObjectIdentifier.init)),
                    "round \(round) g\(g)")
                #expect(members.count == expected.count)
            }
            for (n, session) in sessions.enumerated() {
                #expect(session.groupCount == (0..<groupCount).filter { ($0 + n + round) % 3 != 0 }.count)
                for g in 0..<groupCount {
                    hub.receive(#"{"type":"leaveGroup","group":"g\#(g)"}"#, on: session)
                }
                #expect(session.groupCount == 0 && session.groups.isEmpty)
            }
            for g in 0..<groupCount { #expect(hub.members(hub: "chat", group: "g\(g)").isEmpty) }
        }
        // Closing a session leaves all of its groups.
        for g in 0..<groupCount { hub.receive(#"{"type":"joinGroup","group":"g\#(g)"}"#, on: sessions[0]) }
        hub.receive(#"{"type":"joinGroup","group":"g0"}"#, on: sessions[1])
        hub.end(sessions[0], code: nil, reason: nil)
        #expect(hub.members(hub: "chat", group: "g0").map(ObjectIdentifier.init) == [ObjectIdentifier(sessions[1])])
        for g in 1..<groupCount { #expect(hub.members(hub: "chat", group: "g\(g)").isEmpty) }
    }
}
