import CWPSLinux
import Glibc
import Synchronization
import WPSLoop

/// What putting a thread to sleep and waking it costs on this machine, the price a loop pays
/// each time it runs out of work: two threads pass one byte back and forth through two pipes,
/// each blocking in `read` until the other writes. Measured once with the threads bound to
/// different cores, so every wake-up crosses cores, and once with both on one core.
enum WakeupProbe {
    struct Measurement: Equatable {
        /// Wall time per round trip, µs.
        var wallMicros: Double
        /// CPU time (user + system) of the measuring thread per round trip, µs: one write,
        /// one read, one sleep and one wake-up.
        var cpuMicros: Double
    }

    /// Runs `roundTrips` round trips with the measuring thread on `cpu` and its partner on
    /// `partnerCPU`; nil when a thread cannot be bound there or a pipe fails.
    static func measure(roundTrips: Int, cpu: Int32, partnerCPU: Int32) -> Measurement? {
        var forward: [Int32] = [-1, -1]
        var back: [Int32] = [-1, -1]
        guard pipe(&forward) == 0 else { return nil }
        guard pipe(&back) == 0 else {
            forward.forEach { _ = close($0) }
            return nil
        }
        defer { (forward + back).forEach { _ = close($0) } }
        let (forwardRead, forwardWrite, backRead, backWrite) = (forward[0], forward[1], back[0], back[1])
        let outcome = Mutex<Measurement?>(nil)
        // A thread that cannot be bound still plays its part, so its partner is never left
        // waiting; the measurement is then dropped.
        let unbound = Atomic<Bool>(false)
        let partner = BenchThread()
        let measurer = BenchThread()
        partner.start {
            if wps_pin_current_thread(partnerCPU) != 0 { unbound.store(true, ordering: .relaxed) }
            var byte: UInt8 = 0
            for _ in 0..<roundTrips {
                guard read(forwardRead, &byte, 1) == 1, write(backWrite, &byte, 1) == 1 else { return }
            }
        }
        measurer.start {
            if wps_pin_current_thread(cpu) != 0 { unbound.store(true, ordering: .relaxed) }
            var byte: UInt8 = 1
            let before = FloorWriter.threadCPU()
            let start = ProcessControl.monotonicNanos
            for _ in 0..<roundTrips {
                guard write(forwardWrite, &byte, 1) == 1, read(backRead, &byte, 1) == 1 else { return }
            }
            let wall = Double(ProcessControl.monotonicNanos - start) / 1e3
            let after = FloorWriter.threadCPU()
            let cpu = (after.user - before.user + after.system - before.system) * 1e6
            outcome.withLock {
                $0 = Measurement(wallMicros: wall / Double(roundTrips), cpuMicros: cpu / Double(roundTrips))
            }
        }
        measurer.join()
        partner.join()
        return unbound.load(ordering: .relaxed) ? nil : outcome.withLock { $0 }
    }
}

extension BenchRunner {
    /// The `wakeup` workload: `WakeupProbe` across two cores and on one core.
    func runWakeup() -> BenchResult {
        var result = BenchResult()
        result.set("workload", options.workload)
        if !options.label.isEmpty { result.set("label", options.label) }
        let roundTrips = options.count > 0 ? options.count : 20_000
        result.set("roundTrips", roundTrips)
        let cores = wps_cpu_count()
        result.set("cores", Int(cores))
        let across = cores > 1 ? WakeupProbe.measure(roundTrips: roundTrips, cpu: 0, partnerCPU: 1) : nil
        let shared = WakeupProbe.measure(roundTrips: roundTrips, cpu: 0, partnerCPU: 0)
        result.set("acrossCoresWallMicrosPerRoundTrip", across?.wallMicros)
        result.set("acrossCoresCpuMicrosPerRoundTrip", across?.cpuMicros)
        result.set("oneCoreWallMicrosPerRoundTrip", shared?.wallMicros)
        result.set("oneCoreCpuMicrosPerRoundTrip", shared?.cpuMicros)
        if let across, let shared, shared.cpuMicros > 0 {
            result.set("acrossOverOneCoreCpu", across.cpuMicros / shared.cpuMicros)
        }
        result.set("ok", shared != nil && (cores < 2 || across != nil))
        return result
    }
}
