import Testing
import WPSHub

/// What a cluster learns from a loop's hub: the first member of a group or user arriving
/// and the last one leaving.
@Suite struct HubMembershipTests {
    final class Recorder: HubMembership {
        var events: [String] = []
        func groupOpened(hub: String, group: String) { events.append("+g \(hub)/\(group)") }
        func groupClosed(hub: String, group: String) { events.append("-g \(hub)/\(group)") }
        func userArrived(hub: String, user: String) { events.append("+u \(hub)/\(user)") }
        func userLeft(hub: String, user: String) { events.append("-u \(hub)/\(user)") }
        var waiting: [() -> Void] = []
        func whenSubscribed(_ done: @escaping () -> Void) { waiting.append(done) }
    }

    @Test func theAckOfAFirstJoinWaitsForTheSubscription() throws {
        let hub = LoopHub()
        let recorder = Recorder()
        hub.membership = recorder
        let first = FakeTransport()
        let a = hub.open(
            connectionId: "a", identity: Fixtures.identity(.json), reconnectionToken: nil, transport: first)
        let second = FakeTransport()
        let b = hub.open(
            connectionId: "b", identity: Fixtures.identity(.json), reconnectionToken: nil, transport: second)
        _ = first.take()
        _ = second.take()
        hub.receive(#"{"type":"joinGroup","group":"g","ackId":1}"#, on: a)
        #expect(first.take().isEmpty)
        // A repeat while waiting is a duplicate, not a second join.
        hub.receive(#"{"type":"joinGroup","group":"g","ackId":1}"#, on: a)
        #expect(first.take().first?.json["error"] != nil)
        // The group is open on this loop already: no wait.
        hub.receive(#"{"type":"joinGroup","group":"g","ackId":2}"#, on: b)
        #expect(second.take().first?.json["success"] as? Bool == true)
        #expect(recorder.waiting.count == 1)
        recorder.waiting.removeFirst()()
        let ack = try #require(first.take().first)
        #expect(ack.json["ackId"] as? Int == 1)
        #expect(ack.json["success"] as? Bool == true)
    }

    @Test func groupsOpenOnTheFirstMemberAndCloseAfterTheLast() {
        let hub = LoopHub()
        let recorder = Recorder()
        hub.membership = recorder
        let a = hub.open(
            connectionId: "a", identity: Fixtures.identity(user: "u1", groups: ["g"]), reconnectionToken: nil,
            transport: FakeTransport())
        let b = hub.open(
            connectionId: "b", identity: Fixtures.identity(user: "u1", groups: ["g", "h"]), reconnectionToken: nil,
            transport: FakeTransport())
        #expect(recorder.events == ["+u chat/u1", "+g chat/g", "+u chat/u1", "+g chat/h"])
        recorder.events = []
        hub.end(a, code: nil, reason: nil)
        #expect(recorder.events == ["-u chat/u1"])
        recorder.events = []
        _ = hub.apply(.removeFromGroups(ConnectionSelector(hub: "chat", target: .connection("b")), groups: ["h"]))
        #expect(recorder.events == ["-g chat/h"])
        recorder.events = []
        hub.end(b, code: nil, reason: nil)
        #expect(recorder.events == ["-g chat/g", "-u chat/u1"])
    }

    @Test func anonymousConnectionsNameNoUser() {
        let hub = LoopHub()
        let recorder = Recorder()
        hub.membership = recorder
        let session = hub.open(
            connectionId: "a", identity: Fixtures.identity(user: nil), reconnectionToken: nil,
            transport: FakeTransport())
        hub.end(session, code: nil, reason: nil)
        #expect(recorder.events.isEmpty)
    }

    final class Partitioned: HubPeers {
        var published = 0
        func publish(_ broadcast: Broadcast) { published += 1 }
        var reachesEveryNode: Bool { false }
    }

    @Test func anAcknowledgedGroupSendIsRefusedWhileOtherNodesAreUnreachable() throws {
        let peers = Partitioned()
        let hub = LoopHub(peers: peers)
        let transport = FakeTransport()
        let session = hub.open(
            connectionId: "a",
            identity: Fixtures.identity(.json, user: "u", roles: ["webpubsub.sendToGroup"]),
            reconnectionToken: nil, transport: transport)
        _ = transport.take()
        let acked = #"{"type":"sendToGroup","group":"g","ackId":1,"data":"x"}"#
        Array(acked.utf8).withUnsafeBytes { hub.received($0, isText: true, on: session) }
        let ack = try #require(transport.take().first)
        #expect(ack.type == "ack")
        #expect((ack.json["error"] as? [String: Any])?["name"] as? String == "InternalServerError")
        #expect(peers.published == 0)
        // Without an ackId the message still goes out (to this node's members).
        let plain = #"{"type":"sendToGroup","group":"g","data":"x"}"#
        Array(plain.utf8).withUnsafeBytes { hub.received($0, isText: true, on: session) }
        #expect(peers.published == 1)
    }
}
