import Testing
import WPSBytes
import WPSHub
import WPSProtocol
import WPSWebSocket

@testable import WPSServer

/// The order and shape of reliable frames, which the Outbox builds at the end of the turn
/// when their prefix is small.
@Suite struct OutboxOrderTests {
    static func reliableFrame(_ broadcast: Broadcast, _ sequenceId: UInt64) -> [UInt8] {
        serverFrame(.text, broadcast.prefix.array + sequenceSuffix(sequenceId))
    }

    /// Both sides of the 126-byte boundary of the frame header, up to prefixes near the
    /// largest that is deferred: nothing is queued during the turn, then both frames are
    /// written side by side into one region, and arrive as they should.
    @Test(arguments: Array(1...60) + [500, 900])
    func deferredFramesOfEveryHeaderSize(size: Int) throws {
        let harness = try LoopHarness()
        defer { harness.shutdown() }
        let (peer, id) = try harness.openClient(.jsonReliable)
        let text = String(repeating: "d", count: size)
        let first = groupText(text)
        let second = groupText(text + "!")
        let expected = Self.reliableFrame(first, 1) + Self.reliableFrame(second, 2)
        let turn = try harness.onLoop { _, context in
            let port = try context.port(id)
            context.hub.publish(first)
            context.hub.publish(second)
            let queued = port.connection.queuedBytes
            let pending = port.pendingBytes
            // What the loop does before its flush, done here so the queue can be looked at.
            context.outbox.produce()
            return (queued, pending, port.connection.queuedRegions)
        }
        #expect(turn.0 == 0, "nothing is queued before the end of the turn")
        #expect(turn.1 == expected.count)
        #expect(turn.2.map(Wire.init) == [Wire(expected)], "both frames in one region")
        let wire = try peer.read(exactly: expected.count)
        #expect(Wire(wire) == Wire(expected))
        let frames = try decodeFrames(wire)
        #expect(frames.map { $0.json?["data"] as? String } == [text, text + "!"])
        #expect(frames.map { $0.json?["sequenceId"] as? Int } == [1, 2])
        #expect(frames.map { $0.json?["group"] as? String } == ["g", "g"])
    }

    /// Prefixes under 1024 bytes wait for the end of the turn; from 1024 on they are queued
    /// at once (with the 8-byte length for the largest).
    @Test(arguments: [1023, 1024, 70_000])
    func thePrefixSizeDecidesWhenAReliableFrameIsBuilt(prefixCount: Int) throws {
        let harness = try LoopHarness()
        defer { harness.shutdown() }
        let (peer, id) = try harness.openClient(.jsonReliable)
        let overhead = groupText("").prefix.count
        let message = groupText(String(repeating: "p", count: prefixCount - overhead))
        try #require(message.prefix.count == prefixCount)
        let expected = Self.reliableFrame(message, 1)
        let turn = try harness.onLoop { _, context in
            let port = try context.port(id)
            context.hub.publish(message)
            return (port.connection.queuedBytes, port.pendingBytes)
        }
        if prefixCount < Outbox.builtAtTurnEndBelow {
            #expect([turn.0, turn.1] == [0, expected.count])
        } else {
            #expect([turn.0, turn.1] == [expected.count, 0])
        }
        #expect(Wire(try peer.read(exactly: expected.count)) == Wire(expected))
    }

    /// A system message, a large reliable message (not deferred) and a close each come after
    /// the deferred frames delivered before them, in the order they were sent.
    @Test func whatFollowsDeferredFramesComesAfterThem() throws {
        let harness = try LoopHarness()
        defer { harness.shutdown() }
        let (peer, id) = try harness.openClient(.jsonReliable)
        let small = (1...5).map { groupText("m\($0)") }
        let large = groupText(String(repeating: "L", count: 2000))
        let system = Array(#"{"type":"system","event":"probe"}"#.utf8)
        try harness.onLoop { _, context in
            let port = try context.port(id)
            for message in small[0..<3] { context.hub.publish(message) }
            context.hub.publish(large)
            context.hub.publish(small[3])
            _ = system.withUnsafeBytes { port.sendSystem($0, urgent: false) }
            context.hub.publish(small[4])
            port.close(code: .normal, reason: "bye")
        }
        var expected: [UInt8] = []
        for (index, message) in small[0..<3].enumerated() { expected += Self.reliableFrame(message, UInt64(index + 1)) }
        expected += Self.reliableFrame(large, 4)
        expected += Self.reliableFrame(small[3], 5)
        expected += serverFrame(.text, system)
        expected += Self.reliableFrame(small[4], 6)
        expected += serverFrame(.close, [0x03, 0xE8] + Array("bye".utf8))
        let wire = try peer.readToEnd()
        #expect(Wire(wire) == Wire(expected))
        #expect(try decodeFrames(wire).compactMap { $0.json?["sequenceId"] as? Int } == [1, 2, 3, 4, 5, 6])
    }

    /// Urgent system messages (acks, pongs) go ahead of frames still waiting for the end
    /// of the turn.
    @Test func urgentSystemMessagesGoAheadOfDeferredFrames() throws {
        let harness = try LoopHarness()
        defer { harness.shutdown() }
        let (peer, id) = try harness.openClient(.jsonReliable)
        let messages = (1...3).map { groupText("u\($0)") }
        let ack = Array(#"{"type":"ack","ackId":7,"success":true}"#.utf8)
        try harness.onLoop { _, context in
            let port = try context.port(id)
            context.hub.publish(messages[0])
            context.hub.publish(messages[1])
            _ = ack.withUnsafeBytes { port.sendSystem($0, urgent: true) }
            context.hub.publish(messages[2])
        }
        let expected =
            serverFrame(.text, ack) + Self.reliableFrame(messages[0], 1) + Self.reliableFrame(messages[1], 2)
            + Self.reliableFrame(messages[2], 3)
        #expect(Wire(try peer.read(exactly: expected.count)) == Wire(expected))
    }
}

/// What JSON, reliable and raw clients get for one broadcast.
@Suite struct OutboxFormTests {
    enum Sample: CaseIterable, Sendable {
        case text, binary, json

        /// Made per test: a broadcast counts its replay holders without atomics, so one
        /// instance must not reach two loops.
        func broadcast() -> Broadcast? {
            switch self {
            case .text: groupText("hello")
            case .binary:
                [UInt8]([0, 1, 2, 255]).withUnsafeBytes {
                    Broadcast(hub: "hub", group: "g", fromUserId: "pub", isText: false, payload: $0)
                }
            case .json:
                Array(#"{"a":[1,2]}"#.utf8).withUnsafeBytes {
                    Broadcast(hub: "hub", group: "g", fromUserId: "pub", dataType: .json, data: $0, excluding: nil)
                }
            }
        }

        var raw: (WebSocketOpcode, [UInt8]) {
            switch self {
            case .text: (.text, Array("hello".utf8))
            case .binary: (.binary, [0, 1, 2, 255])
            case .json: (.text, Array(#"{"a":[1,2]}"#.utf8))
            }
        }

        var dataType: String {
            switch self {
            case .text: "text"
            case .binary: "binary"
            case .json: "json"
            }
        }
    }

    @Test(arguments: Sample.allCases)
    func eachClientGetsItsForm(sample: Sample) throws {
        let harness = try LoopHarness()
        defer { harness.shutdown() }
        let (json, _) = try harness.openClient(.json)
        let (raw, _) = try harness.openClient(.raw(publishGroup: nil))
        let (reliable, _) = try harness.openClient(.jsonReliable)
        let broadcast = try #require(sample.broadcast())
        let prefix = broadcast.prefix.array
        try harness.onLoop { _, context in context.hub.publish(broadcast) }

        let jsonFrame = serverFrame(.text, prefix + Array("}".utf8))
        let jsonWire = try json.read(exactly: jsonFrame.count)
        #expect(Wire(jsonWire) == Wire(jsonFrame))
        let rawFrame = serverFrame(sample.raw.0, sample.raw.1)
        #expect(Wire(try raw.read(exactly: rawFrame.count)) == Wire(rawFrame))
        let reliableFrame = serverFrame(.text, prefix + sequenceSuffix(1))
        #expect(Wire(try reliable.read(exactly: reliableFrame.count)) == Wire(reliableFrame))

        // The prefix is what the protocol says a group message is.
        let message = try #require(try decodeFrames(jsonWire).first?.json)
        #expect(message["type"] as? String == "message")
        #expect(message["from"] as? String == "group")
        #expect(message["group"] as? String == "g")
        #expect(message["fromUserId"] as? String == "pub")
        #expect(message["dataType"] as? String == sample.dataType)
        switch sample {
        case .text: #expect(message["data"] as? String == "hello")
        case .binary: #expect(message["data"] as? String == "AAEC/w==")
        case .json: #expect((message["data"] as? [String: Any])?["a"] as? [Int] == [1, 2])
        }
    }
}
