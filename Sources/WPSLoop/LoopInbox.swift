import CWPSLinux
import Synchronization

/// Work posted to a loop from any thread: a mutex-guarded list plus an eventfd to wake it.
public final class LoopInbox: Sendable {
    public typealias Task = @Sendable (EventLoop) -> Void

    private let pending = Mutex<[Task]>([])
    let wakeFD: Int32

    init() throws(LoopError) {
        let fd = wps_eventfd()
        guard fd >= 0 else { throw LoopError(operation: "eventfd", code: -fd) }
        wakeFD = fd
    }

    /// Runs `task` on the loop's thread during its next turn.
    public func post(_ task: @escaping Task) {
        let wasEmpty = pending.withLock { list in
            list.append(task)
            return list.count == 1
        }
        if wasEmpty { _ = wps_eventfd_signal(wakeFD) }
    }

    func drain() -> [Task] {
        _ = wps_eventfd_drain(wakeFD)
        return pending.withLock { list in
            let taken = list
            list.removeAll(keepingCapacity: true)
            return taken
        }
    }
}

/// A failed system call, with its errno.
public struct LoopError: Error, CustomStringConvertible, Sendable {
    public var operation: String
    public var code: Int32
    public var description: String { "\(operation) failed (errno \(code))" }
}
