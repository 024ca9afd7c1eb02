import Glibc
import WPSAuth
import WPSHTTP
import WPSHub
import WPSLoop
import WPSProtocol

/// The admin routes under `/admin` (protocol-spec/admin.md): introspection as JSON and the
/// live trace. Our own extension; Azure has nothing like it.
extension Router {
    static let serverVersion = "0.1.0"
    /// The most connections `/admin/connections?slowest=N` lists.
    static let maxSlowest = 1000

    func routeAdmin(_ head: HTTPRequestHead, context: LoopContext, secure: Bool) -> RouteDecision {
        // The dashboard page holds no data, so it alone is served without a token.
        if head.path == "/admin/", head.method == "GET" || head.method == "HEAD" {
            return .answer(
                HTTPAnswer(
                    .ok, body: Dashboard.body, contentType: "text/html; charset=utf-8", headers: Dashboard.headers))
        }
        guard let segments = Self.pathSegments(head.rawPath) else {
            return .answer(restError(.badRequest, "InvalidPath", "the path is not valid percent-encoding"))
        }
        let isTrace = segments == ["admin", "trace"]
        if let failure = authenticateAdmin(head, secure: secure, allowQueryToken: isTrace) { return .answer(failure) }
        guard head.method == "GET" else { return .answer(methodNotAllowed()) }
        if isTrace {
            switch TraceFilter.parse(query: head.queryValue) {
            case .failure(let error): return .answer(restError(.badRequest, "InvalidFilter", error.message))
            case .success(let filter):
                let limit = configuration.traceMaxQueuedBytes
                return upgrade(head, protocols: nil) {
                    TraceViewer(trace: context.trace, filter: filter, maxQueuedBytes: limit)
                }
            }
        }
        let loop = context.loop
        switch segments.count {
        case 2 where segments[1] == "server":
            let started = startedAt
            guard let cluster = context.cluster else {
                return .deferred { reply in
                    Gather.run(on: loop, { $0.summary() }) { reply(Self.serverAnswer($0, startedAt: started)) }
                }
            }
            return .deferred { reply in
                Gather.run(on: loop, { $0.summary() }) { loops in
                    cluster.registeredNodes { nodes in
                        reply(
                            Self.serverAnswer(
                                loops, startedAt: started, cluster: Self.clusterValue(cluster, nodes: nodes)))
                    }
                }
            }
        case 3 where segments[1] == "hubs":
            guard let hub = HubName.canonical(segments[2]) else {
                return .answer(restError(.badRequest, "InvalidHub", "invalid hub name '\(segments[2])'"))
            }
            return .deferred { reply in
                Gather.run(on: loop, { ($0.summary().hubs[hub], $0.groupSizes(hub: hub)) }) {
                    reply(Self.hubAnswer(hub, $0))
                }
            }
        case 2 where segments[1] == "connections":
            var count = 10
            if let text = head.queryValue("slowest") {
                guard let value = Int(text), (1...Self.maxSlowest).contains(value) else {
                    return .answer(
                        restError(
                            .badRequest, "InvalidSlowest", "slowest must be an integer from 1 to \(Self.maxSlowest)"))
                }
                count = value
            }
            let wanted = count
            return .deferred { reply in
                Gather.run(on: loop, { Self.slowest($0, count: wanted) }) { shards in
                    reply(Self.slowestAnswer(shards, count: wanted))
                }
            }
        case 3 where segments[1] == "connections":
            let id = segments[2]
            return .deferred { reply in
                Gather.run(on: loop, { Self.connectionDetail($0, id: id) }) { shards in
                    guard let (index, detail) = shards.enumerated().lazy.compactMap({ i, d in d.map { (i, $0) } }).first
                    else {
                        reply(self.restError(.notFound, "NotFound", "Connection \(id) is not found."))
                        return
                    }
                    reply(HTTPAnswer(.ok, body: detail.json(loop: index).bytes))
                }
            }
        default:
            return .answer(restError(.notFound, "NotFound", "no such admin path"))
        }
    }

    /// nil when the request carries a token signed by a configured key whose `aud` is this
    /// server's `/admin` URL (protocol-spec/admin.md §2). The trace also takes it as
    /// `access_token`, since browsers cannot set headers on a WebSocket.
    func authenticateAdmin(_ head: HTTPRequestHead, secure: Bool, allowQueryToken: Bool) -> HTTPAnswer? {
        let token: String?
        if let header = head.headers["Authorization"] {
            guard header.lowercased().hasPrefix("bearer ") else {
                return restError(.unauthorized, "Unauthorized", "the Authorization header must be a Bearer token")
            }
            token = String(header.dropFirst(7)).trimmingSpaces
        } else {
            token = allowQueryToken ? head.queryValue("access_token") : nil
        }
        guard let token, !token.isEmpty else {
            return restError(.unauthorized, "Unauthorized", "an Authorization: Bearer token is required")
        }
        return verifyBearer(token, head, secure: secure, target: "/admin", mismatch: "the token is not an admin token")
    }

    // MARK: - answers

    /// This node's place in the cluster and the nodes registered there (cluster.md §5).
    static func clusterValue(_ cluster: ClusterLoop, nodes: [(node: String, expiresAt: Int64)]?) -> AdminJSON {
        let now = ClusterLoop.wallClockMillis()
        var fields: [AdminJSON.Field] = [
            .init("name", .string(cluster.shared.configuration.name)),
            .init("nodeId", .string(cluster.nodeId)),
            .init("redis", .string(cluster.shared.configuration.redis.redactedURL)),
            .init("linkUp", .bool(cluster.isReady)),
        ]
        if let nodes {
            fields.append(
                .init(
                    "nodes",
                    .array(
                        nodes.map { entry in
                            .object([
                                .init("nodeId", .string(entry.node)),
                                .init("leaseLeftMillis", .int(Int(entry.expiresAt - now))),
                            ])
                        })))
        }
        return .object(fields)
    }

    static func serverAnswer(_ loops: [LoopHub.Summary], startedAt: Int64, cluster: AdminJSON? = nil) -> HTTPAnswer {
        var hubs: [String: (connections: Int, waiting: Int)] = [:]
        for loop in loops {
            for (name, counts) in loop.hubs {
                let sum = hubs[name] ?? (0, 0)
                hubs[name] = (sum.connections + counts.connections, sum.waiting + counts.waiting)
            }
        }
        let body = AdminJSON.object(
            [
                .init("version", .string(serverVersion)),
                .init("uptimeSeconds", .int(Int(max(0, Int64(time(nil)) - startedAt)))),
                .init("connections", .int(loops.reduce(0) { $0 + $1.connections })),
                .init("waitingForResume", .int(loops.reduce(0) { $0 + $1.waitingForResume })),
                .init(
                    "loops",
                    .array(
                        loops.enumerated().map { index, loop in
                            .object([
                                .init("loop", .int(index)), .init("connections", .int(loop.connections)),
                                .init("waitingForResume", .int(loop.waitingForResume)),
                            ])
                        })),
                .init(
                    "hubs",
                    .array(
                        hubs.keys.sorted().map { name in
                            .object([
                                .init("hub", .string(name)), .init("connections", .int(hubs[name]!.connections)),
                                .init("waitingForResume", .int(hubs[name]!.waiting)),
                            ])
                        })),
            ] + (cluster.map { [.init("cluster", $0)] } ?? []))
        return HTTPAnswer(.ok, body: body.bytes)
    }

    static func hubAnswer(_ hub: String, _ loops: [((connections: Int, waiting: Int)?, [String: Int])]) -> HTTPAnswer {
        var perGroup: [String: [Int]] = [:]
        for (index, loop) in loops.enumerated() {
            for (group, size) in loop.1 {
                perGroup[group, default: Array(repeating: 0, count: loops.count)][index] = size
            }
        }
        let body = AdminJSON.object([
            .init("hub", .string(hub)),
            .init("connections", .int(loops.reduce(0) { $0 + ($1.0?.connections ?? 0) })),
            .init("waitingForResume", .int(loops.reduce(0) { $0 + ($1.0?.waiting ?? 0) })),
            .init("loops", .array(loops.map { .int($0.0?.connections ?? 0) })),
            .init(
                "groups",
                .array(
                    perGroup.keys.sorted().map { group in
                        let sizes = perGroup[group]!
                        return .object([
                            .init("group", .string(group)), .init("connections", .int(sizes.reduce(0, +))),
                            .init("loops", .array(sizes.map { .int($0) })),
                        ])
                    })),
        ])
        return HTTPAnswer(.ok, body: body.bytes)
    }

    /// One connection as the admin routes show it.
    struct ConnectionDetail: Sendable {
        var connectionId: String
        var hub: String
        var userId: String?
        var subprotocol: String?
        var groups: [String]
        var ageMillis: Int
        var attached: Bool
        var queuedBytes: Int
        var unackedMessages: Int
        var lastSequenceAck: UInt64?
        var resumes: Int
        var pingRoundTripMicros: Int?

        func json(loop: Int) -> AdminJSON {
            .object([
                .init("connectionId", .string(connectionId)), .init("hub", .string(hub)),
                .init("userId", .optional(userId)), .init("protocol", .string(subprotocol ?? "raw")),
                .init("groups", .array(groups.map { .string($0) })), .init("loop", .int(loop)),
                .init("ageMillis", .int(ageMillis)), .init("attached", .bool(attached)),
                .init("queuedBytes", .int(queuedBytes)), .init("unackedMessages", .int(unackedMessages)),
                .init("lastSequenceAck", lastSequenceAck.map(LoopTrace.number) ?? .null),
                .init("resumes", .int(resumes)), .init("pingRoundTripMicros", .optional(pingRoundTripMicros)),
            ])
        }
    }

    static func detail(_ session: HubSession, now: UInt64) -> ConnectionDetail {
        let application = session.transport as? HubApplication
        let rtt = application?.session?.pingRoundTripNanos
        return ConnectionDetail(
            connectionId: session.connectionId, hub: session.hub, userId: session.userId,
            subprotocol: session.subprotocolName, groups: session.groups.sorted(),
            ageMillis: Int((now &- min(now, session.openedAt)) / 1_000_000), attached: session.transport != nil,
            queuedBytes: session.transport?.queuedBytes ?? 0, unackedMessages: session.unackedCount,
            lastSequenceAck: session.lastSequenceAck, resumes: session.resumeCount,
            pingRoundTripMicros: rtt.map { Int($0 / 1000) })
    }

    static func connectionDetail(_ hub: LoopHub, id: String) -> ConnectionDetail? {
        guard let session = hub.sessions[id], !session.isEnded else { return nil }
        return detail(session, now: LoopTrace.monotonicNanos())
    }

    static func slowest(_ hub: LoopHub, count: Int) -> [ConnectionDetail] {
        let now = LoopTrace.monotonicNanos()
        let attached = hub.sessions.values.filter { !$0.isEnded && $0.transport != nil }
        let top = attached.sorted { ($0.transport?.queuedBytes ?? 0) > ($1.transport?.queuedBytes ?? 0) }.prefix(count)
        return top.map { detail($0, now: now) }
    }

    static func slowestAnswer(_ shards: [[ConnectionDetail]], count: Int) -> HTTPAnswer {
        let all = shards.enumerated().flatMap { index, details in details.map { (index, $0) } }
        let top = all.sorted { $0.1.queuedBytes > $1.1.queuedBytes }.prefix(count)
        let body = AdminJSON.object([.init("connections", .array(top.map { $0.1.json(loop: $0.0) }))])
        return HTTPAnswer(.ok, body: body.bytes)
    }
}
