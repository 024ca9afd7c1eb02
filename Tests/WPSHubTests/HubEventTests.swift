import Testing
import WPSBytes
import WPSHub

/// Records the hub's session events as short strings.
final class EventLog: HubObserver {
    var lines: [String] = []

    func hubEvent(_ event: HubEvent) {
        switch event {
        case .opened(let session): lines.append("opened \(session.connectionId.suffix(2))")
        case .resumed(let session, let replayed): lines.append("resumed \(session.connectionId.suffix(2)) \(replayed)")
        case .resumeRefused(let id, let reason): lines.append("refused \(id.suffix(2)) \(reason.rawValue)")
        case .detached(let session, let cause):
            lines.append("detached \(session.connectionId.suffix(2)) \(cause.rawValue)")
        case .slowConsumer(let session, let queued, let limit):
            lines.append("slow \(session.connectionId.suffix(2)) \(queued)>\(limit)")
        case .ended(let session, let code, _, let cause):
            lines.append(
                "ended \(session.connectionId.suffix(2)) \(code.map { String($0.rawValue) } ?? "-") \(cause.rawValue)")
        }
    }

    func take() -> [String] {
        defer { lines = [] }
        return lines
    }
}

@Suite struct HubEventTests {
    let hub: LoopHub
    let log = EventLog()
    static let second: UInt64 = 1_000_000_000

    init() {
        var configuration = HubConfiguration()
        configuration.reliableMaxBytes = 4096
        configuration.resumeWindow = .seconds(60)
        hub = LoopHub(configuration: configuration)
        hub.observer = log
    }

    func open(_ n: Int, _ kind: ClientKind = .jsonReliable) -> (HubSession, FakeTransport) {
        let wire = FakeTransport(raw: !kind.isJSON)
        let session = hub.open(
            connectionId: Fixtures.id(n), identity: Fixtures.identity(kind, groups: ["room"]), reconnectionToken: "t",
            transport: wire)
        return (session, wire)
    }

    func publish(_ text: String) {
        let value = Array("\"\(text)\"".utf8)
        let broadcast = value.withUnsafeBytes {
            Broadcast(selector: ConnectionSelector(hub: "chat", target: .group("room")), dataType: .text, data: $0)
        }!
        hub.deliver(broadcast)
    }

    @Test func aDropThenAResumeThenTheWindowPassing() {
        let (session, wire) = open(1)
        hub.transportClosed(session, transport: wire, clientCloseCode: nil, now: Self.second)
        publish("while away")
        _ = hub.resume(connectionId: Fixtures.id(1), transport: FakeTransport(), now: 2 * Self.second)
        #expect(log.take() == ["opened 01", "detached 01 dropped", "resumed 01 1"])
        hub.transportClosed(session, transport: session.transport!, clientCloseCode: nil, now: 3 * Self.second)
        hub.tick(now: 62 * Self.second)
        #expect(log.take() == ["detached 01 dropped"], "the window has not passed yet")
        hub.tick(now: 63 * Self.second)
        #expect(hub.resume(connectionId: Fixtures.id(1), transport: FakeTransport(), now: 64 * Self.second) == nil)
        #expect(log.take() == ["ended 01 - resumeWindowPassed", "refused 01 expired"])
    }

    @Test func everyRefusalSaysWhy() {
        // Never seen.
        #expect(hub.resume(connectionId: Fixtures.id(9), transport: FakeTransport()) == nil)
        // Overflowed: a few messages of about 100 bytes pass 4096.
        let (overflowing, _) = open(2)
        for n in 0..<60 { publish("message \(n) " + String(repeating: "x", count: 60)) }
        #expect(overflowing.isEnded)
        #expect(hub.resume(connectionId: Fixtures.id(2), transport: FakeTransport()) == nil)
        // Closed by the application.
        let (closed, _) = open(3)
        hub.closeConnections(ConnectionSelector(hub: "chat", target: .connection(closed.connectionId)), reason: "")
        #expect(hub.resume(connectionId: Fixtures.id(3), transport: FakeTransport()) == nil)
        // Ended by its client with 1000.
        let (leaving, wire) = open(4)
        hub.transportClosed(leaving, transport: wire, clientCloseCode: .normal, now: 1)
        #expect(hub.resume(connectionId: Fixtures.id(4), transport: FakeTransport()) == nil)
        // Not a reliable client.
        let (_, _) = open(5, .json)
        #expect(hub.resume(connectionId: Fixtures.id(5), transport: FakeTransport()) == nil)
        let refusals = log.take().filter { $0.hasPrefix("refused") || $0.hasPrefix("ended") }
        #expect(
            refusals == [
                "refused 09 unknown", "ended 02 1008 bufferOverflow", "refused 02 overflowed",
                "ended 03 1008 closedByServer", "refused 03 closedByServer", "ended 04 - clientClosed",
                "refused 04 ended", "refused 05 notReliable",
            ])
    }

    @Test func slowConsumersAreReportedWithTheirBytes() {
        let (reliable, reliableWire) = open(1)
        let (_, plainWire) = open(2, .json)
        _ = log.take()
        for wire in [reliableWire, plainWire] {
            wire.limit = 1000
            wire.queued = 1500
        }
        publish("x")
        #expect(!reliable.isEnded)
        #expect(
            log.take() == [
                "slow 01 1500>1000", "detached 01 slowConsumer", "slow 02 1500>1000", "ended 02 1008 slowConsumer",
            ])
    }

    @Test func aResumeOverAnOpenSocketDetachesTheOldOne() {
        let (_, _) = open(1)
        _ = hub.resume(connectionId: Fixtures.id(1), transport: FakeTransport())
        #expect(log.take() == ["opened 01", "detached 01 replaced", "resumed 01 0"])
    }
}
