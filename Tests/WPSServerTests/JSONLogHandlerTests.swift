import Logging
import Synchronization
import Testing
import WPSBytes

@testable import WPSServer

@Suite struct JSONLogHandlerTests {
    /// 2026-12-08T00:19:49.007Z
    static let time = (seconds: 1_796_689_189, milliseconds: 7)

    static func line(
        _ message: String, level: Logger.Level = .info, label: String = "wps-server", metadata: Logger.Metadata = [:]
    ) -> String {
        String(
            decoding: JSONLogHandler.line(time: time, level: level, message: message, label: label, metadata: metadata),
            as: UTF8.self)
    }

    /// The object's members as (key, decoded string or raw JSON text), in order.
    static func members(_ line: String) throws -> [(String, String)] {
        var bytes = Array(line.utf8)
        #expect(bytes.last == UInt8(ascii: "\n"))
        bytes.removeLast()
        return try bytes.withUnsafeBytes { raw in
            let root = try JSON.validate(raw)
            var out: [(String, String)] = []
            JSON.forEachMember(raw, in: root) { key, value in
                let name = JSON.string(raw, key) ?? "?"
                let text =
                    JSON.string(raw, value) ?? String(decoding: raw[value.range], as: UTF8.self)
                out.append((name, text))
            }
            return out
        }
    }

    @Test func stableKeysInOrder() throws {
        let text = Self.line(
            "connection accepted",
            metadata: [
                "event": "connection.accepted", "hub": "chat", "connectionId": "c1", "loop": .stringConvertible(1),
            ])
        #expect(
            text
                == #"{"time":"2026-12-08T00:19:49.007Z","level":"info","event":"connection.accepted","message":"connection accepted","label":"wps-server","connectionId":"c1","hub":"chat","loop":1}"#
                + "\n")
        let keys = try Self.members(text).map(\.0)
        #expect(keys == ["time", "level", "event", "message", "label", "connectionId", "hub", "loop"])
    }

    @Test func noEventKeyWithoutEvent() throws {
        let keys = try Self.members(Self.line("stopped", level: .notice)).map(\.0)
        #expect(keys == ["time", "level", "message", "label"])
    }

    @Test(arguments: [
        "say \"hi\"", "back\\slash", "line\nbreak", "tab\tcr\r", "nul\u{0}bell\u{7}esc\u{1B}", "é ü 中文 🙂",
        "\u{2028}\u{2029}", "",
    ])
    func escapesRoundTrip(_ message: String) throws {
        let text = Self.line(message, metadata: ["reason": .string(message), message.isEmpty ? "k" : message: "v"])
        // One record, one line: control characters never break it.
        #expect(text.filter { $0 == "\n" }.count == 1)
        #expect(text.utf8.allSatisfy { $0 >= 0x20 || $0 == 0x0A })
        let members = try Self.members(text)
        #expect(members.first { $0.0 == "message" }?.1 == message)
        #expect(members.first { $0.0 == "reason" }?.1 == message)
    }

    @Test func valuesKeepTheirJSONTypes() throws {
        let members = try Self.members(
            Self.line(
                "m",
                metadata: [
                    "count": .stringConvertible(42), "negative": .stringConvertible(-3),
                    "flag": .stringConvertible(true), "ratio": .stringConvertible(0.5),
                    "list": .array(["a", .stringConvertible(1)]), "map": .dictionary(["z": "1", "a": "2"]),
                ]))
        let values = Dictionary(uniqueKeysWithValues: members)
        #expect(values["count"] == "42")
        #expect(values["negative"] == "-3")
        #expect(values["flag"] == "true")
        #expect(values["ratio"] == "0.5")  // Not an integer: written as a string.
        #expect(values["list"] == #"["a",1]"#)
        #expect(values["map"] == #"{"a":"2","z":"1"}"#)
    }

    @Test func reservedMetadataKeysCannotShadow() throws {
        let members = try Self.members(
            Self.line("real", label: "L", metadata: ["message": "fake", "time": "t", "label": "x", "level": "y"]))
        #expect(members.filter { $0.0 == "message" }.map(\.1) == ["real"])
        #expect(members.filter { $0.0 == "label" }.map(\.1) == ["L"])
        #expect(Set(members.map(\.0)).isSuperset(of: ["_message", "_time", "_label", "_level"]))
    }

    @Test(arguments: [
        (0, 0, "1970-01-01T00:00:00.000Z"), (951_782_400, 999, "2000-02-29T00:00:00.999Z"),
        (1_796_689_189, 7, "2026-12-08T00:19:49.007Z"), (253_402_300_799, 50, "9999-12-31T23:59:59.050Z"),
    ])
    func timestamps(_ seconds: Int, _ milliseconds: Int, _ expected: String) {
        var out = OutputBuffer()
        JSONLogHandler.appendTimestamp(seconds: seconds, milliseconds: milliseconds, to: &out)
        #expect(String(decoding: out.bytes, as: UTF8.self) == expected)
    }

    @Test func handlerMergesMetadataAndFiltersByLevel() throws {
        let lines = Mutex<[String]>([])
        var handler = JSONLogHandler(label: "test") { bytes in
            lines.withLock { $0.append(String(decoding: bytes, as: UTF8.self)) }
        }
        handler.logLevel = .info
        handler[metadataKey: "base"] = "b"
        var logger = Logger(label: "test") { _ in handler }
        logger[metadataKey: "scope"] = "s"
        logger.debug("hidden")
        logger.info("shown", metadata: ["event": "x.y", "base": "override"])
        let written = lines.withLock { $0 }
        #expect(written.count == 1)
        let values = Dictionary(uniqueKeysWithValues: try Self.members(written[0]))
        #expect(values["event"] == "x.y")
        #expect(values["base"] == "override")
        #expect(values["scope"] == "s")
        #expect(values["label"] == "test")
        #expect(values["level"] == "info")
    }
}
