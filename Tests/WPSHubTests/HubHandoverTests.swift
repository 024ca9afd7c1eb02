import Testing
import WPSAuth
import WPSHub

/// A reliable session moving between two nodes' hubs: the old one covers every message up
/// to the commit point, the new one everything after, with no loss and no duplicate.
@Suite struct HubHandoverTests {
    func message(_ text: String, group: String = "room") -> Broadcast {
        let data = Array("\"\(text)\"".utf8)
        return data.withUnsafeBytes {
            Broadcast(selector: ConnectionSelector(hub: "chat", target: .group(group)), dataType: .text, data: $0)!
        }
    }

    /// What a client read: each data message's text and sequence id.
    func received(_ transport: FakeTransport) -> [String] {
        transport.take().compactMap { message in
            guard message.type == "message", let data = message.json["data"] as? String else { return nil }
            return "\(data)#\(message.json["sequenceId"] as? Int ?? 0)"
        }
    }

    @Test func everyMessageArrivesOnceInOrderAcrossTheCommitPoint() throws {
        let old = LoopHub()
        let new = LoopHub()
        let first = FakeTransport()
        var roles = Fixtures.allRoles
        roles.append("webpubsub.sendToGroup.special")
        let session = old.open(
            connectionId: "c1", identity: Fixtures.identity(user: "u", roles: roles, groups: ["room"]),
            reconnectionToken: "token", transport: first)
        old.deliver(message("m1"))
        old.deliver(message("m2"))
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
        old.deliver(message("m3"))

        // The new node adopts it: connected, then the replay of what was not acknowledged.
        let second = FakeTransport()
        let moved = new.adoptHandover(snapshot, transport: second, now: 5)
        let opening = second.take()
        #expect(opening.first?.json["event"] as? String == "connected")
        #expect(opening.first?.json["connectionId"] as? String == "c1")
        #expect(opening.compactMap { $0.json["data"] as? String } == ["m2"])
        // Before the commit the old node has every message: the new one drops its copies.
        new.deliver(message("m3"))
        old.deliver(message("m4"))
        new.deliver(message("m4"))
        #expect(received(second).isEmpty)

        // Commit: from here the new node holds messages until the old node's tail is in.
        new.handoverCommitted(connectionId: "c1")
        let tail = try #require(old.commitHandover(connectionId: "c1"))
        #expect(old.sessions["c1"] == nil)
        #expect(old.members(hub: "chat", group: "room").isEmpty)
        new.deliver(message("m5"))
        #expect(received(second).isEmpty)
        new.finishHandover(connectionId: "c1", tail: tail)
        #expect(received(second) == ["m3#3", "m4#4", "m5#5"])
        new.deliver(message("m6"))
        #expect(received(second) == ["m6#6"])

        // The state went with it: a repeated ackId is a duplicate, the groups are joined.
        new.receive(#"{"type":"joinGroup","group":"extra","ackId":7}"#, on: moved)
        #expect(second.take().first?.json["error"] != nil)
        #expect(new.members(hub: "chat", group: "extra").count == 1)
    }

    @Test func anAbortedHandoverKeepsTheSessionWithWhatArrivedMeanwhile() throws {
        let old = LoopHub()
        let first = FakeTransport()
        let session = old.open(
            connectionId: "c1", identity: Fixtures.identity(groups: ["room"]), reconnectionToken: "t", transport: first)
        _ = try #require(old.beginHandover(connectionId: "c1"))
        old.deliver(message("m1"))
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
