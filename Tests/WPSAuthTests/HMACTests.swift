import Testing

@testable import WPSAuth

/// RFC 4231 §4 test cases for HMAC-SHA256, plus an empty key and a 64-byte key (exactly one
/// block) over long data; those two checked against Python's hmac module.
@Suite struct HMACTests {
    static func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    static let cases: [(key: [UInt8], data: [UInt8], mac: String)] = [
        (
            [UInt8](repeating: 0x0b, count: 20), bytes("Hi There"),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        ),
        (
            bytes("Jefe"), bytes("what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        ),
        (
            [UInt8](repeating: 0xaa, count: 20), [UInt8](repeating: 0xdd, count: 50),
            "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"
        ),
        (
            Array(1...25), [UInt8](repeating: 0xcd, count: 50),
            "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"
        ),
        (
            [UInt8](repeating: 0xaa, count: 131), bytes("Test Using Larger Than Block-Size Key - Hash Key First"),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        ),
        (
            [UInt8](repeating: 0xaa, count: 131),
            bytes(
                "This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm."
            ),
            "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"
        ),
        ([], [], "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad"),
        (
            [UInt8](repeating: 0x6b, count: 64), [UInt8](repeating: 0x78, count: 5000),
            "800f260bccf615f5328ccb800b1ef20327a3037b6b006af32e17f12a2007a464"
        ),
    ]

    @Test(arguments: 0..<cases.count)
    func knownAnswers(index: Int) {
        let (key, data, mac) = Self.cases[index]
        #expect(Crypto.hex(Crypto.hmacSHA256(key: key, data: data)) == mac)
    }

    @Test(arguments: 0..<cases.count)
    func preparedKeysGiveTheSameAnswers(index: Int) {
        let (key, data, mac) = Self.cases[index]
        let prepared = HMACKey(key)
        // Twice, so a prepared state that the first MAC altered would show.
        for _ in 0..<2 {
            #expect(Crypto.hex(data.withUnsafeBytes { Crypto.hmacSHA256(key: prepared, data: $0) }) == mac)
        }
    }

    @Test func concurrentCallersGetTheirOwnAnswers() async {
        await withTaskGroup(of: Bool.self) { group in
            for index in 0..<64 {
                group.addTask {
                    let (key, data, mac) = Self.cases[index % Self.cases.count]
                    return (0..<50).allSatisfy { _ in Crypto.hex(Crypto.hmacSHA256(key: key, data: data)) == mac }
                }
            }
            for await ok in group { #expect(ok) }
        }
    }
}
