internal import CWPSOpenSSL
internal import WPSBytes

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

    /// HMAC-SHA256 of `data` under a prepared key.
    static func hmacSHA256(key: HMACKey, data: UnsafeRawBufferPointer) -> [UInt8] {
        ByteArray.make(capacity: macBytes) { out in
            wps_hmac_sha256_keyed(key.state, data.baseAddress, data.count, out.baseAddress)
            return macBytes
        }!
    }

    /// HMAC-SHA256 of `data` under a prepared key, written to `out` (`macBytes` bytes).
    static func hmacSHA256(key: HMACKey, data: UnsafeRawBufferPointer, into out: UnsafeMutableRawPointer) {
        wps_hmac_sha256_keyed(key.state, data.baseAddress, data.count, out.assumingMemoryBound(to: UInt8.self))
    }

    /// HMAC-SHA256 of contiguous `data` under a prepared key.
    static func hmacSHA256(key: AccessKey, data: some Collection<UInt8>) -> [UInt8] {
        if let mac = data.withContiguousStorageIfAvailable({
            hmacSHA256(key: key.mac, data: UnsafeRawBufferPointer($0))
        }) {
            return mac
        }
        return Array(data).withUnsafeBytes { hmacSHA256(key: key.mac, data: $0) }
    }

    /// `count` bytes from the OpenSSL CSPRNG; a failing CSPRNG must never yield guessable ids.
    static func randomBytes(_ count: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        out.withUnsafeMutableBytes { fillRandom($0) }
        return out
    }

    /// Fills `buffer` from the OpenSSL CSPRNG.
    static func fillRandom(_ buffer: UnsafeMutableRawBufferPointer) {
        let status = wps_random_bytes(buffer.baseAddress?.assumingMemoryBound(to: UInt8.self), buffer.count)
        precondition(status == 0, "random bytes unavailable")
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

    /// `constantTimeEquals` over raw bytes of equal, public length.
    static func constantTimeEquals(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer, count: Int) -> Bool {
        wps_memcmp_consttime(a, b, count) == 0
    }

    /// Lowercase hex of `bytes`.
    static func hex(_ bytes: [UInt8]) -> String {
        bytes.withUnsafeBytes { hex($0) }
    }

    /// Lowercase hex of raw bytes, written straight into the string's storage.
    static func hex(_ bytes: UnsafeRawBufferPointer) -> String {
        String(unsafeUninitializedCapacity: bytes.count * 2) { out in
            for (index, byte) in bytes.enumerated() {
                out[2 * index] = hexDigit(byte >> 4)
                out[2 * index + 1] = hexDigit(byte & 0xF)
            }
            return bytes.count * 2
        }
    }

    private static func hexDigit(_ value: UInt8) -> UInt8 {
        value < 10 ? UInt8(ascii: "0") + value : UInt8(ascii: "a") + value - 10
    }
}

/// An access key's HMAC state, prepared once and only read afterwards, so sharing it across
/// threads is safe.
final class HMACKey: @unchecked Sendable {
    let state: OpaquePointer

    init(_ secret: [UInt8]) {
        guard let state = secret.withUnsafeBytes({ wps_hmac_key_new($0.baseAddress, $0.count) }) else {
            preconditionFailure("out of memory preparing an HMAC key")
        }
        self.state = state
    }

    deinit { wps_hmac_key_free(state) }
}
