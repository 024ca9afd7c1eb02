import WPSHub
import WPSLoop

/// Runs a piece of work on every loop's hub shard and hands the answers, in loop order, to
/// a completion on the loop that asked. Only the REST API uses it; client traffic never waits
/// for another loop.
enum Gather {
    static func run<Result: Sendable>(
        on loop: EventLoop, _ work: @escaping @Sendable (LoopHub) -> Result, done: @escaping ([Result]) -> Void
    ) {
        runOnContexts(on: loop, { work($0.hub) }, done: done)
    }

    /// The same over each loop's whole context (metrics read more than the hub).
    static func runOnContexts<Result: Sendable>(
        on loop: EventLoop, _ work: @escaping @Sendable (LoopContext) -> Result, done: @escaping ([Result]) -> Void
    ) {
        let state = GatherState<Result>(count: loop.siblings.count, done: done)
        let handle = LoopBound(state)
        let origin = loop.inbox
        for (index, inbox) in loop.siblings.enumerated() where index != loop.index {
            inbox.post { remote in
                let result = work(LoopContext.of(remote))
                origin.post { _ in handle.value.complete(index, result) }
            }
        }
        // The local share runs now, but its answer, like every other, arrives through the
        // inbox: the caller is never re-entered before it has returned.
        let local = work(LoopContext.of(loop))
        let index = loop.index
        origin.post { _ in handle.value.complete(index, local) }
    }
}

final class GatherState<Result> {
    var results: [Result?]
    var remaining: Int
    let done: ([Result]) -> Void

    init(count: Int, done: @escaping ([Result]) -> Void) {
        results = Array(repeating: nil, count: count)
        remaining = count
        self.done = done
    }

    func complete(_ index: Int, _ result: Result) {
        guard results[index] == nil else { return }
        results[index] = result
        remaining -= 1
        if remaining == 0 { done(results.compactMap { $0 }) }
    }
}

/// Carries a loop-confined object through another loop and back. It is only ever touched on
/// the loop that created it; the other loop merely passes it along.
struct LoopBound<Value: AnyObject>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
