import Testing
import WPSDeflate

@Suite struct MemoryBudgetTests {
    static let window = DeflateConfiguration.inflateStreamBytes(windowBits: 15)

    @Test(arguments: [(2 * window - 1, 1), (2 * window, 2), (2 * window + 1, 2)])
    func reservationsStopAtTheLimit(limit: Int, granted: Int) {
        let budget = DeflateMemoryBudget(limitBytes: limit)
        var held: [DeflateReservation] = []
        for _ in 0..<3 {
            if let reservation = budget.reserve(Self.window) { held.append(reservation) }
        }
        #expect(held.count == granted)
        #expect(budget.reservedBytes == granted * Self.window)
        #expect(budget.reservedBytes <= limit)
    }

    @Test func droppingAReservationGivesItsBytesBack() {
        let budget = DeflateMemoryBudget(limitBytes: Self.window)
        var first = budget.reserve(Self.window)
        #expect(first != nil)
        #expect(budget.reserve(1) == nil)
        first = nil
        #expect(budget.reservedBytes == 0)
        #expect(budget.reserve(Self.window) != nil)  // released again at once: a temporary
        #expect(budget.reservedBytes == 0)
    }

    @Test func aZeroBudgetGrantsNothingButZero() {
        let budget = DeflateMemoryBudget(limitBytes: 0)
        #expect(budget.reserve(1) == nil)
        #expect(budget.reserve(0) != nil)
    }

    @Test func refusalsAreReportedAtMostOncePerInterval() {
        let budget = DeflateMemoryBudget(limitBytes: 0)
        #expect(budget.shouldReportRefusal(now: 1000, interval: 60))
        #expect(!budget.shouldReportRefusal(now: 1000, interval: 60))
        #expect(!budget.shouldReportRefusal(now: 1059, interval: 60))
        #expect(budget.shouldReportRefusal(now: 1060, interval: 60))
        #expect(!budget.shouldReportRefusal(now: 1061, interval: 60))
    }

    @Test func processTotalCountsLiveStreams() throws {
        let deflater = try MessageDeflater(windowBits: 15, noContextTakeover: false)
        let inflater = try MessageInflater(windowBits: 15, noContextTakeover: false)
        let message = Array(repeating: UInt8(ascii: "a"), count: 4096)
        let compressed = try #require(deflater.deflate(message))
        #expect(inflater.inflate(compressed) == message)
        // Other tests run alongside, so only a lower bound holds here.
        #expect(deflater.allocatedBytes > 0 && inflater.allocatedBytes > 0)
        #expect(ZlibMemory.allocatedBytes >= deflater.allocatedBytes + inflater.allocatedBytes)
    }
}
