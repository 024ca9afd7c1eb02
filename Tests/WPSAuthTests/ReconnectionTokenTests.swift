import Testing
import WPSAuth
import WPSBytes

@Suite struct ReconnectionTokenTests {
    let key = AccessKey("primary-key")
    let other = AccessKey("secondary-key")
    let now: Int64 = 1_800_000_000

    @Test func verifiesForItsConnection() {
        let token = ReconnectionToken.issue(connectionId: "c1", key: key, now: now)
        #expect(ReconnectionToken.verify(token, connectionId: "c1", keys: [key], now: now))
        #expect(ReconnectionToken.verify(token, connectionId: "c1", keys: [other, key], now: now + 3600))
        #expect(!ReconnectionToken.verify(token, connectionId: "c2", keys: [key], now: now))
        #expect(!ReconnectionToken.verify(token, connectionId: "c", keys: [key], now: now))
        #expect(!ReconnectionToken.verify(token, connectionId: "c1:", keys: [key], now: now))
        #expect(!ReconnectionToken.verify(token, connectionId: "c1", keys: [other], now: now))
        #expect(!ReconnectionToken.verify(token, connectionId: "c1", keys: [], now: now))
    }

    @Test(arguments: [(Int64(-1), true), (0, false), (1, false)])
    func expiresAfterLifetime(offset: Int64, valid: Bool) {
        let lifetime = ReconnectionToken.defaultLifetime
        #expect(lifetime == 604_800)
        let token = ReconnectionToken.issue(connectionId: "c1", key: key, now: now)
        #expect(ReconnectionToken.verify(token, connectionId: "c1", keys: [key], now: now + lifetime + offset) == valid)
    }

    @Test func tamperingIsDetected() {
        let token = ReconnectionToken.issue(connectionId: "c1", key: key, now: now, lifetime: 60)
        var bytes = Array(token.utf8)
        for index in bytes.indices where bytes[index] != UInt8(ascii: ".") {
            let original = bytes[index]
            bytes[index] = original == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
            #expect(
                !ReconnectionToken.verify(
                    String(decoding: bytes, as: UTF8.self), connectionId: "c1", keys: [key], now: now))
            bytes[index] = original
        }
        // A forged body with a far expiry needs the key.
        let forgedBody = Base64URL.encode(Array("9999999999:c1".utf8))
        let signature = token.split(separator: ".").last.map(String.init) ?? ""
        #expect(!ReconnectionToken.verify(forgedBody + "." + signature, connectionId: "c1", keys: [key], now: now))
    }

    @Test(arguments: ["", ".", "abc", "abc.", ".abc", "a.b.c", "%%%.%%%"])
    func garbageIsRejected(_ token: String) {
        #expect(!ReconnectionToken.verify(token, connectionId: "c1", keys: [key], now: now))
    }
}
