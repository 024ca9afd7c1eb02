import Testing
import WPSBytes
import WPSHub

@Suite struct HubReliabilityTests {
    static let second: UInt64 = 1_000_000_000

    func makeHub(maxMessages: Int = 1000, maxBytes: Int = 16 << 20) -> LoopHub {
        var configuration = HubConfiguration()
        configuration.reliableMaxMessages = maxMessages
        configuration.reliableMaxBytes = maxBytes
        configuration.resumeWindow = .seconds(60)
        return LoopHub(configuration: configuration)
    }

    /// A reliable member of "room" and a publisher with its own wire.
    func setUp(_ hub: LoopHub, kind: ClientKind = .jsonReliable) -> (
        member: HubSession, wire: FakeTransport, publisher: HubSession
    ) {
        let wire = FakeTransport(raw: !kind.isJSON)
        let member = hub.open(
            connectionId: Fixtures.id(1), identity: Fixtures.identity(kind, groups: ["room"]), reconnectionToken: "t",
            transport: wire)
        let publisher = hub.open(
            connectionId: Fixtures.id(2), identity: Fixtures.identity(.json), reconnectionToken: nil,
            transport: FakeTransport())
        _ = wire.take()
        return (member, wire, publisher)
    }

    func publish(_ hub: LoopHub, _ publisher: HubSession, _ text: String) {
        hub.receive(#"{"type":"sendToGroup","group":"room","dataType":"text","data":"\#(text)"}"#, on: publisher)
    }

    @Test func sequenceIdsKeepEveryDigitAcrossPowersOfTen() {
        let hub = makeHub(maxMessages: 2000)
        let (member, wire, publisher) = setUp(hub)
        var seen: [Int] = []
        for n in 1...1001 {
            publish(hub, publisher, "m\(n)")
            let messages = wire.take()
            #expect(messages.count == 1)
            seen += messages.compactMap { $0.json["sequenceId"] as? Int }
            #expect(messages.first?.text.hasSuffix(#","sequenceId":\#(n)}"#) == true)
            if n % 100 == 0 { hub.receive(#"{"type":"sequenceAck","sequenceId":\#(n)}"#, on: member) }
        }
        #expect(seen == Array(1...1001))
        #expect(member.unackedCount == 1)
    }

    @Test(arguments: Array(1...60) + Array(stride(from: 65_380, through: 65_480, by: 4)) + [70_000])
    func reliableFramesOfEveryHeaderSize(size: Int) {
        let hub = makeHub()
        let (_, wire, publisher) = setUp(hub)
        let text = String(repeating: "q", count: size)
        publish(hub, publisher, text)
        let messages = wire.take()
        #expect(messages.count == 1)
        #expect(messages.first?.json["data"] as? String == text)
        #expect(messages.first?.json["sequenceId"] as? Int == 1)
        // The sizes above straddle both header-size boundaries (126 and 65,536 bytes).
        #expect(messages.first.map { $0.payload.count } ?? 0 > 0)
    }

    @Test func sequenceAckIsCumulativeAndToleratesZeroRepeatsAndStaleValues() {
        let hub = makeHub()
        let (member, wire, publisher) = setUp(hub)
        for n in 1...5 { publish(hub, publisher, "m\(n)") }
        #expect(wire.take().map { $0.json["sequenceId"] as? Int } == [1, 2, 3, 4, 5])
        #expect(member.unackedCount == 5)
        hub.receive(#"{"type":"sequenceAck","sequenceId":0}"#, on: member)
        #expect(member.unackedCount == 5)
        hub.receive(#"{"type":"sequenceAck","sequenceId":3}"#, on: member)
        #expect(member.unackedCount == 2)
        hub.receive(#"{"type":"sequenceAck","sequenceId":3}"#, on: member)
        hub.receive(#"{"type":"sequenceAck","sequenceId":1}"#, on: member)
        #expect(member.unackedCount == 2)
        #expect(wire.take().isEmpty, "sequenceAck is never answered")
    }

    @Test func dropAndResumeReplaysUnackedInOrderWithOriginalIds() {
        let hub = makeHub()
        let (member, wire, publisher) = setUp(hub)
        publish(hub, publisher, "a")
        publish(hub, publisher, "b")
        hub.receive(#"{"type":"sequenceAck","sequenceId":1}"#, on: member)
        hub.transportClosed(member, transport: wire, clientCloseCode: nil, now: 10 * Self.second)
        publish(hub, publisher, "c")  // while away: buffered, not lost
        let back = FakeTransport()
        #expect(hub.resume(connectionId: Fixtures.id(1), transport: back) === member)
        let got = back.take()
        #expect(got.first?.json["event"] as? String == "connected")
        let data = got.filter { $0.type == "message" }
        #expect(data.map { $0.json["data"] as? String } == ["b", "c"])
        #expect(data.map { $0.json["sequenceId"] as? Int } == [2, 3])
        publish(hub, publisher, "d")
        #expect(back.take().map { $0.json["sequenceId"] as? Int } == [4])
    }

    /// The replay buffer is a ring: acknowledged messages free slots at its front, later
    /// ones wrap around into them, and it grows past its first size, all without changing
    /// what a resume replays.
    @Test(arguments: [(16, 10, 8), (16, 10, 30), (40, 39, 100), (5, 5, 0)])
    func replayAfterTheRingWrapsAndGrows(before: Int, acked: Int, after: Int) {
        let hub = makeHub()
        let (member, wire, publisher) = setUp(hub)
        for n in 1...before { publish(hub, publisher, "m\(n)") }
        hub.receive(#"{"type":"sequenceAck","sequenceId":\#(acked)}"#, on: member)
        if after > 0 { for n in before + 1...before + after { publish(hub, publisher, "m\(n)") } }
        _ = wire.take()
        #expect(member.unackedCount == before + after - acked)
        hub.transportClosed(member, transport: wire, clientCloseCode: nil, now: Self.second)
        let back = FakeTransport()
        _ = hub.resume(connectionId: Fixtures.id(1), transport: back)
        let data = back.take().filter { $0.type == "message" }
        let expected = Array(acked + 1..<before + after + 1)
        #expect(data.map { $0.json["sequenceId"] as? Int } == expected.map { Optional($0) })
        #expect(data.map { $0.json["data"] as? String } == expected.map { Optional("m\($0)") })
    }

    /// A buffered broadcast lives exactly as long as some reliable session may replay it:
    /// until the last holder acknowledges it or ends.
    @Test func bufferedBroadcastsAreFreedByTheLastAckOrEnd() {
        let hub = makeHub()
        let (first, firstWire, _) = setUp(hub)
        let secondWire = FakeTransport()
        let second = hub.open(
            connectionId: Fixtures.id(3), identity: Fixtures.identity(.jsonReliable, groups: ["room"]),
            reconnectionToken: "u", transport: secondWire)
        weak var watched: Broadcast?
        do {
            let value = Array("\"kept\"".utf8)
            let broadcast = value.withUnsafeBytes {
                Broadcast(selector: ConnectionSelector(hub: "chat", target: .group("room")), dataType: .text, data: $0)
            }!
            watched = broadcast
            hub.deliver(broadcast)
        }
        _ = firstWire.take()
        #expect(secondWire.take().contains { $0.type == "message" })
        #expect(watched != nil, "both sessions may still replay it")
        hub.receive(#"{"type":"sequenceAck","sequenceId":1}"#, on: first)
        #expect(watched != nil, "the second session has not acknowledged it")
        hub.end(second, code: nil, reason: nil)
        #expect(watched == nil, "the last holder ended")
    }

    /// An acknowledgement cannot cover messages not sent yet.
    @Test func anAckBeyondTheLastSequenceIdIsCapped() {
        let hub = makeHub()
        let (member, _, publisher) = setUp(hub)
        for n in 1...3 { publish(hub, publisher, "m\(n)") }
        hub.receive(#"{"type":"sequenceAck","sequenceId":99}"#, on: member)
        #expect(member.unackedCount == 0)
        publish(hub, publisher, "m4")
        #expect(member.unackedCount == 1, "a guessed ack did not cover the next message")
    }

    @Test func duplicateAckIdsAreRememberedAcrossRecovery() {
        let hub = makeHub()
        let (member, wire, _) = setUp(hub)
        hub.receive(#"{"type":"joinGroup","group":"x","ackId":7}"#, on: member)
        #expect(wire.take()[0].json["success"] as? Bool == true)
        hub.transportClosed(member, transport: wire, clientCloseCode: nil, now: Self.second)
        let back = FakeTransport()
        _ = hub.resume(connectionId: Fixtures.id(1), transport: back)
        _ = back.take()
        hub.receive(#"{"type":"joinGroup","group":"x","ackId":7}"#, on: member)
        let ack = back.take()[0].json
        #expect((ack["error"] as? [String: Any])?["name"] as? String == "Duplicate")
    }

    @Test(arguments: [(59, true), (60, false), (61, false)])
    func resumeWindowEdges(seconds: UInt64, resumable: Bool) {
        let hub = makeHub()
        let (member, wire, _) = setUp(hub)
        hub.transportClosed(member, transport: wire, clientCloseCode: nil, now: 100 * Self.second)
        hub.tick(now: (100 + seconds) * Self.second)
        #expect((hub.resume(connectionId: Fixtures.id(1), transport: FakeTransport()) != nil) == resumable)
    }

    @Test func groupsSurviveTheDropAndEndWithTheSession() {
        let hub = makeHub()
        let (member, wire, _) = setUp(hub)
        hub.transportClosed(member, transport: wire, clientCloseCode: nil, now: 0)
        #expect(hub.members(hub: "chat", group: "room").count == 1)
        hub.tick(now: 61 * Self.second)
        #expect(hub.members(hub: "chat", group: "room").isEmpty)
        #expect(hub.sessions[Fixtures.id(1)] == nil)
    }

    @Test(arguments: [UInt16(1000)])
    func clientCloseWith1000EndsAtOnce(code: UInt16) {
        let hub = makeHub()
        let (member, wire, _) = setUp(hub)
        hub.transportClosed(member, transport: wire, clientCloseCode: WebSocketCloseCode(rawValue: code), now: 0)
        #expect(member.isEnded)
        #expect(hub.resume(connectionId: Fixtures.id(1), transport: FakeTransport()) == nil)
    }

    @Test func nonReliableSessionsEndWithTheirSocket() {
        let hub = makeHub()
        let (member, wire, _) = setUp(hub, kind: .json)
        hub.transportClosed(member, transport: wire, clientCloseCode: nil, now: 0)
        #expect(member.isEnded)
        #expect(hub.members(hub: "chat", group: "room").isEmpty)
    }

    @Test(arguments: [(4, false), (5, false), (6, true)])
    func messageBufferLimitEdges(published: Int, overflows: Bool) {
        let hub = makeHub(maxMessages: 5)
        let (member, wire, publisher) = setUp(hub)
        for n in 0..<published { publish(hub, publisher, "m\(n)") }
        #expect(member.isEnded == overflows)
        if overflows {
            #expect(wire.closedWith?.code == 1008)
            #expect(hub.resume(connectionId: Fixtures.id(1), transport: FakeTransport()) == nil)
        } else {
            #expect(wire.closedWith == nil)
        }
    }

    @Test func byteBufferLimitOverflows() {
        // Each prefix is well over 60 bytes, so three of them pass 150.
        let hub = makeHub(maxBytes: 150)
        let (member, wire, publisher) = setUp(hub)
        publish(hub, publisher, "one")
        #expect(!member.isEnded)
        publish(hub, publisher, "two")
        publish(hub, publisher, "three")
        #expect(member.isEnded)
        #expect(wire.closedWith?.code == 1008)
    }

    @Test func slowReliableClientLosesItsSocketButKeepsItsSession() {
        let hub = makeHub()
        let (member, wire, publisher) = setUp(hub)
        wire.limit = 1000
        wire.queued = 1001
        publish(hub, publisher, "x")
        #expect(wire.closedWith?.code == 1011)
        #expect(!member.isEnded)
        let back = FakeTransport()
        #expect(hub.resume(connectionId: Fixtures.id(1), transport: back) != nil)
        #expect(back.take().filter { $0.type == "message" }.count == 1)
    }

    @Test func slowNonReliableClientIsClosedWithAReason() {
        let hub = makeHub()
        let (member, wire, publisher) = setUp(hub, kind: .json)
        wire.limit = 1000
        wire.queued = 1000
        publish(hub, publisher, "x")
        #expect(wire.closedWith == nil, "exactly at the limit is fine")
        wire.queued = 1001
        publish(hub, publisher, "y")
        #expect(wire.closedWith?.code == 1008)
        #expect(wire.closedWith?.reason.contains("slow") == true)
        #expect(member.isEnded)
    }

    @Test func resumeTakesOverAHalfOpenSocket() {
        let hub = makeHub()
        let (member, old, _) = setUp(hub)
        let fresh = FakeTransport()
        #expect(hub.resume(connectionId: Fixtures.id(1), transport: fresh) === member)
        #expect(old.closedWith != nil)
        // The old socket's late close must not detach the resumed session.
        hub.transportClosed(member, transport: old, clientCloseCode: nil, now: 0)
        #expect(member.transport === fresh)
    }
}

@Suite struct HubTTLTests {
    @Test func expiredCopiesAreSkippedOnResume() {
        let hub = LoopHub()
        let wire = FakeTransport()
        let member = hub.open(
            connectionId: Fixtures.id(1), identity: Fixtures.identity(groups: ["room"]), reconnectionToken: "t",
            transport: wire)
        _ = wire.take()
        hub.transportClosed(member, transport: wire, clientCloseCode: nil, now: 1_000)
        let second: UInt64 = 1_000_000_000
        for (text, expiry) in [("short", 5 * second), ("forever", UInt64(0)), ("long", 100 * second)] {
            let value = Array("\"\(text)\"".utf8)
            let broadcast = value.withUnsafeBytes {
                Broadcast(
                    selector: ConnectionSelector(hub: "chat", target: .group("room")), dataType: .text, data: $0,
                    expiresAt: expiry)
            }!
            hub.deliver(broadcast)
        }
        let back = FakeTransport()
        _ = hub.resume(connectionId: Fixtures.id(1), transport: back, now: 10 * second)
        let data = back.take().filter { $0.type == "message" }
        #expect(data.map { $0.json["data"] as? String } == ["forever", "long"])
        #expect(data.map { $0.json["sequenceId"] as? Int } == [2, 3])
    }
}

extension HubReliabilityTests {
    @Test func byDefaultOnlyBytesBoundTheBuffer() {
        var configuration = HubConfiguration()
        configuration.reliableMaxBytes = 1 << 20
        let hub = LoopHub(configuration: configuration)
        let (member, _, publisher) = setUp(hub)
        for i in 0..<5000 { publish(hub, publisher, "m\(i)") }
        #expect(!member.isEnded)
        #expect(member.unackedCount == 5000)
        // The byte limit still holds: large messages pass it and end the session.
        let big = String(repeating: "x", count: 64 * 1024)
        for _ in 0..<20 { publish(hub, publisher, big) }
        #expect(member.isEnded)
    }
}

extension HubReliabilityTests {
    /// A replay larger than the outbound limit must not get the client cut at the next
    /// message, or it would recover into the same replay forever.
    @Test func aReplayDoesNotCountAgainstTheOutboundLimitUntilAcknowledged() {
        let hub = makeHub()
        let (member, wire, publisher) = setUp(hub)
        hub.transportClosed(member, transport: wire, clientCloseCode: nil, now: 1)
        let text = String(repeating: "x", count: 200)
        for _ in 0..<100 { publish(hub, publisher, text) }  // about 25 KB buffered
        let again = FakeTransport()
        again.limit = 4096
        #expect(hub.resume(connectionId: Fixtures.id(1), transport: again, now: 2) != nil)
        let replayed = again.take().filter { $0.type == "message" }.reduce(0) { $0 + $1.payload.count }
        #expect(replayed > 4096 * 5)
        again.queued = replayed  // the client has not read any of it yet
        publish(hub, publisher, "new")
        #expect(again.closedWith == nil)
        #expect(member.transport === again)
        // Once the replay is acknowledged, the queue counts in full again.
        hub.receive(#"{"type":"sequenceAck","sequenceId":101}"#, on: member)
        again.queued = 8192
        publish(hub, publisher, "more")
        #expect(again.closedWith?.code == 1011)
    }
}
