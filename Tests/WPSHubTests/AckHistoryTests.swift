import Testing

@testable import WPSHub

/// The history answers membership the same way whether it searches its list or, past
/// `scanLimit` ids, its set; the oldest id is forgotten first once it is full.
@Suite struct AckHistoryTests {
    @Test(arguments: [
        (AckHistory.scanLimit - 1, 4), (AckHistory.scanLimit, AckHistory.scanLimit),
        (AckHistory.scanLimit + 1, 4), (AckHistory.scanLimit + 1, 1000), (3 * AckHistory.scanLimit, 40),
    ])
    func remembersTheNewestIds(inserted: Int, capacity: Int) {
        var history = AckHistory(capacity: capacity)
        for id in 1...inserted {
            history.insert(UInt64(id))
            history.insert(UInt64(id))  // a repeat changes nothing
        }
        let kept = min(inserted, capacity)
        for id in 1...inserted {
            #expect(history.contains(UInt64(id)) == (id > inserted - kept), "id \(id)")
        }
        #expect(!history.contains(0))
        #expect(!history.contains(UInt64(inserted + 1)))
    }
}
