import Testing
import WPSAuth
import WPSHub

/// A reliable session moving between two nodes' hubs: the old one covers every message up
/// to the commit point, the new one everything after, with no loss and no duplicate.
@Suite struct HubHandoverTests {
    /// A group message made on node `origin` (nil: the hub's own node) with its number there,
    /// as it reaches a hub.
    func message(_ text: String, origin: String? = "C", serial: UInt64, group: String = "room") -> Broadcast {
        let data = Array("\"\(text)\"".utf8)
        let local = data.withUnsafeBytes {
            Broadcast(selector: ConnectionSelector(hub: "chat", target: .group(group)), dataType: .text, data: $0)!
        }
        return Broadcast(
            selector: local.selector, prefix: local.prefix.pointer, payload: local.payload.pointer, payloadIsText: true,
            expiresAt: 0, origin: origin, serial: serial)
    }

    /// What a client read: each data message's text and sequence id.
    func received(_ transport: FakeTransport) -> [String] {
        transport.take().compactMap { message in
            guard message.type == "message", let data = message.json["data"] as? String else { return nil }
            return "\(data)#\(message.json["sequenceId"] as? Int ?? 0)"
        }
    }

    @Test func everyMessageArrivesOnceInOrderWhereverItWasPublished() throws {
        let old = LoopHub()
        let new = LoopHub()
        let first = FakeTransport()
        var roles = Fixtures.allRoles
        roles.append("webpubsub.sendToGroup.special")
        let session = old.open(
            connectionId: "c1", identity: Fixtures.identity(user: "u", roles: roles, groups: ["room"]),
            reconnectionToken: "token", transport: first)
        old.deliver(message("m1", serial: 1))
        old.deliver(message("m2", serial: 2))
        #expect(received(first) == ["m1#1", "m2#2"])
        old.receive(#"{"type":"sequenceAck","sequenceId":1}"#, on: session)
        old.receive(#"{"type":"joinGroup","group":"extra","ackId":7}"#, on: session)
        _ = first.take()

        // Begin: the old socket is closed; later messages are kept, unnumbered.
        let snapshot = try #require(old.beginHandover(connectionId: "c1"))
        #expect(first.closedWith?.code == 1000)
        #expect(snapshot.nextSequenceId == 3)
        #expect(snapshot.unacked.map(\.sequenceId) == [2])
        #expect(Set(snapshot.groups) == ["room", "extra"])
        #expect(snapshot.ackIds == [7])
        #expect(snapshot.permissions.canSend(toGroup: "special"))
        #expect(snapshot.userId == "u")
        #expect(old.beginHandover(connectionId: "c1") == nil)  // Only once.
        old.deliver(message("m3", serial: 3))
        old.deliver(message("a1", origin: nil, serial: 100))  // Published on the old node.

        // The new node adopts it: connected, then the replay of what was not acknowledged.
        let second = FakeTransport()
        let moved = new.adoptHandover(snapshot, transport: second, now: 5)
        let opening = second.take()
        #expect(opening.first?.json["event"] as? String == "connected")
        #expect(opening.first?.json["connectionId"] as? String == "c1")
        #expect(opening.compactMap { $0.json["data"] as? String } == ["m2"])
        // Until the old node's tail is in, the new one holds everything, once per message.
        new.deliver(message("m2", serial: 2))  // Already replayed.
        new.deliver(message("m3", serial: 3))
        new.deliver(message("m3", serial: 3))
        new.deliver(message("b1", origin: nil, serial: 200))  // Published on the new node.
        old.deliver(message("b1", origin: "B", serial: 200))
        #expect(received(second).isEmpty)

        // Commit: the old node lets the session go with what it kept.
        let tail = try #require(old.commitHandover(connectionId: "c1"))
        #expect(old.sessions["c1"] == nil)
        #expect(old.members(hub: "chat", group: "room").isEmpty)
        new.deliver(message("m4", serial: 4))
        #expect(received(second).isEmpty)
        // The tail as the new node decodes it: the old node's own message names its node,
        // the new node's comes back as its own.
        let arrived = tail.map { kept in
            Broadcast(
                selector: kept.selector, prefix: kept.prefix.pointer, payload: kept.payload.pointer,
                payloadIsText: true, expiresAt: 0, origin: kept.origin == "B" ? nil : (kept.origin ?? "A"),
                serial: kept.serial)
        }
        new.finishHandover(connectionId: "c1", tail: arrived, now: 6)
        #expect(received(second) == ["m3#3", "a1#4", "b1#5", "m4#6"])
        // A copy of something the client had, arriving late, is dropped; news is not.
        new.deliver(message("a1", origin: "A", serial: 100))
        new.deliver(message("m5", serial: 5))
        #expect(received(second) == ["m5#7"])

        // The state went with it (the ackIds, the groups), and it may move on at once, even
        // while it still drops late copies.
        #expect(new.members(hub: "chat", group: "extra").map(\.connectionId) == [moved.connectionId])
        let again = try #require(new.beginHandover(connectionId: "c1"))
        #expect(again.nextSequenceId == 8)
        #expect(again.ackIds == [7])
    }

    @Test func anAbortedHandoverKeepsTheSessionWithWhatArrivedMeanwhile() throws {
        let old = LoopHub()
        let first = FakeTransport()
        let session = old.open(
            connectionId: "c1", identity: Fixtures.identity(groups: ["room"]), reconnectionToken: "t", transport: first)
        _ = try #require(old.beginHandover(connectionId: "c1"))
        old.deliver(message("m1", serial: 1))
        old.abortHandover(connectionId: "c1", now: 10)
        // Waiting for its client again, with m1 numbered and buffered.
        let back = FakeTransport()
        #expect(old.resume(connectionId: "c1", transport: back, now: 11) === session)
        #expect(received(back) == ["m1#1"])
    }

    @Test func onlyReliableSessionsAreHandedOver() {
        let hub = LoopHub()
        hub.open(
            connectionId: "j", identity: Fixtures.identity(.json), reconnectionToken: nil, transport: FakeTransport())
        #expect(hub.beginHandover(connectionId: "j") == nil)
        #expect(hub.beginHandover(connectionId: "missing") == nil)
    }

    @Test func permissionsSurviveTheirTransferForm() {
        var permissions = Permissions(roles: ["webpubsub.joinLeaveGroups.team-*", "webpubsub.sendToGroup"])
        permissions.grant(.joinLeaveGroup, group: "lobby")
        permissions.revoke(.sendToGroup, group: "quiet")
        let copy = Permissions(transferForm: permissions.transferForm)
        #expect(copy == permissions)
        #expect(copy.canJoinLeave(group: "team-a"))
        #expect(!copy.canSend(toGroup: "quiet"))
    }
}
