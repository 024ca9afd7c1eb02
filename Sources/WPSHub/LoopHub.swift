public import WPSBytes
import WPSProtocol

/// The pub/sub domain for the connections of one event loop, as a state machine: sockets
/// opening, client messages, closes and clock ticks go in; message-level actions (deliver,
/// system message, close) come out through each session's `HubTransport`, and broadcasts
/// for other loops through `HubPeers`.
///
/// Nothing here touches a socket or reads a clock, so it is tested with plain values.
public final class LoopHub {
    struct GroupKey: Hashable {
        var hub: String
        var group: String
    }

    public let configuration: HubConfiguration
    public var peers: HubPeers?
    /// The application's event handlers; nil: none configured.
    public var upstream: HubUpstream?
    /// Sessions of this loop by connection id, including reliable ones waiting for resume.
    public internal(set) var sessions: [String: HubSession] = [:]
    var groups: [GroupKey: [HubSession]] = [:]
    var detached: Set<String> = []
    /// Hears session events (logs, metrics, trace); nil: nobody listens.
    public var observer: HubObserver?
    /// Hears which groups and users this loop has members of; nil without a cluster.
    public var membership: HubMembership?
    /// Hears single messages for the live trace; nil unless a viewer watches this loop.
    public var tracer: HubTracer?
    /// Acks sent, by result, for metrics.
    public internal(set) var acks = AckCounts()
    /// Why recently ended reliable sessions ended, so a late recovery attempt can say why
    /// it is refused; the oldest are forgotten past `rememberedEndsLimit`.
    var recentlyEnded: [String: ResumeRefusal] = [:]
    var recentlyEndedOrder: [String] = []
    var recentlyEndedHead = 0
    static let rememberedEndsLimit = 4096
    /// Numbers for the messages made here (`stamp`): the loop's index in the top 16 bits keeps
    /// them unique on the node. Only a cluster needs them.
    public var serialBase: UInt64 = 0
    var serialCounter: UInt64 = 0
    /// Monotonic time of the latest input (ns); set by `tick` and `transportClosed`.
    public var now: UInt64 = 0
    /// Reused for small messages (acks, system messages) so they allocate nothing.
    var scratch = OutputBuffer(capacity: 512)

    public init(configuration: HubConfiguration = HubConfiguration(), peers: HubPeers? = nil) {
        self.configuration = configuration
        self.peers = peers
    }

    // MARK: - inputs

    /// A new logical connection after a successful upgrade: sends `connected` to JSON
    /// clients and joins the identity's groups.
    @discardableResult
    public func open(
        connectionId: String, identity: ClientIdentity, reconnectionToken: String?, transport: HubTransport
    ) -> HubSession {
        let session = HubSession(
            connectionId: connectionId, identity: identity,
            reconnectionToken: identity.kind.isReliable ? reconnectionToken : nil,
            ackHistoryCount: configuration.ackHistoryCount)
        session.transport = transport
        sessions[connectionId] = session
        if let membership, let user = session.userId { membership.userArrived(hub: session.hub, user: user) }
        sendConnected(session)
        for group in identity.groups where GroupName.isValid(group) {
            join(session, group)
        }
        upstream?.connected(session)
        observer?.hubEvent(.opened(session))
        return session
    }

    /// A reliable client came back with its connection id (and a token the caller checked).
    /// Returns nil when the session cannot be resumed; the caller then closes with 1008.
    public func resume(connectionId: String, transport: HubTransport, now: UInt64 = 0) -> HubSession? {
        self.now = max(self.now, now)
        guard let session = sessions[connectionId], !session.isEnded, session.kind.isReliable else {
            if let observer {
                let reason: ResumeRefusal =
                    sessions[connectionId] != nil ? .notReliable : recentlyEnded[connectionId] ?? .unknown
                observer.hubEvent(.resumeRefused(connectionId: connectionId, reason: reason))
            }
            return nil
        }
        if let old = session.transport, old !== transport {
            // The old socket is half-open from our side; the client has moved on.
            session.transport = nil
            old.close(code: .normal, reason: "resumed on another connection")
            observer?.hubEvent(.detached(session, cause: .replaced))
        }
        session.transport = transport
        session.detachedAt = 0
        session.resumeCount += 1
        detached.remove(connectionId)
        sendConnected(session)
        replay(session, on: transport)
        observer?.hubEvent(.resumed(session, replayed: session.unackedCount))
        return session
    }

    /// Sends everything not yet acknowledged, in order, with its original sequence id;
    /// copies whose `messageTtlSeconds` ran out are skipped (the client's cumulative ack
    /// covers them).
    func replay(_ session: HubSession, on transport: HubTransport) {
        var replayed = 0
        session.unacked.forEach { entry in
            if entry.expiresAt != 0, entry.expiresAt <= self.now { return }
            entry.broadcast._withUnsafeGuaranteedRef { broadcast in
                replayed += broadcast.prefix.count + Self.sequencedFrameOverhead
                _ = transport.deliver(broadcast, sequenceId: entry.sequenceId)
            }
        }
        // The replay may exceed the outbound limit by itself (the buffer's limit is larger);
        // counting it against the client would cut it again at the next message, and again
        // after every recovery. It is allowed on top of the limit until acknowledged.
        session.replayAllowance = replayed
    }

    /// The socket of `session` is gone. `clientCloseCode` is the code of the client's close
    /// frame, nil when the connection dropped or the server closed it.
    public func transportClosed(
        _ session: HubSession, transport: HubTransport, clientCloseCode: WebSocketCloseCode?, now: UInt64
    ) {
        self.now = max(self.now, now)
        guard session.transport === transport else { return }
        session.transport = nil
        if session.kind.isReliable, !session.isEnded, clientCloseCode != WebSocketCloseCode.normal {
            session.detachedAt = now
            detached.insert(session.connectionId)
            observer?.hubEvent(.detached(session, cause: .dropped))
        } else if clientCloseCode == nil {
            end(session, code: nil, reason: nil, why: "The connection dropped.", cause: .dropped)
        } else {
            end(session, code: nil, reason: nil, why: "The client closed the connection.", cause: .clientClosed)
        }
    }

    /// Ends reliable sessions whose resume window has passed.
    public func tick(now: UInt64) {
        self.now = max(self.now, now)
        guard !detached.isEmpty else { return }
        for id in detached {
            guard let session = sessions[id] else {
                detached.remove(id)
                continue
            }
            if now >= session.detachedAt &+ configuration.resumeWindowNanos {
                end(
                    session, code: nil, reason: nil, why: "The connection dropped and was not resumed in time.",
                    cause: .resumeWindowPassed)
            }
        }
    }

    /// A broadcast posted by another loop (or published here): sent to every local
    /// connection its selector admits.
    public func deliver(_ broadcast: Broadcast) {
        let selector = broadcast.selector
        if case .group(let group) = selector.target {
            // The hot path: no allocation, the member list is walked in place.
            // `members` is a copy of the list, so sessions stay alive even if a send cuts one
            // and the group changes; each is then used unretained.
            guard let members = groups[GroupKey(hub: broadcast.hub, group: group)] else { return }
            members.withUnsafeBufferPointer { list in
                for index in list.indices {
                    Unmanaged.passUnretained(list[index])._withUnsafeGuaranteedRef { session in
                        if selector.admits(session) { send(broadcast, to: session) }
                    }
                }
            }
            return
        }
        forEachCandidate(selector) { send(broadcast, to: $0) }
    }

    /// Calls `body` for each live local session the selector admits.
    public func forEachCandidate(_ selector: ConnectionSelector, _ body: (HubSession) -> Void) {
        switch selector.target {
        case .group(let group):
            for session in members(hub: selector.hub, group: group) where selector.admits(session) { body(session) }
        case .connection(let id):
            if let session = sessions[id], session.hub == selector.hub, !session.isEnded, selector.admits(session) {
                body(session)
            }
        case .hub:
            for session in Array(sessions.values)
            where session.hub == selector.hub && !session.isEnded && selector.admits(session) {
                body(session)
            }
        case .user(let user):
            for session in Array(sessions.values)
            where session.hub == selector.hub && session.userId == user && !session.isEnded && selector.admits(session)
            {
                body(session)
            }
        }
    }

    /// Gives a message made on this loop its number (when numbering is on), before it is
    /// delivered or shared.
    public func stamp(_ broadcast: Broadcast) {
        guard serialBase != 0 else { return }
        serialCounter &+= 1
        broadcast.serial = serialBase | (serialCounter & 0xFFFF_FFFF_FFFF)
    }

    /// Delivers here and on every other loop.
    public func publish(_ broadcast: Broadcast) {
        stamp(broadcast)
        deliver(broadcast)
        peers?.publish(broadcast)
    }

    /// Closes a session for good: `system/disconnected` with `reason` to JSON clients, then
    /// a close with `code`. A later resume attempt is refused.
    /// `why` is what the event handler's `disconnected` event says, when not `reason`.
    /// `cause` is what logs and metrics count it as.
    public func end(
        _ session: HubSession, code: WebSocketCloseCode?, reason: String?, why: String? = nil,
        cause: EndCause = .closedByServer
    ) {
        guard !session.isEnded else { return }
        session.isEnded = true
        session.handover = nil
        session.heldFrames = []
        session.heldBytes = 0
        session.admission = nil
        session.heldNext = 0
        session.heldInvocations = []
        if !session.groupSlots.isEmpty {
            for group in session.groupSlots.names { leave(session, group) }
        }
        sessions.removeValue(forKey: session.connectionId)
        if let membership, let user = session.userId { membership.userLeft(hub: session.hub, user: user) }
        // Most sessions never wait for a resume: no need to hash the id for an empty set.
        if !detached.isEmpty { detached.remove(session.connectionId) }
        session.dropBuffer()
        var sentCode: WebSocketCloseCode?
        if let transport = session.transport {
            session.transport = nil
            if let reason, session.kind.isJSON { sendDisconnected(reason, to: transport) }
            sentCode = code ?? .normal
            transport.close(code: code ?? .normal, reason: reason ?? "")
        }
        upstream?.disconnected(session, reason: reason ?? why ?? "")
        if session.kind.isReliable { rememberEnd(session.connectionId, ResumeRefusal(cause)) }
        observer?.hubEvent(.ended(session, code: sentCode, reason: reason ?? why ?? "", cause: cause))
    }

    /// Keeps why a reliable session ended, for a recovery attempt that comes later.
    func rememberEnd(_ connectionId: String, _ reason: ResumeRefusal) {
        if recentlyEndedOrder.count < Self.rememberedEndsLimit {
            recentlyEndedOrder.append(connectionId)
        } else {
            recentlyEnded.removeValue(forKey: recentlyEndedOrder[recentlyEndedHead])
            recentlyEndedOrder[recentlyEndedHead] = connectionId
            recentlyEndedHead = (recentlyEndedHead + 1) % Self.rememberedEndsLimit
        }
        recentlyEnded[connectionId] = reason
    }

    /// Frame header and `,"sequenceId":N}` suffix, at most, around a buffered message.
    static let sequencedFrameOverhead = 14 + 32

    // MARK: - groups

    func join(_ session: HubSession, _ group: String) {
        guard session.groupSlots[group] == nil else { return }
        // One lookup of the group: its member list is appended to in place; a new group
        // takes a spare list if there is one.
        var opened = false
        session.groupSlots[group] = append(
            session, to: &groups[GroupKey(hub: session.hub, group: group), default: []], opened: &opened)
        if opened, let membership { membership.groupOpened(hub: session.hub, group: group) }
    }

    /// Appends `session` to `members` and returns its slot there.
    private func append(_ session: HubSession, to members: inout [HubSession], opened: inout Bool) -> Int {
        if members.isEmpty {
            opened = true
            if let spare = spareMemberLists.popLast() { members = spare }
        }
        members.append(session)
        return members.count - 1
    }

    /// Emptied member lists kept for the next new group, so groups that come and go (one per
    /// job, say) do not allocate and free a list each time. Only small lists are kept.
    var spareMemberLists: [[HubSession]] = []
    static let spareMemberListLimit = 64
    static let spareMemberListMaxCapacity = 64

    func leave(_ session: HubSession, _ group: String) {
        guard let slot = session.groupSlots.removeValue(forKey: group) else { return }
        // One lookup of the group; its member list is changed in place through the index.
        guard let index = groups.index(forKey: GroupKey(hub: session.hub, group: group)) else { return }
        let last = groups.values[index].removeLast()
        if last !== session {
            groups.values[index][slot] = last
            last.groupSlots[group] = slot
        }
        if groups.values[index].isEmpty {
            let emptied = groups.remove(at: index).value
            if spareMemberLists.count < Self.spareMemberListLimit, emptied.capacity <= Self.spareMemberListMaxCapacity {
                spareMemberLists.append(emptied)
            }
            if let membership { membership.groupClosed(hub: session.hub, group: group) }
        }
    }

    /// Local members of a group (for tests and REST queries).
    public func members(hub: String, group: String) -> [HubSession] {
        groups[GroupKey(hub: hub, group: group)] ?? []
    }
}
