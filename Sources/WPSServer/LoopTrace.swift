import Glibc
import WPSBytes
import WPSHub
import WPSLoop
import WPSProtocol

/// The live trace on one loop (protocol-spec/admin.md §4): which viewers, on this loop or
/// another, want this loop's events, and the batches on their way to other loops. The hub's
/// per-message hooks are installed only while a subscription exists.
final class LoopTrace: HubObserver, ServerObserver, HubTracer, TurnProducer {
    struct Subscription: Sendable {
        let viewer: UInt64
        let loop: Int
        let filter: TraceFilter
    }

    unowned let loop: EventLoop
    unowned let hub: LoopHub
    private(set) var subscriptions: [Subscription] = []
    /// Whether any subscription wants message data, so it is copied only then.
    private var wantsPayloads = false
    /// Viewers attached to this loop, by id.
    private var viewers: [UInt64: TraceViewer] = [:]
    /// Encoded events for viewers on other loops, posted once per turn.
    private var outgoing: [Int: [TraceDelivery]] = [:]
    private var flushScheduled = false
    private var serial: UInt64 = 0

    init(loop: EventLoop, hub: LoopHub) {
        self.loop = loop
        self.hub = hub
    }

    var isActive: Bool { !subscriptions.isEmpty }

    // MARK: viewers

    /// A process-wide unique viewer id: the loop in the high bits.
    func makeViewerId() -> UInt64 {
        serial += 1
        return UInt64(loop.index) << 48 | serial
    }

    /// Attaches a viewer living on this loop and subscribes it on every loop.
    func attach(_ viewer: TraceViewer) {
        viewers[viewer.id] = viewer
        let subscription = Subscription(viewer: viewer.id, loop: loop.index, filter: viewer.filter)
        for (index, inbox) in loop.siblings.enumerated() {
            if index == loop.index {
                subscribe(subscription)
            } else {
                inbox.post { LoopContext.of($0).trace.subscribe(subscription) }
            }
        }
    }

    func detach(_ id: UInt64) {
        guard viewers.removeValue(forKey: id) != nil else { return }
        for (index, inbox) in loop.siblings.enumerated() {
            if index == loop.index {
                unsubscribe(id)
            } else {
                inbox.post { LoopContext.of($0).trace.unsubscribe(id) }
            }
        }
    }

    func subscribe(_ subscription: Subscription) {
        subscriptions.append(subscription)
        wantsPayloads = wantsPayloads || subscription.filter.payloads
        hub.tracer = self
    }

    func unsubscribe(_ id: UInt64) {
        subscriptions.removeAll { $0.viewer == id }
        wantsPayloads = subscriptions.contains { $0.filter.payloads }
        if subscriptions.isEmpty { hub.tracer = nil }
    }

    /// Events from other loops for viewers here; a viewer gone meanwhile is skipped.
    func deliver(_ batch: [TraceDelivery]) {
        for item in batch { viewers[item.viewer]?.push(item.bytes) }
    }

    // MARK: fan-out

    func emit(_ event: TraceEvent, session: HubSession?) {
        var plain: [UInt8]?
        var withData: [UInt8]?
        var time: Int64 = 0
        for subscription in subscriptions
        where subscription.filter.matches(event, isMember: { session?.isInGroup($0) ?? false }) {
            if time == 0 { time = Self.wallClockMillis() }
            let bytes: [UInt8]
            if subscription.filter.payloads, event.payload != nil {
                if withData == nil { withData = event.encode(timeMillis: time, loop: loop.index, withPayload: true) }
                bytes = withData!
            } else {
                if plain == nil { plain = event.encode(timeMillis: time, loop: loop.index, withPayload: false) }
                bytes = plain!
            }
            if subscription.loop == loop.index {
                viewers[subscription.viewer]?.push(bytes)
            } else {
                outgoing[subscription.loop, default: []].append(
                    TraceDelivery(viewer: subscription.viewer, bytes: bytes))
                if !flushScheduled {
                    flushScheduled = true
                    loop.produceBeforeFlush(self)
                }
            }
        }
    }

    func produce() {
        flushScheduled = false
        let batches = outgoing
        outgoing = [:]
        for (index, batch) in batches {
            loop.siblings[index].post { LoopContext.of($0).trace.deliver(batch) }
        }
    }

    static func wallClockMillis() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec) / 1_000_000
    }

    /// The loops' clock (CLOCK_MONOTONIC), for ages computed inside a gathered read.
    static func monotonicNanos() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
    }

    private func sessionEvent(_ type: String, _ session: HubSession, _ fields: [AdminJSON.Field] = [])
        -> TraceEvent
    {
        TraceEvent(
            type, hub: session.hub, connectionId: session.connectionId, userId: session.userId, fields: fields)
    }

    private func send(_ event: TraceEvent, _ session: HubSession?) {
        guard !subscriptions.isEmpty else { return }
        emit(event, session: session)
    }

    // MARK: HubObserver, ServerObserver

    func hubEvent(_ event: HubEvent) {
        guard !subscriptions.isEmpty else { return }
        switch event {
        case .opened(let session):
            send(
                sessionEvent("opened", session, [.init("protocol", .string(session.subprotocolName ?? "raw"))]), session
            )
        case .resumed(let session, let replayed):
            send(sessionEvent("resumed", session, [.init("replayed", .int(replayed))]), session)
        case .resumeRefused(let connectionId, let reason):
            send(
                TraceEvent(
                    "resumeRefused", connectionId: connectionId, fields: [.init("reason", .string(reason.rawValue))]),
                nil)
        case .detached(let session, let cause):
            send(sessionEvent("detached", session, [.init("cause", .string(cause.rawValue))]), session)
        case .slowConsumer(let session, let queuedBytes, let limitBytes):
            send(
                sessionEvent(
                    "slowConsumer", session,
                    [.init("queuedBytes", .int(queuedBytes)), .init("limitBytes", .int(limitBytes))]),
                session)
        case .ended(let session, let code, let reason, let cause):
            send(
                sessionEvent(
                    "ended", session,
                    [
                        .init("code", .optional(code.map { Int($0.rawValue) })), .init("reason", .string(reason)),
                        .init("cause", .string(cause.rawValue)),
                    ]), session)
        }
    }

    func serverEvent(_ event: ServerEvent) {
        guard !subscriptions.isEmpty else { return }
        switch event {
        case .upgradeRefused(let hub, let status, let reason):
            send(
                TraceEvent(
                    "upgradeRefused", hub: hub?.lowercased(),
                    fields: [.init("status", .int(status)), .init("reason", .string(reason))]), nil)
        case .recoveryRefused(let connectionId, let reason):
            send(
                TraceEvent("resumeRefused", connectionId: connectionId, fields: [.init("reason", .string(reason))]), nil
            )
        case .socketClosed(let session, let code, let reason, let byPeer):
            let fields: [AdminJSON.Field] = [
                .init("code", .optional(code.map { Int($0.rawValue) })), .init("reason", .string(reason)),
                .init("byPeer", .bool(byPeer)),
            ]
            if let session {
                send(sessionEvent("socketClosed", session, fields), session)
            } else {
                send(TraceEvent("socketClosed", fields: fields), nil)
            }
        }
    }

    // MARK: HubTracer

    func received(_ request: ClientRequest, frame: UnsafeRawBufferPointer, on session: HubSession) {
        var event: TraceEvent
        var data: Range<Int>?
        switch request {
        case .joinGroup(let group, let ackId), .leaveGroup(let group, let ackId):
            let type = if case .joinGroup = request { "joinGroup" } else { "leaveGroup" }
            event = sessionEvent(type, session, [.init("ackId", Self.ackId(ackId))])
            event.group = group
        case .sendToGroup(let group, let ackId, let noEcho, let dataType, let range):
            event = sessionEvent(
                "sendToGroup", session,
                [
                    .init("dataType", .string(dataType.wireName)), .init("bytes", .int(range.count)),
                    .init("ackId", Self.ackId(ackId)), .init("noEcho", .bool(noEcho)),
                ])
            event.group = group
            data = range
        case .event(let name, let ackId, let dataType, let range):
            event = sessionEvent(
                "event", session,
                [
                    .init("event", .string(name)), .init("dataType", .string(dataType.wireName)),
                    .init("bytes", .int(range.count)), .init("ackId", Self.ackId(ackId)),
                ])
            data = range
        case .invoke(let invocationId, let name, let dataType, let range):
            event = sessionEvent(
                "invoke", session,
                [
                    .init("invocationId", .string(invocationId)), .init("event", .string(name)),
                    .init("dataType", .string(dataType.wireName)), .init("bytes", .int(range?.count ?? 0)),
                ])
            data = range
        case .cancelInvocation(let invocationId):
            event = sessionEvent("cancelInvocation", session, [.init("invocationId", .string(invocationId))])
        case .sequenceAck(let sequenceId):
            event = sessionEvent("sequenceAck", session, [.init("sequenceId", Self.number(sequenceId))])
        case .ping:
            return
        }
        if wantsPayloads, let data { event.payload = Array(frame[data]) }
        emit(event, session: session)
    }

    func receivedRaw(_ frame: UnsafeRawBufferPointer, isText: Bool, group: String?, on session: HubSession) {
        var event = sessionEvent(
            group == nil ? "event" : "sendToGroup", session,
            [.init("dataType", .string(isText ? "text" : "binary")), .init("bytes", .int(frame.count))])
        event.group = group
        if wantsPayloads {
            event.payload = Array(frame)
            event.payloadForm = isText ? .text : .base64
        }
        emit(event, session: session)
    }

    func acked(_ session: HubSession, ackId: UInt64, error: AckError?) {
        var fields: [AdminJSON.Field] = [.init("ackId", Self.number(ackId)), .init("success", .bool(error == nil))]
        if let error { fields.append(.init("error", .string(error.name.description))) }
        emit(sessionEvent("ack", session, fields), session: session)
    }

    /// A REST send accepted on this loop; only the loop that took the request reports it.
    func restSend(hub: String, target: ConnectionSelector.Target, dataType: String, bytes: Int) {
        var event = TraceEvent("restSend", hub: hub)
        let kind: String
        switch target {
        case .hub: kind = "hub"
        case .group(let group):
            kind = "group"
            event.group = group
        case .user(let user):
            kind = "user"
            event.userId = user
        case .connection(let id):
            kind = "connection"
            event.connectionId = id
        }
        event.fields = [
            .init("target", .string(kind)), .init("dataType", .string(dataType)), .init("bytes", .int(bytes)),
        ]
        emit(event, session: nil)
    }

    static func ackId(_ id: UInt64?) -> AdminJSON { id.map(number) ?? .null }
    static func number(_ value: UInt64) -> AdminJSON { .int(Int(truncatingIfNeeded: value)) }
}

/// One encoded event for one viewer on another loop.
struct TraceDelivery: Sendable {
    let viewer: UInt64
    let bytes: [UInt8]
}
