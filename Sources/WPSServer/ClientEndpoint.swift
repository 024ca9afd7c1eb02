import Glibc
import WPSAuth
import WPSBytes
import WPSDeflate
import WPSHTTP
import WPSHub
import WPSLoop
import WPSProtocol
import WPSTLS
import WPSUpstream
import WPSWebSocket

/// The Azure Web PubSub client endpoint: `/client/hubs/{hub}` and `/client/?hub={hub}`
/// (protocol-spec/client-protocol.md, protocol-spec/auth.md).
extension Router {
    static let hubPrefix = "/client/hubs/"
    /// The subprotocols the client endpoint speaks, in the order they are preferred.
    static let subprotocolNames = [WebPubSubSubprotocol.json.name, WebPubSubSubprotocol.jsonReliable.name]

    /// The hub named by a client path, or nil when the path is not the client endpoint.
    func clientHub(_ head: HTTPRequestHead) -> String?? {
        // Compared as contiguous bytes: the prefix is ASCII, and stepping through a String
        // (by Character or by its UTF-8 view) costs far more.
        var path = head.path
        var prefix = Self.hubPrefix
        let name = path.withUTF8 { path in
            prefix.withUTF8 { prefix -> String? in
                guard ByteScan.hasPrefix(UnsafeRawBufferPointer(path), UnsafeRawBufferPointer(prefix)) else {
                    return nil
                }
                return String(decoding: path[prefix.count...], as: UTF8.self)
            }
        }
        if let name { return .some(name.isEmpty ? nil : name) }
        if head.path == "/client" || head.path == "/client/" {
            return .some(head.queryValue("hub"))
        }
        return nil
    }

    func routeClient(
        _ head: HTTPRequestHead, hubName: String?, context: LoopContext, connection: Connection?
    ) -> RouteDecision {
        let loop = context.loop
        guard head.method == "GET" else {
            return .respond(.methodNotAllowed, body: "method not allowed\n", headers: ["Allow": "GET"])
        }
        // Hub names are case-insensitive (reference §1.1): one spelling inside the server.
        guard let hubName, let hub = HubName.canonical(hubName) else {
            return .respond(.badRequest, body: "missing or invalid hub name\n", headers: HTTPHeaders())
        }
        let upgrade: WebSocketUpgradeRequest
        switch WebSocketHandshake.validateUpgrade(method: head.method, fields: head.headers.rawFields) {
        case .failure(let error):
            return .respond(
                HTTPStatus(code: error.status), body: error.reason + "\n", headers: HTTPHeaders(error.headers))
        case .success(let request):
            upgrade = request
        }
        let selected = WebSocketHandshake.selectProtocol(
            offered: upgrade.offeredProtocols, supported: Self.subprotocolNames)
        let subprotocol = selected.flatMap { WebPubSubSubprotocol.parse($0) }
        let deflate = negotiateDeflate(upgrade)
        let response = upgradeResponse(upgrade, protocol: selected, deflate: deflate)
        let now = Int64(time(nil))
        let messageRate = configuration.limits.maxMessagesPerSecond
        func accept(_ start: HubApplication.Start, admission: ConnectionTicket? = nil) -> RouteDecision {
            .upgrade(
                response: response,
                application: HubApplication(
                    context: context, start: start, admission: admission, maxMessagesPerSecond: messageRate),
                deflate: deflate)
        }

        if let connectionId = head.queryValue("awps_connection_id"),
            let recoveryToken = head.queryValue("awps_reconnection_token")
        {
            // Recovery: the old access token may have expired; the reconnection token is
            // what proves the client (reference §3.4). Failures are accepted, then closed 1008.
            let owner = ConnectionIDs.loopIndex(of: connectionId, loops: loop.siblings.count)
            // Stable names: logs and metrics count them (protocol-spec/server.md, Logs).
            let refusal: String? =
                if subprotocol?.isReliable != true {
                    "notReliable"
                } else if !ReconnectionToken.verify(
                    recoveryToken, connectionId: connectionId, keys: configuration.accessKeys, now: now)
                {
                    "badToken"
                } else if owner == nil {
                    "badConnectionId"
                } else if context.cluster == nil, ConnectionIDs.node(of: connectionId) != nil {
                    // Made by a cluster node; this server is not one.
                    "otherNode"
                } else {
                    nil
                }
            guard let owner, refusal == nil else {
                context.events.report(.recoveryRefused(connectionId: connectionId, reason: refusal ?? ""))
                return accept(.refuse(code: .policyViolation, reason: "the connection cannot be recovered"))
            }
            if owner == loop.index {
                return accept(.resume(connectionId: connectionId))
            }
            return .moveAndUpgrade(
                toLoop: owner, response: response, start: .resume(connectionId: connectionId), deflate: deflate)
        }

        let claims: JWTClaims
        switch authenticate(head, hub: hub, now: now) {
        case .failure(let failure):
            return .respond(.unauthorized, body: failure.reason + "\n", headers: HTTPHeaders())
        case .success(let verified):
            claims = verified
        }
        let kind: ClientKind
        if let subprotocol {
            kind = subprotocol.isReliable ? .jsonReliable : .json
        } else {
            let mode = head.queryValue("webpubsub_mode") ?? "sendEvent"
            if mode.lowercased() == "sendtogroup" {
                guard let group = head.queryValue("group"), GroupName.isValid(group) else {
                    return .respond(
                        .badRequest, body: "webpubsub_mode=sendToGroup needs one valid group\n", headers: HTTPHeaders())
                }
                guard claims.permissions.canSend(toGroup: group) else {
                    return .respond(
                        .forbidden, body: "the token has no permission to send to group '\(group)'\n",
                        headers: HTTPHeaders())
                }
                kind = .raw(publishGroup: group)
            } else if mode.lowercased() == "sendevent" {
                if context.upstream?.handlesUserEvent(hub: hub, name: "message") == true {
                    kind = .raw(publishGroup: nil)
                } else {
                    return accept(
                        .refuse(
                            code: .internalError,
                            reason:
                                "sendEvent mode needs an event handler; use webpubsub_mode=sendToGroup&group=G or a JSON subprotocol"
                        ))
                }
            } else {
                return .respond(.badRequest, body: "unknown webpubsub_mode\n", headers: HTTPHeaders())
            }
        }
        var admission: ConnectionTicket?
        if let connections {
            switch connections.admit(
                user: claims.subject, address: connection?.peerAddress, token: Self.tokenSignature(head))
            {
            case .failure(let reached):
                return .respond(.tooManyRequests, body: "too many connections: \(reached)\n", headers: HTTPHeaders())
            case .success(let ticket):
                admission = ticket
            }
        }
        let connectionId = ConnectionIDs.make(loop: loop.index, node: context.cluster?.nodeId)
        if let upstream = context.upstream, let handler = upstream.connectHandler(hub: hub) {
            return connectThroughHandler(
                handler, upstream: upstream, head: head, upgrade: upgrade, claims: claims, hub: hub, kind: kind,
                selected: selected, deflate: deflate, connectionId: connectionId, context: context,
                admission: admission,
                certificate: (connection?.transform as? TLSTransform)?.session.peerCertificate)
        }
        let identity = ClientIdentity(
            hub: hub, userId: claims.subject, permissions: claims.permissions, groups: claims.groups, kind: kind)
        let token =
            kind.isReliable
            ? ReconnectionToken.issue(connectionId: connectionId, key: configuration.accessKeys[0], now: now) : nil
        return accept(
            .open(connectionId: connectionId, identity: identity, reconnectionToken: token), admission: admission)
    }

    /// The signature part of the request's access token, which the per-token limit counts.
    static func tokenSignature(_ head: HTTPRequestHead) -> String? {
        let token = head.queryValue("access_token") ?? head.headers["Authorization"].map { String($0.dropFirst(7)) }
        return token?.split(separator: ".").last.map(String.init)
    }

    /// Asks the hub's `connect` handler before the 101 (protocol-spec/upstream.md §5): its
    /// answer may change the user, roles, groups and subprotocol, or refuse the upgrade.
    func connectThroughHandler(
        _ handler: EventHandler, upstream: UpstreamDispatcher, head: HTTPRequestHead, upgrade: WebSocketUpgradeRequest,
        claims: JWTClaims, hub: String, kind: ClientKind, selected: String?, deflate: NegotiatedDeflate?,
        connectionId: String, context: LoopContext, admission: ConnectionTicket?, certificate: TLSPeerCertificate?
    ) -> RouteDecision {
        let source = EventSource(hub: hub, connectionId: connectionId, userId: claims.subject, subprotocol: selected)
        let body = ConnectEvent.body(
            claims: claims.all.map { ($0.name, $0.values) }, query: head.query, headers: head.headers.fields,
            subprotocols: upgrade.offeredProtocols,
            clientCertificates: certificate.map { [($0.thumbprint, $0.pem)] } ?? [])
        let base = ConnectIdentity(
            userId: claims.subject, roles: claims.roles, groups: claims.groups, subprotocol: selected)
        let keys = configuration.accessKeys
        return .deferredDecision { [self] complete in
            upstream.connect(handler: handler, source: source, body: body) { [self] outcome in
                switch outcome {
                case .refused(let status, let reason):
                    complete(.respond(HTTPStatus(code: status), body: reason + "\n", headers: HTTPHeaders()))
                case .accepted(let answer, let state):
                    let merged: ConnectIdentity
                    do {
                        merged = try base.merged(with: answer, offered: upgrade.offeredProtocols)
                    } catch {
                        return complete(.respond(.internalServerError, body: "\(error)\n", headers: HTTPHeaders()))
                    }
                    var chosenKind = kind
                    if merged.subprotocol != selected {
                        // The handler picked another offered subprotocol: ours, or one of the
                        // app's own, served as a simple client that sends events.
                        if let ours = merged.subprotocol.flatMap({ WebPubSubSubprotocol.parse($0) }) {
                            chosenKind = ours.isReliable ? .jsonReliable : .json
                        } else {
                            chosenKind = .raw(publishGroup: nil)
                        }
                    }
                    var identity = ClientIdentity(
                        hub: hub, userId: merged.userId,
                        permissions: answer.roles == nil ? claims.permissions : Permissions(roles: merged.roles),
                        groups: merged.groups, kind: chosenKind)
                    identity.connectionState = state.flatMap { $0.isEmpty ? nil : $0 }
                    let token =
                        chosenKind.isReliable
                        ? ReconnectionToken.issue(connectionId: connectionId, key: keys[0], now: Int64(time(nil))) : nil
                    let response = upgradeResponse(upgrade, protocol: merged.subprotocol, deflate: deflate)
                    complete(
                        .upgrade(
                            response: response,
                            application: HubApplication(
                                context: context,
                                start: .open(connectionId: connectionId, identity: identity, reconnectionToken: token),
                                admission: admission, maxMessagesPerSecond: configuration.limits.maxMessagesPerSecond),
                            deflate: deflate))
                }
            }
        }
    }

    /// Verifies the access token from the query or the `Authorization` header.
    func authenticate(_ head: HTTPRequestHead, hub: String, now: Int64) -> Result<JWTClaims, AuthFailure> {
        let required = AuthFailure("an access token is required")
        // The query's token is verified from the request's bytes; the header is the fallback
        // only when the query has no access_token at all.
        let fromQuery = head.withQueryValue("access_token") { token in
            token.isEmpty ? nil : JWT.verify(bytes: token, keys: configuration.accessKeys, now: now)
        }
        let verified: Result<JWTClaims, JWTError>
        switch fromQuery {
        case .some(.some(let result)):
            verified = result
        case .some(.none):
            return .failure(required)
        case .none:
            guard let header = head.headers["Authorization"], header.lowercased().hasPrefix("bearer ") else {
                return .failure(required)
            }
            let token = String(header.dropFirst(7)).trimmingSpaces
            guard !token.isEmpty else { return .failure(required) }
            verified = JWT.verify(token, keys: configuration.accessKeys, now: now)
        }
        switch verified {
        case .failure(let error):
            return .failure(AuthFailure("invalid access token: \(error)"))
        case .success(let claims):
            // The Host header is read in place; a request without one matches as an empty host.
            func audienceMatches(_ host: UnsafeRawBufferPointer) -> Bool {
                claims.anyAudience {
                    ClientAudience.matches(
                        audience: $0, requestHost: host.assumingMemoryBound(to: UInt8.self), isTLS: false, hub: hub)
                }
            }
            guard
                head.headers.withValue("Host", audienceMatches)
                    ?? audienceMatches(UnsafeRawBufferPointer(start: nil, count: 0))
            else { return .failure(AuthFailure("the token's audience does not match this endpoint")) }
            return .success(claims)
        }
    }
}

struct AuthFailure: Error {
    let reason: String
    init(_ reason: String) { self.reason = reason }
}

extension String {
    var trimmingSpaces: String {
        var view = Substring(self)
        while view.first == " " { view.removeFirst() }
        while view.last == " " { view.removeLast() }
        return String(view)
    }
}

/// Connection ids are 32 lowercase hex digits; the last two name the owning loop, so a
/// recovering client can be handed to the loop that holds its session.
/// Connection ids: 32 hex digits whose last two name the loop; in a cluster the node id
/// and a `.` come first, so any node can tell which node holds a connection.
enum ConnectionIDs {
    static func make(loop: Int, node: String? = nil) -> String {
        let id = ConnectionID.generate(tag: UInt8(truncatingIfNeeded: loop))
        guard let node else { return id }
        return node + "." + id
    }

    static func loopIndex(of id: String) -> Int? {
        let count = id.utf8.count
        guard count == 32 || (count > 33 && id.utf8.dropLast(32).last == UInt8(ascii: ".")) else { return nil }
        return Int(id.suffix(2), radix: 16)
    }

    /// The loop of a node with `loops` loops that holds connection `id`. A cluster id made
    /// on a node with more loops maps onto this node's loops (its session may move here).
    static func loopIndex(of id: String, loops: Int) -> Int? {
        guard let index = loopIndex(of: id) else { return nil }
        if index < loops { return index }
        return node(of: id) != nil ? index % loops : nil
    }

    /// The node named in a cluster connection id; nil for ids without one.
    static func node(of id: String) -> String? {
        let count = id.utf8.count
        guard count > 33, id.utf8.dropLast(32).last == UInt8(ascii: ".") else { return nil }
        return String(id.dropLast(33))
    }
}
