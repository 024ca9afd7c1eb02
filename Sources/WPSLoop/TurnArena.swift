import WPSBytes

/// Bytes that live until the end of one loop turn: broadcast frames that recipients borrow
/// instead of copying (`OutboundQueue.appendBorrowed`).
///
/// Frames staged one after another sit side by side, so a recipient of several broadcasts
/// in one turn gets one contiguous region. The loop copies what the kernel did not take
/// out of borrowed chunks before it calls `reset`.
final class TurnArena {
    /// One block of the arena; more are taken in a busy turn and given back at reset.
    static let blockBytes = 64 * 1024
    /// Frames larger than this are referenced as shared bytes rather than staged.
    static let largestStaged = 16 * 1024

    private var blocks: [UnsafeMutableRawPointer] = []
    private var current = 0
    private var used = 0
    /// The shared bytes staged last and where: consecutive recipients of one broadcast find
    /// it here with one identity check. Retained, so its address cannot be reused meanwhile;
    /// the check reads only the identity, which costs no retain and release per recipient.
    private var lastSource: SharedBytes?
    private var lastSourceID: ObjectIdentifier?
    private var lastStaged: UnsafeRawPointer?

    /// Blocks held, used or kept for later turns.
    var blockCount: Int { blocks.count }

    var isEmpty: Bool { lastSource == nil && used == 0 && current == 0 }

    /// Where `shared` lives for the rest of this turn; nil when it is too large to stage.
    @inline(__always)
    func stage(_ shared: SharedBytes) -> UnsafeRawPointer? {
        if lastSourceID == ObjectIdentifier(shared) { return lastStaged }
        return stageNew(shared)
    }

    private func stageNew(_ shared: SharedBytes) -> UnsafeRawPointer? {
        let count = shared.count
        guard count <= Self.largestStaged, let source = shared.pointer.baseAddress else { return nil }
        let destination = reserve(count)!
        destination.copyMemory(from: source, byteCount: count)
        lastSource = shared
        lastSourceID = ObjectIdentifier(shared)
        lastStaged = UnsafeRawPointer(destination)
        return lastStaged
    }

    /// `count` bytes of this turn's arena for the caller to fill; nil when larger than a block.
    func reserve(_ count: Int) -> UnsafeMutableRawPointer? {
        guard count <= Self.blockBytes else { return nil }
        if blocks.isEmpty {
            blocks.append(.allocate(byteCount: Self.blockBytes, alignment: 16))
        } else if Self.blockBytes - used < count {
            current += 1
            if current == blocks.count { blocks.append(.allocate(byteCount: Self.blockBytes, alignment: 16)) }
            used = 0
        }
        let destination = blocks[current] + used
        used += count
        return destination
    }

    /// Blocks kept across turns at most (32 MiB per loop).
    static let mostKeptBlocks = 512

    /// Forgets everything staged; only after no queue borrows from it any more.
    ///
    /// Keeps as many blocks as this turn used (or half of those held, whichever is more),
    /// so a busy loop does not allocate and fault in fresh memory every turn (reliable
    /// frames take tens of blocks per turn at saturation), while quiet turns give the
    /// memory back, halving it each time.
    func reset() {
        let usedBlocks = blocks.isEmpty ? 0 : current + 1
        let keep = min(Self.mostKeptBlocks, max(2, usedBlocks, blocks.count / 2))
        #if DEBUG
            // Scribble over the turn's bytes so a queue that still points here shows up in tests.
            for block in blocks.prefix(usedBlocks) {
                block.initializeMemory(as: UInt8.self, repeating: 0xDB, count: Self.blockBytes)
            }
        #endif
        lastSource = nil
        lastSourceID = nil
        lastStaged = nil
        used = 0
        current = 0
        while blocks.count > keep { blocks.removeLast().deallocate() }
    }

    deinit {
        for block in blocks { block.deallocate() }
    }
}
