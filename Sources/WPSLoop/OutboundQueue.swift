import Glibc
public import WPSBytes

/// Bytes waiting to be written to one socket, in order.
///
/// Shared chunks (an encoded broadcast) are referenced, never copied; small private writes
/// (acks, pongs, handshake responses) are coalesced into owned chunks so a burst of them
/// costs one allocation and one iovec.
struct OutboundQueue {
    enum Storage {
        case owned(UnsafeMutableRawPointer, capacity: Int)
        case shared(SharedBytes)
    }

    struct Chunk {
        var storage: Storage
        var start: UnsafeRawPointer
        var count: Int
    }

    private var chunks: [Chunk] = []
    private var head = 0
    /// Bytes queued and not yet accepted by the kernel.
    private(set) var byteCount = 0

    static let ownedChunkBytes = 4096

    var isEmpty: Bool { byteCount == 0 }

    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0, let source = bytes.baseAddress else { return }
        byteCount += bytes.count
        if let last = chunks.indices.last, last >= head, case .owned(let base, let capacity) = chunks[last].storage {
            let used = chunks[last].start + chunks[last].count - UnsafeRawPointer(base)
            if capacity - used >= bytes.count {
                (base + used).copyMemory(from: source, byteCount: bytes.count)
                chunks[last].count += bytes.count
                return
            }
        }
        let capacity = max(Self.ownedChunkBytes, bytes.count)
        let base = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 8)
        base.copyMemory(from: source, byteCount: bytes.count)
        chunks.append(Chunk(storage: .owned(base, capacity: capacity), start: UnsafeRawPointer(base), count: bytes.count))
    }

    mutating func append(_ shared: SharedBytes, range: Range<Int>? = nil) {
        let range = range ?? 0..<shared.count
        guard !range.isEmpty, let base = shared.pointer.baseAddress else { return }
        byteCount += range.count
        chunks.append(Chunk(storage: .shared(shared), start: base + range.lowerBound, count: range.count))
    }

    /// Fills `iovecs` with the queued regions in order; returns how many were filled.
    func gather(into iovecs: UnsafeMutablePointer<iovec>, max: Int) -> Int {
        var filled = 0
        var index = head
        while index < chunks.count, filled < max {
            iovecs[filled] = iovec(iov_base: UnsafeMutableRawPointer(mutating: chunks[index].start), iov_len: chunks[index].count)
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
                release(head)
                head += 1
            } else {
                chunks[head].start += remaining
                chunks[head].count -= remaining
                remaining = 0
            }
        }
        if head == chunks.count {
            chunks.removeAll(keepingCapacity: chunks.capacity <= 64)
            head = 0
        } else if head > 32, head * 2 > chunks.count {
            chunks.removeFirst(head)
            head = 0
        }
    }

    mutating func removeAll() {
        for index in head..<chunks.count { release(index) }
        chunks.removeAll()
        head = 0
        byteCount = 0
    }

    private mutating func release(_ index: Int) {
        if case .owned(let base, _) = chunks[index].storage { base.deallocate() }
        chunks[index].storage = .shared(Self.empty)
    }

    private static let empty = SharedBytes([UInt8]())
}
