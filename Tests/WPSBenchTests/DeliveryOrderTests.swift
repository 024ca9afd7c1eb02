import Testing

@testable import wps_bench

@Suite struct DeliveryOrderTests {
    func verdicts(_ sequence: [(Int, UInt64)]) -> (DeliveryOrder, [DeliveryOrder.Verdict]) {
        var order = DeliveryOrder()
        let verdicts = sequence.map { order.see(publisher: $0.0, sequence: $0.1) }
        return (order, verdicts)
    }

    @Test func inOrderPerPublisher() {
        let (order, verdicts) = verdicts([(0, 1), (1, 1), (0, 2), (1, 2), (0, 3)])
        #expect(verdicts.allSatisfy { $0 == .inOrder })
        #expect(order.unique == 5)
    }

    @Test func repeatIsADuplicate() {
        let (order, verdicts) = verdicts([(0, 1), (0, 2), (0, 2)])
        #expect(verdicts == [.inOrder, .inOrder, .duplicate])
        #expect(order.unique == 2)
    }

    @Test func gapThenLateArrivalCountsBothAsLateButKeepsUniqueCount() {
        let (order, verdicts) = verdicts([(0, 1), (0, 3), (0, 2), (0, 2)])
        #expect(verdicts == [.inOrder, .late, .late, .duplicate])
        #expect(order.unique == 3)
    }

    @Test func aLostMessageLeavesUniqueShort() {
        let (order, _) = verdicts([(0, 1), (0, 2), (0, 4)])
        #expect(order.unique == 3)
    }
}
