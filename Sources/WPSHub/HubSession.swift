public import WPSAuth
public import WPSProtocol
import WPSBytes

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
    var unackedHead = 0
    var unackedBytes = 0
    var unacked: [(sequenceId: UInt64, prefix: SharedBytes, expiresAt: UInt64)] = []

    public let connectionId: String
    public let hub: String
    public let userId: String?
    public internal(set) var permissions: Permissions
    /// The socket, nil while a reliable session waits to be resumed.
    public internal(set) var transport: HubTransport? {
        didSet { deliveryTarget = transport.map { Unmanaged.passUnretained($0) } }
    }
    /// Groups joined, with this session's position in each group's member list.
    var groupSlots: [String: Int] = [:]
    let reconnectionToken: String?
    var ackHistory: AckHistory
    /// When the socket went away (monotonic ns), 0 while attached.
    var detachedAt: UInt64 = 0
    /// Closed for good: no resume, no more messages.
    public internal(set) var isEnded = false

    init(connectionId: String, identity: ClientIdentity, reconnectionToken: String?, ackHistoryCount: Int) {
        self.connectionId = connectionId
        hub = identity.hub
        userId = identity.userId
        kind = identity.kind
        permissions = Permissions(roles: identity.roles)
        self.reconnectionToken = reconnectionToken
        ackHistory = AckHistory(capacity: ackHistoryCount)
    }

    /// Groups this session belongs to.
    public var groups: Dictionary<String, Int>.Keys { groupSlots.keys }
    /// Messages sent and not yet acknowledged by the client.
    public var unackedCount: Int { unacked.count - unackedHead }

    func buffer(sequenceId: UInt64, prefix: SharedBytes, expiresAt: UInt64) {
        unacked.append((sequenceId, prefix, expiresAt))
        unackedBytes += prefix.count
    }

    /// Drops every buffered message up to `sequenceId` (cumulative; stale values do nothing).
    func acknowledge(upTo sequenceId: UInt64) {
        // Acked entries are only stepped over; their bytes are released together when the
        // buffer empties or is compacted below, which saves a retain and a release each.
        while unackedHead < unacked.count, unacked[unackedHead].sequenceId <= sequenceId {
            unackedBytes -= unacked[unackedHead].prefix.count
            unackedHead += 1
        }
        if unackedHead == unacked.count {
            // A busy session keeps its storage: regrowing it after every ack showed up in
            // profiles. Above 256 entries (a client far behind) it is given back.
            unacked.removeAll(keepingCapacity: unacked.capacity <= 256)
            unackedHead = 0
        } else if unackedHead > 64, unackedHead * 2 > unacked.count {
            unacked.removeFirst(unackedHead)
            unackedHead = 0
        }
    }

    func dropBuffer() {
        unacked.removeAll()
        unackedHead = 0
        unackedBytes = 0
    }
}

/// REST filters evaluate directly against a session, without copying its groups.
extension HubSession: ODataFilterSubject {
    public var groupCount: Int { groupSlots.count }
    public func isInGroup(_ group: String) -> Bool { groupSlots[group] != nil }
}
