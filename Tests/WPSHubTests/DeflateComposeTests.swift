import Testing
import WPSDeflate
import WPSHub

@Suite struct HubDeflateTests {
    @Test func broadcastsAreCompressedOncePerLoopAndDecodeForEveryKind() {
        let hub = LoopHub()
        let pool = DeflatePool(configuration: DeflateConfiguration(minMessageBytes: 64))
        hub.deflate = pool
        var wires: [FakeTransport] = []
        for (index, kind) in [ClientKind.jsonReliable, .json, .raw(publishGroup: nil), .jsonReliable].enumerated() {
            let wire = FakeTransport()
            wire.window = index == 3 ? nil : 15
            hub.open(
                connectionId: Fixtures.id(index + 1), identity: Fixtures.identity(kind, groups: ["g"]),
                reconnectionToken: "t", transport: wire)
            _ = wire.take()
            wires.append(wire)
        }
        let long = String(repeating: "abc", count: 100)
        let sender = hub.open(
            connectionId: Fixtures.id(9), identity: Fixtures.identity(.json), reconnectionToken: nil, transport: FakeTransport())
        for text in [long, "short"] {
            hub.receive(#"{"type":"sendToGroup","group":"g","dataType":"text","data":"\#(text)"}"#, on: sender)
        }
        // The long message: its JSON prefix and its raw payload; the short one: its prefix only
        // (its 5-byte raw payload is under the threshold). Once each, whatever the recipients.
        #expect(pool.compressions == 3)
        let reliable = wires[0].take()
        #expect(reliable.map { $0.json["data"] as? String } == [long, "short"])
        #expect(reliable.map { $0.json["sequenceId"] as? Int } == [1, 2])
        #expect(wires[0].compressedCount == 2)
        #expect(wires[1].take().map { $0.json["data"] as? String } == [long, "short"])
        #expect(wires[2].take().map(\.text) == [long, "short"])
        #expect(wires[2].compressedCount == 1)
        let plain = wires[3].take()
        #expect(plain.map { $0.json["sequenceId"] as? Int } == [1, 2])
        #expect(wires[3].compressedCount == 0)
    }
}

/// A compressed prefix finished with a per-recipient stored block inflates to prefix + suffix.
@Suite struct DeflateComposeTests {
    @Test(arguments: [0, 1, 300, 5000, 70_000])
    func storedTailsCompleteACompressedPrefix(prefixLength: Int) throws {
        let pool = DeflatePool(configuration: DeflateConfiguration())
        let prefix = (0..<prefixLength).map { UInt8(ascii: "a") + UInt8($0 % 7) }
        let body = try #require(prefix.withUnsafeBytes { pool.compress($0, windowBits: 15) })
        let inflater = try MessageInflater(windowBits: 15, noContextTakeover: true)
        for suffix in [",\"sequenceId\":1}", ",\"sequenceId\":18446744073709551615}", "}"] {
            var message = body
            Array(suffix.utf8).withUnsafeBytes { DeflatePool.appendStoredTail($0, to: &message) }
            var output: [UInt8] = []
            let result = message.withUnsafeBytes { inflater.decompress($0, maxOutputBytes: 1 << 20, into: &output) }
            #expect(result == .ok)
            #expect(output == prefix + Array(suffix.utf8))
        }
    }
}
