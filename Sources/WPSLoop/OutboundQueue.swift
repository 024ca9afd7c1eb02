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
    }

    private var chunks: [Chunk] = []
    private var head = 0
    private var tail: OwnedBlock?
    /// Bytes queued and not yet accepted by the kernel.
    private(set) var byteCount = 0

    static let ownedBlockBytes = 4096

    var isEmpty: Bool { byteCount == 0 }

    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0, let source = bytes.baseAddress else { return }
        byteCount += bytes.count
        let block: OwnedBlock
        if let tail, tail.capacity - tail.used >= bytes.count {
            block = tail
        } else {
            block = OwnedBlock(capacity: max(Self.ownedBlockBytes, bytes.count))
            tail = block
        }
        let destination = block.base + block.used
        destination.copyMemory(from: source, byteCount: bytes.count)
        block.used += bytes.count
        if let last = chunks.indices.last, last >= head, case .owned(let previous) = chunks[last].owner,
            previous === block, chunks[last].start + chunks[last].count == UnsafeRawPointer(destination)
        {
            chunks[last].count += bytes.count
        } else {
            chunks.append(Chunk(owner: .owned(block), start: UnsafeRawPointer(destination), count: bytes.count))
        }
    }

    mutating func append(_ shared: SharedBytes, range: Range<Int>? = nil) {
        let range = range ?? 0..<shared.count
        guard !range.isEmpty, let base = shared.pointer.baseAddress else { return }
        byteCount += range.count
        chunks.append(Chunk(owner: .shared(shared), start: base + range.lowerBound, count: range.count))
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
                chunks[head].owner = .none
                head += 1
            } else {
                chunks[head].start += remaining
                chunks[head].count -= remaining
                remaining = 0
            }
        }
        if head == chunks.count {
            // Drained: idle connections keep no block and no chunk storage.
            chunks.removeAll(keepingCapacity: chunks.capacity <= 16)
            head = 0
            tail = nil
        } else if head > 32, head * 2 > chunks.count {
            chunks.removeFirst(head)
            head = 0
        }
    }

    mutating func removeAll() {
        chunks.removeAll()
        head = 0
        byteCount = 0
        tail = nil
    }
}
