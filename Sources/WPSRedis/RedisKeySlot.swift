/// The hash slot of a key in a Redis Cluster: CRC16 (XMODEM) of the key modulo 16384, where a
/// key holding `{tag}` (a non-empty tag, the first `{` and the first `}` after it) is hashed
/// on the tag alone, so related keys can share a slot
/// (https://redis.io/docs/latest/operate/oss_and_stack/reference/cluster-spec/).
public enum RedisKeySlot {
    /// Slots in a cluster.
    public static let count = 16384

    public static func of(_ key: String) -> Int { of(Array(key.utf8)) }

    public static func of(_ key: [UInt8]) -> Int {
        if let open = key.firstIndex(of: UInt8(ascii: "{")),
            let close = key[(open + 1)...].firstIndex(of: UInt8(ascii: "}")), close > open + 1
        {
            return Int(crc16(key[(open + 1)..<close])) & (count - 1)
        }
        return Int(crc16(key[...])) & (count - 1)
    }

    /// CRC16-CCITT as XMODEM has it: polynomial 0x1021, initial value 0, no reflection.
    static func crc16(_ bytes: ArraySlice<UInt8>) -> UInt16 {
        var crc: UInt16 = 0
        for byte in bytes {
            crc = (crc << 8) ^ table[Int(UInt8(truncatingIfNeeded: crc >> 8) ^ byte)]
        }
        return crc
    }

    private static let table: [UInt16] = (0..<256).map { index in
        var crc = UInt16(index) << 8
        for _ in 0..<8 { crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1 }
        return crc
    }
}
