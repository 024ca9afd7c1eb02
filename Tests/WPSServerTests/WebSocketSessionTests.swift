import Testing
import WPSHub
import WPSWebSocket

@testable import WPSServer

@Suite struct WebSocketSessionTests {
    /// A ping of any allowed size gets a pong with the same payload, and data keeps flowing.
    @Test(arguments: [0, 2, 125])
    func aPingGetsItsPong(size: Int) throws {
        let harness = try LoopHarness()
        defer { harness.shutdown() }
        let peer = try harness.connectWebSocket { EchoApplication() }
        let payload = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 1) }
        try peer.write(clientFrame(.ping, payload) + clientFrame(.text, Array("after".utf8)))
        let expected = serverFrame(.pong, payload) + serverFrame(.text, Array("after".utf8))
        #expect(Wire(try peer.read(exactly: expected.count)) == Wire(expected))
    }

    /// A close frame is answered with the same code (none for an empty one, and no reason),
    /// and the server then ends the stream.
    @Test(arguments: [
        (clientFrame(.close, [0x03, 0xE8] + Array("bye".utf8)), serverFrame(.close, [0x03, 0xE8])),
        (clientFrame(.close, [0x0F, 0xA0]), serverFrame(.close, [0x0F, 0xA0])),
        (clientFrame(.close, []), serverFrame(.close, [])),
    ])
    func aCloseIsEchoed(close: [UInt8], echo: [UInt8]) throws {
        let harness = try LoopHarness()
        defer { harness.shutdown() }
        let peer = try harness.connectWebSocket { EchoApplication() }
        // The text frame after the close must be ignored.
        try peer.write(clientFrame(.text, Array("before".utf8)) + close + clientFrame(.text, Array("late".utf8)))
        let expected = serverFrame(.text, Array("before".utf8)) + echo
        #expect(Wire(try peer.readToEnd()) == Wire(expected))
    }

    static let malformed: [(String, [UInt8])] = [
        ("unmasked frame", serverFrame(.text, Array("hi".utf8))),
        ("reserved opcode", clientFrame(WebSocketOpcode(rawValue: 0x3), [1])),
        ("RSV1 without permessage-deflate", clientFrame(.text, Array("hi".utf8), rsv1: true)),
        (
            "RSV2",
            {
                var frame = clientFrame(.text, Array("hi".utf8)); frame[0] |= 0x20; return frame
            }()
        ),
        ("fragmented ping", clientFrame(.ping, [], fin: false)),
        ("ping over 125 bytes", clientFrame(.ping, Array(repeating: 1, count: 126))),
        ("continuation without a message", clientFrame(.continuation, Array("hi".utf8))),
        ("new message inside a fragmented one", clientFrame(.text, [0x61], fin: false) + clientFrame(.text, [0x62])),
        ("close with one byte", clientFrame(.close, [0x03])),
        ("close with code 1005", clientFrame(.close, [0x03, 0xED])),
    ]

    /// A frame that breaks RFC 6455 gets a close with 1002 (protocol error), after what was
    /// answered before it, and then the end of the stream.
    @Test(arguments: malformed)
    func aMalformedFrameGets1002(name: String, frame: [UInt8]) throws {
        let harness = try LoopHarness()
        defer { harness.shutdown() }
        let peer = try harness.connectWebSocket { EchoApplication() }
        try peer.write(clientFrame(.text, Array("ok".utf8)) + frame)
        #expect(Wire(try peer.read(exactly: 4)) == Wire(serverFrame(.text, Array("ok".utf8))))
        let close = try #require(try peer.frames(1).first)
        #expect(close.opcode == .close)
        #expect(close.closeCode == 1002)
        #expect(try peer.readToEnd() == [])
    }

    /// A JSON hub client learns why in `system/disconnected` before the 1002 close.
    @Test func aJSONClientHearsWhyBeforeTheClose() throws {
        let harness = try LoopHarness()
        defer { harness.shutdown() }
        let (peer, id) = try harness.openClient(.json)
        try peer.write(clientFrame(.continuation, Array("hi".utf8)))
        let frames = try peer.frames(2)
        #expect(frames[0].json?["type"] as? String == "system")
        #expect(frames[0].json?["event"] as? String == "disconnected")
        #expect(frames[0].json?["message"] as? String == "Continuation frame without a message")
        #expect(frames[1].closeCode == 1002)
        #expect(try peer.readToEnd() == [])
        #expect(try harness.onLoop { _, context in context.hub.sessions[id] == nil }, "the session ended")
    }
}
