import Testing
import WPSBytes
import WPSHub
import WPSWebSocket

@testable import WPSServer

/// The slow-consumer check: `deliver` answers whether the client now has more than
/// `maxOutboundBytes` waiting, and the hub acts on it.
@Suite struct OutboxLimitTests {
    static let limit = 8192

    /// Nothing is written during a turn, so every delivery adds to what waits, reliable frames
    /// not built yet included. With room for exactly three frames, the third fills the
    /// limit without passing it, and the fourth and later say the client is over.
    @Test(arguments: [ClientKind.json, .raw(publishGroup: nil), .jsonReliable])
    func deliverSaysWhenAClientGoesOverTheLimit(kind: ClientKind) throws {
        let texts = (1...5).map { "message \($0) " + String(repeating: "x", count: 300) }
        let sample = groupText(texts[0])
        let frameBytes =
            switch kind {
            case .json: serverFrame(.text, sample.prefix.array + Array("}".utf8)).count
            case .raw: serverFrame(.text, sample.payload.array).count
            case .jsonReliable: serverFrame(.text, sample.prefix.array + sequenceSuffix(1)).count
            }
        let harness = try LoopHarness { $0.maxOutboundBytes = 3 * frameBytes }
        defer { harness.shutdown() }
        let (peer, id) = try harness.openClient(kind)
        let messages = texts.map(groupText)
        let steps = try harness.onLoop { _, context in
            let port = try context.port(id)
            var steps: [(over: Bool, waiting: Int, queued: Int)] = []
            for (index, message) in messages.enumerated() {
                let sequenceId = kind.isReliable ? UInt64(index + 1) : 0
                let over = context.outbox.deliver(message, sequenceId: sequenceId, to: port)
                let queued = port.connection.queuedBytes
                steps.append((over, queued + port.pendingBytes, queued))
            }
            return steps
        }
        #expect(steps.map(\.over) == [false, false, false, true, true])
        #expect(steps.map(\.waiting) == (1...5).map { $0 * frameBytes })
        if kind.isReliable {
            #expect(steps.map(\.queued) == [0, 0, 0, 0, 0], "reliable frames wait in the outbox until the turn ends")
        }
        // The check only reports: everything delivered still arrives, in order.
        let frames = try peer.frames(texts.count)
        #expect(frames.map { kind.isJSON ? $0.json?["data"] as? String : $0.text } == texts)
    }

    /// A system message answers the same question, counting reliable frames still waiting
    /// for the end of the turn: an urgent one goes ahead of them, but they are queued all
    /// the same.
    @Test(arguments: [false, true])
    func aSystemMessageCountsDeferredFramesToo(urgent: Bool) throws {
        let texts = (1...3).map { "message \($0) " + String(repeating: "x", count: 300) }
        let frameBytes = serverFrame(.text, groupText(texts[0]).prefix.array + sequenceSuffix(1)).count
        let harness = try LoopHarness { $0.maxOutboundBytes = 3 * frameBytes }
        defer { harness.shutdown() }
        let (_, id) = try harness.openClient(.jsonReliable)
        let messages = texts.map(groupText)
        let ack = Array(#"{"type":"ack","ackId":7,"success":true}"#.utf8)
        let (delivered, system) = try harness.onLoop { _, context in
            let port = try context.port(id)
            let delivered = messages.enumerated().map { index, message in
                context.outbox.deliver(message, sequenceId: UInt64(index + 1), to: port)
            }
            return (delivered, ack.withUnsafeBytes { port.sendSystem($0, urgent: urgent) })
        }
        #expect(delivered == [false, false, false], "three frames fill the limit exactly")
        #expect(system, "the system message takes the client over")
    }

    /// One delivery per turn to a peer that does not read: the kernel takes the first
    /// frames, then they pile up in the queue until `deliver` reports the client over.
    @Test func aPeerThatDoesNotReadGoesOverTheLimit() throws {
        let harness = try LoopHarness { $0.maxOutboundBytes = Self.limit }
        defer { harness.shutdown() }
        let (peer, id) = try harness.openClient(.json, sendBuffer: 4096)
        func text(_ n: Int) -> String { "\(n) " + String(repeating: "s", count: 1000) }
        var steps: [(over: Bool, queued: Int)] = []
        for n in 1...1000 {
            let message = groupText(text(n))
            let step = try harness.onLoop { _, context in
                let port = try context.port(id)
                let over = context.outbox.deliver(message, sequenceId: 0, to: port)
                return (over: over, queued: port.connection.queuedBytes)
            }
            steps.append(step)
            if step.over { break }
        }
        let last = try #require(steps.last)
        #expect(last.over)
        #expect(last.queued > Self.limit)
        #expect(steps.dropLast().allSatisfy { !$0.over && $0.queued <= Self.limit })
        // Had nothing been written, the limit would have been passed this soon.
        let frameBytes = serverFrame(.text, groupText(text(1000)).prefix.array + Array("}".utf8)).count
        #expect(steps.count > Self.limit / frameBytes + 1, "the kernel took some frames first")
        let frames = try peer.frames(steps.count)
        #expect(frames.map { $0.json?["data"] as? String } == (1...steps.count).map { text($0) })
    }

    /// Through the hub: a JSON client over the limit is told why and closed with 1008 and
    /// its session ends; a reliable one is closed with 1011 and keeps its session to resume.
    @Test(arguments: [(ClientKind.json, UInt16(1008)), (.jsonReliable, 1011)])
    func theHubCutsASlowConsumer(kind: ClientKind, code: UInt16) throws {
        let harness = try LoopHarness { $0.maxOutboundBytes = Self.limit }
        defer { harness.shutdown() }
        let (peer, id) = try harness.openClient(kind, sendBuffer: 4096)
        var published = 0
        var cut = false
        while !cut, published < 1000 {
            published += 1
            let message = groupText(String(repeating: "h", count: 1000))
            cut = try harness.onLoop { _, context in
                context.hub.publish(message)
                return context.hub.sessions[id]?.transport == nil
            }
        }
        try #require(cut)
        let reason = "slow consumer: more than \(Self.limit) bytes queued"
        let frames = try peer.frames(published + (kind.isReliable ? 1 : 2))
        #expect(frames.prefix(published).allSatisfy { $0.json?["type"] as? String == "message" })
        if !kind.isReliable {
            #expect(frames[published].json?["event"] as? String == "disconnected")
            #expect(frames[published].json?["message"] as? String == reason)
        }
        let close = try #require(frames.last)
        #expect(close.closeCode == code)
        #expect(close.payload.dropFirst(2).elementsEqual(reason.utf8))
        #expect(try peer.readToEnd() == [])
        let kept = try harness.onLoop { _, context in context.hub.sessions[id] != nil }
        #expect(kept == kind.isReliable)
    }
}
