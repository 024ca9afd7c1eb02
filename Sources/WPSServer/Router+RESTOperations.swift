import Glibc
import WPSAuth
import WPSBytes
import WPSHTTP
import WPSHub
import WPSLoop
import WPSProtocol

/// The operations of the REST API (protocol-spec/rest-api.md §2), one per path shape.
extension Router {
    func perform(_ r: RESTRequest) -> RouteDecision {
        let path = r.rest
        switch (path.count, path.first) {
        case (1, ":send"): return post(r) { send(r, .hub) }
        case (1, ":closeConnections"): return post(r) { close(r, .hub) }
        case (1, ":generateToken"): return post(r) { generateToken(r) }
        case (1, ":addToGroups"): return post(r) { changeGroups(r, adding: true) }
        case (1, ":removeFromGroups"): return post(r) { changeGroups(r, adding: false) }
        case (2, "groups"), (3, "groups"), (4, "groups"): return groupOperation(r, group: path[1])
        case (2, "users"), (3, "users"), (4, "users"): return userOperation(r, user: path[1])
        case (2, "connections"), (3, "connections"): return connectionOperation(r, id: path[1])
        case (4, "permissions") where path[2] == "connections":
            return permissionOperation(r, name: path[1], id: path[3])
        default: return .answer(restError(.notFound, "NotFound", "no such API path"))
        }
    }

    private func post(_ r: RESTRequest, _ body: () -> RouteDecision) -> RouteDecision {
        r.method == "POST" ? body() : .answer(methodNotAllowed())
    }

    // MARK: - path families

    private func groupOperation(_ r: RESTRequest, group: String) -> RouteDecision {
        if let problem = GroupName.problem(group) { return .answer(restError(.badRequest, "InvalidGroup", problem)) }
        let path = r.rest
        switch (path.count, r.method) {
        case (2, "HEAD"): return exists(r, .group(group))
        case (3, "POST") where path[2] == ":send": return send(r, .group(group))
        case (3, "POST") where path[2] == ":closeConnections": return close(r, .group(group))
        case (3, "GET") where path[2] == "connections": return listConnections(r, group: group)
        case (4, "PUT") where path[2] == "connections":
            return addToGroup(r, .connection(path[3]), group: group, missing: "Connection \(path[3]) is not found.")
        case (4, "DELETE") where path[2] == "connections":
            return removeFromGroups(r, .connection(path[3]), groups: [group])
        default:
            let known = path.count == 2 || ["connections", ":send", ":closeConnections"].contains(path[2])
            return .answer(known ? methodNotAllowed() : restError(.notFound, "NotFound", "no such API path"))
        }
    }

    private func userOperation(_ r: RESTRequest, user: String) -> RouteDecision {
        let path = r.rest
        switch (path.count, r.method) {
        case (2, "HEAD"): return exists(r, .user(user))
        case (3, "POST") where path[2] == ":send": return send(r, .user(user))
        case (3, "POST") where path[2] == ":closeConnections": return close(r, .user(user))
        case (3, "DELETE") where path[2] == "groups": return removeFromGroups(r, .user(user), groups: nil)
        case (4, "PUT") where path[2] == "groups":
            if let problem = GroupName.problem(path[3]) {
                return .answer(restError(.badRequest, "InvalidGroup", problem))
            }
            return addToGroup(r, .user(user), group: path[3], missing: "User `\(user)` is not found.")
        case (4, "DELETE") where path[2] == "groups":
            return removeFromGroups(r, .user(user), groups: [path[3]])
        default:
            let known = path.count == 2 || [":send", ":closeConnections", "groups"].contains(path[2])
            return .answer(known ? methodNotAllowed() : restError(.notFound, "NotFound", "no such API path"))
        }
    }

    private func connectionOperation(_ r: RESTRequest, id: String) -> RouteDecision {
        let path = r.rest
        switch (path.count, r.method) {
        case (2, "HEAD"): return exists(r, .connection(id))
        case (2, "DELETE"): return close(r, .connection(id))
        case (3, "POST") where path[2] == ":send": return send(r, .connection(id))
        case (3, "DELETE") where path[2] == "groups": return removeFromGroups(r, .connection(id), groups: nil)
        default:
            let known = path.count == 2 || [":send", "groups"].contains(path[2])
            return .answer(known ? methodNotAllowed() : restError(.notFound, "NotFound", "no such API path"))
        }
    }

    private func permissionOperation(_ r: RESTRequest, name: String, id: String) -> RouteDecision {
        let kind: Permissions.Kind
        switch name.lowercased() {
        case "sendtogroup": kind = .sendToGroup
        case "joinleavegroup": kind = .joinLeaveGroup
        default:
            return .answer(
                restError(.badRequest, "InvalidPermission", "permission must be sendToGroup or joinLeaveGroup"))
        }
        let target = r.query("targetName")
        if let target, let problem = GroupName.problem(target) {
            return .answer(restError(.badRequest, "InvalidGroup", problem))
        }
        let hub = r.hub
        switch r.method {
        case "PUT", "DELETE":
            let granted = r.method == "PUT"
            return operate(r, .grant(hub: hub, connectionId: id, kind, group: target, granted: granted)) { result in
                if granted, result.flag == nil {
                    return self.restError(.notFound, "NotFound", "Connection \(id) is not found.")
                }
                return HTTPAnswer(granted ? .ok : .noContent)
            }
        case "HEAD":
            return operate(r, .checkPermission(hub: hub, connectionId: id, kind, group: target)) { result in
                HTTPAnswer(result.flag == true ? .ok : .notFound)
            }
        default:
            return .answer(methodNotAllowed())
        }
    }

    // MARK: - operations

    private func send(_ r: RESTRequest, _ target: ConnectionSelector.Target) -> RouteDecision {
        var expiresAt: UInt64 = 0
        if let text = r.query("messageTtlSeconds") {
            guard let ttl = Int(text), (0...300).contains(ttl) else {
                return .answer(
                    restError(.badRequest, "InvalidMessageTtl", "messageTtlSeconds must be an integer from 0 to 300"))
            }
            if ttl > 0 { expiresAt = r.loop.now + UInt64(ttl) * 1_000_000_000 }
        }
        let selector: ConnectionSelector
        switch makeSelector(r, target) {
        case .failure(let failure): return .answer(failure.answer)
        case .success(let made): selector = made
        }
        let payload: RESTPayload
        switch RESTPayload.decode(contentType: r.head.headers["Content-Type"], body: r.body) {
        case .failure(let failure): return .answer(restError(failure.status, failure.code, failure.message))
        case .success(let decoded): payload = decoded
        }
        let broadcast = payload.value.withUnsafeBytes {
            Broadcast(selector: selector, dataType: payload.dataType, data: $0, expiresAt: expiresAt)
        }
        guard let broadcast else {
            return .answer(restError(.badRequest, "InvalidPayload", "the body does not match its content type"))
        }
        if r.context.trace.isActive {
            r.context.trace.restSend(
                hub: r.hub, target: target, dataType: payload.dataType.wireName, bytes: payload.value.count)
        }
        let context = r.context
        context.hub.stamp(broadcast)
        if let cluster = context.cluster {
            // All or nothing: while other nodes cannot be reached nothing is delivered, so
            // the caller may retry without duplicates (protocol-spec/cluster.md).
            guard cluster.isReady else { return .answer(clusterUnavailable(.unavailable(.unavailable))) }
            // Every node, this one too, delivers it as Redis hands it out: a caller's next
            // send, on any node, cannot overtake it anywhere.
            return .deferred { reply in
                cluster.publish(broadcast, deliveredHere: false) { published in
                    reply(published ? HTTPAnswer(.accepted) : self.clusterUnavailable(.unavailable(.unavailable)))
                }
            }
        }
        if case .connection(let id) = target {
            // Only the owning loop can have it.
            if let owner = ConnectionIDs.loopIndex(of: id), owner < r.loop.siblings.count, owner != r.loop.index {
                r.loop.siblings[owner].post { loop in LoopContext.of(loop).hub.deliver(broadcast) }
            } else {
                context.hub.deliver(broadcast)
            }
            return .answer(HTTPAnswer(.accepted))
        }
        context.hub.deliver(broadcast)
        context.peers.postToOtherLoops(broadcast)
        return .answer(HTTPAnswer(.accepted))
    }

    private func close(_ r: RESTRequest, _ target: ConnectionSelector.Target) -> RouteDecision {
        let selector: ConnectionSelector
        switch makeSelector(r, target, allowFilter: false) {
        case .failure(let failure): return .answer(failure.answer)
        case .success(let made): selector = made
        }
        let reason = r.query("reason") ?? ""
        return operate(r, .close(selector, reason: reason)) { _ in HTTPAnswer(.noContent) }
    }

    private func exists(_ r: RESTRequest, _ target: ConnectionSelector.Target) -> RouteDecision {
        let selector = ConnectionSelector(hub: r.hub, target: target)
        return operate(r, .count(selector)) { result in HTTPAnswer(result.count > 0 ? .ok : .notFound) }
    }

    private func addToGroup(_ r: RESTRequest, _ target: ConnectionSelector.Target, group: String, missing: String)
        -> RouteDecision
    {
        let selector = ConnectionSelector(hub: r.hub, target: target)
        return operate(r, .addToGroups(selector, groups: [group])) { result in
            result.count > 0 ? HTTPAnswer(.ok) : self.restError(.notFound, "NotFound", missing)
        }
    }

    private func removeFromGroups(_ r: RESTRequest, _ target: ConnectionSelector.Target, groups: [String]?)
        -> RouteDecision
    {
        let selector = ConnectionSelector(hub: r.hub, target: target)
        return operate(r, .removeFromGroups(selector, groups: groups)) { _ in HTTPAnswer(.noContent) }
    }

    /// `:addToGroups` / `:removeFromGroups`: body `{"groups":[…],"filter":"…"}`.
    private func changeGroups(_ r: RESTRequest, adding: Bool) -> RouteDecision {
        guard let request = GroupsRequest.decode(r.body) else {
            return .answer(restError(.badRequest, "InvalidBody", #"the body must be {"groups":["…"],"filter":"…"}"#))
        }
        if let problem = request.groups.lazy.compactMap({ GroupName.problem($0) }).first {
            return .answer(restError(.badRequest, "InvalidGroup", problem))
        }
        var selector = ConnectionSelector(hub: r.hub, target: .hub)
        if let text = request.filter {
            switch compileFilter(text) {
            case .failure(let failure): return .answer(failure.answer)
            case .success(let predicate):
                selector.predicate = predicate
                selector.filterText = text
            }
        }
        let operation: HubOperation =
            adding
            ? .addToGroups(selector, groups: request.groups) : .removeFromGroups(selector, groups: request.groups)
        return operate(r, operation) { _ in HTTPAnswer(.ok) }
    }

    private func generateToken(_ r: RESTRequest) -> RouteDecision {
        var lifetime: Int64 = 60
        if let text = r.query("minutesToExpire") {
            guard let minutes = Int64(text), minutes >= 1 else {
                return .answer(
                    restError(.badRequest, "InvalidMinutesToExpire", "minutesToExpire must be an integer of at least 1")
                )
            }
            lifetime = minutes
        }
        let groups = r.queries("group")
        if let problem = groups.lazy.compactMap({ GroupName.problem($0) }).first {
            return .answer(restError(.badRequest, "InvalidGroup", problem))
        }
        let token = ClientToken.make(
            endpoint: publicOrigin(r.head, secure: r.secure), hub: r.hub, userId: r.query("userId"),
            roles: r.queries("role"),
            groups: groups, key: configuration.accessKeys[0], now: Int64(time(nil)), lifetime: lifetime * 60)
        var body = OutputBuffer()
        body.append(#"{"token":"#)
        JSONWriter.appendString(token, to: &body)
        body.append("}")
        return .answer(HTTPAnswer(.ok, body: body.bytes))
    }

    private func listConnections(_ r: RESTRequest, group: String) -> RouteDecision {
        var pageSize = 100
        if let text = r.query("maxpagesize") {
            guard let value = Int(text), (1...200).contains(value) else {
                return .answer(restError(.badRequest, "InvalidPageSize", "maxpagesize must be 1 to 200"))
            }
            pageSize = value
        }
        var top: Int?
        if let text = r.query("top") {
            guard let value = Int(text), value >= 1 else {
                return .answer(restError(.badRequest, "InvalidTop", "top must be at least 1"))
            }
            top = value
        }
        let after = r.query("continuationToken")
        let hub = r.hub
        let origin = publicOrigin(r.head, secure: r.secure)
        let version = r.query("api-version")
        return operate(r, .members(hub: hub, group: group)) { result in
            ConnectionPage(
                all: result.members, after: after, pageSize: min(pageSize, top ?? pageSize), top: top
            ).answer(origin: origin, hub: hub, group: group, apiVersion: version)
        }
    }

    // MARK: - helpers

    /// Applies `operation` on every loop, and in a cluster on every node (or only on the
    /// node holding the connection it is about), and answers with `finish` of the combined
    /// result; 503 when the cluster could not answer.
    private func operate(
        _ r: RESTRequest, _ operation: HubOperation, _ finish: @escaping (HubOperationResult) -> HTTPAnswer
    ) -> RouteDecision {
        let loop = r.loop
        var node: String?
        if let cluster = r.context.cluster {
            if let id = operation.connectionId {
                // Only its own node can hold a connection; an id naming no node names none.
                guard let owner = cluster.owner(of: id) else {
                    return .answer(finish(HubOperationResult.empty(for: operation)))
                }
                node = owner == cluster.nodeId ? nil : owner
            }
            if operation.connectionId == nil || node != nil {
                let target = node
                return .deferred { reply in
                    cluster.request(operation, node: target) { result in
                        switch result {
                        case .success(let combined): reply(finish(combined))
                        case .failure(let failure): reply(self.clusterUnavailable(failure))
                        }
                    }
                }
            }
        }
        return .deferred { reply in
            Gather.run(on: loop, { $0.apply(operation) }) { results in
                reply(finish(HubOperationResult.combine(results, for: operation)))
            }
        }
    }

    func clusterUnavailable(_ failure: ClusterFailure) -> HTTPAnswer {
        restError(.serviceUnavailable, "ClusterUnavailable", "The operation did not complete: \(failure).")
    }

    private func makeSelector(
        _ r: RESTRequest, _ target: ConnectionSelector.Target, allowFilter: Bool = true
    ) -> Result<ConnectionSelector, AnswerFailure> {
        var selector = ConnectionSelector(hub: r.hub, target: target, excluded: Set(r.queries("excluded")))
        if allowFilter, let text = r.query("filter") {
            switch compileFilter(text) {
            case .failure(let failure): return .failure(failure)
            case .success(let predicate):
                selector.predicate = predicate
                selector.filterText = text
            }
        }
        return .success(selector)
    }

    private func compileFilter(_ text: String) -> Result<ConnectionSelector.Predicate, AnswerFailure> {
        do {
            let filter = try ODataFilter(text)
            return .success { session in filter.matches(session) }
        } catch {
            return .failure(AnswerFailure(restError(.badRequest, "InvalidFilter", "Invalid filter: \(error)")))
        }
    }
}

/// An answer carried through `Result`.
struct AnswerFailure: Error {
    let answer: HTTPAnswer
    init(_ answer: HTTPAnswer) { self.answer = answer }
}
