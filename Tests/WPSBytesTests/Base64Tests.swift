import Testing
import WPSBytes

@Suite struct Base64Tests {
    // RFC 4648 §10 test vectors.
    static let vectors: [(String, String)] = [
        ("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"),
        ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="), ("foobar", "Zm9vYmFy"),
    ]

    @Test(arguments: vectors) func encodes(plain: String, encoded: String) {
        #expect(Base64.encode(Array(plain.utf8)) == encoded)
        #expect(Base64.decode(encoded) == Array(plain.utf8))
        #expect(Array(plain.utf8).withUnsafeBytes { Base64.encodedString($0) } == encoded)
    }

    @Test func everyLengthAndByteRoundTrips() {
        for length in 0..<70 {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 53 &+ 7) }
            let text = bytes.withUnsafeBytes { Base64.encodedString($0) }
            #expect(text == Base64.encode(bytes))
            #expect(Base64.decode(text) == bytes)
            // Written into a larger buffer: exactly the symbols, nothing past them.
            var out = [UInt8](repeating: 0xEE, count: Base64.encodedCount(length) + 3)
            let written = out.withUnsafeMutableBytes { target in
                bytes.withUnsafeBytes { Base64.write($0, to: target.baseAddress!) }
            }
            #expect(written == Base64.encodedCount(length))
            #expect(Array(out[..<written]) == Array(text.utf8) && out[written...].allSatisfy { $0 == 0xEE })
        }
    }

    @Test(arguments: ["Zg=", "Z===", "Zm9v!A==", "Zg==Zg==", "Zm=v"])
    func rejectsMalformed(_ text: String) {
        #expect(Base64.decode(text) == nil)
    }

    @Test func decimalAppend() {
        var buffer = OutputBuffer()
        buffer.appendDecimal(0)
        buffer.append(",")
        buffer.appendDecimal(1_234_567)
        buffer.append(",")
        buffer.appendDecimal(-42)
        #expect(String(decoding: buffer.bytes, as: UTF8.self) == "0,1234567,-42")
    }

    /// Each integer form, at its edges, reads back as Swift prints it.
    @Test func decimalAppendAtTheEdges() {
        var buffer = OutputBuffer()
        buffer.appendDecimal(UInt64.max)
        buffer.append(",")
        buffer.appendDecimal(UInt64(9))
        buffer.append(",")
        buffer.appendDecimal(UInt64(10))
        buffer.append(",")
        buffer.appendDecimal(Int.min)
        buffer.append(",")
        buffer.appendDecimal(Int.max)
        buffer.append(",")
        buffer.appendDecimal(Int32.min)
        buffer.append(",")
        buffer.appendDecimal(UInt8(255))
        let expected = "\(UInt64.max),9,10,\(Int.min),\(Int.max),\(Int32.min),255"
        #expect(String(decoding: buffer.bytes, as: UTF8.self) == expected)
    }

    @Test func sharedBytesKeepContents() {
        let shared = SharedBytes([1, 2, 3])
        #expect(shared.array == [1, 2, 3])
        let built = SharedBytes(count: 2) {
            $0[0] = 9; $0[1] = 8
        }
        #expect(built.array == [9, 8])
    }
}
