import CWPSLinux
import Glibc

/// One epoll loop on one thread. It owns its listener, its connections and their buffers;
/// other threads reach it only through `inbox`.
///
/// A turn: wait, dispatch events, fire due timers, run posted tasks, flush every dirty
/// connection with `writev`, then free connections closed during the turn.
public final class EventLoop {
    enum SlotKind {
        case free
        case listener(Int)
        case inbox
        case connection(Connection)
    }

    struct Slot {
        var kind: SlotKind
        var generation: UInt32
    }

    /// Zero-based position of this loop in its group.
    public let index: Int
    public let inbox: LoopInbox
    /// Called for every accepted socket; returns the handler that owns it.
    public var acceptHandler: ((Connection) -> ConnectionHandler)?
    /// How long a closing connection may keep draining input before it is cut.
    public var lingerNanos: UInt64 = 2_000_000_000
    /// Monotonic time of the current turn, in nanoseconds.
    public private(set) var now: UInt64
    /// Open connections on this loop.
    public internal(set) var connectionCount = 0
    /// Whatever the owner keeps per loop (the server keeps its hub shard here).
    public var context: AnyObject?
    /// Every loop's inbox in the group, this one's included, by loop index.
    public let siblings: [LoopInbox]

    let epollFD: Int32
    var slots: [Slot] = []
    var freeSlots: [Int32] = []
    var dirty: [Connection] = []
    /// The dirty list being flushed; swapped with `dirty` so neither is reallocated.
    var flushing: [Connection] = []
    /// Broadcast frames borrowed by queues during this turn.
    let arena = TurnArena()
    /// Connections whose queues borrowed from `arena` this turn.
    var borrowers: [Connection] = []
    /// Asked to queue what they deferred, before this turn's flush.
    var producers: [TurnProducer] = []
    var producing: [TurnProducer] = []
    /// Owned output blocks drained connections gave back, for the next ones to use.
    let blockPool = OutboundQueue.BlockPool()
    var closing: [Connection] = []
    /// The closing list being released, swapped like `flushing`.
    var releasing: [Connection] = []
    var timers: TimerWheel
    let readBuffer: UnsafeMutableRawBufferPointer
    let iovecs: UnsafeMutablePointer<iovec>
    /// Where small queued regions are gathered before they go through a transform.
    let transformBatch: UnsafeMutableRawBufferPointer
    let events: UnsafeMutablePointer<wps_epoll_event>
    /// Listening sockets by tag (the position of their address in the group's list).
    var listeners: [(fd: Int32, slot: Int32)] = []
    var listenerPausedUntil: UInt64 = 0
    /// How long accepting pauses when the process is out of descriptors or memory.
    public static let acceptPauseNanos: UInt64 = 100_000_000
    /// Told each time accepting pauses, with the errno, so the owner can report it.
    public var acceptPaused: ((_ errno: Int32) -> Void)?
    var running = true
    var shutdownDeadline: UInt64 = 0
    var periodic: [PeriodicTask] = []
    var endHooks: [() -> Void] = []
    var dueTimers: [TimerWheel.Entry] = []
    /// Connections whose transform deferred input to the next turn.
    var retryInput: [Connection] = []
    /// Counts turns, so per-turn budgets know when a new turn began.
    public private(set) var turn: UInt64 = 0

    struct PeriodicTask {
        var interval: UInt64
        var next: UInt64
        var body: () -> Void
    }

    static let readBufferBytes = 64 * 1024
    static let maxIovecs = 64
    static let maxEvents: Int32 = 256
    static let acceptsPerWakeup = 64
    /// Encoded (TLS) bytes allowed to wait per connection before encoding pauses.
    static let encodedHighWater = 64 * 1024
    /// Plaintext gathered before one call into the transform: a full TLS record, so many
    /// small frames share one record (and its header, MAC and encryption call).
    static let transformBatchBytes = 16 * 1024

    init(index: Int, siblings: [LoopInbox], listenFDs: [Int32]) throws(LoopError) {
        self.index = index
        self.siblings = siblings
        inbox = siblings[index]
        let fd = wps_epoll_create()
        guard fd >= 0 else { throw LoopError(operation: "epoll_create1", code: -fd) }
        epollFD = fd
        now = wps_monotonic_ns()
        timers = TimerWheel(now: now)
        readBuffer = .allocate(byteCount: Self.readBufferBytes, alignment: 16)
        iovecs = .allocate(capacity: Self.maxIovecs)
        transformBatch = .allocate(byteCount: Self.transformBatchBytes, alignment: 16)
        events = .allocate(capacity: Int(Self.maxEvents))
        let inboxSlot = allocateSlot(.inbox)
        try add(fd: inbox.wakeFD, events: UInt32(WPS_EPOLLIN), slot: inboxSlot)
        for (tag, fd) in listenFDs.enumerated() {
            let slot = allocateSlot(.listener(tag))
            listeners.append((fd, slot))
            try add(fd: fd, events: UInt32(WPS_EPOLLIN), slot: slot)
        }
    }

    deinit {
        readBuffer.deallocate()
        iovecs.deallocate()
        transformBatch.deallocate()
        events.deallocate()
        _ = wps_close(epollFD)
    }

    /// Runs turns until shutdown completes.
    public func run() {
        while running {
            let timeout = waitTimeout()
            let count = wps_epoll_wait(epollFD, events, Self.maxEvents, timeout)
            now = wps_monotonic_ns()
            turn &+= 1
            if !retryInput.isEmpty { retryDeferredInput() }
            if count > 0 {
                for position in 0..<Int(count) {
                    dispatch(events[position])
                }
            }
            timers.advance(to: now, into: &dueTimers)
            if !dueTimers.isEmpty {
                for entry in dueTimers { fire(entry) }
                dueTimers.removeAll(keepingCapacity: true)
            }
            runPeriodicTasks()
            resumeListenerIfDue()
            finishTurn()
            if shutdownDeadline != 0 {
                if connectionCount == 0 {
                    running = false
                } else if now >= shutdownDeadline {
                    forEachConnection { $0.abort() }
                    finishTurn()
                }
            }
        }
        releaseOwnerHooks()
    }

    /// The thread is done with this loop: drop what owners hung on it. Those hooks often
    /// capture the loop itself (an accept handler holding `loop`, a context holding a hub
    /// that holds the loop), and that cycle kept the loop, its buffers and its epoll fd
    /// alive after the group was shut down. Tasks posted too late to run go too.
    func releaseOwnerHooks() {
        let hooks = endHooks
        endHooks.removeAll()
        for hook in hooks { hook() }
        acceptHandler = nil
        context = nil
        periodic.removeAll()
        producers.removeAll()
        _ = inbox.drain()
    }

    /// Stops accepting and asks every connection's handler to close; the loop ends when they
    /// are gone or when `graceNanos` has passed.
    public func beginShutdown(graceNanos: UInt64) {
        guard shutdownDeadline == 0 else { return }
        shutdownDeadline = now + max(graceNanos, 1)
        closeListener()
        forEachConnection { connection in
            connection.handler?.shutdownRequested(on: connection)
        }
    }

    /// Calls `body` for every open connection on this loop.
    public func forEachConnection(_ body: (Connection) -> Void) {
        for slot in slots {
            if case .connection(let connection) = slot.kind, connection.state != .closed {
                body(connection)
            }
        }
    }

    func waitTimeout() -> Int32 {
        if !dirty.isEmpty || !closing.isEmpty || !retryInput.isEmpty || !producers.isEmpty { return 0 }
        var timeout = timers.timeoutMillis(now: now)
        if shutdownDeadline != 0 || listenerPausedUntil != 0 {
            timeout = timeout < 0 ? 100 : min(timeout, 100)
        }
        for task in periodic {
            let wait = task.next > now ? Int32(min((task.next - now + 999_999) / 1_000_000, 60_000)) : 0
            timeout = timeout < 0 ? wait : min(timeout, wait)
        }
        return timeout
    }

    /// Runs `body` on this loop's thread once the loop has stopped, before it lets go of its
    /// hooks: for owners to drop queued work that will never run (and what it holds).
    public func whenEnded(_ body: @escaping () -> Void) {
        endHooks.append(body)
    }

    /// Runs `body` on this loop about every `intervalNanos` (housekeeping, not precise timing).
    public func every(_ intervalNanos: UInt64, _ body: @escaping () -> Void) {
        periodic.append(PeriodicTask(interval: max(intervalNanos, 1_000_000), next: now + intervalNanos, body: body))
    }

    func runPeriodicTasks() {
        for index in periodic.indices where periodic[index].next <= now {
            periodic[index].next = now + periodic[index].interval
            periodic[index].body()
        }
    }

    /// Flushes dirty connections, then frees the ones closed during this turn.
    /// Calls `producer.produce()` once before this turn's flush.
    public func produceBeforeFlush(_ producer: TurnProducer) {
        producers.append(producer)
    }

    func finishTurn() {
        // The turn's lists are emptied by popping (their order does not matter): for the
        // one or two entries a turn usually has, removeAll(keepingCapacity:) cost more than
        // the work done on them.
        while !dirty.isEmpty || !closing.isEmpty || !producers.isEmpty {
            if !producers.isEmpty {
                swap(&producers, &producing)
                while let producer = producing.popLast() { producer.produce() }
            }
            if !dirty.isEmpty {
                swap(&dirty, &flushing)
                while let connection = flushing.popLast() {
                    connection.isDirty = false
                    if !connection.wantsWritable { flush(connection) }
                }
            }
            if !closing.isEmpty {
                swap(&closing, &releasing)
                while let connection = releasing.popLast() { release(connection) }
            }
        }
        // What the kernel did not take must not point into the arena after this turn.
        while let connection = borrowers.popLast() { connection.outbound.settleBorrowed() }
        // Also on quiet turns, so blocks a busy spell kept are given back.
        if !arena.isEmpty || arena.blockCount > 2 { arena.reset() }
    }

    // MARK: slots and epoll

    func allocateSlot(_ kind: SlotKind) -> Int32 {
        if let slot = freeSlots.popLast() {
            slots[Int(slot)].kind = kind
            return slot
        }
        slots.append(Slot(kind: kind, generation: 1))
        return Int32(slots.count - 1)
    }

    func freeSlot(_ slot: Int32) {
        slots[Int(slot)].kind = .free
        slots[Int(slot)].generation &+= 1
        freeSlots.append(slot)
    }

    func token(_ slot: Int32) -> UInt64 {
        UInt64(slots[Int(slot)].generation) << 32 | UInt64(UInt32(bitPattern: slot))
    }

    func add(fd: Int32, events: UInt32, slot: Int32) throws(LoopError) {
        let rc = wps_epoll_add(epollFD, fd, events, token(slot))
        guard rc == 0 else { throw LoopError(operation: "epoll_ctl(ADD)", code: -rc) }
    }

    func dispatch(_ event: wps_epoll_event) {
        let slot = Int(UInt32(truncatingIfNeeded: event.data))
        let generation = UInt32(truncatingIfNeeded: event.data >> 32)
        guard slot < slots.count, slots[slot].generation == generation else { return }
        switch slots[slot].kind {
        case .connection(let connection):
            if connection.state == .connecting {
                if event.events & UInt32(WPS_EPOLLOUT | WPS_EPOLLHUP | WPS_EPOLLERR) != 0 {
                    finishConnecting(connection)
                }
                return
            }
            if event.events & UInt32(WPS_EPOLLIN | WPS_EPOLLHUP | WPS_EPOLLERR | WPS_EPOLLRDHUP) != 0 {
                readable(connection)
            }
            if event.events & UInt32(WPS_EPOLLOUT) != 0, connection.state != .closed {
                flush(connection)
            }
        case .listener(let tag):
            acceptConnections(tag)
        case .inbox:
            for task in inbox.drain() { task(self) }
        case .free:
            break
        }
    }

    func fire(_ entry: TimerWheel.Entry) {
        let slot = Int(entry.slot)
        guard slot < slots.count, slots[slot].generation == entry.generation,
            case .connection(let connection) = slots[slot].kind, connection.state != .closed
        else { return }
        connection.wheelDeadline = 0
        if connection.state == .lingering || connection.state == .closing {
            if now >= connection.lingerDeadline {
                scheduleClose(connection)
            } else {
                connection.setTimer(at: connection.lingerDeadline)
            }
            return
        }
        let deadline = connection.timerDeadline
        guard deadline != 0 else { return }
        if deadline <= now {
            connection.timerDeadline = 0
            connection.handler?.timerFired(on: connection, now: now)
        } else {
            connection.setTimer(at: deadline)
        }
    }
}

/// Something that defers building output until the end of a turn, so frames for one
/// connection from many events of the turn are built together (see
/// `EventLoop.produceBeforeFlush`).
public protocol TurnProducer: AnyObject {
    func produce()
}
