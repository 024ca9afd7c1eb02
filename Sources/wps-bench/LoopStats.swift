import Histogram

/// Delivery bookkeeping of one loop thread: only that thread touches it, and the harness
/// copies it out as a `StatsSnapshot` at the end of a run.
final class LoopStats {
    /// End-to-end latency of every delivery, in nanoseconds.
    var latency = Histogram<UInt64>(
        lowestDiscernibleValue: 1_000, highestTrackableValue: 120_000_000_000, numberOfSignificantValueDigits: .three)
    /// Data messages received (duplicates included).
    var delivered = 0
    var duplicates = 0
    var outOfOrder = 0
    /// Deliveries not yet published to the shared counter.
    var unreported = 0
    /// Socket failures, by reason (the first few are kept).
    var failures: [String: Int] = [:]
    /// Messages published from this loop (chat members, publishers).
    var published = 0
    /// Sends the server acked with success false.
    var failedAcks = 0

    /// Records one delivery seen at `now` with the stamp it carried.
    func record(_ stamp: BenchPayload.Stamp, now: UInt64, order: inout DeliveryOrder) {
        delivered &+= 1
        unreported &+= 1
        _ = latency.record(now > stamp.sentNanos ? now &- stamp.sentNanos : 0)
        switch order.see(publisher: stamp.publisher, sequence: stamp.sequence) {
        case .inOrder: break
        case .duplicate: duplicates &+= 1
        case .late: outOfOrder &+= 1
        }
    }

    func recordFailure(_ reason: String) {
        failures[reason, default: 0] += 1
    }

    /// A copy for the harness, with losses computed against what each subscriber expected.
    func snapshot(lost: Int, subscribers: Int, inflated: Int = 0) -> StatsSnapshot {
        StatsSnapshot(
            latency: latency, delivered: delivered, duplicates: duplicates, outOfOrder: outOfOrder, lost: lost,
            failures: failures, published: published, failedAcks: failedAcks, subscribers: subscribers,
            inflated: inflated)
    }
}

/// What one loop reports at the end of a run.
struct StatsSnapshot: Sendable {
    var latency: Histogram<UInt64>
    var delivered: Int
    var duplicates: Int
    var outOfOrder: Int
    var lost: Int
    var failures: [String: Int]
    var published: Int
    var failedAcks: Int
    var subscribers: Int
    /// Messages subscribers received compressed (permessage-deflate) and inflated.
    var inflated = 0

    static var empty: StatsSnapshot {
        StatsSnapshot(
            latency: Histogram<UInt64>(
                lowestDiscernibleValue: 1_000, highestTrackableValue: 120_000_000_000,
                numberOfSignificantValueDigits: .three),
            delivered: 0, duplicates: 0, outOfOrder: 0, lost: 0, failures: [:], published: 0, failedAcks: 0,
            subscribers: 0)
    }

    /// Adds another loop's numbers to these.
    mutating func merge(_ other: StatsSnapshot) {
        latency.add(other.latency)
        delivered += other.delivered
        duplicates += other.duplicates
        outOfOrder += other.outOfOrder
        lost += other.lost
        failures.merge(other.failures, uniquingKeysWith: +)
        published += other.published
        failedAcks += other.failedAcks
        subscribers += other.subscribers
        inflated += other.inflated
    }
}

/// Per-subscriber order tracking: the highest sequence seen from each publisher slot, how
/// many distinct messages arrived, and gaps still open (a late arrival fills one).
struct DeliveryOrder {
    enum Verdict { case inOrder, duplicate, late }

    private var highest: [UInt64] = []
    private var openGaps: [UInt64] = []
    /// Distinct messages received from all publishers.
    private(set) var unique = 0

    mutating func see(publisher: Int, sequence: UInt64) -> Verdict {
        if publisher >= highest.count {
            highest.append(contentsOf: repeatElement(0, count: publisher + 1 - highest.count))
            openGaps.append(contentsOf: repeatElement(0, count: publisher + 1 - openGaps.count))
        }
        let last = highest[publisher]
        if sequence == last &+ 1 {
            highest[publisher] = sequence
            unique += 1
            return .inOrder
        }
        if sequence > last {
            openGaps[publisher] &+= sequence &- last &- 1
            highest[publisher] = sequence
            unique += 1
            return .late
        }
        if openGaps[publisher] > 0 {
            // Could be a duplicate of an earlier one too; without a bitmap, count it as late.
            openGaps[publisher] &-= 1
            unique += 1
            return .late
        }
        return .duplicate
    }
}
