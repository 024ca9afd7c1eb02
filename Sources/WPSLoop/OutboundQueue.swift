import Glibc
import WPSBytes

/// Bytes waiting to be written to one socket, in order.
///
/// Shared chunks (an encoded broadcast) are referenced, never copied. Small private writes
/// (frame headers, acks, pongs) are copied into one owned block per turn, even when shared
/// chunks sit between them, so a burst costs one allocation however it interleaves.
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
    }

    struct Chunk {
        var owner: Owner
        var start: UnsafeRawPointer
        var count: Int
        /// The last bytes of a WebSocket frame (or of a response): urgent bytes may follow.
        var endsFrame = true
    }

    private var chunks: [Chunk] = []
    private var head = 0
    private var tail: OwnedBlock?
    /// Some of the frame at `head` has been written: urgent bytes must wait for its end.
    private var frameStarted = false
    /// Where the next urgent chunk goes so urgent chunks keep their own order.
    private var urgentEnd = 0
    /// Bytes queued and not yet accepted by the kernel.
    private(set) var byteCount = 0

    static let ownedBlockBytes = 4096

    var isEmpty: Bool { byteCount == 0 }

    mutating func append(_ bytes: UnsafeRawBufferPointer, endsFrame: Bool = true) {
        guard bytes.count > 0 else { return }
        let (block, destination) = copy(bytes, UnsafeRawBufferPointer(start: nil, count: 0))
        if let last = chunks.indices.last, last >= head, case .owned(let previous) = chunks[last].owner,
            previous === block, chunks[last].start + chunks[last].count == UnsafeRawPointer(destination),
            last >= urgentEnd
        {
            chunks[last].count += bytes.count
            chunks[last].endsFrame = endsFrame
        } else {
            chunks.append(
                Chunk(owner: .owned(block), start: UnsafeRawPointer(destination), count: bytes.count, endsFrame: endsFrame))
        }
    }

    mutating func append(_ shared: SharedBytes, range: Range<Int>? = nil, endsFrame: Bool = true) {
        let range = range ?? 0..<shared.count
        guard !range.isEmpty, let base = shared.pointer.baseAddress else { return }
        byteCount += range.count
        chunks.append(
            Chunk(owner: .shared(shared), start: base + range.lowerBound, count: range.count, endsFrame: endsFrame))
    }

    /// Queues one whole frame (`first` then `second`, copied together) ahead of queued data, at
    /// the first frame boundary: acks and pongs are never stuck behind a backlog.
    mutating func appendUrgent(_ first: UnsafeRawBufferPointer, _ second: UnsafeRawBufferPointer) {
        let total = first.count + second.count
        guard total > 0 else { return }
        let (block, destination) = copy(first, second)
        var index = max(head, urgentEnd)
        if index == head, frameStarted {
            // Let the frame in flight finish first.
            while index < chunks.count, !chunks[index].endsFrame { index += 1 }
            index = min(index + 1, chunks.count)
        }
        chunks.insert(Chunk(owner: .owned(block), start: UnsafeRawPointer(destination), count: total), at: index)
        urgentEnd = index + 1
    }

    /// Copies `first` and `second` contiguously into the tail block (a new one if full).
    private mutating func copy(
        _ first: UnsafeRawBufferPointer, _ second: UnsafeRawBufferPointer
    ) -> (OwnedBlock, UnsafeMutableRawPointer) {
        let total = first.count + second.count
        byteCount += total
        let block: OwnedBlock
        if let tail, tail.capacity - tail.used >= total {
            block = tail
        } else {
            block = OwnedBlock(capacity: max(Self.ownedBlockBytes, total))
            tail = block
        }
        let destination = block.base + block.used
        if let source = first.baseAddress { destination.copyMemory(from: source, byteCount: first.count) }
        if let source = second.baseAddress { (destination + first.count).copyMemory(from: source, byteCount: second.count) }
        block.used += total
        return (block, destination)
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
                chunks[head].owner = .none
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
            chunks.removeAll(keepingCapacity: chunks.capacity <= 16)
            head = 0
            urgentEnd = 0
            tail = nil
        } else if head > 32, head * 2 > chunks.count {
            chunks.removeFirst(head)
            urgentEnd = max(0, urgentEnd - head)
            head = 0
        }
    }

    mutating func removeAll() {
        chunks.removeAll()
        head = 0
        urgentEnd = 0
        frameStarted = false
        byteCount = 0
        tail = nil
    }
}
