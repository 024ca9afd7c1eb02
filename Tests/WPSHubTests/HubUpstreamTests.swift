import Foundation
import Testing
import WPSBytes
import WPSHub
import WPSProtocol

/// Records what the hub hands to the application side.
final class FakeUpstream: HubUpstream {
    var handled: Set<String> = ["e", "message", "slow"]
    var events: [(UserEvent, HubSession)] = []
    var connected: [String] = []
    var disconnected: [(String, String)] = []

    func handlesUserEvent(hub: String, name: String) -> Bool { handled.contains(name) }
    func userEvent(_ event: UserEvent, from session: HubSession) { events.append((event, session)) }
    func connected(_ session: HubSession) { connected.append(session.connectionId) }
    func disconnected(_ session: HubSession, reason: String) { disconnected.append((session.connectionId, reason)) }
}

@Suite struct HubUpstreamTests {
    let hub: LoopHub
    let upstream = FakeUpstream()

    init() {
        var configuration = HubConfiguration()
        configuration.maxWaitingMessages = 2
        hub = LoopHub(configuration: configuration)
        hub.upstream = upstream
    }

    func open(_ n: Int, _ kind: ClientKind = .json, roles: [String] = Fixtures.allRoles) -> (HubSession, FakeTransport)
    {
        let transport = FakeTransport(raw: !kind.isJSON)
        let session = hub.open(
            connectionId: Fixtures.id(n), identity: Fixtures.identity(kind, user: "alice", roles: roles, groups: []),
            reconnectionToken: "token-\(n)", transport: transport)
        _ = transport.take()
        return (session, transport)
    }

    func send(_ json: String, _ session: HubSession) {
        Array(json.utf8).withUnsafeBytes { hub.received($0, isText: true, on: session) }
    }

    @Test func connectedOnceOnOpenAndDisconnectedOnceOnEnd() {
        let (session, transport) = open(1)
        #expect(upstream.connected == [Fixtures.id(1)])
        hub.transportClosed(session, transport: transport, clientCloseCode: .normal, now: 1)
        hub.end(session, code: nil, reason: "again")
        #expect(upstream.disconnected.count == 1)
        #expect(upstream.disconnected[0].1 == "The client closed the connection.")
    }

    @Test func reliableDropIsNotADisconnectButExpiryIs() {
        let (session, transport) = open(2, .jsonReliable)
        hub.transportClosed(session, transport: transport, clientCloseCode: nil, now: 1)
        #expect(upstream.disconnected.isEmpty)
        let again = FakeTransport()
        #expect(hub.resume(connectionId: Fixtures.id(2), transport: again, now: 2) != nil)
        hub.transportClosed(session, transport: again, clientCloseCode: nil, now: 3)
        hub.tick(now: 3 + 60_000_000_000)
        #expect(upstream.disconnected.map(\.0) == [Fixtures.id(2)])
        #expect(upstream.connected.count == 1)
    }

    @Test func eventBodiesAreDecodedPerDataType() {
        let (session, _) = open(3)
        send(#"{"type":"event","event":"e","dataType":"text","data":"h\u00e9","ackId":1}"#, session)
        hub.upstreamAnswered(session, .success(reply: nil, connectionState: nil))
        send(#"{"type":"event","event":"e","dataType":"binary","data":"AAH+","ackId":2}"#, session)
        hub.upstreamAnswered(session, .success(reply: nil, connectionState: nil))
        send(#"{"type":"event","event":"e","dataType":"json","data":{"a": [1]},"ackId":3}"#, session)
        let bodies = upstream.events.map { $0.0.body }
        #expect(bodies == [Array("hé".utf8), [0, 1, 0xFE], Array(#"{"a": [1]}"#.utf8)])
        #expect(upstream.events.map { $0.0.dataType } == [.text, .binary, .json])
    }

    @Test func oneEventAtATimeAndLaterMessagesWaitInOrder() {
        let (session, transport) = open(4)
        send(#"{"type":"event","event":"slow","dataType":"text","data":"1","ackId":1}"#, session)
        send(#"{"type":"joinGroup","group":"g","ackId":2}"#, session)
        send(#"{"type":"ping"}"#, session)
        #expect(upstream.events.count == 1)
        // The ping is answered at once; the join waits.
        #expect(transport.take().map(\.type) == ["pong"])
        #expect(session.groups.isEmpty)
        hub.upstreamAnswered(session, .success(reply: nil, connectionState: "s1"))
        let acks = transport.take()
        #expect(acks.map { $0.json["ackId"] as? Int } == [1, 2])
        #expect(session.groups == ["g"])
        #expect(session.connectionState == "s1")
    }

    @Test func replyComesBeforeTheAckAndIsSequencedOnReliable() {
        let (session, transport) = open(5, .jsonReliable)
        send(#"{"type":"event","event":"e","dataType":"text","data":"x","ackId":9}"#, session)
        hub.upstreamAnswered(
            session, .success(reply: .init(dataType: .json, body: Array(#"{"ok":true}"#.utf8)), connectionState: nil))
        let messages = transport.take()
        #expect(messages.map(\.type) == ["message", "ack"])
        #expect(messages[0].json["from"] as? String == "server")
        #expect(messages[0].json["dataType"] as? String == "json")
        #expect((messages[0].json["data"] as? [String: Any])?["ok"] as? Bool == true)
        #expect(messages[0].json["sequenceId"] as? Int == 1)
        #expect(messages[1].json["success"] as? Bool == true)
    }

    @Test func invalidJSONReplyFailsTheAck() {
        let (session, transport) = open(6)
        send(#"{"type":"event","event":"e","dataType":"text","data":"x","ackId":1}"#, session)
        hub.upstreamAnswered(
            session, .success(reply: .init(dataType: .json, body: Array("{nope".utf8)), connectionState: nil))
        let messages = transport.take()
        #expect(messages.map(\.type) == ["ack"])
        #expect(messages[0].json["success"] as? Bool == false)
    }

    @Test func failureAnswersWithTheErrorAndTheConnectionStays() {
        let (session, transport) = open(7)
        send(#"{"type":"event","event":"e","dataType":"text","data":"x","ackId":1}"#, session)
        hub.upstreamAnswered(session, .failure(AckError(name: .internalServerError, message: "down")))
        let ack = transport.take()[0].json
        #expect(ack["success"] as? Bool == false)
        #expect((ack["error"] as? [String: Any])?["message"] as? String == "down")
        #expect(!session.isEnded)
        // A failed ackId may be retried.
        send(#"{"type":"event","event":"e","dataType":"text","data":"x","ackId":1}"#, session)
        #expect(upstream.events.count == 2)
    }

    @Test func unhandledEventsKeepNotFound() {
        let (session, transport) = open(8)
        send(#"{"type":"event","event":"other","dataType":"text","data":"x","ackId":1}"#, session)
        #expect(upstream.events.isEmpty)
        let ack = transport.take()[0].json
        #expect((ack["error"] as? [String: Any])?["name"] as? String == "NotFound")
    }

    @Test func waitingLimitAtItsEdge() {
        let (session, transport) = open(9)
        send(#"{"type":"event","event":"slow","dataType":"text","data":"x","ackId":1}"#, session)
        send(#"{"type":"joinGroup","group":"a","ackId":2}"#, session)
        send(#"{"type":"joinGroup","group":"b","ackId":3}"#, session)  // the limit (2) waits
        #expect(transport.take().isEmpty)
        send(#"{"type":"joinGroup","group":"c","ackId":4}"#, session)  // one over
        let refused = transport.take()
        #expect(refused.count == 1 && refused[0].json["ackId"] as? Int == 4)
        #expect(refused[0].json["success"] as? Bool == false)
        send(#"{"type":"joinGroup","group":"d"}"#, session)  // one over, no ackId: closed
        #expect(transport.closedWith?.code == 1008)
        #expect(session.isEnded)
    }

    @Test func rawSendEventFramesAreMessageEvents() {
        let (session, transport) = open(10, .raw(publishGroup: nil))
        [0xFF, 0x00].withUnsafeBytes { hub.received($0, isText: false, on: session) }
        #expect(upstream.events.map { $0.0.name } == ["message"])
        #expect(upstream.events[0].0.dataType == .binary)
        hub.upstreamAnswered(
            session, .success(reply: .init(dataType: .text, body: Array("hi".utf8)), connectionState: nil))
        let frames = transport.take()
        #expect(frames.count == 1 && frames[0].isText && frames[0].text == "hi")
    }

    @Test func answerAfterTheSessionEndedIsDropped() {
        let (session, transport) = open(11)
        send(#"{"type":"event","event":"e","dataType":"text","data":"x","ackId":1}"#, session)
        hub.end(session, code: .normal, reason: "bye")
        _ = transport.take()
        hub.upstreamAnswered(
            session, .success(reply: .init(dataType: .text, body: Array("late".utf8)), connectionState: nil))
        #expect(transport.take().isEmpty)
    }
}

extension HubUpstreamTests {
    @Test func aJSONNullReplyIsNoReply() {
        let (session, transport) = open(12)
        send(#"{"type":"event","event":"e","dataType":"text","data":"x","ackId":1}"#, session)
        hub.upstreamAnswered(
            session, .success(reply: .init(dataType: .json, body: Array(" null ".utf8)), connectionState: nil))
        let messages = transport.take()
        #expect(messages.map(\.type) == ["ack"])
        #expect(messages[0].json["success"] as? Bool == true)
    }
}
