import Glibc
import Testing
import WPSBytes

@testable import WPSLoop

@Suite struct OutboundQueueTests {
    /// Reads the queue's regions back as one array, the way writev would see them.
    func contents(_ queue: OutboundQueue) -> [UInt8] {
        let iovecs = UnsafeMutablePointer<iovec>.allocate(capacity: 1024)
        defer { iovecs.deallocate() }
        let count = queue.gather(into: iovecs, max: 1024)
        var out: [UInt8] = []
        for index in 0..<count {
            out += UnsafeRawBufferPointer(start: iovecs[index].iov_base, count: iovecs[index].iov_len)
        }
        return out
    }

    @Test func smallWritesCoalesceIntoOneRegion() {
        var queue = OutboundQueue()
        for byte in 0..<10 as Range<UInt8> { ([byte] as [UInt8]).withUnsafeBytes { queue.append($0) } }
        let iovecs = UnsafeMutablePointer<iovec>.allocate(capacity: 8)
        defer { iovecs.deallocate() }
        #expect(queue.gather(into: iovecs, max: 8) == 1)
        #expect(contents(queue) == Array(0..<10))
        queue.removeAll()
    }

    @Test func sharedBytesAreReferencedInOrder() {
        var queue = OutboundQueue()
        let shared = SharedBytes([7, 8, 9])
        ([1, 2] as [UInt8]).withUnsafeBytes { queue.append($0) }
        queue.append(shared)
        ([3] as [UInt8]).withUnsafeBytes { queue.append($0) }
        queue.append(shared, range: 1..<3)
        #expect(contents(queue) == [1, 2, 7, 8, 9, 3, 8, 9])
        #expect(queue.byteCount == 8)
        queue.removeAll()
    }

    @Test(arguments: 0...8) func partialConsumeKeepsTheRest(_ written: Int) {
        var queue = OutboundQueue()
        let shared = SharedBytes([7, 8, 9])
        ([1, 2] as [UInt8]).withUnsafeBytes { queue.append($0) }
        queue.append(shared)
        ([3] as [UInt8]).withUnsafeBytes { queue.append($0) }
        queue.append(shared, range: 1..<3)
        let all: [UInt8] = [1, 2, 7, 8, 9, 3, 8, 9]
        queue.consume(written)
        #expect(contents(queue) == Array(all[written...]))
        #expect(queue.byteCount == all.count - written)
        // Appending after a partial write still lands at the end.
        ([4] as [UInt8]).withUnsafeBytes { queue.append($0) }
        #expect(contents(queue) == Array(all[written...]) + [4])
        queue.removeAll()
        #expect(queue.isEmpty)
    }

    /// Shared bytes big enough to be referenced rather than copied.
    func big(_ byte: UInt8) -> SharedBytes {
        SharedBytes(Array(repeating: byte, count: OutboundQueue.copyBelowBytes))
    }

    @Test func ownedWritesAroundSharedChunksShareOneBlock() {
        var queue = OutboundQueue()
        let shared = big(7)
        for _ in 0..<100 {
            ([1] as [UInt8]).withUnsafeBytes { queue.append($0) }
            queue.append(shared)
            ([2] as [UInt8]).withUnsafeBytes { queue.append($0) }
        }
        let iovecs = UnsafeMutablePointer<iovec>.allocate(capacity: 400)
        defer { iovecs.deallocate() }
        let count = queue.gather(into: iovecs, max: 400)
        #expect(count == 201)
        // Every owned region lies in the same block; every shared one is the shared bytes.
        let owned = (0..<count).filter { iovecs[$0].iov_len != shared.count }.map { iovecs[$0].iov_base! }
        let span = owned.map { UInt(bitPattern: $0) }
        #expect(span.max()! - span.min()! < UInt(OutboundQueue.ownedBlockBytes))
        let referenced = (0..<count).filter { iovecs[$0].iov_len == shared.count }
        #expect(referenced.count == 100)
        #expect(referenced.allSatisfy { UnsafeRawPointer(iovecs[$0].iov_base!) == shared.pointer.baseAddress })
        let total = 100 * (2 + shared.count)
        #expect(contents(queue).count == total)
        queue.consume(total)
        #expect(queue.isEmpty)
    }

    @Test func smallSharedFramesAreCopiedAndMerged() {
        var queue = OutboundQueue()
        let shared = SharedBytes(Array(repeating: 5, count: OutboundQueue.copyBelowBytes - 1))
        var expected: [UInt8] = []
        for index in 0..<3 as Range<UInt8> {
            ([index] as [UInt8]).withUnsafeBytes { head in
                ([9, index] as [UInt8]).withUnsafeBytes { tail in
                    queue.appendFrame(head: head, shared, range: 0..<shared.count, tail: tail)
                }
            }
            expected += [index] + shared.array + [9, index]
        }
        queue.append(shared, range: 1..<3)
        expected += [5, 5]
        let iovecs = UnsafeMutablePointer<iovec>.allocate(capacity: 16)
        defer { iovecs.deallocate() }
        // Three frames of about 1 KiB fit one 4 KiB block; whatever did not fit starts a second.
        let count = queue.gather(into: iovecs, max: 16)
        #expect(count <= 2)
        #expect(contents(queue) == expected)
        #expect(queue.byteCount == expected.count)
        for region in 0..<count {
            let base = UnsafeRawPointer(iovecs[region].iov_base!)
            let inShared = shared.pointer.baseAddress!
            #expect(base < inShared || base >= inShared + shared.count)
        }
        queue.removeAll()
    }

    @Test func bigSharedFramesAreReferenced() {
        var queue = OutboundQueue()
        let shared = big(4)
        ([1, 1] as [UInt8]).withUnsafeBytes { head in
            ([3] as [UInt8]).withUnsafeBytes { tail in
                queue.appendFrame(head: head, shared, range: 0..<shared.count, tail: tail)
            }
        }
        let iovecs = UnsafeMutablePointer<iovec>.allocate(capacity: 8)
        defer { iovecs.deallocate() }
        #expect(queue.gather(into: iovecs, max: 8) == 3)
        #expect(UnsafeRawPointer(iovecs[1].iov_base!) == shared.pointer.baseAddress)
        #expect(contents(queue) == [1, 1] + shared.array + [3])
        queue.removeAll()
    }

    @Test func urgentFramesWaitOnlyForTheFrameInFlight() {
        var queue = OutboundQueue()
        let frameA = big(1)
        ([9] as [UInt8]).withUnsafeBytes { queue.append($0, endsFrame: false) }  // A's header
        queue.append(frameA, endsFrame: true)
        ([2, 2] as [UInt8]).withUnsafeBytes { queue.append($0) }  // frame B
        queue.consume(2)  // A is half written
        let empty = UnsafeRawBufferPointer(start: nil, count: 0)
        ([7] as [UInt8]).withUnsafeBytes { queue.appendUrgent($0, empty) }
        ([8] as [UInt8]).withUnsafeBytes { queue.appendUrgent($0, empty) }
        #expect(contents(queue) == Array(repeating: 1, count: frameA.count - 1) + [7, 8, 2, 2])
        queue.consume(frameA.count - 1 + 4)
        #expect(queue.isEmpty)
    }

    @Test func drainedBlocksGoBackToThePoolAndAreReused() {
        let pool = OutboundQueue.BlockPool(limit: 1)
        var first = OutboundQueue(pool: pool)
        var second = OutboundQueue(pool: pool)
        ([1, 2, 3] as [UInt8]).withUnsafeBytes { first.append($0) }
        ([4] as [UInt8]).withUnsafeBytes { second.append($0) }
        let iovec1 = UnsafeMutablePointer<iovec>.allocate(capacity: 2)
        defer { iovec1.deallocate() }
        _ = first.gather(into: iovec1, max: 2)
        let firstBlock = iovec1[0].iov_base
        first.consume(3)
        second.consume(1)
        #expect(pool.count == 1)  // the limit: the second block was freed
        ([5, 6] as [UInt8]).withUnsafeBytes { second.append($0) }
        #expect(pool.count == 0)
        _ = second.gather(into: iovec1, max: 2)
        #expect(iovec1[0].iov_base == firstBlock)
        #expect(contents(second) == [5, 6])
        // A block still referenced by queued bytes is never pooled.
        second.consume(1)
        #expect(pool.count == 0)
        second.consume(1)
        #expect(pool.count == 1)
        // Oversized blocks are not pooled.
        var third = OutboundQueue(pool: pool)
        Array(repeating: UInt8(9), count: OutboundQueue.ownedBlockBytes + 1).withUnsafeBytes { third.append($0) }
        #expect(pool.count == 1)
        third.consume(OutboundQueue.ownedBlockBytes + 1)
        #expect(pool.count == 1)
    }

    @Test func urgentFramesNeverSplitCopiedFrames() {
        var queue = OutboundQueue()
        let frameA = SharedBytes([1, 1, 1])
        ([9] as [UInt8]).withUnsafeBytes { queue.append($0, endsFrame: false) }
        queue.append(frameA, endsFrame: true)  // copied: merges with its header
        ([2, 2] as [UInt8]).withUnsafeBytes { queue.append($0) }  // frame B, merged too
        queue.consume(2)
        let empty = UnsafeRawBufferPointer(start: nil, count: 0)
        ([7] as [UInt8]).withUnsafeBytes { queue.appendUrgent($0, empty) }
        // Merged frames are one region: the urgent frame goes after all of it, never inside.
        #expect(contents(queue) == [1, 1, 2, 2, 7])
        queue.consume(5)
        #expect(queue.isEmpty)
    }

    @Test func urgentFramesGoFirstAtABoundary() {
        var queue = OutboundQueue()
        ([2, 2] as [UInt8]).withUnsafeBytes { queue.append($0) }
        ([3] as [UInt8]).withUnsafeBytes { queue.append($0) }
        ([5] as [UInt8]).withUnsafeBytes { head in
            ([6, 6] as [UInt8]).withUnsafeBytes { queue.appendUrgent(head, $0) }
        }
        #expect(contents(queue) == [5, 6, 6, 2, 2, 3])
        #expect(queue.byteCount == 6)
        // Ordinary bytes appended later still go last, not into the urgent chunk.
        ([4] as [UInt8]).withUnsafeBytes { queue.append($0) }
        #expect(contents(queue) == [5, 6, 6, 2, 2, 3, 4])
        queue.removeAll()
    }

    @Test func largeWriteGetsItsOwnChunk() {
        var queue = OutboundQueue()
        let big = [UInt8](repeating: 5, count: OutboundQueue.ownedBlockBytes * 2 + 3)
        big.withUnsafeBytes { queue.append($0) }
        #expect(contents(queue) == big)
        queue.consume(big.count)
        #expect(queue.isEmpty)
    }

    @Test func adjacentBorrowedFramesMergeAndOthersDoNot() {
        var queue = OutboundQueue()
        let arena = UnsafeMutableRawBufferPointer.allocate(byteCount: 16, alignment: 8)
        defer { arena.deallocate() }
        for index in 0..<16 { arena[index] = UInt8(index) }
        let base = UnsafeRawPointer(arena.baseAddress!)
        let first = queue.appendBorrowed(base, count: 3)
        let adjacent = queue.appendBorrowed(base + 3, count: 2)
        let apart = queue.appendBorrowed(base + 8, count: 2)
        #expect(first)  // the first borrowed chunk: register for settling
        #expect(!adjacent)  // merged into the first
        #expect(!apart)  // a gap: a chunk of its own
        let iovecs = UnsafeMutablePointer<iovec>.allocate(capacity: 8)
        defer { iovecs.deallocate() }
        #expect(queue.gather(into: iovecs, max: 8) == 2)
        #expect(contents(queue) == [0, 1, 2, 3, 4, 8, 9])
        #expect(queue.byteCount == 7)
        queue.consume(7)
        #expect(queue.isEmpty && !queue.hasBorrowed)
        // Drained, so the next borrowed chunk registers again.
        let again = queue.appendBorrowed(base, count: 1)
        #expect(again)
        queue.removeAll()
    }

    @Test(arguments: [0, 1, 2, 4, 6, 9]) func settlingCopiesWhatIsLeftOfBorrowedBytes(_ written: Int) {
        let pool = OutboundQueue.BlockPool()
        var queue = OutboundQueue(pool: pool)
        let arena = UnsafeMutableRawBufferPointer.allocate(byteCount: 8, alignment: 8)
        defer { arena.deallocate() }
        for index in 0..<8 { arena[index] = 20 + UInt8(index) }
        let base = UnsafeRawPointer(arena.baseAddress!)
        ([1, 2] as [UInt8]).withUnsafeBytes { queue.append($0) }
        _ = queue.appendBorrowed(base, count: 4)
        ([3] as [UInt8]).withUnsafeBytes { queue.append($0) }
        _ = queue.appendBorrowed(base + 4, count: 3)
        let all: [UInt8] = [1, 2, 20, 21, 22, 23, 3, 24, 25, 26]
        queue.consume(written)
        queue.settleBorrowed()
        #expect(!queue.hasBorrowed)
        // The turn's arena is reused for something else: the queue must not notice.
        for index in 0..<8 { arena[index] = 0xEE }
        #expect(contents(queue) == Array(all[written...]))
        // Owned bytes appended after settling still go last.
        ([4] as [UInt8]).withUnsafeBytes { queue.append($0) }
        #expect(contents(queue) == Array(all[written...]) + [4])
        queue.consume(all.count - written + 1)
        #expect(queue.isEmpty)
    }

    @Test func urgentFramesGoBetweenBorrowedFramesAndLaterOnesDoNotMergeAcross() {
        var queue = OutboundQueue()
        let arena = UnsafeMutableRawBufferPointer.allocate(byteCount: 8, alignment: 8)
        defer { arena.deallocate() }
        for index in 0..<8 { arena[index] = 10 + UInt8(index) }
        let base = UnsafeRawPointer(arena.baseAddress!)
        _ = queue.appendBorrowed(base, count: 2)
        queue.consume(1)  // the first borrowed frame is half written
        let empty = UnsafeRawBufferPointer(start: nil, count: 0)
        ([7] as [UInt8]).withUnsafeBytes { queue.appendUrgent($0, empty) }
        _ = queue.appendBorrowed(base + 2, count: 2)  // adjacent in the arena, but after the urgent frame
        #expect(contents(queue) == [11, 7, 12, 13])
        queue.settleBorrowed()
        for index in 0..<8 { arena[index] = 0 }
        #expect(contents(queue) == [11, 7, 12, 13])
        queue.consume(4)
        #expect(queue.isEmpty)
    }

    /// An urgent frame borrowed into an idle queue closes the urgent region: the next urgent
    /// frame queues after it, and a later borrowed frame, though adjacent in the arena,
    /// neither merges into it nor goes ahead of the second urgent one.
    @Test func anUrgentBorrowedFrameKeepsItsPlaceAmongUrgentOnes() {
        var queue = OutboundQueue()
        let arena = UnsafeMutableRawBufferPointer.allocate(byteCount: 8, alignment: 8)
        defer { arena.deallocate() }
        for index in 0..<8 { arena[index] = 10 + UInt8(index) }
        let base = UnsafeRawPointer(arena.baseAddress!)
        #expect(queue.isIdle)
        let registers = queue.appendBorrowed(base, count: 2, urgent: true)
        #expect(registers)
        _ = queue.appendBorrowed(base + 2, count: 2, urgent: false)
        let empty = UnsafeRawBufferPointer(start: nil, count: 0)
        ([7] as [UInt8]).withUnsafeBytes { queue.appendUrgent($0, empty) }
        #expect(contents(queue) == [10, 11, 7, 12, 13])
        queue.consume(5)
        #expect(queue.isEmpty && queue.isIdle)
    }

    /// Drained in the middle of a frame (its header written, its payload not yet queued),
    /// the queue is empty but not idle.
    @Test func aHalfWrittenFrameIsNotIdle() {
        var queue = OutboundQueue()
        ([1, 2] as [UInt8]).withUnsafeBytes { queue.append($0, endsFrame: false) }
        queue.consume(2)
        #expect(queue.isEmpty && !queue.isIdle)
        ([3] as [UInt8]).withUnsafeBytes { queue.append($0, endsFrame: true) }
        queue.consume(1)
        #expect(queue.isIdle)
    }

    @Test func blocksLeftBehindByTheTailGoBackToThePool() {
        let pool = OutboundQueue.BlockPool()
        var queue = OutboundQueue(pool: pool)
        // Three frames, each most of a block: every one starts a block of its own.
        let frame = [UInt8](repeating: 6, count: OutboundQueue.ownedBlockBytes - 100)
        for _ in 0..<3 { frame.withUnsafeBytes { queue.append($0) } }
        #expect(pool.count == 0)
        queue.consume(frame.count)
        #expect(pool.count == 1)  // the first block is behind the queue and nothing points into it
        queue.consume(frame.count)
        #expect(pool.count == 2)
        queue.consume(frame.count)  // drained: the tail block goes back too
        #expect(pool.count == 3)
        #expect(queue.isEmpty)
    }
}

@Suite struct TimerWheelTests {
    @Test func firesAtOrAfterTheDeadlineNeverBefore() {
        let start: UInt64 = 10_000_000_000
        var wheel = TimerWheel(now: start)
        wheel.schedule(slot: 1, generation: 1, deadline: start + 250_000_000, now: start)
        wheel.schedule(slot: 2, generation: 1, deadline: start + 1_000_000_000, now: start)
        var fired: [TimerWheel.Entry] = []
        wheel.advance(to: start + 200_000_000, into: &fired)
        #expect(fired.isEmpty)
        wheel.advance(to: start + 300_000_000, into: &fired)
        #expect(fired.map(\.slot) == [1])
        wheel.advance(to: start + 1_000_000_000, into: &fired)
        #expect(fired.map(\.slot) == [1, 2])
        #expect(wheel.entryCount == 0)
        #expect(wheel.timeoutMillis(now: start) == -1)
    }

    @Test func farDeadlinesFireEarlyForRescheduling() {
        let start: UInt64 = 0
        var wheel = TimerWheel(now: start)
        let far = start + 500 * 1_000_000_000  // beyond one revolution
        wheel.schedule(slot: 3, generation: 9, deadline: far, now: start)
        var fired: [TimerWheel.Entry] = []
        wheel.advance(to: start + 200 * 1_000_000_000, into: &fired)
        #expect(fired.count == 1)
        #expect(fired.first?.generation == 9)
    }
}

@Suite struct TurnArenaTests {
    /// A busy turn's blocks are kept for the next turn; quiet turns give back half each.
    @Test func keepsWhatABusyTurnUsedAndHalvesWhenQuiet() {
        let arena = TurnArena()
        let frame = UnsafeMutableRawBufferPointer.allocate(byteCount: TurnArena.largestStaged, alignment: 8)
        defer { frame.deallocate() }
        // 40 blocks' worth: four largest frames fill one block.
        for _ in 0..<160 { _ = arena.reserve(TurnArena.largestStaged) }
        #expect(arena.blockCount == 40)
        arena.reset()
        #expect(arena.blockCount == 40)
        // The next busy turn reuses them without allocating more.
        for _ in 0..<160 { _ = arena.reserve(TurnArena.largestStaged) }
        #expect(arena.blockCount == 40)
        arena.reset()
        var counts: [Int] = []
        for _ in 0..<6 {
            _ = arena.reserve(1)
            arena.reset()
            counts.append(arena.blockCount)
        }
        #expect(counts == [20, 10, 5, 2, 2, 2])
        // Nothing larger than a block is handed out.
        #expect(arena.reserve(TurnArena.blockBytes + 1) == nil)
    }
}
