import Testing
import WPSAuth
import WPSCluster
import WPSHub
import WPSProtocol

@Suite struct ClusterWireTests {
    /// Round trip with a filter compiled by the receiving side from its text.
    func roundTrip(_ message: ClusterMessage, now: UInt64 = 0) throws -> ClusterMessage {
        let bytes = ClusterWire.encode(message)
        return try bytes.withUnsafeBytes { raw in
            try ClusterWire.decode(raw, now: now) { text in
                guard let filter = try? ODataFilter(text) else { return nil }
                return { filter.matches($0) }
            }
        }
    }

    @Test func broadcastKeepsEveryPartAndTurnsTheTTLIntoADeadline() throws {
        let selector = ConnectionSelector(
            hub: "chat", target: .group("g:1"), excluded: ["a", "b"], predicate: nil, filterText: "userId eq 'u'")
        let data = Array(#""hi""#.utf8)
        let broadcast = try #require(
            data.withUnsafeBytes { Broadcast(selector: selector, dataType: .text, data: $0, expiresAt: 0) })
        let decoded = try roundTrip(.broadcast(origin: "n1", broadcast, ttlMillis: 1500), now: 1_000)
        guard case .broadcast(let origin, let copy, let ttl) = decoded else {
            Issue.record("not a broadcast: \(decoded)")
            return
        }
        #expect(origin == "n1")
        #expect(ttl == 1500)
        #expect(copy.expiresAt == 1_000 + 1_500_000_000)
        #expect(copy.prefix.array == broadcast.prefix.array)
        #expect(copy.payload.array == broadcast.payload.array)
        #expect(copy.payloadIsText == broadcast.payloadIsText)
        #expect(copy.selector.hub == "chat")
        #expect(copy.selector.target == .group("g:1"))
        #expect(copy.selector.excluded == ["a", "b"])
        #expect(copy.selector.filterText == "userId eq 'u'")
        #expect(copy.selector.predicate != nil)
    }

    @Test func broadcastWithoutTTLNeverExpires() throws {
        let selector = ConnectionSelector(hub: "h", target: .connection("n2.0123"))
        let broadcast = try #require(
            Array("\"eA==\"".utf8).withUnsafeBytes { Broadcast(selector: selector, dataType: .binary, data: $0) })
        guard case .broadcast(_, let copy, 0) = try roundTrip(.broadcast(origin: "n", broadcast, ttlMillis: 0), now: 9)
        else {
            Issue.record("TTL changed")
            return
        }
        #expect(copy.expiresAt == 0)
        #expect(copy.payloadIsText == false)
        #expect(copy.payload.array == [0x78])
    }

    @Test(arguments: [
        HubOperation.close(ConnectionSelector(hub: "h", target: .user("u")), reason: "bye"),
        .count(ConnectionSelector(hub: "h", target: .hub, excluded: ["x"])),
        .addToGroups(ConnectionSelector(hub: "h", target: .hub, filterText: "'g' in groups"), groups: ["a", "b"]),
        .removeFromGroups(ConnectionSelector(hub: "h", target: .connection("c")), groups: nil),
        .removeFromGroups(ConnectionSelector(hub: "h", target: .group("g")), groups: ["g"]),
        .grant(hub: "h", connectionId: "c", .sendToGroup, group: nil, granted: true),
        .grant(hub: "h", connectionId: "c", .joinLeaveGroup, group: "g", granted: false),
        .checkPermission(hub: "h", connectionId: "c", .joinLeaveGroup, group: "g"),
        .members(hub: "h", group: "g"),
    ])
    func requestsRoundTrip(_ operation: HubOperation) throws {
        guard
            case .request(let origin, let id, let copy) = try roundTrip(.request(origin: "n7", id: 1 << 50, operation))
        else {
            Issue.record("not a request")
            return
        }
        #expect(origin == "n7")
        #expect(id == 1 << 50)
        // Same bytes again: every field survived.
        #expect(
            ClusterWire.encode(.request(origin: "n7", id: 1 << 50, copy))
                == ClusterWire.encode(.request(origin: "n7", id: 1 << 50, operation)))
    }

    @Test(arguments: [
        HubOperationResult.count(0), .count(123_456), .flag(nil), .flag(true), .flag(false), .members([]),
        .members([.init(connectionId: "a", userId: nil), .init(connectionId: "b", userId: "ü")]),
    ])
    func repliesRoundTrip(_ result: HubOperationResult) throws {
        guard case .reply(7, "n2", let copy) = try roundTrip(.reply(id: 7, node: "n2", result)) else {
            Issue.record("not the reply")
            return
        }
        #expect(copy == result)
    }

    @Test func messagesKeepTheirNodeAndNumberAndComeBackHomeWithoutOne() throws {
        let data = Array("\"x\"".utf8)
        let made = try #require(
            data.withUnsafeBytes {
                Broadcast(selector: ConnectionSelector(hub: "h", target: .group("g")), dataType: .text, data: $0)
            })
        let hub = LoopHub()
        hub.serialBase = 3 << 48
        hub.stamp(made)
        #expect(made.serial == 3 << 48 | 1)
        let other = Broadcast(
            selector: made.selector, prefix: made.prefix.pointer, payload: made.payload.pointer, payloadIsText: true,
            expiresAt: 0, origin: "b", serial: 9)
        let bytes = ClusterWire.encode(.handoverTail(connectionId: "a.c", [made, other]), localNode: "a")
        // At node b: the first names a, the second is b's own.
        let atB = try bytes.withUnsafeBytes { try ClusterWire.decode($0, now: 0, localNode: "b") { _ in nil } }
        guard case .handoverTail("a.c", let tail) = atB else {
            Issue.record("not a tail")
            return
        }
        #expect(tail.map(\.origin) == ["a", nil])
        #expect(tail.map(\.serial) == [3 << 48 | 1, 9])
        let sent = ClusterWire.encode(.broadcast(origin: "a", made, ttlMillis: 0))
        let atA = try sent.withUnsafeBytes { try ClusterWire.decode($0, now: 0, localNode: "a") { _ in nil } }
        guard case .broadcast("a", let back, _) = atA else {
            Issue.record("not a broadcast")
            return
        }
        #expect(back.origin == nil)
        #expect(back.serial == made.serial)
    }

    @Test func damagedMessagesAreErrorsNotCrashes() throws {
        let whole = ClusterWire.encode(
            .request(
                origin: "n", id: 3,
                .addToGroups(ConnectionSelector(hub: "h", target: .group("g"), excluded: ["e"]), groups: ["x"])))
        // Every truncation fails cleanly.
        for length in 0..<whole.count {
            let cut = Array(whole[..<length])
            #expect(throws: ClusterWire.DecodeError.self) {
                try cut.withUnsafeBytes { try ClusterWire.decode($0, now: 0) { _ in nil } }
            }
        }
        for bad in [
            [2, 0x42], [1, 0x00], [1, 0x51, 1, 0x6E, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01],
        ]
            as [[UInt8]]
        {
            #expect(throws: ClusterWire.DecodeError.self) {
                try bad.withUnsafeBytes { try ClusterWire.decode($0, now: 0) { _ in nil } }
            }
        }
    }

    @Test func aFilterTheReceiverCannotCompileIsRefused() {
        let operation = HubOperation.count(ConnectionSelector(hub: "h", target: .hub, filterText: "nonsense ("))
        let bytes = ClusterWire.encode(.request(origin: "n", id: 1, operation))
        #expect(throws: ClusterWire.DecodeError.self) {
            try bytes.withUnsafeBytes { try ClusterWire.decode($0, now: 0) { _ in nil } }
        }
    }

    @Test func combiningAddsCountsJoinsMembersAndFindsPermissions() {
        let count = HubOperation.count(ConnectionSelector(hub: "h", target: .hub))
        #expect(HubOperationResult.combine([.count(2), .count(3)], for: count) == .count(5))
        #expect(HubOperationResult.combine([], for: count) == .count(0))
        let check = HubOperation.checkPermission(hub: "h", connectionId: "c", .sendToGroup, group: nil)
        #expect(HubOperationResult.combine([.flag(nil), .flag(false)], for: check) == .flag(false))
        #expect(HubOperationResult.combine([.flag(false), .flag(true), .flag(nil)], for: check) == .flag(true))
        #expect(HubOperationResult.combine([.flag(nil)], for: check) == .flag(nil))
        let members = HubOperation.members(hub: "h", group: "g")
        #expect(
            HubOperationResult.combine(
                [.members([.init(connectionId: "a", userId: nil)]), .members([.init(connectionId: "b", userId: "u")])],
                for: members
            ).members.map(\.connectionId) == ["a", "b"])
    }
}
