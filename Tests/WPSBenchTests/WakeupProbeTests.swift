import CWPSLinux
import Testing

@testable import wps_bench

@Suite struct WakeupProbeTests {
    /// The probe completes its round trips on one core (and across two when there are two)
    /// and reports positive times; the wall time of a round trip covers at least its CPU.
    @Test func measuresRoundTripsOnOneCoreAndAcross() throws {
        var options = BenchOptions(workload: "wakeup", port: 0, accessKey: "", serverPID: nil)
        options.count = 2_000
        let result = BenchRunner(options: options, probe: nil).runWakeup()
        guard case .int(let roundTrips)? = result["roundTrips"], case .flag(let ok)? = result["ok"],
            case .number(let wall)? = result["oneCoreWallMicrosPerRoundTrip"],
            case .number(let cpu)? = result["oneCoreCpuMicrosPerRoundTrip"]
        else {
            Issue.record("missing fields in \(result.json)")
            return
        }
        #expect(ok)
        #expect(roundTrips == 2_000)
        #expect(wall > 0)
        #expect(cpu >= 0)
        if wps_cpu_count() > 1 {
            guard case .number(let acrossWall)? = result["acrossCoresWallMicrosPerRoundTrip"] else {
                Issue.record("no across-cores result in \(result.json)")
                return
            }
            #expect(acrossWall > 0)
        }
    }

    /// A core that does not exist cannot be bound: no measurement instead of a wrong one,
    /// and the partner is not left waiting.
    @Test func aMissingCoreGivesNoMeasurement() {
        #expect(WakeupProbe.measure(roundTrips: 100, cpu: 0, partnerCPU: 100_000) == nil)
    }
}
