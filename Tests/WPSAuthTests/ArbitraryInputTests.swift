import Testing
import WPSAuth
import WPSBytes

/// Every entry point takes untrusted text; none may trap on any of it.
@Suite struct ArbitraryInputTests {
    /// A small deterministic generator (SplitMix64), so failures reproduce.
    struct Generator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// Strings drawn from characters that matter to the parsers, plus arbitrary scalars.
    static func samples(count: Int, seed: UInt64) -> [String] {
        let interesting = Array("=;:./?#@[]%\\*\"{}, -_aZ09eyJ\u{0}\u{7F}é")
        var generator = Generator(state: seed)
        return (0..<count).map { _ in
            let length = Int(generator.next() % 48)
            var text = ""
            for _ in 0..<length {
                let roll = generator.next()
                if roll % 4 == 0, let scalar = Unicode.Scalar(UInt32(truncatingIfNeeded: roll >> 8) % 0xD800) {
                    text.unicodeScalars.append(scalar)
                } else {
                    text.append(interesting[Int(roll >> 16) % interesting.count])
                }
            }
            return text
        }
    }

    @Test func nothingTraps() {
        let key = AccessKey("k")
        for text in Self.samples(count: 3000, seed: 42) {
            _ = JWT.verify(text, keys: [key], now: 0)
            _ = ConnectionString.parse(text)
            _ = ConnectionString.parse("Endpoint=" + text + ";AccessKey=k")
            _ = ClientAudience.matches(audience: text, requestHost: text, isTLS: false, hub: text)
            _ = ClientAudience.matches(audience: "http://" + text, requestHost: "h", isTLS: true, hub: "h")
            _ = RequestAudience.matches(
                audience: "http://h" + text, requestHost: "h", isTLS: false, rawTarget: "/" + text)
            _ = ReconnectionToken.verify(text, connectionId: text, keys: [key], now: 0)
            _ = Permissions(roles: [text, "webpubsub.sendToGroups." + text]).canSend(toGroup: text)
            if let pattern = GroupPattern(text) { _ = pattern.matches(text) }
            _ = Base64URL.decode(text)
        }
    }

    @Test func signedArbitraryPayloadsNeverTrap() {
        let key = AccessKey("k")
        for text in Self.samples(count: 2000, seed: 7) {
            for payload in [text, "{" + text + "}", #"{"exp":1,"a":"# + text + "}"] {
                _ = JWT.verify(JWT.sign(payload: Array(payload.utf8), key: key), keys: [key], now: 0)
            }
        }
    }

    @Test func extremeTimesSaturate() {
        let key = AccessKey("k")
        let far = JWT.sign(payload: Array(#"{"exp":9223372036854775807,"nbf":-9223372036854775808}"#.utf8), key: key)
        #expect((try? JWT.verify(far, keys: [key], now: .max - 1).get()) != nil)
        #expect((try? JWT.verify(far, keys: [key], now: .min).get()) != nil)
        let token = ReconnectionToken.issue(connectionId: "c", key: key, now: .max, lifetime: .max)
        #expect(!ReconnectionToken.verify(token, connectionId: "c", keys: [key], now: .max))
        #expect(ReconnectionToken.verify(token, connectionId: "c", keys: [key], now: .max - 1))
    }
}
