import Foundation
import Testing
import WPSHub

@Suite struct HubRequestTests {
    let hub = LoopHub()

    @discardableResult
    func open(
        _ n: Int, _ kind: ClientKind = .jsonReliable, roles: [String] = Fixtures.allRoles, groups: [String] = [],
        user: String? = "alice"
    ) -> (HubSession, FakeTransport) {
        let transport = FakeTransport(raw: !kind.isJSON)
        let session = hub.open(
            connectionId: Fixtures.id(n), identity: Fixtures.identity(kind, user: user, roles: roles, groups: groups),
            reconnectionToken: "token-\(n)", transport: transport)
        return (session, transport)
    }

    func errorName(_ message: FakeTransport.Message) -> String? {
        (message.json["error"] as? [String: Any])?["name"] as? String
    }

    @Test func connectedComesFirstWithIdsAndTokenOnlyWhenReliable() {
        let (_, reliable) = open(1)
        let first = reliable.take()
        #expect(first.count == 1)
        #expect(first[0].json["event"] as? String == "connected")
        #expect(first[0].json["connectionId"] as? String == Fixtures.id(1))
        #expect(first[0].json["userId"] as? String == "alice")
        #expect(first[0].json["reconnectionToken"] as? String == "token-1")

        let (_, plain) = open(2, .json, user: nil)
        let second = plain.take()[0].json
        #expect(second["reconnectionToken"] == nil)
        #expect(second["userId"] is NSNull)
    }

    @Test func rawClientsGetNoSystemMessages() {
        let (_, raw) = open(3, .raw(publishGroup: nil))
        #expect(raw.take().isEmpty)
    }

    @Test func joinNeedsPermissionAndDuplicatesAreAnswered() {
        let (session, transport) = open(1, roles: ["webpubsub.joinLeaveGroup.room"])
        _ = transport.take()
        hub.receive(#"{"type":"joinGroup","group":"other","ackId":1}"#, on: session)
        var ack = transport.take()[0]
        #expect(ack.json["success"] as? Bool == false)
        #expect(errorName(ack) == "Forbidden")

        hub.receive(#"{"type":"joinGroup","group":"room","ackId":2}"#, on: session)
        ack = transport.take()[0]
        #expect(ack.json["ackId"] as? Int == 2 && ack.json["success"] as? Bool == true)
        #expect(hub.members(hub: "chat", group: "room").count == 1)

        hub.receive(#"{"type":"joinGroup","group":"room","ackId":2}"#, on: session)
        ack = transport.take()[0]
        #expect(errorName(ack) == "Duplicate")
        #expect(
            (ack.json["error"] as? [String: Any])?["message"] as? String == "Message with ack-id: 2 has been processed")

        // A failed ackId is not remembered: the same id may succeed later.
        hub.receive(#"{"type":"leaveGroup","group":"room","ackId":1}"#, on: session)
        #expect(transport.take()[0].json["success"] as? Bool == true)
        #expect(hub.members(hub: "chat", group: "room").isEmpty)
    }

    /// Members leave in an order that moves the last member into each freed place, then
    /// rejoin: after every step the group holds exactly who is in it, and each member's
    /// own record of its place stays right for the next leave.
    @Test func leavingInAnyOrderKeepsTheMemberListExact() {
        let sessions = (1...6).map { open($0).0 }
        for session in sessions { hub.receive(#"{"type":"joinGroup","group":"room"}"#, on: session) }
        var expected = Set(sessions.map(\.connectionId))
        func members() -> Set<String> { Set(hub.members(hub: "chat", group: "room").map(\.connectionId)) }
        #expect(members() == expected)
        for index in [1, 0, 4, 2, 5, 3] {
            hub.receive(#"{"type":"leaveGroup","group":"room"}"#, on: sessions[index])
            expected.remove(sessions[index].connectionId)
            #expect(members() == expected)
            #expect(!sessions[index].isInGroup("room"))
            // Leaving twice changes nothing.
            hub.receive(#"{"type":"leaveGroup","group":"room"}"#, on: sessions[index])
            #expect(members() == expected)
        }
        for session in sessions.reversed() { hub.receive(#"{"type":"joinGroup","group":"room"}"#, on: session) }
        #expect(members() == Set(sessions.map(\.connectionId)))
        for session in sessions.dropFirst(3) { hub.receive(#"{"type":"leaveGroup","group":"room"}"#, on: session) }
        #expect(members() == Set(sessions.prefix(3).map(\.connectionId)))
    }

    @Test func groupMessagesCarryTheRawDataAndSequenceIds() {
        let (alice, aliceWire) = open(1)
        let (_, bobWire) = open(2, .json, groups: ["room"], user: "bob")
        let (_, rawWire) = open(3, .raw(publishGroup: nil), groups: ["room"])
        hub.receive(#"{"type":"joinGroup","group":"room","ackId":1}"#, on: alice)
        _ = (aliceWire.take(), bobWire.take())
        hub.receive(
            #"{"type":"sendToGroup","group":"room","ackId":2,"dataType":"json","data":{"a": [1, 2.50]},"noEcho":false}"#,
            on: alice)
        hub.receive(#"{"type":"sendToGroup","group":"room","dataType":"text","data":"h\u00e9"}"#, on: alice)
        hub.receive(#"{"type":"sendToGroup","group":"room","dataType":"binary","data":"AQI="}"#, on: alice)

        let mine = aliceWire.take()
        #expect(mine.filter { $0.type == "ack" }.count == 1)
        let echoed = mine.filter { $0.type == "message" }
        #expect(echoed.map { $0.json["sequenceId"] as? Int } == [1, 2, 3])
        #expect(echoed[0].text.contains(#""data":{"a": [1, 2.50]}"#), "data must be forwarded byte for byte")
        #expect(echoed[0].json["from"] as? String == "group" && echoed[0].json["fromUserId"] as? String == "alice")

        let bob = bobWire.take()
        #expect(bob.count == 3)
        #expect(bob.allSatisfy { $0.json["sequenceId"] == nil })
        #expect(bob[1].json["data"] as? String == "hé")
        #expect(bob[2].json["dataType"] as? String == "binary" && bob[2].json["data"] as? String == "AQI=")

        let raw = rawWire.take()
        #expect(raw.map(\.isText) == [true, true, false])
        #expect(raw[0].text == #"{"a": [1, 2.50]}"#)
        #expect(raw[1].text == "hé")
        #expect(raw[2].payload == [1, 2])
    }

    @Test func noEchoSkipsOnlyTheSender() {
        let (alice, aliceWire) = open(1, groups: ["room"])
        let (_, bobWire) = open(2, groups: ["room"])
        _ = (aliceWire.take(), bobWire.take())
        hub.receive(
            #"{"type":"sendToGroup","group":"room","ackId":5,"dataType":"text","data":"x","noEcho":true}"#, on: alice)
        #expect(aliceWire.take().map(\.type) == ["ack"])
        #expect(bobWire.take().map(\.type) == ["message"])
    }

    @Test func sendNeedsPermission() {
        let (alice, wire) = open(1, roles: ["webpubsub.sendToGroup.a"], groups: ["b"])
        _ = wire.take()
        hub.receive(#"{"type":"sendToGroup","group":"b","ackId":1,"dataType":"text","data":"x"}"#, on: alice)
        let sent = wire.take()
        #expect(sent.count == 1)
        #expect(errorName(sent[0]) == "Forbidden")
    }

    /// A role for every group is honoured at once, and a later revoke for one group (or all)
    /// takes effect on the next request: the session's every-group flag follows its
    /// permissions.
    @Test func broadGrantsFollowRevokesAndGrants() {
        let (session, wire) = open(1, roles: ["webpubsub.joinLeaveGroup", "webpubsub.sendToGroup"])
        _ = wire.take()
        func outcome(_ type: String, _ group: String, _ ackId: Int) -> String? {
            let extra = type == "sendToGroup" ? #","dataType":"text","data":"x""# : ""
            hub.receive(#"{"type":"\#(type)","group":"\#(group)","ackId":\#(ackId)\#(extra)}"#, on: session)
            let ack = wire.take().first { $0.type == "ack" }
            return ack.map { $0.json["success"] as? Bool == true ? "ok" : errorName($0) ?? "?" }
        }
        #expect(outcome("joinGroup", "a", 1) == "ok" && outcome("sendToGroup", "a", 2) == "ok")
        #expect(
            hub.grant(hub: "chat", connectionId: Fixtures.id(1), .joinLeaveGroup, group: "b", granted: false) == true)
        #expect(outcome("joinGroup", "b", 3) == "Forbidden" && outcome("joinGroup", "c", 4) == "ok")
        #expect(hub.grant(hub: "chat", connectionId: Fixtures.id(1), .sendToGroup, group: nil, granted: false) == true)
        #expect(outcome("sendToGroup", "a", 5) == "Forbidden")
        #expect(
            hub.grant(hub: "chat", connectionId: Fixtures.id(1), .joinLeaveGroup, group: nil, granted: true) == true)
        #expect(outcome("joinGroup", "b", 6) == "ok")
    }

    @Test func pingGetsPongAndEventsWithoutHandlerGetAClearError() {
        let (session, wire) = open(1)
        _ = wire.take()
        hub.receive(#"{"type":"ping"}"#, on: session)
        #expect(wire.take().map(\.text) == [#"{"type":"pong"}"#])
        hub.receive(#"{"type":"event","event":"hello","ackId":9,"dataType":"text","data":"x"}"#, on: session)
        let ack = wire.take()[0]
        #expect(ack.json["success"] as? Bool == false)
        #expect(errorName(ack) == "NotFound")
        #expect(wire.closedWith == nil)
    }

    @Test(arguments: [
        (#"{"type":"joinGroup""#, UInt16(1007)),
        (#"[1,2]"#, UInt16(1007)),
        (#"{"type":"fly","ackId":1}"#, UInt16(1007)),
    ])
    func badFramesDisconnect(frame: String, code: UInt16) {
        let (session, wire) = open(1)
        _ = wire.take()
        hub.receive(frame, on: session)
        let sent = wire.take()
        #expect(sent.first?.json["event"] as? String == "disconnected")
        #expect(wire.closedWith?.code == code)
        #expect(session.isEnded)
        #expect(hub.resume(connectionId: Fixtures.id(1), transport: FakeTransport()) == nil)
    }

    @Test func binaryFramesOnJSONCloseWith1003() {
        let (session, wire) = open(1)
        [UInt8]([1, 2]).withUnsafeBytes { hub.received($0, isText: false, on: session) }
        #expect(wire.closedWith?.code == 1003)
    }

    @Test func badRequestsWithAckIdGetBadRequestAndKeepTheConnection() {
        let (session, wire) = open(1)
        _ = wire.take()
        hub.receive(#"{"type":"joinGroup","ackId":3}"#, on: session)
        #expect(errorName(wire.take()[0]) == "BadRequest")
        #expect(wire.closedWith == nil)
    }

    @Test func rawPublishersReachJSONMembers() {
        let (raw, _) = open(1, .raw(publishGroup: "room"), roles: ["webpubsub.sendToGroup.room"], user: "sensor")
        let (_, json) = open(2, .json, groups: ["room"])
        _ = json.take()
        Array("temp 21".utf8).withUnsafeBytes { hub.received($0, isText: true, on: raw) }
        [UInt8]([0, 255]).withUnsafeBytes { hub.received($0, isText: false, on: raw) }
        let got = json.take()
        #expect(got.map { $0.json["dataType"] as? String } == ["text", "binary"])
        #expect(got[0].json["data"] as? String == "temp 21")
        #expect(got[1].json["data"] as? String == "AP8=")
        #expect(got[0].json["fromUserId"] as? String == "sensor")
    }

    @Test func broadcastsCrossLoops() {
        let peers = FakePeers()
        let left = LoopHub(peers: peers)
        let right = LoopHub(peers: peers)
        peers.hubs = [left, right]
        peers.own = left
        let leftWire = FakeTransport()
        let rightWire = FakeTransport()
        let sender = left.open(
            connectionId: Fixtures.id(1), identity: Fixtures.identity(groups: ["g"]), reconnectionToken: nil,
            transport: leftWire)
        right.open(
            connectionId: Fixtures.id(2), identity: Fixtures.identity(.json, groups: ["g"]), reconnectionToken: nil,
            transport: rightWire)
        _ = (leftWire.take(), rightWire.take())
        left.receive(#"{"type":"sendToGroup","group":"g","dataType":"text","data":"hi"}"#, on: sender)
        #expect(rightWire.take().map { $0.json["data"] as? String } == ["hi"])
        #expect(leftWire.take().map { $0.json["data"] as? String } == ["hi"])
    }
}
