internal import CWPSOpenSSL

/// The few OpenSSL primitives WPSAuth needs, with Swift types so the C shim stays internal.
enum Crypto {
    /// Bytes in an HMAC-SHA256 tag.
    static let macBytes = 32

    /// HMAC-SHA256 of `data` under `key`.
    ///
    /// OpenSSL only fails here on allocation failure, which the process cannot recover from,
    /// so a failure is a precondition rather than a value callers must thread through.
    static func hmacSHA256(key: [UInt8], data: some Collection<UInt8>) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: macBytes)
        let message = Array(data)
        let status = key.withUnsafeBytes { keyBytes in
            message.withUnsafeBytes { dataBytes in
                out.withUnsafeMutableBufferPointer { outBytes in
                    wps_hmac_sha256(
                        keyBytes.baseAddress, keyBytes.count, dataBytes.baseAddress, dataBytes.count,
                        outBytes.baseAddress)
                }
            }
        }
        precondition(status == 0, "HMAC-SHA256 failed")
        return out
    }

    /// `count` bytes from the OpenSSL CSPRNG; a failing CSPRNG must never yield guessable ids.
    static func randomBytes(_ count: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        let status = out.withUnsafeMutableBufferPointer { wps_random_bytes($0.baseAddress, $0.count) }
        precondition(status == 0, "random bytes unavailable")
        return out
    }

    /// Constant-time equality, so a forged tag learns nothing from the comparison's timing.
    /// Lengths are public (always `macBytes` for tags), so an early length check leaks nothing.
    static func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        if a.isEmpty { return true }
        return a.withUnsafeBytes { left in
            b.withUnsafeBytes { right in
                wps_memcmp_consttime(left.baseAddress, right.baseAddress, left.count) == 0
            }
        }
    }

    /// Lowercase hex of `bytes`.
    static func hex(_ bytes: [UInt8]) -> String {
        let digits: [UInt8] = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
