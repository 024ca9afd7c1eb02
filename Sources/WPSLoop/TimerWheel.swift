/// A coarse hashed timer wheel: 100 ms ticks, about 100 s per revolution.
///
/// Entries name a connection by slot and generation, so a closed connection's entries
/// simply find nothing when they fire. Deadlines past one revolution fire early and are
/// rescheduled by the loop, which compares them with the connection's real deadline.
struct TimerWheel {
    struct Entry {
        var slot: Int32
        var generation: UInt32
    }

    static let tickNanos: UInt64 = 100_000_000
    private static let bucketCount = 1024

    private var buckets: [[Entry]]
    private(set) var currentTick: UInt64
    private(set) var entryCount = 0

    init(now: UInt64) {
        buckets = Array(repeating: [], count: Self.bucketCount)
        currentTick = now / Self.tickNanos
    }

    mutating func schedule(slot: Int32, generation: UInt32, deadline: UInt64, now: UInt64) {
        let wanted = (deadline + Self.tickNanos - 1) / Self.tickNanos
        let tick = min(max(wanted, currentTick + 1), currentTick + UInt64(Self.bucketCount - 1))
        buckets[Int(tick % UInt64(Self.bucketCount))].append(Entry(slot: slot, generation: generation))
        entryCount += 1
    }

    /// Milliseconds until the next tick that has work, or -1 when the wheel is empty.
    func timeoutMillis(now: UInt64) -> Int32 {
        guard entryCount > 0 else { return -1 }
        let next = (currentTick + 1) * Self.tickNanos
        return next > now ? Int32((next - now + 999_999) / 1_000_000) : 0
    }

    /// Advances to `now`, appending every entry whose tick has come to `due`. The caller fires
    /// them after this returns, so firing may schedule new entries.
    mutating func advance(to now: UInt64, into due: inout [Entry]) {
        let target = now / Self.tickNanos
        if entryCount == 0 {
            currentTick = max(currentTick, target)
            return
        }
        while currentTick < target {
            currentTick += 1
            let index = Int(currentTick % UInt64(Self.bucketCount))
            guard !buckets[index].isEmpty else { continue }
            due.append(contentsOf: buckets[index])
            entryCount -= buckets[index].count
            buckets[index].removeAll(keepingCapacity: true)
        }
    }
}
