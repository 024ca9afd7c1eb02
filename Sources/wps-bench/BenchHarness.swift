import Glibc
import Synchronization
import WPSLoop

/// The bench's own event loops and the main thread's view of them: posts work to every
/// loop, waits on shared counters with deadlines, and collects the loops' stats.
final class BenchHarness: Sendable {
    let config: BenchConfig
    let shared: BenchShared
    let group: EventLoopGroup
    let threads: Int

    init(config: BenchConfig, threads: Int) throws(LoopError) {
        self.config = config
        self.threads = max(1, threads)
        let shared = BenchShared(loops: self.threads)
        self.shared = shared
        group = try EventLoopGroup(threads: self.threads) { loop in
            let context = LoopContext(loop: loop, shared: shared, config: config)
            loop.context = context
            loop.lingerNanos = 1_000_000_000
            loop.every(1_000_000) { context.tick() }
        }
    }

    /// Runs `body` on loop `index` with its context.
    func onLoop(_ index: Int, _ body: @escaping @Sendable (LoopContext) -> Void) {
        group.inboxes[index % threads].post { loop in
            body(Self.context(of: loop))
        }
    }

    /// Runs `body` on every loop.
    func onEachLoop(_ body: @escaping @Sendable (LoopContext, Int) -> Void) {
        for index in 0..<threads {
            group.inboxes[index].post { loop in body(Self.context(of: loop), index) }
        }
    }

    static func context(of loop: EventLoop) -> LoopContext {
        guard let context = loop.context as? LoopContext else { fatalError("bench loop without context") }
        return context
    }

    /// Polls `condition` every 5 ms until it holds (true) or `seconds` pass (false).
    @discardableResult
    func wait(seconds: Double, until condition: () -> Bool) -> Bool {
        let deadline = ProcessControl.monotonicNanos + UInt64(max(0, seconds) * 1e9)
        while !condition() {
            if ProcessControl.monotonicNanos >= deadline { return false }
            usleep(5_000)
        }
        return true
    }

    /// Sleeps for `seconds` (the measured interval).
    func sleep(seconds: Double) {
        let deadline = ProcessControl.monotonicNanos + UInt64(max(0, seconds) * 1e9)
        while ProcessControl.monotonicNanos < deadline { usleep(10_000) }
    }

    /// Asks every loop for its stats and merges them; gives up on a loop after 5 s.
    func collect(fanoutPublished: Int) -> StatsSnapshot {
        let box = SnapshotBox()
        onEachLoop { context, _ in
            let snapshot = context.snapshot(fanoutPublished: fanoutPublished)
            box.parts.withLock { $0.append(snapshot) }
        }
        wait(seconds: 5) { box.parts.withLock { $0.count } == threads }
        var total = StatsSnapshot.empty
        for part in box.parts.withLock({ $0 }) { total.merge(part) }
        return total
    }

    /// TCP segments with data all subscribers have received, over every loop (bounded wait);
    /// nil when any loop could not say.
    func dataSegmentsReceived() -> Int? {
        let box = SegmentsBox()
        onEachLoop { context, _ in
            let count = context.dataSegmentsReceived()
            box.parts.withLock { $0.append(count) }
        }
        wait(seconds: 5) { box.parts.withLock { $0.count } == threads }
        let parts = box.parts.withLock { $0 }
        guard parts.count == threads, !parts.contains(where: { $0 == nil }) else { return nil }
        return parts.reduce(0) { $0 + ($1 ?? 0) }
    }

    /// Closes every subscriber cleanly, then stops the loops (bounded by their grace time).
    func shutdown(closeSeconds: Double = 2) {
        shared.stop.store(true, ordering: .relaxed)
        let box = CounterBox()
        onEachLoop { context, _ in
            context.closeAll()
            for object in context.keep {
                (object as? GroupPublisher)?.close()
                (object as? RestPublisher)?.close()
                (object as? UpstreamSender)?.close()
            }
            box.count.add(1, ordering: .relaxed)
        }
        wait(seconds: closeSeconds) { box.count.load(ordering: .relaxed) == threads }
        // Give close frames a moment to reach the server before the loops go.
        sleep(seconds: 0.3)
        group.shutdown(graceNanos: 1_000_000_000)
        group.join()
    }
}

/// Where loops drop their end-of-run snapshots.
final class SnapshotBox: Sendable {
    let parts = Mutex<[StatsSnapshot]>([])
}

/// Per-loop segment counts, gathered like `SnapshotBox`.
final class SegmentsBox: Sendable {
    let parts = Mutex<[Int?]>([])
}

/// A counter loops bump when a posted task is done.
final class CounterBox: Sendable {
    let count = Atomic<Int>(0)
}
