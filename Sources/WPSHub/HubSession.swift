public import WPSAuth
import WPSBytes
public import WPSProtocol

/// One logical connection: identity, groups, permissions and, for reliable clients, the
/// state that outlives a dropped socket (protocol-spec/reliability.md).
public final class HubSession {
    // What a delivery reads and writes comes first, next to the reference count, so one
    // broadcast touches as few of this object's cache lines as possible.
    public let kind: ClientKind
    /// `transport` without ownership, for deliveries: `transport` keeps it alive, and the
    /// hub calls it through a guaranteed reference, which costs no retain per recipient.
    private(set) var deliveryTarget: Unmanaged<HubTransport>?
    // Reliable state.
    var nextSequenceId: UInt64 = 1
    var unackedBytes = 0
    /// Bytes of the last resume's replay still unacknowledged: queued on top of the outbound
    /// limit without counting as a slow consumer.
    var replayAllowance = 0
    /// Sent and not yet acknowledged, oldest first. Entries hold no reference count of
    /// their own (see `Broadcast.replayHolders`), and the ring's bookkeeping lives in this
    /// object, so buffering a message is one store into memory nothing else shares.
    private(set) var unacked = ReplayRing()

    public let connectionId: String
    public let hub: String
    public let userId: String?
    public internal(set) var permissions: Permissions {
        didSet { noteBroadGrants() }
    }
    /// Whether the permissions allow joining and leaving, or sending to, every group: kept
    /// beside them so the usual check reads a flag instead of copying the permissions out of
    /// this object.
    private(set) var joinsAnyGroup = false
    private(set) var sendsToAnyGroup = false
    /// The socket, nil while a reliable session waits to be resumed.
    public internal(set) var transport: HubTransport? {
        didSet {
            deliveryTarget = transport.map { Unmanaged.passUnretained($0) }
            replayAllowance = 0
        }
    }
    /// Set while the session moves between nodes (LoopHub+Handover): what deliveries do
    /// meanwhile.
    var handover: HandoverState?
    /// Groups joined, with this session's position in each group's member list.
    var groupSlots = GroupSlots()
    let reconnectionToken: String?
    var ackHistory: AckHistory
    /// When the socket went away (monotonic ns), 0 while attached.
    var detachedAt: UInt64 = 0
    /// Closed for good: no resume, no more messages.
    public internal(set) var isEnded = false
    /// Held for the session's life and dropped when it ends: the server's count of
    /// connections gives the place back then.
    public var admission: AnyObject?
    /// What the event handler stored with `ce-connectionState`, sent back with every event.
    public internal(set) var connectionState: String?
    /// The user event this connection waits on; while set, other messages wait in `heldFrames`.
    var pendingEvent: PendingEvent?
    var heldFrames: [HeldFrame] = []
    var heldBytes = 0
    /// The first of `heldFrames` not handled yet.
    var heldNext = 0
    /// The invocation ids of the `invoke` requests in `heldFrames`.
    var heldInvocations: Set<String> = []

    /// For the admin routes: the last `sequenceAck` received, resumes so far, and when the
    /// session began (loop time, ns; set by the server).
    public internal(set) var lastSequenceAck: UInt64?
    public internal(set) var resumeCount = 0
    public var openedAt: UInt64 = 0

    /// The subprotocol name events report in `ce-subprotocol`; nil for simple clients.
    public var subprotocolName: String? {
        switch kind {
        case .json: WebPubSubSubprotocol.json.name
        case .jsonReliable: WebPubSubSubprotocol.jsonReliable.name
        case .raw: nil
        }
    }

    /// What can be sent of this session's buffer, oldest first.
    func unackedEntries() -> [SessionSnapshot.Entry] {
        var entries: [SessionSnapshot.Entry] = []
        entries.reserveCapacity(unacked.count)
        unacked.forEach {
            entries.append(.init(sequenceId: $0.sequenceId, broadcast: $0.broadcast.takeUnretainedValue()))
        }
        return entries
    }

    init(connectionId: String, identity: ClientIdentity, reconnectionToken: String?, ackHistoryCount: Int) {
        self.connectionId = connectionId
        hub = identity.hub
        userId = identity.userId
        kind = identity.kind
        permissions = identity.permissions
        connectionState = identity.connectionState
        self.reconnectionToken = reconnectionToken
        ackHistory = AckHistory(capacity: ackHistoryCount)
        noteBroadGrants()
    }

    private func noteBroadGrants() {
        joinsAnyGroup = permissions.has(.joinLeaveGroup, group: nil)
        sendsToAnyGroup = permissions.has(.sendToGroup, group: nil)
    }

    /// Whether this connection may join or leave `group`.
    func mayJoinLeave(_ group: String) -> Bool {
        joinsAnyGroup || permissions.canJoinLeave(group: group)
    }

    /// Whether this connection may publish to `group`.
    func maySend(to group: String) -> Bool {
        sendsToAnyGroup || permissions.canSend(toGroup: group)
    }

    /// Groups this session belongs to, in no particular order.
    public var groups: [String] { groupSlots.names }
    /// Messages sent and not yet acknowledged by the client.
    public var unackedCount: Int { unacked.count }

    func buffer(sequenceId: UInt64, _ broadcast: Broadcast) {
        broadcast.addReplayHolder()
        unacked.append(BufferedMessage(sequenceId: sequenceId, broadcast: Unmanaged.passUnretained(broadcast)))
        unackedBytes += broadcast.prefix.count
    }

    /// Drops every buffered message up to `sequenceId` (cumulative; stale values do nothing).
    func acknowledge(upTo sequenceId: UInt64) {
        // Nothing can be acknowledged that was not sent yet.
        let sequenceId = min(sequenceId, nextSequenceId &- 1)
        while let oldest = unacked.first, oldest.sequenceId <= sequenceId {
            let bytes = oldest.broadcast._withUnsafeGuaranteedRef { $0.prefix.count }
            unackedBytes -= bytes
            if replayAllowance > 0 {
                replayAllowance = max(0, replayAllowance - bytes - LoopHub.sequencedFrameOverhead)
            }
            Broadcast.removeReplayHolder(oldest.broadcast)
            unacked.removeFirst()
        }
        // A client far behind grew the ring; once it caught up, the memory goes back.
        if unacked.count == 0, unacked.capacity > 256 { unacked.release() }
    }

    func dropBuffer() {
        unacked.forEach { Broadcast.removeReplayHolder($0.broadcast) }
        unacked.release()
        unackedBytes = 0
    }

    deinit { dropBuffer() }
}

/// One message a reliable session may have to replay: its sequence id for this session and
/// the broadcast, kept alive by the broadcast's own holder count.
struct BufferedMessage {
    let sequenceId: UInt64
    let broadcast: Unmanaged<Broadcast>

    var expiresAt: UInt64 { broadcast._withUnsafeGuaranteedRef { $0.expiresAt } }
}

/// REST filters evaluate directly against a session, without copying its groups.
extension HubSession: ODataFilterSubject {
    public var groupCount: Int { groupSlots.count }
    public func isInGroup(_ group: String) -> Bool { groupSlots[group] != nil }
}

/// A growable ring of buffered messages, manually allocated: appending needs no uniqueness
/// check and no array header, only this struct (inside the session) and the slot.
struct ReplayRing {
    private var storage: UnsafeMutablePointer<BufferedMessage>?
    private(set) var capacity = 0
    private var start = 0
    private(set) var count = 0

    var first: BufferedMessage? { count > 0 ? storage![start] : nil }

    mutating func append(_ message: BufferedMessage) {
        if count == capacity { grow() }
        var slot = start + count
        if slot >= capacity { slot -= capacity }
        (storage! + slot).initialize(to: message)
        count += 1
    }

    mutating func removeFirst() {
        start += 1
        if start == capacity { start = 0 }
        count -= 1
        if count == 0 { start = 0 }
    }

    /// Visits the newest `last` messages, oldest of them first.
    func forEach(last: Int, _ body: (BufferedMessage) -> Void) {
        var slot = start + count - last
        if slot >= capacity { slot -= capacity }
        for _ in 0..<last {
            body(storage![slot])
            slot += 1
            if slot == capacity { slot = 0 }
        }
    }

    /// Visits the messages oldest first.
    func forEach(_ body: (BufferedMessage) -> Void) {
        var slot = start
        for _ in 0..<count {
            body(storage![slot])
            slot += 1
            if slot == capacity { slot = 0 }
        }
    }

    /// Frees the storage; the messages' holders must already have been dropped.
    mutating func release() {
        storage?.deallocate()
        storage = nil
        capacity = 0
        start = 0
        count = 0
    }

    private mutating func grow() {
        let newCapacity = max(16, capacity * 2)
        let newStorage = UnsafeMutablePointer<BufferedMessage>.allocate(capacity: newCapacity)
        var slot = start
        for index in 0..<count {
            (newStorage + index).initialize(to: storage![slot])
            slot += 1
            if slot == capacity { slot = 0 }
        }
        storage?.deallocate()
        storage = newStorage
        capacity = newCapacity
        start = 0
    }
}
