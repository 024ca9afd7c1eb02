import Testing
import WPSAuth

@Suite struct SignatureTests {
    @Test func referenceVector() {
        // protocol-spec/upstream.md §3: the published test vector.
        let header = EventSignature.header(
            connectionId: "0f9c97a2f0bf4706afe87a14e0797b11", keys: [AccessKey("7aab239577fd4f24bc919802fb629f5f")])
        #expect(header == "sha256=7767effcb3946f3e1de039df4b986ef02c110b1469d02c0a06f41b3b727ab561")
    }

    @Test func oneEntryPerKeyInOrder() {
        let primary = AccessKey("7aab239577fd4f24bc919802fb629f5f")
        let secondary = AccessKey("another-key")
        let both = EventSignature.header(connectionId: "0f9c97a2f0bf4706afe87a14e0797b11", keys: [primary, secondary])
        let parts = both.split(separator: ",").map(String.init)
        #expect(parts.count == 2)
        #expect(parts[0] == EventSignature.header(connectionId: "0f9c97a2f0bf4706afe87a14e0797b11", keys: [primary]))
        #expect(parts[1] == EventSignature.header(connectionId: "0f9c97a2f0bf4706afe87a14e0797b11", keys: [secondary]))
        #expect(parts[0] != parts[1])
    }
}
