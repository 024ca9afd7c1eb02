import Glibc
import Synchronization
import WPSLoop

/// Plays the server in the floor workload: a plain thread that writes each round's frames to
/// every accepted socket with one write per socket (`send`, or `writev` when a tail is
/// pending) and does nothing else, so its CPU time
/// is what the kernel charges for the server's write pattern.
final class FloorWriter: Sendable {
    /// How the writer paces itself.
    struct Plan: Sendable {
        /// Rounds per second; 0 means back to back (saturation).
        var rate: Double
        /// Frames per round (one write carries them all).
        var batch: Int
        /// Saturation: frames written but not yet received by the slowest reader, like the
        /// fan-out publisher's delivery window.
        var deliveryWindow: Int
        /// Stop after this many rounds (0: until the run's stop flag).
        var maxRounds: Int
        var payloadBytes: Int
        var style: BenchPayload.PayloadStyle
    }

    /// What the writer did, and its own CPU time from its first round to its last write.
    struct Report: Sendable {
        var rounds = 0
        var frames = 0
        /// Write calls (`send` or `writev`).
        var writes = 0
        /// Writes the kernel took only part of (or none: would block); the rest went out later.
        var shortWrites = 0
        /// Sockets dropped after a write error.
        var failedSockets = 0
        /// The most bytes any socket had waiting for a later write.
        var maxPendingBytes = 0
        var userSeconds = 0.0
        var systemSeconds = 0.0
        var wallSeconds = 0.0
    }

    let fds: [Int32]
    let plan: Plan
    let shared: BenchShared
    private let thread = BenchThread()
    private let outcome = Mutex<Report?>(nil)

    init(fds: [Int32], plan: Plan, shared: BenchShared) {
        self.fds = fds
        self.plan = plan
        self.shared = shared
    }

    /// Starts the writer thread.
    func start() {
        thread.start { [self] in
            let report = run()
            outcome.withLock { $0 = report }
        }
    }

    /// Waits for the thread (after the stop flag is set or the round limit is reached).
    func join() -> Report {
        thread.join()
        return outcome.withLock { $0 } ?? Report()
    }

    /// CPU time of the calling thread: (user, system) seconds.
    static func threadCPU() -> (user: Double, system: Double) {
        var usage = rusage()
        // RUSAGE_THREAD (Linux); Glibc exports the name only with _GNU_SOURCE.
        _ = getrusage(__rusage_who_t(1), &usage)
        func seconds(_ value: timeval) -> Double { Double(value.tv_sec) + Double(value.tv_usec) / 1e6 }
        return (seconds(usage.ru_utime), seconds(usage.ru_stime))
    }

    private static func sleep(nanos: UInt64) {
        var spec = timespec(tv_sec: Int(nanos / 1_000_000_000), tv_nsec: Int(nanos % 1_000_000_000))
        _ = nanosleep(&spec, nil)
    }

    private func run() -> Report {
        var report = Report()
        var live = fds
        var pending = [[UInt8]](repeating: [], count: fds.count)
        var round: [UInt8] = []
        round.reserveCapacity(plan.batch * (plan.payloadBytes + 160))
        let vectors = UnsafeMutablePointer<iovec>.allocate(capacity: 2)
        defer { vectors.deallocate() }
        var sequence: UInt64 = 0
        let before = Self.threadCPU()
        let start = ProcessControl.monotonicNanos
        while !shared.isStopped, plan.maxRounds == 0 || report.rounds < plan.maxRounds {
            let now = ProcessControl.monotonicNanos
            if plan.rate > 0 {
                // Paced like the fan-out publisher: the n-th round is due at start + n / rate.
                let due = Int(Double(now &- start) * plan.rate / 1e9) + 1
                if report.rounds >= due {
                    let next = start &+ UInt64(Double(report.rounds) * 1e9 / plan.rate)
                    // Wake at least every 10 ms to see the stop flag.
                    if next > now { Self.sleep(nanos: min(next &- now, 10_000_000)) }
                    continue
                }
            } else {
                let slowest = shared.slowestDelivered
                if slowest != Int.max, report.frames + plan.batch - slowest > plan.deliveryWindow {
                    Self.sleep(nanos: 50_000)
                    continue
                }
            }
            round.removeAll(keepingCapacity: true)
            for _ in 0..<plan.batch {
                sequence += 1
                FloorFrame.append(
                    sentNanos: now, sequence: sequence, payloadBytes: plan.payloadBytes, style: plan.style,
                    to: &round)
            }
            round.withUnsafeBytes { bytes in
                for index in live.indices where live[index] >= 0 {
                    if !write(bytes, to: live[index], pending: &pending[index], vectors: vectors, report: &report) {
                        _ = Glibc.shutdown(live[index], Int32(SHUT_RDWR))
                        live[index] = -1
                        report.failedSockets += 1
                    }
                }
            }
            report.rounds += 1
            report.frames += plan.batch
            shared.published.add(plan.batch, ordering: .relaxed)
        }
        // What the kernel did not take yet goes out now (bounded), so nothing is lost.
        let deadline = ProcessControl.monotonicNanos + 2_000_000_000
        while pending.contains(where: { !$0.isEmpty }), ProcessControl.monotonicNanos < deadline {
            for index in live.indices where live[index] >= 0 && !pending[index].isEmpty {
                if !write(
                    UnsafeRawBufferPointer(start: nil, count: 0), to: live[index], pending: &pending[index],
                    vectors: vectors, report: &report)
                {
                    live[index] = -1
                    report.failedSockets += 1
                }
            }
            Self.sleep(nanos: 1_000_000)
        }
        let after = Self.threadCPU()
        report.wallSeconds = Double(ProcessControl.monotonicNanos - start) / 1e9
        report.userSeconds = after.user - before.user
        report.systemSeconds = after.system - before.system
        return report
    }

    /// One write of the socket's pending tail plus `bytes`; keeps what the kernel did not
    /// take. Returns false when the socket failed.
    private func write(
        _ bytes: UnsafeRawBufferPointer, to fd: Int32, pending: inout [UInt8], vectors: UnsafeMutablePointer<iovec>,
        report: inout Report
    ) -> Bool {
        let total = pending.count + bytes.count
        guard total > 0 else { return true }
        var written = 0
        repeat {
            written = pending.withUnsafeBytes { tail in
                var count: Int32 = 0
                if !tail.isEmpty {
                    vectors[0] = iovec(
                        iov_base: UnsafeMutableRawPointer(mutating: tail.baseAddress), iov_len: tail.count)
                    count = 1
                }
                if !bytes.isEmpty {
                    vectors[Int(count)] = iovec(
                        iov_base: UnsafeMutableRawPointer(mutating: bytes.baseAddress), iov_len: bytes.count)
                    count += 1
                }
                // One buffer goes with send(2), as the server sends it: cheaper than writev.
                if count == 1 {
                    return Glibc.send(fd, vectors[0].iov_base, vectors[0].iov_len, Int32(MSG_NOSIGNAL | MSG_DONTWAIT))
                }
                return writev(fd, vectors, count)
            }
        } while written < 0 && errno == EINTR
        report.writes += 1
        if written == total {
            if !pending.isEmpty { pending.removeAll(keepingCapacity: true) }
            return true
        }
        if written < 0 {
            guard errno == EAGAIN || errno == EWOULDBLOCK else { return false }
            written = 0
        }
        report.shortWrites += 1
        if written >= pending.count {
            let skip = written - pending.count
            pending.removeAll(keepingCapacity: true)
            pending.append(contentsOf: bytes[skip...])
        } else {
            pending.removeFirst(written)
            pending.append(contentsOf: bytes)
        }
        report.maxPendingBytes = max(report.maxPendingBytes, pending.count)
        return true
    }
}
