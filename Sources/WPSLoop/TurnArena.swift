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
    /// it here with one identity check. Retained, so its address cannot be reused meanwhile.
    private var lastSource: SharedBytes?
    private var lastStaged: UnsafeRawPointer?

    var isEmpty: Bool { lastSource == nil && used == 0 && current == 0 }

    /// Where `shared` lives for the rest of this turn; nil when it is too large to stage.
    @inline(__always)
    func stage(_ shared: SharedBytes) -> UnsafeRawPointer? {
        if lastSource === shared { return lastStaged }
        return stageNew(shared)
    }

    private func stageNew(_ shared: SharedBytes) -> UnsafeRawPointer? {
        let count = shared.count
        guard count <= Self.largestStaged, let source = shared.pointer.baseAddress else { return nil }
        let destination = reserve(count)!
        destination.copyMemory(from: source, byteCount: count)
        lastSource = shared
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

    /// Forgets everything staged; only after no queue borrows from it any more. Keeps two
    /// blocks for the next turns.
    func reset() {
        #if DEBUG
            // Scribble over the turn's bytes so a queue that still points here shows up in tests.
            for block in blocks { block.initializeMemory(as: UInt8.self, repeating: 0xDB, count: Self.blockBytes) }
        #endif
        lastSource = nil
        lastStaged = nil
        used = 0
        current = 0
        while blocks.count > 2 { blocks.removeLast().deallocate() }
    }

    deinit {
        for block in blocks { block.deallocate() }
    }
}
