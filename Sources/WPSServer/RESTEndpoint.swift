import Glibc
import WPSAuth
import WPSBytes
import WPSHTTP
import WPSHub
import WPSLoop
import WPSProtocol

/// The service REST API under `/api` (protocol-spec/rest-api.md): authentication, path
/// parsing and errors; the operations are in `Router+RESTOperations.swift`.
extension Router {
    static let apiVersions: Set<String> = ["2021-10-01", "2022-11-01", "2023-07-01", "2024-01-01", "2024-12-01"]

    /// One parsed REST request.
    struct RESTRequest {
        let head: HTTPRequestHead
        let body: [UInt8]
        let hub: String
        /// Path segments after `/api/hubs/{hub}`, percent-decoded.
        let rest: [String]
        /// The loop the request arrived on, with its hub shard.
        let context: LoopContext
        let secure: Bool

        var loop: EventLoop { context.loop }

        var method: String { head.method }
        func query(_ name: String) -> String? { head.queryValue(name) }
        func queries(_ name: String) -> [String] { head.query.filter { $0.name == name }.map(\.value) }
    }

    func routeREST(_ head: HTTPRequestHead, body: [UInt8], context: LoopContext, secure: Bool) -> RouteDecision {
        guard let segments = Self.pathSegments(head.rawPath) else {
            return .answer(restError(.badRequest, "InvalidPath", "the path is not valid percent-encoding"))
        }
        if let version = head.queryValue("api-version"), !Self.apiVersions.contains(version) {
            var answer = restError(.badRequest, "UnsupportedApiVersion", "The specified API version is not supported.")
            answer.headers.add(name: "api-supported-versions", value: Self.apiVersions.sorted().joined(separator: ", "))
            return .answer(answer)
        }
        if segments == ["api", "health"] {
            guard head.method == "GET" || head.method == "HEAD" else { return .answer(methodNotAllowed()) }
            return .answer(HTTPAnswer(.ok))
        }
        guard segments.count >= 4, segments[1] == "hubs" else {
            return .answer(restError(.notFound, "NotFound", "no such API path"))
        }
        guard HubName.isValid(segments[2]) else {
            return .answer(restError(.badRequest, "InvalidHub", "invalid hub name '\(segments[2])'"))
        }
        if let failure = authenticateREST(head) { return .answer(failure) }
        let request = RESTRequest(
            head: head, body: body, hub: segments[2].lowercased(), rest: Array(segments.dropFirst(3)), context: context,
            secure: secure)
        return perform(request)
    }

    /// Splits the raw path on `/` and percent-decodes each segment, so an encoded `/` inside
    /// a user id or group name stays part of it.
    static func pathSegments(_ rawPath: String) -> [String]? {
        var segments: [String] = []
        for part in rawPath.split(separator: "/", omittingEmptySubsequences: true) {
            guard let decoded = HTTPPercent.decode(part) else { return nil }
            segments.append(decoded)
        }
        return segments
    }

    /// nil when the bearer token is signed by a configured key and its `aud` is this URL.
    func authenticateREST(_ head: HTTPRequestHead) -> HTTPAnswer? {
        guard let header = head.headers["Authorization"], header.lowercased().hasPrefix("bearer ") else {
            return restError(.unauthorized, "Unauthorized", "an Authorization: Bearer token is required")
        }
        let token = String(header.dropFirst(7)).trimmingSpaces
        return verifyBearer(
            token, head, secure: false, target: head.target, mismatch: "the token's audience is not this request URL")
    }

    /// nil when `token` is signed by a configured key, is in its validity window, and one of
    /// its audiences is `target` on this request's host; else the 401 to answer with.
    func verifyBearer(
        _ token: String, _ head: HTTPRequestHead, secure: Bool, target: String, mismatch: String
    ) -> HTTPAnswer? {
        switch JWT.verify(token, keys: configuration.accessKeys, now: Int64(time(nil))) {
        case .failure(let error):
            return restError(.unauthorized, "Unauthorized", "invalid token: \(error)")
        case .success(let claims):
            let host = head.headers["Host"] ?? ""
            let matches = claims.audiences.contains {
                RequestAudience.matches(audience: $0, requestHost: host, isTLS: secure, rawTarget: target)
            }
            return matches ? nil : restError(.unauthorized, "Unauthorized", mismatch)
        }
    }

    func methodNotAllowed() -> HTTPAnswer {
        restError(.methodNotAllowed, "MethodNotAllowed", "method not allowed for this path")
    }

    /// `{"code":…,"message":…}` with `x-ms-error-code`, as the service's ErrorDetail.
    func restError(_ status: HTTPStatus, _ code: String, _ message: String) -> HTTPAnswer {
        var body = OutputBuffer(capacity: 64 + message.utf8.count)
        body.append(#"{"code":"#)
        JSONWriter.appendString(code, to: &body)
        body.append(#","message":"#)
        JSONWriter.appendString(message, to: &body)
        body.append("}")
        return HTTPAnswer(status, body: body.bytes, headers: ["x-ms-error-code": code])
    }

    /// The origin clients should dial: `--public-url`, else the request's `Host`.
    func publicOrigin(_ head: HTTPRequestHead, secure: Bool) -> String {
        if let url = configuration.publicURL { return url.hasSuffix("/") ? String(url.dropLast()) : url }
        return (secure ? "https://" : "http://")
            + (head.headers["Host"] ?? "\(configuration.host):\(configuration.port)")
    }
}
