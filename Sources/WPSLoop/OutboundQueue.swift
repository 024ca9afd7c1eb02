import Glibc
import WPSBytes

/// Bytes waiting to be written to one socket, in order.
///
/// Small writes (frame headers, acks, pongs, and shared frames under `copyBelowBytes`) are
/// copied into one owned block per turn, even when referenced chunks sit between them, so a
/// burst costs one allocation however it interleaves. Larger shared bytes (an encoded
/// broadcast) are referenced, never copied. Copying a small frame is cheaper than the two
/// atomic reference-count updates and the chunk a reference costs, and consecutive copies
/// merge into one chunk, so a burst of small deliveries is one iovec.
///
/// A whole broadcast frame can instead be *borrowed*: the chunk points into the loop's turn
/// arena and owns nothing. Consecutive broadcasts sit side by side there, so a recipient's
/// borrowed chunks merge too, and a delivery costs neither a copy nor a reference count.
/// Borrowed bytes live only until the end of the turn: whatever the kernel has not taken
/// by then is copied into owned blocks (`settleBorrowed`).
struct OutboundQueue {
    final class OwnedBlock {
        let base: UnsafeMutableRawPointer
        let capacity: Int
        var used = 0

        init(capacity: Int) {
            base = .allocate(byteCount: capacity, alignment: 8)
            self.capacity = capacity
        }

        deinit { base.deallocate() }
    }

    enum Owner {
        case none
        case owned(OwnedBlock)
        case shared(SharedBytes)
        /// Points into the loop's turn arena; valid until the turn ends.
        case borrowed
    }

    struct Chunk {
        var owner: Owner
        var start: UnsafeRawPointer
        var count: Int
        /// The last bytes of a WebSocket frame (or of a response): urgent bytes may follow.
        var endsFrame = true
    }

    /// Free blocks of one loop, so a connection that drains every turn does not allocate
    /// and free a block every turn.
    final class BlockPool {
        private var free: [OwnedBlock] = []
        /// Most blocks kept (8 MiB per loop at most): a busy turn queues several blocks per
        /// connection, so a smaller pool still left malloc and free in the profile.
        let limit: Int

        init(limit: Int = 2048) {
            self.limit = limit
            free.reserveCapacity(limit)
        }

        var count: Int { free.count }

        func take() -> OwnedBlock? { free.popLast() }

        func give(_ block: OwnedBlock) {
            guard free.count < limit else { return }
            block.used = 0
            free.append(block)
        }
    }

    /// Where drained blocks go and new ones come from; nil: plain allocation.
    private unowned(unsafe) let pool: BlockPool?

    init(pool: BlockPool? = nil) {
        self.pool = pool
    }

    private var chunks: [Chunk] = []
    private var head = 0
    /// The block small writes are copied into; its fields are mirrored below so the copy
    /// path needs no reference to it.
    private var tail: OwnedBlock?
    private var tailBase: UnsafeMutableRawPointer?
    private var tailUsed = 0
    private var tailCapacity = 0
    /// The last chunk is owned and ends where the next copy into `tail` goes.
    private var tailIsLastChunk = false
    /// Some of the frame at `head` has been written: urgent bytes must wait for its end.
    private var frameStarted = false
    /// Where the next urgent chunk goes so urgent chunks keep their own order.
    private var urgentEnd = 0
    /// Bytes queued and not yet accepted by the kernel.
    private(set) var byteCount = 0
    /// Some chunk may still point into the turn arena.
    private(set) var hasBorrowed = false

    static let ownedBlockBytes = 4096
    /// Shared bytes shorter than this are copied rather than referenced.
    static let copyBelowBytes = 1024

    var isEmpty: Bool { byteCount == 0 }
    /// Nothing queued and no frame half written: a new frame can neither overtake nor split
    /// anything, so it may be queued in whichever way is cheapest.
    var isIdle: Bool { byteCount == 0 && !frameStarted }

    mutating func append(_ bytes: UnsafeRawBufferPointer, endsFrame: Bool = true) {
        guard bytes.count > 0 else { return }
        copyOwned(bytes, Self.empty, Self.empty, endsFrame: endsFrame)
    }

    /// Queues one frame in three parts: `head` (copied), `shared[range]` (copied when small,
    /// referenced otherwise) and `tail` (copied).
    mutating func appendFrame(
        head: UnsafeRawBufferPointer, _ shared: SharedBytes, range: Range<Int>, tail: UnsafeRawBufferPointer
    ) {
        guard let base = shared.pointer.baseAddress else {
            append(head, endsFrame: false)
            append(tail, endsFrame: true)
            return
        }
        let middle = UnsafeRawBufferPointer(start: base + range.lowerBound, count: range.count)
        if range.count < Self.copyBelowBytes {
            copyOwned(head, middle, tail, endsFrame: true)
            return
        }
        append(head, endsFrame: false)
        byteCount += range.count
        chunks.append(
            Chunk(owner: .shared(shared), start: middle.baseAddress!, count: range.count, endsFrame: tail.isEmpty))
        tailIsLastChunk = false
        append(tail, endsFrame: true)
    }

    /// Queues a whole frame that lives in the turn arena, without copying it; merges with the
    /// previous chunk when that one ends where this one starts. Returns true when this is
    /// the queue's first borrowed chunk since it last settled, so the caller can register it
    /// for `settleBorrowed` at the end of the turn.
    mutating func appendBorrowed(_ start: UnsafeRawPointer, count: Int) -> Bool {
        byteCount += count
        if hasBorrowed, chunks.count - 1 >= urgentEnd, chunks.count > head {
            let last = chunks.count - 1
            if case .borrowed = chunks[last].owner, chunks[last].start + chunks[last].count == start {
                chunks[last].count += count
                return false
            }
        }
        chunks.append(Chunk(owner: .borrowed, start: start, count: count))
        tailIsLastChunk = false
        defer { hasBorrowed = true }
        return !hasBorrowed
    }

    /// `appendBorrowed` for a frame queued while the queue is idle; an urgent one also closes
    /// the urgent region behind it, so a later urgent frame still queues after it.
    mutating func appendBorrowed(_ start: UnsafeRawPointer, count: Int, urgent: Bool) -> Bool {
        let first = appendBorrowed(start, count: count)
        if urgent { urgentEnd = chunks.count }
        return first
    }

    /// Copies every borrowed chunk still queued into owned blocks, before the turn arena is
    /// reused. Only sockets the kernel did not drain this turn have any left.
    mutating func settleBorrowed() {
        guard hasBorrowed else { return }
        hasBorrowed = false
        var index = head
        while index < chunks.count {
            if case .borrowed = chunks[index].owner {
                let count = chunks[index].count
                if tailCapacity - tailUsed < count { startBlock(minimum: count) }
                let destination = tailBase! + tailUsed
                destination.copyMemory(from: chunks[index].start, byteCount: count)
                tailUsed += count
                chunks[index].owner = .owned(tail!)
                chunks[index].start = UnsafeRawPointer(destination)
            }
            index += 1
        }
        // The last chunk may no longer end where the next copy goes.
        tailIsLastChunk = false
    }

    private static var empty: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: nil, count: 0) }

    /// Copies the parts contiguously into the tail block and extends the last chunk when it
    /// ends there; a new block or a new chunk only when it must. The block is reached
    /// through plain pointers, so the common case touches no reference count.
    private mutating func copyOwned(
        _ first: UnsafeRawBufferPointer, _ second: UnsafeRawBufferPointer, _ third: UnsafeRawBufferPointer,
        endsFrame: Bool
    ) {
        let total = first.count + second.count + third.count
        let destination = copyIntoTail(first, second, third)
        recordOwned(destination, total, endsFrame: endsFrame)
    }

    /// Queues `count` bytes that `write` puts straight into the tail block.
    mutating func appendWritten(_ count: Int, _ write: (UnsafeMutableRawPointer) -> Void) {
        byteCount += count
        if tailCapacity - tailUsed < count { startBlock(minimum: count) }
        let destination = tailBase! + tailUsed
        write(destination)
        tailUsed += count
        recordOwned(destination, count, endsFrame: true)
    }

    /// Extends the last chunk over bytes just placed at `destination` in the tail block, or
    /// starts a chunk for them.
    private mutating func recordOwned(_ destination: UnsafeMutableRawPointer, _ total: Int, endsFrame: Bool) {
        if tailIsLastChunk, chunks.count - 1 >= urgentEnd {
            chunks[chunks.count - 1].count += total
            chunks[chunks.count - 1].endsFrame = endsFrame
        } else {
            chunks.append(
                Chunk(owner: .owned(tail!), start: UnsafeRawPointer(destination), count: total, endsFrame: endsFrame))
            tailIsLastChunk = true
        }
    }

    /// Copies the parts one after another into the tail block (a new one when they do not
    /// fit) and counts them as queued; returns where they start.
    private mutating func copyIntoTail(
        _ first: UnsafeRawBufferPointer, _ second: UnsafeRawBufferPointer,
        _ third: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0)
    ) -> UnsafeMutableRawPointer {
        let total = first.count + second.count + third.count
        byteCount += total
        if tailCapacity - tailUsed < total { startBlock(minimum: total) }
        let destination = tailBase! + tailUsed
        if let source = first.baseAddress { destination.copyMemory(from: source, byteCount: first.count) }
        if let source = second.baseAddress {
            (destination + first.count).copyMemory(from: source, byteCount: second.count)
        }
        if let source = third.baseAddress {
            (destination + first.count + second.count).copyMemory(from: source, byteCount: third.count)
        }
        tailUsed += total
        return destination
    }

    private mutating func startBlock(minimum: Int) {
        let block: OwnedBlock
        if minimum <= Self.ownedBlockBytes, let pooled = pool?.take() {
            block = pooled
        } else {
            block = OwnedBlock(capacity: max(Self.ownedBlockBytes, minimum))
        }
        tail = block
        tailBase = block.base
        tailUsed = 0
        tailCapacity = block.capacity
        tailIsLastChunk = false
    }

    mutating func append(_ shared: SharedBytes, range: Range<Int>? = nil, endsFrame: Bool = true) {
        let range = range ?? 0..<shared.count
        guard !range.isEmpty, let base = shared.pointer.baseAddress else { return }
        if range.count < Self.copyBelowBytes {
            append(UnsafeRawBufferPointer(start: base + range.lowerBound, count: range.count), endsFrame: endsFrame)
            return
        }
        byteCount += range.count
        chunks.append(
            Chunk(owner: .shared(shared), start: base + range.lowerBound, count: range.count, endsFrame: endsFrame))
        tailIsLastChunk = false
    }

    /// Queues one whole frame (`first` then `second`, copied together) ahead of queued data, at
    /// the first frame boundary: acks and pongs are never stuck behind a backlog.
    mutating func appendUrgent(_ first: UnsafeRawBufferPointer, _ second: UnsafeRawBufferPointer) {
        let total = first.count + second.count
        guard total > 0 else { return }
        let destination = copyIntoTail(first, second)
        let block = tail!
        var index = max(head, urgentEnd)
        if index == head, frameStarted {
            // Let the frame in flight finish first.
            while index < chunks.count, !chunks[index].endsFrame { index += 1 }
            index = min(index + 1, chunks.count)
        }
        chunks.insert(Chunk(owner: .owned(block), start: UnsafeRawPointer(destination), count: total), at: index)
        urgentEnd = index + 1
        // Later copies must not extend a chunk that now sits before the urgent one.
        tailIsLastChunk = false
    }

    /// Fills `iovecs` with the queued regions in order; returns how many were filled.
    func gather(into iovecs: UnsafeMutablePointer<iovec>, max: Int) -> Int {
        var filled = 0
        var index = head
        while index < chunks.count, filled < max {
            iovecs[filled] = iovec(
                iov_base: UnsafeMutableRawPointer(mutating: chunks[index].start), iov_len: chunks[index].count)
            filled += 1
            index += 1
        }
        return filled
    }

    /// Drops `written` bytes from the front after the kernel accepted them.
    mutating func consume(_ written: Int) {
        var remaining = written
        byteCount -= written
        while remaining > 0, head < chunks.count {
            if chunks[head].count <= remaining {
                remaining -= chunks[head].count
                frameStarted = !chunks[head].endsFrame
                if case .owned(var block) = chunks[head].owner, block !== tail {
                    // A full block this queue has moved past: back to the pool once no
                    // other chunk points into it, instead of to malloc.
                    chunks[head].owner = .none
                    if let pool, block.capacity == Self.ownedBlockBytes, isKnownUniquelyReferenced(&block) {
                        pool.give(block)
                    }
                } else {
                    chunks[head].owner = .none
                }
                head += 1
            } else {
                chunks[head].start += remaining
                chunks[head].count -= remaining
                frameStarted = true
                remaining = 0
            }
        }
        if head == chunks.count {
            // Drained: idle connections keep no block and no chunk storage.
            if chunks.capacity <= 16 {
                // Popped rather than removeAll(keepingCapacity:), which cost more for the
                // chunk or two a drained queue usually held.
                while chunks.popLast() != nil {}
            } else {
                chunks = []
            }
            head = 0
            urgentEnd = 0
            hasBorrowed = false
            dropTail()
        } else if head > 32, head * 2 > chunks.count {
            chunks.removeFirst(head)
            urgentEnd = max(0, urgentEnd - head)
            head = 0
        }
    }

    mutating func removeAll() {
        chunks.removeAll()
        hasBorrowed = false
        head = 0
        urgentEnd = 0
        frameStarted = false
        byteCount = 0
        dropTail()
    }

    private mutating func dropTail() {
        if let pool, var block = tail.take(), block.capacity == Self.ownedBlockBytes,
            isKnownUniquelyReferenced(&block)
        {
            pool.give(block)
        }
        tailBase = nil
        tailUsed = 0
        tailCapacity = 0
        tailIsLastChunk = false
    }
}
