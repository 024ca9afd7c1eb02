import Testing
import WPSBytes
import WPSWebSocket

@Suite struct ReaderLimitTests {
    static let limit = 100

    @Test(arguments: [(99, true), (100, true), (101, false)])
    func singleFrameLimit(_ size: Int, _ accepted: Bool) {
        let payload = [UInt8](repeating: 7, count: size)
        let events = read(frame(.binary, payload), maxMessageBytes: Self.limit)
        #expect(events == (accepted ? [.message(.binary, payload, compressed: false)] : [.error(.messageTooBig)]))
    }

    @Test(arguments: [(99, true), (100, true), (101, false)])
    func fragmentedLimit(_ size: Int, _ accepted: Bool) {
        let payload = [UInt8](repeating: 0x61, count: size)
        let stream =
            frame(.text, Array(payload[..<40]), fin: false)
            + frame(.continuation, Array(payload[40..<80]), fin: false) + frame(.ping, [])
            + frame(.continuation, Array(payload[80...]))
        let events = read(stream, maxMessageBytes: Self.limit)
        let expected: [Recorded] =
            accepted ? [.ping([]), .message(.text, payload, compressed: false)] : [.ping([]), .error(.messageTooBig)]
        #expect(events == expected)
    }

    /// The limit is enforced from the header: nothing of the payload is buffered first.
    @Test func limitCheckedBeforeBuffering() {
        var reader = WebSocketReader(role: .server, maxMessageBytes: Self.limit)
        let header = Array(frame(.binary, [UInt8](repeating: 0, count: 101)).prefix(8))
        #expect(read(header, with: &reader) == [.error(.messageTooBig)])
        #expect(reader.bufferedBytes == 0)
    }

    @Test func controlFramesDoNotCountTowardsTheLimit() {
        let stream =
            frame(.binary, [UInt8](repeating: 1, count: 100), fin: false)
            + frame(.ping, [UInt8](repeating: 2, count: 125)) + frame(.continuation, [])
        let events = read(stream, maxMessageBytes: Self.limit)
        #expect(events.count == 2)
        #expect(events.last == .message(.binary, [UInt8](repeating: 1, count: 100), compressed: false))
    }

    @Test func zeroLimitAcceptsOnlyEmptyMessages() {
        #expect(read(frame(.text, []), maxMessageBytes: 0) == [.message(.text, [], compressed: false)])
        #expect(read(frame(.text, "a"), maxMessageBytes: 0) == [.error(.messageTooBig)])
    }

    /// Lengths at the edges of the 7-, 16- and 64-bit encodings, both roles.
    @Test(arguments: [0, 1, 125, 126, 127, 65535, 65536, 70000])
    func lengthEncodings(_ size: Int) {
        let payload = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        for sender in [WebSocketRole.client, .server] {
            let bytes = frame(.binary, payload, from: sender)
            let expectedHeader = (size < 126 ? 2 : size <= 65535 ? 4 : 10) + (sender == .client ? 4 : 0)
            #expect(bytes.count == expectedHeader + size)
            let events = read(bytes, role: receiver(of: sender), maxMessageBytes: 1 << 17)
            #expect(events == [.message(.binary, payload, compressed: false)])
        }
    }

    @Test func bufferedBytesTracksPartialData() {
        var reader = WebSocketReader(role: .server)
        let first = frame(.binary, [UInt8](repeating: 1, count: 10), fin: false)
        #expect(read(first, with: &reader) == [])
        #expect(reader.bufferedBytes == 10)
        #expect(read(Array(frame(.continuation, [2, 3]).prefix(3)), with: &reader) == [])
        #expect(reader.bufferedBytes == 13)
        let rest = Array(frame(.continuation, [2, 3]).dropFirst(3))
        #expect(
            read(rest, with: &reader) == [
                .message(.binary, [UInt8](repeating: 1, count: 10) + [2, 3], compressed: false)
            ])
        #expect(reader.bufferedBytes == 0)
    }

    @Test func largeMessageBufferIsReleased() {
        var reader = WebSocketReader(role: .server, maxMessageBytes: 1 << 20)
        let payload = [UInt8](repeating: 9, count: 200_000)
        let stream =
            frame(.binary, Array(payload[..<100_000]), fin: false) + frame(.continuation, Array(payload[100_000...]))
        #expect(read(stream, with: &reader) == [.message(.binary, payload, compressed: false)])
        #expect(reader.bufferedBytes == 0)
        #expect(read(frame(.text, "after"), with: &reader) == [.message(.text, Array("after".utf8), compressed: false)])
    }
}
