import Foundation
import Testing
import WPSHub
import WPSProtocol

/// `invoke` / `invokeResponse` / `cancelInvocation` (protocol-spec/upstream.md §9).
@Suite struct HubInvocationTests {
    let hub: LoopHub
    let upstream = FakeUpstream()

    init() {
        var configuration = HubConfiguration()
        configuration.maxWaitingMessages = 3
        hub = LoopHub(configuration: configuration)
        hub.upstream = upstream
    }

    func open(_ n: Int, _ kind: ClientKind = .json) -> (HubSession, FakeTransport) {
        let transport = FakeTransport(raw: !kind.isJSON)
        let session = hub.open(
            connectionId: Fixtures.id(n), identity: Fixtures.identity(kind, user: "alice", groups: []),
            reconnectionToken: "token-\(n)", transport: transport)
        _ = transport.take()
        return (session, transport)
    }

    func send(_ json: String, _ session: HubSession) {
        hub.receive(json, on: session)
    }

    func invoke(
        _ id: String, _ session: HubSession, event: String = "e", data: String = #","dataType":"text","data":"x""#
    ) {
        send(#"{"type":"invoke","invocationId":"\#(id)","target":"event","event":"\#(event)"\#(data)}"#, session)
    }

    func reply(_ type: DataType, _ body: String) -> UpstreamAnswer {
        .success(reply: .init(dataType: type, body: Array(body.utf8)), connectionState: nil)
    }

    static let empty = UpstreamAnswer.success(reply: nil, connectionState: nil)

    @Test func goesUpstreamAsAUserEventAndTheReplyComesBackAsData() {
        let (session, transport) = open(1)
        invoke("1", session, data: #","dataType":"json","data":{"q": [1]}"#)
        #expect(upstream.events.count == 1)
        let event = upstream.events[0].0
        #expect(event.name == "e" && event.dataType == .json && event.ackId == nil && event.invocationId == "1")
        #expect(event.body == Array(#"{"q": [1]}"#.utf8))
        hub.upstreamAnswered(session, reply(.json, #"{"ok":true}"#))
        let messages = transport.take()
        #expect(
            messages.map(\.text) == [
                #"{"type":"invokeResponse","invocationId":"1","success":true,"dataType":"json","data":{"ok":true}}"#
            ])
    }

    @Test(arguments: [
        (DataType.text, "h\u{e9}", #""dataType":"text","data":"hé""#),
        (DataType.binary, "\u{1}\u{2}", #""dataType":"binary","data":"AQI=""#),
    ])
    func repliesOfEveryType(type: DataType, body: String, fields: String) {
        let (session, transport) = open(2)
        invoke("r", session)
        hub.upstreamAnswered(session, reply(type, body))
        #expect(
            transport.take().map(\.text) == [#"{"type":"invokeResponse","invocationId":"r","success":true,\#(fields)}"#]
        )
    }

    @Test func anEmptyAnswerHasNoDataFields() {
        let (session, transport) = open(3)
        invoke("x", session)
        hub.upstreamAnswered(session, Self.empty)
        invoke("y", session)
        hub.upstreamAnswered(session, reply(.json, ""))
        invoke("z", session)
        hub.upstreamAnswered(session, reply(.json, " null "))
        #expect(
            transport.take().map(\.text) == [
                #"{"type":"invokeResponse","invocationId":"x","success":true}"#,
                #"{"type":"invokeResponse","invocationId":"y","success":true}"#,
                #"{"type":"invokeResponse","invocationId":"z","success":true}"#,
            ])
    }

    @Test func failuresAndInvalidRepliesAnswerWithAnError() {
        let (session, transport) = open(4)
        invoke("f", session)
        hub.upstreamAnswered(session, .failure(AckError(name: .internalServerError, message: "down")))
        invoke("g", session)
        hub.upstreamAnswered(session, reply(.json, "{nope"))
        let messages = transport.take().map(\.json)
        #expect(messages.map { $0["invocationId"] as? String } == ["f", "g"])
        #expect(messages.allSatisfy { $0["success"] as? Bool == false && $0["dataType"] == nil })
        let errors = messages.map { $0["error"] as? [String: Any] }
        #expect(errors.map { $0?["name"] as? String } == ["InternalServerError", "InternalServerError"])
        #expect(errors[0]?["message"] as? String == "down")
        #expect(!session.isEnded)
    }

    @Test func noHandlerIsNotFoundAtOnce() {
        let (session, transport) = open(5)
        invoke("n", session, event: "other")
        #expect(upstream.events.isEmpty)
        let response = transport.take()[0].json
        #expect(response["success"] as? Bool == false)
        let error = response["error"] as? [String: Any]
        #expect(error?["name"] as? String == "NotFound")
        #expect(error?["message"] as? String == "No event handler is configured for event 'other' in hub 'chat'.")
    }

    @Test func absentDataIsAnEmptyBody() {
        let (session, _) = open(6)
        invoke("1", session, data: "")
        hub.upstreamAnswered(session, Self.empty)
        invoke("2", session, data: #","dataType":"binary""#)
        #expect(upstream.events.map { $0.0.body } == [[], []])
        #expect(upstream.events.map { $0.0.dataType } == [.text, .binary])
    }

    @Test func badFieldsAreAnsweredUnderTheirIdOrIgnored() {
        let (session, transport) = open(7)
        send(#"{"type":"invoke","invocationId":"b","target":"method","event":"e"}"#, session)
        send(#"{"type":"invoke","target":"event","event":"e"}"#, session)
        send(#"{"type":"cancelInvocation","invocationId":5}"#, session)
        let messages = transport.take().map(\.json)
        #expect(messages.count == 1)
        #expect(messages[0]["invocationId"] as? String == "b")
        #expect((messages[0]["error"] as? [String: Any])?["name"] as? String == "BadRequest")
        #expect(upstream.events.isEmpty && !session.isEnded)
    }

    @Test func invocationsWaitTheirTurnWithOtherMessages() {
        let (session, transport) = open(8)
        send(#"{"type":"event","event":"e","dataType":"text","data":"x","ackId":1}"#, session)
        invoke("a", session)
        send(#"{"type":"joinGroup","group":"g","ackId":2}"#, session)
        #expect(upstream.events.count == 1 && transport.take().isEmpty)
        hub.upstreamAnswered(session, Self.empty)
        // The event's ack, then the invocation is with the handler and the join still waits.
        #expect(transport.take().map { $0.json["ackId"] as? Int } == [1])
        #expect(upstream.events.map { $0.0.invocationId } == [nil, "a"])
        #expect(session.groups.isEmpty)
        hub.upstreamAnswered(session, reply(.text, "done"))
        let messages = transport.take()
        #expect(messages.map(\.type) == ["invokeResponse", "ack"])
        #expect(session.groups == ["g"])
    }

    @Test func cancellingAWaitingInvocationDropsIt() {
        let (session, transport) = open(9)
        invoke("a", session)
        invoke("b", session)
        send(#"{"type":"joinGroup","group":"g","ackId":3}"#, session)
        send(#"{"type":"cancelInvocation","invocationId":"b"}"#, session)
        send(#"{"type":"cancelInvocation","invocationId":"unknown"}"#, session)
        #expect(transport.take().isEmpty)
        hub.upstreamAnswered(session, Self.empty)
        let messages = transport.take()
        #expect(messages.map(\.type) == ["invokeResponse", "ack"])
        #expect(messages[0].json["invocationId"] as? String == "a")
        #expect(upstream.events.map { $0.0.invocationId } == ["a"])
        #expect(session.groups == ["g"])
    }

    @Test func aCancelledWaitingInvocationFreesItsPlace() {
        let (session, transport) = open(16)
        invoke("a", session)
        for id in ["b", "c", "d"] { invoke(id, session) }  // the limit (3) waits
        send(#"{"type":"cancelInvocation","invocationId":"c"}"#, session)
        invoke("e", session)
        #expect(transport.take().isEmpty)
        invoke("f", session)  // one over
        #expect(transport.take().map { $0.json["invocationId"] as? String } == ["f"])
        for _ in 0..<4 { hub.upstreamAnswered(session, Self.empty) }
        #expect(upstream.events.map { $0.0.invocationId } == ["a", "b", "d", "e"])
        #expect(transport.take().map { $0.json["invocationId"] as? String } == ["a", "b", "d", "e"])
    }

    @Test func cancellingTheInvocationWithTheHandlerDiscardsItsAnswer() {
        let (session, transport) = open(10)
        invoke("a", session)
        send(#"{"type":"joinGroup","group":"g","ackId":2}"#, session)
        send(#"{"type":"cancelInvocation","invocationId":"a"}"#, session)
        send(#"{"type":"cancelInvocation","invocationId":"a"}"#, session)
        #expect(transport.take().isEmpty)
        hub.upstreamAnswered(
            session, .success(reply: .init(dataType: .text, body: Array("late".utf8)), connectionState: "s"))
        // No invokeResponse; the queue goes on and the handler's state still counts.
        #expect(transport.take().map(\.type) == ["ack"])
        #expect(session.groups == ["g"] && session.connectionState == "s")
    }

    @Test func aCancelledFailureIsNotSentEither() {
        let (session, transport) = open(11)
        invoke("a", session)
        send(#"{"type":"cancelInvocation","invocationId":"a"}"#, session)
        hub.upstreamAnswered(session, .failure(AckError(name: .internalServerError, message: "down")))
        #expect(transport.take().isEmpty)
        invoke("a", session)  // the id is free again
        #expect(upstream.events.count == 2)
    }

    @Test func aDuplicateIdInFlightIsABadRequest() {
        let (session, transport) = open(12)
        invoke("a", session)
        invoke("a", session)  // with the handler
        invoke("b", session)
        invoke("b", session)  // waiting
        let refused = transport.take().map(\.json)
        #expect(refused.map { $0["invocationId"] as? String } == ["a", "b"])
        #expect(refused.allSatisfy { ($0["error"] as? [String: Any])?["name"] as? String == "BadRequest" })
        hub.upstreamAnswered(session, Self.empty)
        hub.upstreamAnswered(session, Self.empty)
        #expect(transport.take().map { $0.json["invocationId"] as? String } == ["a", "b"])
        #expect(upstream.events.count == 2)
        // Answered ids may be used again; so may one whose invocation was cancelled.
        invoke("a", session)
        send(#"{"type":"cancelInvocation","invocationId":"a"}"#, session)
        invoke("a", session)
        #expect(transport.take().isEmpty)
        hub.upstreamAnswered(session, Self.empty)
        #expect(upstream.events.count == 4)
        hub.upstreamAnswered(session, Self.empty)
        #expect(transport.take().map { $0.json["invocationId"] as? String } == ["a"])
    }

    @Test func overTheWaitingLimitAnInvocationIsRefusedAndTheConnectionStays() {
        let (session, transport) = open(13)
        invoke("a", session)
        for id in ["b", "c", "d"] { invoke(id, session) }
        #expect(transport.take().isEmpty)
        invoke("e", session)
        let refused = transport.take().map(\.json)
        #expect(refused.count == 1 && refused[0]["invocationId"] as? String == "e")
        #expect((refused[0]["error"] as? [String: Any])?["name"] as? String == "InternalServerError")
        // One over with a bad field still has an id to answer.
        send(#"{"type":"invoke","invocationId":"f","event":"e"}"#, session)
        #expect(transport.take().map { $0.json["invocationId"] as? String } == ["f"])
        #expect(!session.isEnded)
    }

    @Test func reliableConnectionsGetItUnsequenced() {
        let (session, transport) = open(14, .jsonReliable)
        invoke("a", session)
        hub.upstreamAnswered(session, reply(.text, "hi"))
        let response = transport.take()[0].json
        #expect(response["type"] as? String == "invokeResponse" && response["data"] as? String == "hi")
        #expect(response["sequenceId"] == nil)
        #expect(session.unackedCount == 0)
        // The next data message is still the first of the sequence.
        send(#"{"type":"event","event":"e","dataType":"text","data":"x","ackId":1}"#, session)
        hub.upstreamAnswered(session, reply(.text, "next"))
        #expect(transport.take()[0].json["sequenceId"] as? Int == 1)
    }

    @Test func pingsAndCancelsAreHandledAtOnce() {
        let (session, transport) = open(15)
        invoke("a", session)
        send(#"{"type":"ping"}"#, session)
        #expect(transport.take().map(\.type) == ["pong"])
    }
}
