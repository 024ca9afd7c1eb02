import Logging
import Synchronization
import Testing
import WPSBytes

@testable import WPSServer

@Suite struct ConnectionLogTests {
    final class Lines: Sendable {
        let mutex = Mutex<[String]>([])
        func withLock<R>(_ body: (inout [String]) -> R) -> R { mutex.withLock { body(&$0) } }
    }

    /// A log whose lines land in `lines`, at `level`.
    static func capture(_ level: Logger.Level = .debug) -> (ConnectionLog, Lines) {
        let lines = Lines()
        var handler = JSONLogHandler(label: "test") { bytes in
            lines.withLock { $0.append(String(decoding: bytes, as: UTF8.self)) }
        }
        handler.logLevel = level
        return (ConnectionLog(logger: Logger(label: "test") { _ in handler }, loopIndex: 3), lines)
    }

    @Test func serverEventsHaveStableNamesAndFields() {
        let (log, lines) = Self.capture()
        log.serverEvent(.upgradeRefused(hub: "chat", status: 429, reason: "too many connections"))
        log.serverEvent(.recoveryRefused(connectionId: "abc", reason: "badToken"))
        log.serverEvent(.socketClosed(session: nil, code: nil, reason: "", byPeer: true))
        let written = lines.withLock { $0 }
        #expect(written.count == 3)
        #expect(written[0].contains(#""event":"connection.refused""#))
        #expect(written[0].contains(#""hub":"chat","loop":3,"reason":"too many connections","status":429"#))
        #expect(written[1].contains(#""event":"session.recovery_refused""#))
        #expect(written[1].contains(#""connectionId":"abc","loop":3,"reason":"badToken""#))
        #expect(written[2].contains(#""event":"connection.closed""#) && written[2].contains(#""closedBy":"dropped""#))
    }

    @Test func routineLinesAreDebugOnly() {
        let (log, lines) = Self.capture(.info)
        log.serverEvent(.socketClosed(session: nil, code: .normal, reason: "", byPeer: true))
        log.serverEvent(.recoveryRefused(connectionId: "abc", reason: "notReliable"))
        #expect(lines.withLock { $0.count } == 1)
    }

    @Test(arguments: [
        ("plain", "plain"), ("two\nlines", "two?lines"), ("tab\tand\u{7F}", "tab?and?"),
        ("é中🙂", "é中🙂"), (String(repeating: "a", count: 300), String(repeating: "a", count: 256) + "…"),
    ])
    func clientTextCannotBreakLines(_ input: String, _ expected: String) {
        #expect(ConnectionLog.clean(input) == expected)
    }
}
