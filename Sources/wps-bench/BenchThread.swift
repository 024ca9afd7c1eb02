import Glibc
import Synchronization

/// A plain thread that runs one job: the floor workloads' stand-ins for the server run on
/// these, outside the bench's event loops.
final class BenchThread: Sendable {
    private final class Job: Sendable {
        let body: @Sendable () -> Void

        init(_ body: @escaping @Sendable () -> Void) {
            self.body = body
        }
    }

    private let handle = Mutex<pthread_t?>(nil)

    /// Starts the thread running `body`.
    func start(_ body: @escaping @Sendable () -> Void) {
        let context = Unmanaged.passRetained(Job(body)).toOpaque()
        var thread = pthread_t()
        let rc = pthread_create(
            &thread, nil,
            { raw in
                Unmanaged<Job>.fromOpaque(raw!).takeRetainedValue().body()
                return nil
            }, context)
        precondition(rc == 0, "pthread_create failed: \(rc)")
        handle.withLock { $0 = thread }
    }

    /// Waits for the thread to end (at once when it never started).
    func join() {
        if let thread = handle.withLock({ $0 }) { pthread_join(thread, nil) }
    }
}
