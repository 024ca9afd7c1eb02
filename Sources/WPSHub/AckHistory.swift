/// The ackIds that succeeded on one logical connection, oldest forgotten first, so a retried
/// request is answered `Duplicate` instead of running twice (protocol-spec/reliability.md).
struct AckHistory {
    private var members: Set<UInt64> = []
    private var order: [UInt64] = []
    private var oldest = 0
    let capacity: Int

    init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    func contains(_ ackId: UInt64) -> Bool { members.contains(ackId) }

    mutating func insert(_ ackId: UInt64) {
        guard members.insert(ackId).inserted else { return }
        if order.count < capacity {
            order.append(ackId)
        } else {
            members.remove(order[oldest])
            order[oldest] = ackId
            oldest = (oldest + 1) % capacity
        }
    }
}
