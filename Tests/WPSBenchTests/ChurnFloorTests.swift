import Testing

@testable import wps_bench

@Suite struct ChurnFloorTests {
    @Test func frameLengthsOfMaskedClientFrames() {
        let small: [UInt8] = [0x81, 0x85, 1, 2, 3, 4] + Array(repeating: 0, count: 5)
        #expect(ChurnResponder.frameLength(small) == small.count)
        #expect(ChurnResponder.frameLength(Array(small.dropLast())) == nil)
        let medium: [UInt8] = [0x81, 0xFE, 0x01, 0x00, 1, 2, 3, 4] + Array(repeating: 0, count: 256)
        #expect(ChurnResponder.frameLength(medium + [0x88]) == medium.count)
        #expect(ChurnResponder.frameLength([0x81, 0xFE, 0x01]) == nil)
    }

    @Test func webSocketKeyIsFoundInAnyCase() {
        let head = Array("GET /x HTTP/1.1\r\nHost: h\r\nSEC-WebSocket-Key:  dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n".utf8)
        #expect(ChurnResponder.webSocketKey(head[...]) == "dGhlIHNhbXBsZSBub25jZQ==")
        #expect(ChurnResponder.webSocketKey(Array("GET / HTTP/1.1\r\nHost: h\r\n\r\n".utf8)[...]) == nil)
    }

    /// The whole floor run over real loopback sockets: the churners' own checks (101 with the
    /// right accept value, `connected`, both acks, the close echo) pass against the responder,
    /// and its thread's CPU is measured.
    /// With each close style (the server's lingering close, its corked variant and the close
    /// before 38c0180) every cycle completes and every accepted socket ends after its echo.
    @Test(arguments: ChurnResponder.CloseStyle.allCases)
    func churnersCompleteCyclesAgainstTheResponder(closeStyle: ChurnResponder.CloseStyle) throws {
        var options = BenchOptions(workload: "churn-floor", port: 0, accessKey: "", serverPID: nil)
        options.floorClose = closeStyle
        options.threads = 1
        options.churners = 4
        options.durationSeconds = 1
        let result = try BenchRunner(options: options, probe: nil).run()
        guard case .int(let cycles)? = result["cycles"], case .flag(let ok)? = result["ok"] else {
            Issue.record("no cycles or ok in \(result.json)")
            return
        }
        #expect(cycles > 10)
        #expect(ok)
        guard case .text(let style)? = result["floorClose"], case .object(let responder)? = result["responder"],
            case .int(let accepted)? = responder.first(where: { $0.0 == "accepted" })?.1,
            case .int(let closed)? = responder.first(where: { $0.0 == "closedAfterEcho" })?.1
        else {
            Issue.record("no responder counts in \(result.json)")
            return
        }
        #expect(style == closeStyle.rawValue)
        #expect(closed == accepted)
        guard case .number(let micros)? = result["serverCpuMicrosPerCycle"] else {
            Issue.record("no responder CPU in \(result.json)")
            return
        }
        #expect(micros >= 0)
    }

    /// Two responders on one shared port, as the server's two loops: the kernel spreads the
    /// churners' connections over both, every cycle completes, and both threads' CPU counts.
    @Test func twoRespondersShareOnePort() throws {
        var options = BenchOptions(workload: "churn-floor", port: 0, accessKey: "", serverPID: nil)
        options.threads = 1
        options.churners = 4
        options.responders = 2
        options.durationSeconds = 1
        let result = try BenchRunner(options: options, probe: nil).run()
        guard case .int(let cycles)? = result["cycles"], case .flag(let ok)? = result["ok"],
            case .int(let responders)? = result["responders"], case .object(let responder)? = result["responder"]
        else {
            Issue.record("missing fields in \(result.json)")
            return
        }
        #expect(ok)
        #expect(responders == 2)
        #expect(cycles > 10)
        let least = responder.first { $0.0 == "leastAcceptedByOneThread" }?.1
        guard case .int(let fewest)? = least else {
            Issue.record("no per-thread count in \(result.json)")
            return
        }
        // Each new connection has a new source port, so each listener gets a share.
        #expect(fewest > 0)
        guard case .number(let micros)? = result["serverCpuMicrosPerCycle"] else {
            Issue.record("no responder CPU in \(result.json)")
            return
        }
        #expect(micros >= 0)
    }
}
