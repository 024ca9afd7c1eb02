import Testing
import WPSBytes
import WPSWebSocket

@Suite struct FrameEncoderTests {
    static let hello = Array("Hello".utf8)
    static let rfcKey: UInt32 = 0x37FA_213D

    /// RFC 6455 §5.7 examples: encoder output and reader result, byte for byte.
    @Test func rfcExamples() {
        let unmaskedText: [UInt8] = [0x81, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F]
        let maskedText: [UInt8] = [0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58]
        let fragments: [UInt8] = [0x01, 0x03, 0x48, 0x65, 0x6C, 0x80, 0x02, 0x6C, 0x6F]
        let ping: [UInt8] = [0x89, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F]
        let maskedPong: [UInt8] = [0x8A, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58]

        #expect(WebSocketFrameEncoder.frame(opcode: .text, payload: Self.hello) == unmaskedText)
        #expect(WebSocketFrameEncoder.frame(opcode: .text, payload: Self.hello, maskKey: Self.rfcKey) == maskedText)
        #expect(
            WebSocketFrameEncoder.frame(opcode: .text, payload: Self.hello.prefix(3), fin: false)
                + WebSocketFrameEncoder.frame(opcode: .continuation, payload: Self.hello.suffix(2)) == fragments)
        #expect(WebSocketFrameEncoder.frame(opcode: .ping, payload: Self.hello) == ping)
        #expect(WebSocketFrameEncoder.frame(opcode: .pong, payload: Self.hello, maskKey: Self.rfcKey) == maskedPong)

        let message = Recorded.message(.text, Self.hello, compressed: false)
        #expect(read(unmaskedText, role: .client) == [message])
        #expect(read(maskedText, role: .server) == [message])
        #expect(read(fragments, role: .client) == [message])
        #expect(read(ping, role: .client) == [.ping(Self.hello)])
        #expect(read(maskedPong, role: .server) == [.pong(Self.hello)])
    }

    @Test func rfcLengthHeaders() {
        let bytes256 = WebSocketFrameEncoder.frame(opcode: .binary, payload: [UInt8](repeating: 0, count: 256))
        #expect(Array(bytes256.prefix(4)) == [0x82, 0x7E, 0x01, 0x00])
        let bytes64k = WebSocketFrameEncoder.frame(opcode: .binary, payload: [UInt8](repeating: 0, count: 65536))
        #expect(Array(bytes64k.prefix(10)) == [0x82, 0x7F, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00])
    }

    @Test(arguments: [
        (0, false, 2), (125, false, 2), (126, false, 4), (65535, false, 4), (65536, false, 10),
        (0, true, 6), (125, true, 6), (126, true, 8), (65535, true, 8), (65536, true, 14),
    ])
    func headerLength(_ length: Int, _ masked: Bool, _ expected: Int) {
        #expect(WebSocketFrameEncoder.headerLength(payloadLength: length, masked: masked) == expected)
        var buffer = [UInt8](repeating: 0xEE, count: 14)
        let written = buffer.withUnsafeMutableBytes {
            WebSocketFrameEncoder.writeHeader(
                into: $0, opcode: .binary, fin: false, rsv1: true, payloadLength: length,
                maskKey: masked ? Self.rfcKey : nil)
        }
        #expect(written == expected)
        #expect(buffer[0] == 0x42)
        #expect(buffer[1] & 0x80 == (masked ? 0x80 : 0))
    }

    /// Masking in pieces at running offsets equals masking at once and a byte-wise reference.
    @Test(arguments: Array(0..<8))
    func maskAtOffsets(_ startOffset: Int) {
        let key: UInt32 = 0x0102_0304
        let keyBytes: [UInt8] = [1, 2, 3, 4]
        for length in 0..<70 {
            let original = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }
            let reference = original.enumerated().map { $0.element ^ keyBytes[($0.offset + startOffset) % 4] }
            var whole = original
            whole.withUnsafeMutableBytes { WebSocketFrameEncoder.mask($0, key: key, offset: startOffset) }
            #expect(whole == reference, "length \(length)")
            for cut in 0...length {
                var pieces = original
                pieces.withUnsafeMutableBytes { buffer in
                    WebSocketFrameEncoder.mask(
                        UnsafeMutableRawBufferPointer(rebasing: buffer[..<cut]), key: key, offset: startOffset)
                    WebSocketFrameEncoder.mask(
                        UnsafeMutableRawBufferPointer(rebasing: buffer[cut...]), key: key, offset: startOffset + cut)
                }
                #expect(pieces == reference, "length \(length) cut \(cut)")
            }
        }
    }

    @Test(arguments: [WebSocketRole.client, .server])
    func roundTrip(_ sender: WebSocketRole) {
        let key: UInt32? = sender == .client ? WebSocketHandshake.randomMaskKey() : nil
        let cases: [(WebSocketOpcode, [UInt8])] = [
            (.text, Array("héllo wörld".utf8)), (.binary, [0, 1, 2, 255]),
            (.binary, [UInt8](repeating: 3, count: 70000)),
            (.ping, Array("p".utf8)), (.pong, []), (.text, []),
        ]
        for (opcode, payload) in cases {
            let bytes = WebSocketFrameEncoder.frame(opcode: opcode, payload: payload, maskKey: key)
            let expected: Recorded =
                opcode == .ping
                ? .ping(payload) : opcode == .pong ? .pong(payload) : .message(opcode, payload, compressed: false)
            #expect(read(bytes, role: receiver(of: sender)) == [expected])
        }
        let close = WebSocketFrameEncoder.closeFrame(code: .goingAway, reason: "restart", maskKey: key)
        #expect(read(close, role: receiver(of: sender)) == [.close(1001, Array("restart".utf8))])
    }

    @Test(arguments: [
        ("short", 5), (String(repeating: "a", count: 123), 123), (String(repeating: "a", count: 200), 123),
        (String(repeating: "é", count: 70), 122), ("a" + String(repeating: "€", count: 50), 121),
        (String(repeating: "😀", count: 40), 120),
    ])
    func closeReasonIsTruncatedOnABoundary(_ reason: String, _ expectedBytes: Int) {
        let bytes = WebSocketFrameEncoder.closeFrame(code: .normal, reason: reason)
        #expect(Int(bytes[1]) == 2 + expectedBytes)
        #expect(bytes.count <= 127)
        let events = read(bytes, role: .client)
        #expect(events == [.close(1000, Array(reason.utf8.prefix(expectedBytes)))])
        // Masked (a client's close): the same cut, the mask over code and reason alike.
        let masked = WebSocketFrameEncoder.closeFrame(code: .normal, reason: reason, maskKey: 0x9A3C_51E7)
        #expect(masked.count == bytes.count + 4 && masked.count <= WebSocketFrameEncoder.maxCloseFrameBytes)
        #expect(read(masked, role: .server) == [.close(1000, Array(reason.utf8.prefix(expectedBytes)))])
    }

    @Test func closeFrameWrittenInPlaceLeavesTheRestOfTheBufferAlone() {
        let size = WebSocketFrameEncoder.maxCloseFrameBytes + 8
        var buffer = [UInt8](repeating: 0xEE, count: size)
        let length = buffer.withUnsafeMutableBytes {
            WebSocketFrameEncoder.writeCloseFrame(into: $0, code: .goingAway, reason: "bye")
        }
        #expect(Array(buffer[0..<length]) == [0x88, 0x05, 0x03, 0xE9] + Array("bye".utf8))
        #expect(buffer[length...].allSatisfy { $0 == 0xEE })
    }

    @Test func closeWithoutCode() {
        #expect(WebSocketFrameEncoder.closeFrame(code: nil, reason: "ignored") == [0x88, 0x00])
    }

    @Test func opcodeValues() {
        #expect(WebSocketOpcode.close.isControl && WebSocketOpcode(rawValue: 0xF).isControl)
        #expect(!WebSocketOpcode.binary.isControl && !WebSocketOpcode(rawValue: 0x7).isControl)
        #expect(WebSocketOpcode(rawValue: 0xFF).description.hasPrefix("reserved"))
        #expect(WebSocketCloseCode.messageTooBig.rawValue == 1009)
    }
}
