import CWPSLinux
public import WPSBytes

/// One accepted socket, owned by exactly one loop and used only on that loop's thread.
///
/// Sends never write directly: they queue and mark the connection dirty, and the loop
/// flushes every dirty connection once with `writev` before it sleeps.
public final class Connection {
    enum State { case connecting, open, closing, lingering, closed }

    // What every delivery touches comes first, so it shares the object's first cache lines.
    //
    // A loop outlives the connections it registered: its slots hold them until it releases
    // them, and only its own thread uses them. A checked unowned reference would cost two
    // atomic operations on each use, several per delivery, so release builds skip the check;
    // debug builds, which the tests run, keep it and trap on any use after the loop is gone.
    #if DEBUG
        public unowned let loop: EventLoop
    #else
        public unowned(unsafe) let loop: EventLoop
    #endif
    var state = State.open
    var isDirty = false
    var outbound: OutboundQueue
    /// The handler that hears this connection's events; swapped on protocol upgrade.
    public var handler: ConnectionHandler?
    let fd: Int32
    let slot: Int32
    let generation: UInt32
    var wantsWritable = false
    /// Whether small writes of this connection may be placed in the loop's turn arena. A
    /// connection that writes in the middle of a fan-out (a link to Redis publishing each
    /// message) turns it off: its bytes would sit between the frames subscribers share in
    /// the arena, which the arena otherwise hands to each of them as one piece.
    public var usesTurnArena = true
    var isReading = true
    /// Whether a close waits for the peer's end of stream; see `close(peerFinished:)`.
    var lingers = true
    /// Deadline the handler asked for (monotonic ns), 0 when none.
    var timerDeadline: UInt64 = 0
    /// Deadline of the wheel entry already scheduled for this connection, 0 when none.
    var wheelDeadline: UInt64 = 0
    var lingerDeadline: UInt64 = 0
    var handoff: (@Sendable (DetachedSocket) -> Void)?
    /// TLS or another transform between socket and handler; nil for plain TCP.
    public var transform: StreamTransform?
    /// Bytes already encoded by `transform`, waiting for the socket.
    var encoded: OutboundQueue
    var transformFinished = false
    /// Input a transform asked to see again next turn, followed by anything read since.
    var deferredInput: [UInt8] = []

    /// Which listener accepted it (the position of its address in the group); -1 otherwise.
    public let listener: Int

    init(loop: EventLoop, fd: Int32, slot: Int32, generation: UInt32, listener: Int = -1) {
        self.listener = listener
        self.loop = loop
        outbound = OutboundQueue(pool: loop.blockPool)
        encoded = OutboundQueue(pool: loop.blockPool)
        self.fd = fd
        self.slot = slot
        self.generation = generation
    }

    /// Bytes queued for this socket that the kernel has not taken yet.
    public var queuedBytes: Int { outbound.byteCount + encoded.byteCount }
    public var isOpen: Bool { state == .open }
    /// TCP segments with data this socket has received so far (TCP_INFO); nil where the
    /// kernel does not say. For measurements: how many writes the peer's data came in.
    public var dataSegmentsReceived: Int? {
        let count = wps_tcp_data_segments_in(fd)
        return count >= 0 ? Int(count) : nil
    }
    /// A stable identity for logs: loop index, slot and generation.
    public var debugID: String { "\(loop.index).\(slot).\(generation)" }

    // MARK: - queueing output
    //
    // Two ways in from outside the loop: `queue(_:head:tail:)` for shared bytes (never
    // copied) and `queue(byteCount:urgent:_:)` for bytes of the caller's own, written in
    // place; `queue(copying:)` is the second for bytes that already exist. Whichever is
    // cheaper underneath (the turn arena, a pooled block, a reference) is the loop's choice.

    /// Queues `shared` without copying it, between `head` and `tail`, which are copied (a
    /// per-recipient frame header and suffix; either may be empty). Together they are one
    /// whole WebSocket frame, or one whole piece of another protocol's stream. Returns the
    /// bytes now queued.
    @discardableResult
    public func queue(
        _ shared: SharedBytes, head: UnsafeRawBufferPointer = Connection.noBytes,
        tail: UnsafeRawBufferPointer = Connection.noBytes
    ) -> Int {
        sendFrame(head: head, shared, tail: tail)
    }

    /// Queues `byteCount` bytes that `write` puts in place: whole frames, or a whole piece of
    /// another protocol's stream. `urgent` ones (a pong, an ack) go ahead of queued data, after
    /// the frame being written. Returns the bytes now queued.
    @discardableResult
    public func queue(byteCount: Int, urgent: Bool = false, _ write: (UnsafeMutableRawPointer) -> Void) -> Int {
        guard urgent else { return sendBuilt(byteCount: byteCount, write) }
        guard state == .open || state == .connecting, byteCount > 0 else { return queuedBytes }
        if outbound.isIdle, !wantsWritable, usesTurnArena,
            let destination = Unmanaged.passUnretained(loop.arena)._withUnsafeGuaranteedRef({ $0.reserve(byteCount) })
        {
            write(destination)
            if outbound.appendBorrowed(destination, count: byteCount, urgent: true) { loop.borrowers.append(self) }
        } else {
            withUnsafeTemporaryAllocation(byteCount: byteCount, alignment: 8) { scratch in
                write(scratch.baseAddress!)
                outbound.appendUrgent(UnsafeRawBufferPointer(scratch), Self.noBytes)
            }
        }
        markDirty()
        return queuedBytes
    }

    /// Queues a copy of `bytes` (whole frames, or a whole piece of a stream).
    @discardableResult
    public func queue(copying bytes: UnsafeRawBufferPointer, urgent: Bool = false) -> Int {
        queue(byteCount: bytes.count, urgent: urgent) { destination in
            if let base = bytes.baseAddress { destination.copyMemory(from: base, byteCount: bytes.count) }
        }
    }

    /// Queues a copy of `bytes`.
    @discardableResult
    public func queue(copying bytes: [UInt8], urgent: Bool = false) -> Int {
        bytes.withUnsafeBytes { queue(copying: $0, urgent: urgent) }
    }

    /// Queues a copy of `bytes`. `endsFrame` false means more bytes of the same WebSocket
    /// frame follow, so urgent frames must not be put after these.
    func send(_ bytes: UnsafeRawBufferPointer, endsFrame: Bool = true) {
        guard state == .open || state == .connecting else { return }
        if endsFrame, !wantsWritable, sendThroughArena(bytes, Self.noBytes, urgent: false) { return }
        outbound.append(bytes, endsFrame: endsFrame)
        markDirty()
    }

    /// Queues a copy of one whole frame given in two parts (a header and its payload).
    func send(_ first: UnsafeRawBufferPointer, _ second: UnsafeRawBufferPointer) {
        guard state == .open || state == .connecting else { return }
        if !wantsWritable, sendThroughArena(first, second, urgent: false) { return }
        outbound.append(first, endsFrame: false)
        outbound.append(second, endsFrame: true)
        markDirty()
    }

    /// Queues one whole small frame (`first` then `second`) ahead of queued data, after the
    /// frame being written: for pongs and acks, which must not wait behind a backlog.
    func sendUrgent(_ first: UnsafeRawBufferPointer, _ second: UnsafeRawBufferPointer) {
        guard state == .open || state == .connecting else { return }
        if outbound.isIdle, !wantsWritable, sendThroughArena(first, second, urgent: true) { return }
        outbound.appendUrgent(first, second)
        markDirty()
    }

    public static var noBytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: nil, count: 0) }

    /// Bytes for a socket that keeps up (the usual request and answer) are copied into the
    /// turn arena and borrowed, like a broadcast: the queue takes no block from its pool and
    /// gives none back, and replies of one turn merge into one write. An urgent frame takes
    /// this way only into an idle queue, where it cannot overtake anything. False when the
    /// arena cannot take the bytes.
    private func sendThroughArena(_ first: UnsafeRawBufferPointer, _ second: UnsafeRawBufferPointer, urgent: Bool)
        -> Bool
    {
        let count = first.count + second.count
        guard count > 0, usesTurnArena,
            let destination = Unmanaged.passUnretained(loop.arena)._withUnsafeGuaranteedRef({ $0.reserve(count) })
        else { return false }
        if let base = first.baseAddress, first.count > 0 { destination.copyMemory(from: base, byteCount: first.count) }
        if let base = second.baseAddress, second.count > 0 {
            (destination + first.count).copyMemory(from: base, byteCount: second.count)
        }
        if outbound.appendBorrowed(destination, count: count, urgent: urgent) { loop.borrowers.append(self) }
        markDirty()
        return true
    }

    func send(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { send($0) }
    }

    /// Queues a reference to shared bytes (or a range of them); nothing is copied.
    func send(_ shared: SharedBytes, range: Range<Int>? = nil, endsFrame: Bool = true) {
        guard state == .open || state == .connecting else { return }
        outbound.append(shared, range: range, endsFrame: endsFrame)
        markDirty()
    }

    /// Queues one frame made of `head` (copied), `shared[range]` (copied when small,
    /// referenced otherwise) and `tail` (copied); returns the bytes now queued. One call per
    /// delivery keeps a broadcast's per-recipient work small.
    @discardableResult @inline(__always)
    func sendFrame(
        head: UnsafeRawBufferPointer, _ shared: SharedBytes, range: Range<Int>? = nil, tail: UnsafeRawBufferPointer
    ) -> Int {
        guard state == .open || state == .connecting else { return queuedBytes }
        // The arena lives as long as the loop: used unretained, so the call costs no atomics.
        if head.isEmpty, tail.isEmpty, range == nil, !wantsWritable,
            let staged = Unmanaged.passUnretained(loop.arena)._withUnsafeGuaranteedRef({ $0.stage(shared) })
        {
            // A whole frame to a socket that is keeping up: borrow it from the turn arena.
            // (Per-recipient frames, reliable ones, are copied: one iovec per message made
            // the kernel's share grow more than the copy saved.)
            if outbound.appendBorrowed(staged, count: shared.count) { loop.borrowers.append(self) }
            markDirty()
            return queuedBytes
        }
        outbound.appendFrame(head: head, shared, range: range ?? 0..<shared.count, tail: tail)
        markDirty()
        return queuedBytes
    }

    /// Queues whole frames, `byteCount` bytes that `write` builds in place: in the turn
    /// arena when the socket keeps up (borrowed, like a broadcast), else in the queue's own
    /// block. Returns the bytes now queued.
    @discardableResult @inline(__always)
    func sendBuilt(byteCount: Int, _ write: (UnsafeMutableRawPointer) -> Void) -> Int {
        guard state == .open || state == .connecting, byteCount > 0 else { return queuedBytes }
        if !wantsWritable, usesTurnArena,
            let destination = Unmanaged.passUnretained(loop.arena)._withUnsafeGuaranteedRef({ $0.reserve(byteCount) })
        {
            write(destination)
            if outbound.appendBorrowed(destination, count: byteCount) { loop.borrowers.append(self) }
        } else {
            outbound.appendWritten(byteCount, write)
        }
        markDirty()
        return queuedBytes
    }

    /// Closes after everything queued is written: the write side is shut, input is drained
    /// until the peer closes or the linger timeout passes, then the socket is closed.
    ///
    /// `peerFinished` says the peer has promised to send nothing more (it sent a WebSocket
    /// close frame): then nothing is drained, and the socket is closed as soon as the queue
    /// is written, its FIN going with the last bytes. Waiting for the peer's end of stream
    /// only protects output from a reset caused by input still arriving.
    public func close(peerFinished: Bool = false) {
        if state == .connecting {
            abort()
            return
        }
        if peerFinished {
            lingers = false
            if state == .lingering {
                loop.scheduleClose(self)
                return
            }
        }
        guard state == .open else { return }
        state = .closing
        // The whole close, flushing included, is bounded: a peer that stops reading
        // cannot keep the socket forever.
        lingerDeadline = loop.now + loop.lingerNanos
        setTimer(at: lingerDeadline)
        markDirty()
    }

    /// Closes now, dropping anything queued. The handler's `closed` runs later in this turn.
    public func abort() {
        guard state != .closed else { return }
        loop.scheduleClose(self)
    }

    /// Takes the socket away from this loop so another loop can `adopt` it: at the end of
    /// this turn it leaves epoll and its slot, without being closed, and `handoff` receives
    /// it; the handler hears nothing more. Returns false (and does nothing) when output is
    /// still queued or the connection is closing: bytes must not be split across loops.
    @discardableResult
    public func detach(then handoff: @escaping @Sendable (DetachedSocket) -> Void) -> Bool {
        guard state == .open, outbound.isEmpty else { return false }
        if let transform, !encoded.isEmpty || transform.pendingOutput > 0 {
            // TLS may still hold records of its own (TLS 1.3 session tickets): write them now,
            // so nothing of this loop's stream is left behind.
            loop.flush(self)
        }
        guard state == .open, encoded.isEmpty, (transform?.pendingOutput ?? 0) == 0 else { return false }
        self.handoff = handoff
        loop.scheduleClose(self)
        return true
    }

    /// Asks for `timerFired` at (or shortly after) the monotonic deadline in nanoseconds.
    public func setTimer(at deadline: UInt64) {
        timerDeadline = deadline
        if wheelDeadline == 0 || deadline < wheelDeadline {
            wheelDeadline = deadline
            loop.timers.schedule(slot: slot, generation: generation, deadline: deadline, now: loop.now)
        }
    }

    public func cancelTimer() { timerDeadline = 0 }

    /// The peer's IP address as text; asked of the kernel on each call (for limits and logs,
    /// not the message path).
    public var peerAddress: String? {
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: 64) { buffer in
            guard wps_peer_address(fd, buffer.baseAddress, Int32(buffer.count)) == 0 else { return nil }
            return String(cString: buffer.baseAddress!)
        }
    }

    func markDirty() {
        if !isDirty {
            isDirty = true
            loop.dirty.append(self)
        }
    }
}

/// A socket in transit between loops; only `EventLoop.adopt` may use it. Its transform
/// travels with it: the old loop has let go of both before the new one takes them.
public struct DetachedSocket: @unchecked Sendable {
    let fd: Int32
    let transform: StreamTransform?
}
