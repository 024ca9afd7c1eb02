public import WPSAuth
import WPSProtocol

/// A reliable session as it moves to another node (protocol-spec/cluster.md, Resume on
/// another node): everything the new node needs to go on with the same connection.
public struct SessionSnapshot: Sendable {
    public struct Entry: Sendable {
        public var sequenceId: UInt64
        public var broadcast: Broadcast

        public init(sequenceId: UInt64, broadcast: Broadcast) {
            self.sequenceId = sequenceId
            self.broadcast = broadcast
        }
    }

    public var connectionId: String
    public var hub: String
    public var userId: String?
    public var permissions: Permissions
    public var groups: [String]
    public var reconnectionToken: String?
    public var nextSequenceId: UInt64
    /// Sent and not acknowledged, oldest first, with their sequence ids.
    public var unacked: [Entry]
    /// ackIds that succeeded, oldest first.
    public var ackIds: [UInt64]
    public var connectionState: String?
    public var resumeCount: Int
    public var lastSequenceAck: UInt64?

    public init(
        connectionId: String, hub: String, userId: String?, permissions: Permissions, groups: [String],
        reconnectionToken: String?, nextSequenceId: UInt64, unacked: [Entry], ackIds: [UInt64],
        connectionState: String?, resumeCount: Int, lastSequenceAck: UInt64?
    ) {
        self.connectionId = connectionId
        self.hub = hub
        self.userId = userId
        self.permissions = permissions
        self.groups = groups
        self.reconnectionToken = reconnectionToken
        self.nextSequenceId = nextSequenceId
        self.unacked = unacked
        self.ackIds = ackIds
        self.connectionState = connectionState
        self.resumeCount = resumeCount
        self.lastSequenceAck = lastSequenceAck
    }
}

/// What deliveries to a session do while it moves between nodes (protocol-spec/cluster.md
/// §6). Messages carry their cluster-wide identity (`Broadcast.tag`), so whatever reaches a
/// session on both nodes, or twice on one, is given to its client once.
enum HandoverState {
    /// Old node, between begin and commit: kept, unnumbered, for the new node.
    case outgoing([Broadcast])
    /// New node, until the old node's tail is in: everything is held, once per message;
    /// `seen` holds the identities of the adopted buffer and of what is held.
    case incoming(held: [Broadcast], seen: Set<BroadcastTag>)
    /// New node, after the tail: messages the old node already gave the client may still
    /// come in late (published on the old node just before the commit); they are dropped
    /// until `until` (monotonic ns).
    case settled(seen: Set<BroadcastTag>, until: UInt64)
}

extension LoopHub {
    /// How long a session that moved keeps dropping messages it already had.
    static let settleNanos: UInt64 = 10_000_000_000

    /// Applies the handover state to one delivery; true when the delivery is used up here.
    func heldDuringHandover(_ broadcast: Broadcast, for session: HubSession) -> Bool {
        switch session.handover {
        case .outgoing(var kept)?:
            session.handover = nil  // One reference to the list while it grows.
            kept.append(broadcast)
            session.handover = .outgoing(kept)
            return true
        case .incoming(var held, var seen)?:
            session.handover = nil
            if let tag = broadcast.tag {
                if seen.insert(tag).inserted { held.append(broadcast) }
            } else {
                held.append(broadcast)
            }
            session.handover = .incoming(held: held, seen: seen)
            return true
        case .settled(let seen, let until)?:
            if now >= until {
                session.handover = nil
                return false
            }
            if let tag = broadcast.tag, seen.contains(tag) { return true }
            return false
        case nil:
            return false
        }
    }

    // MARK: - the node that has the session

    /// Starts moving a reliable session away: its socket here (if any) is closed, and
    /// messages for it are kept from now on instead of sent. nil when it is not here.
    public func beginHandover(connectionId: String) -> SessionSnapshot? {
        guard let session = sessions[connectionId], !session.isEnded, session.kind.isReliable else { return nil }
        switch session.handover {
        case nil, .settled?: break  // What it settled against matters no more once it moves on.
        case .outgoing?, .incoming?: return nil
        }
        if let transport = session.transport {
            session.transport = nil
            transport.close(code: .normal, reason: "resumed on another node")
        }
        if !detached.isEmpty { detached.remove(connectionId) }
        session.handover = .outgoing([])
        observer?.hubEvent(.detached(session, cause: .handingOver))
        return SessionSnapshot(
            connectionId: connectionId, hub: session.hub, userId: session.userId, permissions: session.permissions,
            groups: session.groups, reconnectionToken: session.reconnectionToken,
            nextSequenceId: session.nextSequenceId, unacked: session.unackedEntries(), ackIds: session.ackHistory.ids,
            connectionState: session.connectionState, resumeCount: session.resumeCount,
            lastSequenceAck: session.lastSequenceAck)
    }

    /// The new node has the session: it leaves this one quietly (the logical connection goes
    /// on, so no `disconnected` event), and the messages kept since `beginHandover` are
    /// returned for the new node. nil when no handover of it was under way here.
    public func commitHandover(connectionId: String) -> [Broadcast]? {
        guard let session = sessions[connectionId], case .outgoing(let kept)? = session.handover else { return nil }
        session.handover = nil
        session.isEnded = true
        if !session.groupSlots.isEmpty {
            for group in session.groupSlots.names { leave(session, group) }
        }
        sessions.removeValue(forKey: connectionId)
        if let membership, let user = session.userId { membership.userLeft(hub: session.hub, user: user) }
        session.dropBuffer()
        session.admission = nil
        observer?.hubEvent(.ended(session, code: nil, reason: "moved to another node", cause: .handedOver))
        return kept
    }

    /// The new node never took the session: it stays here, waiting for its client again,
    /// with the messages kept meanwhile numbered and buffered as usual.
    public func abortHandover(connectionId: String, now: UInt64) {
        guard let session = sessions[connectionId], case .outgoing(let kept)? = session.handover else { return }
        session.handover = nil
        self.now = max(self.now, now)
        for broadcast in kept { send(broadcast, to: session) }
        guard !session.isEnded, session.transport == nil else { return }
        session.detachedAt = self.now
        detached.insert(connectionId)
    }

    // MARK: - the node the client came back to

    /// Takes over a session from another node and resumes it on `transport` (nil when the
    /// client left meanwhile: it then waits for the client here). Messages for it are held
    /// until the old node's tail is in (`finishHandover`).
    @discardableResult
    public func adoptHandover(_ snapshot: SessionSnapshot, transport: HubTransport?, now: UInt64) -> HubSession {
        self.now = max(self.now, now)
        let identity = ClientIdentity(
            hub: snapshot.hub, userId: snapshot.userId, permissions: snapshot.permissions, groups: [],
            kind: .jsonReliable)
        let session = HubSession(
            connectionId: snapshot.connectionId, identity: identity, reconnectionToken: snapshot.reconnectionToken,
            ackHistoryCount: configuration.ackHistoryCount)
        session.connectionState = snapshot.connectionState
        session.nextSequenceId = snapshot.nextSequenceId
        for id in snapshot.ackIds { session.ackHistory.insert(id) }
        for entry in snapshot.unacked { session.buffer(sequenceId: entry.sequenceId, entry.broadcast) }
        session.resumeCount = snapshot.resumeCount + 1
        session.lastSequenceAck = snapshot.lastSequenceAck
        session.openedAt = now
        session.handover = .incoming(held: [], seen: Set(snapshot.unacked.compactMap(\.broadcast.tag)))
        sessions[snapshot.connectionId] = session
        if let membership, let user = session.userId { membership.userArrived(hub: session.hub, user: user) }
        for group in snapshot.groups where GroupName.isValid(group) { join(session, group) }
        if let transport {
            session.transport = transport
            sendConnected(session)
            replay(session, on: transport)
            observer?.hubEvent(.resumed(session, replayed: session.unackedCount))
        } else {
            session.detachedAt = self.now
            detached.insert(session.connectionId)
        }
        return session
    }

    /// The old node's tail arrived (or will not): it is delivered, then what was held here
    /// and not in the tail, and the session goes on as any other.
    public func finishHandover(connectionId: String, tail: [Broadcast], now: UInt64) {
        guard let session = sessions[connectionId], case .incoming(let held, var seen)? = session.handover else {
            return
        }
        self.now = max(self.now, now)
        session.handover = nil
        var fromTail: Set<BroadcastTag> = []
        for broadcast in tail {
            if let tag = broadcast.tag {
                guard fromTail.insert(tag).inserted else { continue }
                seen.insert(tag)
            }
            if !session.isEnded { send(broadcast, to: session) }
        }
        for broadcast in held where !session.isEnded {
            if let tag = broadcast.tag, fromTail.contains(tag) { continue }
            send(broadcast, to: session)
        }
        if !session.isEnded { session.handover = .settled(seen: seen, until: self.now &+ Self.settleNanos) }
    }

    /// Whether a session of this id is here, moving or not.
    public func hasSession(_ connectionId: String) -> Bool { sessions[connectionId] != nil }
}
