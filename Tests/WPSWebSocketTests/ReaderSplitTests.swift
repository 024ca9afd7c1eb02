import Testing
import WPSWebSocket

/// Streams that exercise every state of the reader, as sent by `sender`.
func splitStreams(from sender: WebSocketRole) -> [(name: String, bytes: [UInt8])] {
    let euro: [UInt8] = [0xE2, 0x82, 0xAC]
    let big = (0..<300).map { UInt8(truncatingIfNeeded: $0) }
    return [
        ("single text", frame(.text, "Hello", from: sender)),
        (
            "fragments with interleaved ping",
            frame(.binary, [1, 2, 3], fin: false, from: sender) + frame(.ping, "ping!", from: sender)
                + frame(.continuation, [4, 5], fin: false, from: sender)
                + frame(.continuation, [], fin: false, from: sender)
                + frame(.pong, [], from: sender) + frame(.continuation, [6], from: sender)
        ),
        (
            "code point split across fragments",
            frame(.text, [0x61] + euro[..<1], fin: false, from: sender)
                + frame(.continuation, Array(euro[1...]) + [0x62], from: sender)
        ),
        (
            "mixed with a 16-bit length and close",
            frame(.text, "a€b", from: sender) + frame(.binary, big, from: sender) + frame(.text, [], from: sender)
                + frame(.close, [0x03, 0xE8] + Array("bye".utf8), from: sender)
        ),
        (
            "ends in an error",
            frame(.text, "ok", from: sender) + frame(.text, [0x61, 0xF0, 0x9F], fin: false, from: sender)
                + frame(.continuation, [0x98, 0xC0], from: sender)
        ),
        (
            "data after close",
            frame(.ping, "x", from: sender) + frame(.close, [], from: sender) + frame(.text, "ignored", from: sender)
        ),
    ]
}

@Suite struct ReaderSplitTests {
    @Test(arguments: [WebSocketRole.server, .client])
    func everySingleSplitGivesTheSameEvents(_ role: WebSocketRole) {
        for (name, bytes) in splitStreams(from: role == .server ? .client : .server) {
            let whole = read(bytes, role: role)
            #expect(!whole.isEmpty, "\(name)")
            for cut in 0...bytes.count {
                let split = read(bytes, role: role, cuts: [cut])
                #expect(split == whole, "\(name) cut at \(cut)")
            }
            #expect(read(bytes, role: role, cuts: Array(1..<bytes.count)) == whole, "\(name) byte by byte")
        }
    }

    @Test(arguments: [WebSocketRole.server, .client])
    func everyDoubleSplitGivesTheSameEvents(_ role: WebSocketRole) {
        for (name, bytes) in splitStreams(from: role == .server ? .client : .server) where bytes.count < 80 {
            let whole = read(bytes, role: role)
            for first in 0...bytes.count {
                for second in first...bytes.count where read(bytes, role: role, cuts: [first, second]) != whole {
                    Issue.record("\(name) cut at \(first), \(second)")
                }
            }
        }
    }

    @Test func expectedEventsForTheFragmentedStream() {
        let stream = splitStreams(from: .client)[1].bytes
        #expect(
            read(stream) == [
                .ping(Array("ping!".utf8)), .pong([]), .message(.binary, [1, 2, 3, 4, 5, 6], compressed: false),
            ])
    }

    /// A whole unfragmented frame is delivered as a view into the caller's buffer, unmasked in place.
    @Test(arguments: [0, 5, 125, 126, 70000])
    func wholeFrameIsDeliveredWithoutCopy(_ size: Int) {
        var reader = WebSocketReader(role: .server)
        let payload = [UInt8](repeating: 0x41, count: size)
        var bytes = frame(.text, payload) + frame(.ping, "p")
        bytes.withUnsafeMutableBytes { input in
            let range = UInt(bitPattern: input.baseAddress)..<UInt(bitPattern: input.baseAddress! + input.count)
            var seen = 0
            let error = reader.feed(input) { event in
                switch event {
                case let .message(_, view, _), let .ping(view):
                    if view.count > 0 {
                        #expect(range.contains(UInt(bitPattern: view.baseAddress)))
                    }
                    #expect(view.allSatisfy { $0 == 0x41 || $0 == 0x70 })
                default: Issue.record("unexpected event")
                }
                seen += 1
                return .continue
            }
            #expect(error == nil)
            #expect(seen == 2)
        }
        #expect(reader.bufferedBytes == 0)
    }
}
