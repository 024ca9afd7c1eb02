internal import CWPSZlib
import Synchronization

/// zlib memory of the whole process, as counted by every `MessageDeflater` and
/// `MessageInflater` allocation (protocol-spec/deflate.md §6).
public enum ZlibMemory {
    /// Bytes all compression and decompression streams hold right now.
    public static var allocatedBytes: Int { Int(wps_zlib_total_bytes()) }
}

/// The bound on decompression windows kept per connection. A client that keeps context
/// between its messages needs its own inflate window on the server (about 39 KiB at 15 bits)
/// for as long as it stays connected; this budget reserves that worst case when the
/// handshake is answered, so the sum stays under `limitBytes` however many clients connect.
/// Clients without context takeover share one inflater per loop and reserve nothing.
///
/// Reservations happen once per handshake, never per message, so one atomic shared by the
/// loops is fine here.
public final class DeflateMemoryBudget: Sendable {
    /// Most bytes of per-connection inflate windows reserved at once.
    public let limitBytes: Int
    private let reserved = Atomic<Int>(0)
    /// When the last "budget reached" report was allowed (seconds), for rate limiting.
    private let lastReport = Atomic<Int64>(Int64.min)

    public init(limitBytes: Int) {
        self.limitBytes = max(0, limitBytes)
    }

    /// Bytes reserved now.
    public var reservedBytes: Int { reserved.load(ordering: .relaxed) }

    /// Reserves `bytes`, or returns nil when that would pass the limit.
    public func reserve(_ bytes: Int) -> DeflateReservation? {
        var current = reserved.load(ordering: .relaxed)
        while true {
            guard current + bytes <= limitBytes else { return nil }
            let (exchanged, original) = reserved.compareExchange(
                expected: current, desired: current + bytes, ordering: .relaxed)
            if exchanged { return DeflateReservation(budget: self, bytes: bytes) }
            current = original
        }
    }

    /// True at most once per `interval` seconds: whether a refused reservation at `now`
    /// should be reported (logged), so a flood of clients does not flood the log.
    public func shouldReportRefusal(now: Int64, interval: Int64 = 60) -> Bool {
        let last = lastReport.load(ordering: .relaxed)
        guard last == Int64.min || now - last >= interval else { return false }
        return lastReport.compareExchange(expected: last, desired: now, ordering: .relaxed).exchanged
    }

    fileprivate func release(_ bytes: Int) {
        reserved.subtract(bytes, ordering: .relaxed)
    }
}

/// One connection's share of a `DeflateMemoryBudget`, given back when the last reference
/// goes: whichever way the connection ends (closed, moved between loops, dropped before
/// its session started), the bytes cannot leak.
public final class DeflateReservation: Sendable {
    public let bytes: Int
    private let budget: DeflateMemoryBudget

    fileprivate init(budget: DeflateMemoryBudget, bytes: Int) {
        self.budget = budget
        self.bytes = bytes
    }

    deinit { budget.release(bytes) }
}
