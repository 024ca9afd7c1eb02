import Testing
import WPSBytes
import WPSHub
import WPSWebSocket

@testable import WPSServer

/// permessage-deflate on broadcasts: compressed once per loop and window, every form
/// inflating on its own (the server never keeps context).
@Suite struct OutboxDeflateTests {
    /// Compressible and well over the default 256-byte threshold, as prefix and as payload.
    static let long = String(repeating: "the quick brown fox jumps over the lazy dog; ", count: 20)

    @Test(arguments: [15, 10])
    func everyFormInflatesToTheUncompressedMessage(windowBits: Int) throws {
        let harness = try LoopHarness()
        defer { harness.shutdown() }
        let threshold = harness.configuration.deflate.minMessageBytes
        let (json, _) = try harness.openClient(.json, deflateWindow: windowBits)
        let (raw, _) = try harness.openClient(.raw(publishGroup: nil), deflateWindow: windowBits)
        let (reliable, _) = try harness.openClient(.jsonReliable, deflateWindow: windowBits)
        let big = groupText(Self.long)
        let small = groupText("short")
        try #require(big.payload.count >= threshold && small.prefix.count < threshold)
        try harness.onLoop { _, context in
            context.hub.publish(big)
            context.hub.publish(small)
        }
        let cases: [(Peer, opcode: WebSocketOpcode, big: [UInt8], small: [UInt8])] = [
            (json, .text, big.prefix.array + Array("}".utf8), small.prefix.array + Array("}".utf8)),
            (raw, .text, big.payload.array, small.payload.array),
            (reliable, .text, big.prefix.array + sequenceSuffix(1), small.prefix.array + sequenceSuffix(2)),
        ]
        for (peer, opcode, bigMessage, smallMessage) in cases {
            let frames = try peer.frames(2)
            #expect(frames[0].opcode == opcode)
            #expect(frames[0].compressed)
            #expect(frames[0].payload.count < bigMessage.count / 2, "it was worth compressing")
            #expect(try inflate(frames[0].payload, windowBits: windowBits) == bigMessage)
            #expect(frames[1] == Frame(opcode: opcode, payload: smallMessage), "under the threshold: as is")
        }
    }

    /// Many recipients on two windows and without deflate: each broadcast costs two
    /// compressions (JSON prefix and raw payload) per window in use, not one per recipient,
    /// and everyone still reads the right message.
    @Test func aBroadcastIsCompressedOncePerWindow() throws {
        let harness = try LoopHarness()
        defer { harness.shutdown() }
        let kinds: [ClientKind] = [.json, .raw(publishGroup: nil), .jsonReliable]
        var clients: [(peer: Peer, kind: ClientKind, window: Int?)] = []
        for window in [15, 15, 15, 10, 10, nil] as [Int?] {
            for kind in kinds {
                clients.append((try harness.openClient(kind, deflateWindow: window).0, kind, window))
            }
        }
        for (round, text) in [Self.long, Self.long.uppercased()].enumerated() {
            let message = groupText(text)
            let compressions = try harness.onLoop { _, context in
                let before = context.deflate!.compressions
                context.hub.publish(message)
                return context.deflate!.compressions - before
            }
            #expect(compressions == 4)
            for client in clients {
                let frame = try #require(try client.peer.frames(1).first)
                #expect(frame.compressed == (client.window != nil))
                let body = try client.window.map { try inflate(frame.payload, windowBits: $0) } ?? frame.payload
                switch client.kind {
                case .json: #expect(body == message.prefix.array + Array("}".utf8))
                case .jsonReliable: #expect(body == message.prefix.array + sequenceSuffix(UInt64(round + 1)))
                case .raw: #expect(body == Array(text.utf8))
                }
            }
        }
    }
}
