import Glibc
import WPSAuth
import WPSBytes
import WPSHTTP
import WPSProtocol

/// `/negotiate`: hands a frontend a client URL without showing it the access key
/// (protocol-spec/negotiate.md).
extension Router {
    func routeNegotiate(_ head: HTTPRequestHead, secure: Bool) -> RouteDecision {
        guard head.method == "GET" else {
            return .respond(.methodNotAllowed, body: "method not allowed\n", headers: ["Allow": "GET"])
        }
        guard let expected = negotiateKey else {
            return .answer(restError(.notFound, "NotFound", "/negotiate is not enabled"))
        }
        // A keyed digest of each side, compared in constant time: neither where the offered key
        // differs nor how long the expected one is shows in the answer's timing.
        guard let offered = head.headers["x-api-key"], expected.matches(offered) else {
            return .answer(restError(.unauthorized, "Unauthorized", "a valid x-api-key header is required"))
        }
        guard let segments = Self.pathSegments(head.rawPath) else {
            return .answer(restError(.badRequest, "InvalidPath", "the path is not valid percent-encoding"))
        }
        var hub = head.queryValue("hub") ?? configuration.defaultHub
        var userId = head.queryValue("userId")
        var group = head.queryValue("group")
        switch segments.count {
        case 1:
            break
        case 3:
            // /negotiate/{userId}/{group}: the reference app's shape, on the default hub.
            userId = segments[1]
            group = segments[2]
            hub = configuration.defaultHub
        default:
            return .answer(
                restError(.notFound, "NotFound", "use /negotiate?userId=U&group=G or /negotiate/{userId}/{group}"))
        }
        guard let userId, !userId.isEmpty else {
            return .answer(restError(.badRequest, "MissingUserId", "missing user id: pass userId=…"))
        }
        guard HubName.isValid(hub) else {
            return .answer(restError(.badRequest, "InvalidHub", "invalid hub name '\(hub)'"))
        }
        var roles = configuration.negotiateRoles[hub.lowercased()] ?? []
        var groups: [String] = []
        if let group {
            if let problem = GroupName.problem(group) {
                return .answer(restError(.badRequest, "InvalidGroup", problem))
            }
            roles += ["webpubsub.joinLeaveGroup.\(group)", "webpubsub.sendToGroup.\(group)"]
            groups = [group]
        }
        let origin = publicOrigin(head, secure: secure)
        let token = ClientToken.make(
            endpoint: origin, hub: hub, userId: userId, roles: roles, groups: groups,
            key: configuration.accessKeys[0], now: Int64(time(nil)), lifetime: 3600)
        let url = ClientToken.clientURL(endpoint: origin, hub: hub, token: token)
        let baseURL = String(url.prefix { $0 != "?" })
        var body = OutputBuffer(capacity: 256 + token.utf8.count * 2)
        body.append(#"{"url":"#)
        JSONWriter.appendString(url, to: &body)
        body.append(#","baseUrl":"#)
        JSONWriter.appendString(baseURL, to: &body)
        body.append(#","token":"#)
        JSONWriter.appendString(token, to: &body)
        body.append("}")
        return .answer(HTTPAnswer(.ok, body: body.bytes))
    }
}
