internal import WPSBytes

/// Percent-decoding (RFC 3986 §2.1) of request-target parts into UTF-8 strings.
public enum HTTPPercent {
    /// Decodes `%XX` escapes (and "+" as space when `plusAsSpace`); nil if an escape is
    /// malformed, decodes to NUL, or the result is not valid UTF-8.
    public static func decode(_ text: some StringProtocol, plusAsSpace: Bool = false) -> String? {
        var copy = String(text)
        return copy.withUTF8 { decode(bytes: UnsafeRawBufferPointer($0), plusAsSpace: plusAsSpace) }
    }

    /// Decodes raw bytes; see `decode(_:plusAsSpace:)`.
    public static func decode(bytes: UnsafeRawBufferPointer, plusAsSpace: Bool) -> String? {
        let percent = UInt8(ascii: "%")
        let plus = UInt8(ascii: "+")
        // The common case, ASCII without escapes, is its own decoding and valid UTF-8: one
        // scan finds it, and it is copied without validation.
        guard let special = ByteScan.firstSpecial(percent, plusAsSpace ? plus : percent, in: bytes) else {
            return String(unsafeUninitializedCapacity: bytes.count) { out in
                UnsafeMutableRawBufferPointer(out).copyMemory(from: bytes)
                return bytes.count
            }
        }
        let needsDecoding =
            ByteScan.firstIndex(of: percent, in: bytes, from: special) != nil
            || (plusAsSpace && ByteScan.firstIndex(of: plus, in: bytes, from: special) != nil)
        guard needsDecoding else {
            if bytes.contains(0) { return nil }
            return String(validating: bytes, as: UTF8.self)
        }
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte == percent {
                guard index + 2 < bytes.count,
                    let high = HTTPBytes.hexValue(bytes[index + 1]),
                    let low = HTTPBytes.hexValue(bytes[index + 2])
                else { return nil }
                let decoded = high << 4 | low
                guard decoded != 0 else { return nil }
                output.append(decoded)
                index += 3
            } else {
                guard byte != 0 else { return nil }
                output.append(plusAsSpace && byte == plus ? HTTPBytes.sp : byte)
                index += 1
            }
        }
        return String(validating: output, as: UTF8.self)
    }
}
