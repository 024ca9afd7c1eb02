/// The ackIds that succeeded on one logical connection, oldest forgotten first, so a retried
/// request is answered `Duplicate` instead of running twice (protocol-spec/reliability.md).
///
/// Most connections only ever send a few acked requests, so the ids are searched in their
/// list until it grows past `scanLimit`; only then is a set built for lookups.
struct AckHistory {
    static let scanLimit = 16
    private var members: Set<UInt64>?
    private var order: [UInt64] = []
    private var oldest = 0
    let capacity: Int

    init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    func contains(_ ackId: UInt64) -> Bool {
        if let members { return members.contains(ackId) }
        return order.contains(ackId)
    }

    /// The remembered ids, oldest first.
    var ids: [UInt64] {
        order.count < capacity ? order : Array(order[oldest...] + order[..<oldest])
    }

    mutating func insert(_ ackId: UInt64) {
        guard !contains(ackId) else { return }
        if order.count < capacity {
            if order.isEmpty { order.reserveCapacity(min(capacity, 4)) }
            order.append(ackId)
        } else {
            members?.remove(order[oldest])
            order[oldest] = ackId
            oldest = (oldest + 1) % capacity
        }
        if members != nil {
            members!.insert(ackId)
        } else if order.count > Self.scanLimit {
            members = Set(order)
        }
    }
}
