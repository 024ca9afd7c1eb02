import Testing
import WPSBytes

@Suite struct Base64URLTests {
    // RFC 4648 §10 vectors without padding, plus bytes that use the URL-safe symbols.
    static let vectors: [([UInt8], String)] = [
        ([], ""), (Array("f".utf8), "Zg"), (Array("fo".utf8), "Zm8"), (Array("foo".utf8), "Zm9v"),
        (Array("foob".utf8), "Zm9vYg"), (Array("fooba".utf8), "Zm9vYmE"), (Array("foobar".utf8), "Zm9vYmFy"),
        ([0xFB, 0xFF], "-_8"), ([0xFF, 0xFF, 0xFE], "___-"),
    ]

    @Test(arguments: vectors) func roundTrips(plain: [UInt8], encoded: String) {
        #expect(Base64URL.encode(plain) == encoded)
        #expect(Base64URL.decode(encoded) == plain)
    }

    @Test(arguments: [
        "Zg==",  // padding
        "Z",  // impossible length
        "Zm9vY",  // impossible length
        "Zh",  // non-zero unused bits
        "Zm9",  // non-zero unused bits
        "Zm+v", "Zm/v",  // standard alphabet
        "Zm 9v", "Zm9v\n",
        "Zm9vYmFy.", "Zm9vYmFyZm9vYmFy=Zm9v",  // a bad symbol after whole groups
    ])
    func rejectsMalformed(_ text: String) {
        #expect(Base64URL.decode(text) == nil)
    }

    @Test func allByteValuesRoundTrip() {
        for length in 0..<70 {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
            #expect(Base64URL.decode(Base64URL.encode(bytes)) == bytes)
        }
    }
}
