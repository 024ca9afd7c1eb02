import Glibc

/// Reads the server's CPU time and memory from `/proc/<pid>`.
struct ServerProbe: Sendable {
    let pid: Int32
    /// Threads of `pid` whose CPU time alone counts (the churn floor's responders); empty
    /// for the whole process.
    var threads: [Int32] = []

    /// A point-in-time reading.
    struct Sample: Sendable {
        var cpuSeconds: Double
        /// The kernel's share of `cpuSeconds` (stime): on loopback it includes the TCP work
        /// of delivering to the receiving socket.
        var systemSeconds: Double
        var rssBytes: Int
        var wallNanos: UInt64
    }

    /// utime + stime and VmRSS now, or nil when the process is gone.
    func sample() -> Sample? {
        guard let (cpu, system) = cpuTimes(), let rss = rssBytes() else { return nil }
        return Sample(
            cpuSeconds: cpu, systemSeconds: system, rssBytes: rss, wallNanos: monotonicNow())
    }

    /// User plus system CPU seconds the process has used (fields 14 and 15 of `stat`).
    func cpuSeconds() -> Double? { cpuTimes()?.total }

    /// User plus system CPU seconds, and system alone.
    func cpuTimes() -> (total: Double, system: Double)? {
        guard !threads.isEmpty else { return Self.cpuTimes(path: "/proc/\(pid)/stat") }
        var total = 0.0
        var system = 0.0
        for thread in threads {
            guard let times = Self.cpuTimes(path: "/proc/\(pid)/task/\(thread)/stat") else { return nil }
            total += times.total
            system += times.system
        }
        return (total, system)
    }

    private static func cpuTimes(path: String) -> (total: Double, system: Double)? {
        guard let text = read(path), let close = text.lastIndex(of: ")") else { return nil }
        // Fields after the command name, which may itself hold spaces or parentheses.
        let fields = text[text.index(after: close)...].split(separator: " ")
        // fields[0] is field 3 (state); utime is field 14, stime field 15.
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        let perSecond = ticks > 0 ? ticks : 100
        return ((user + system) / perSecond, system / perSecond)
    }

    /// Resident set size in bytes (`VmRSS` of `status`).
    func rssBytes() -> Int? {
        guard let text = Self.read("/proc/\(pid)/status") else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            let digits = line.dropFirst("VmRSS:".count).filter { $0.isNumber }
            return Int(String(digits)).map { $0 * 1024 }
        }
        return nil
    }

    /// True while the process exists.
    var isAlive: Bool { kill(pid, 0) == 0 }

    private func monotonicNow() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
    }

    /// The whole of a small text file, or nil.
    static func read(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count <= 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
