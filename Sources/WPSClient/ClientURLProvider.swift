import WPSBytes
import WPSHTTP
import WPSLoop

/// Where the client gets its connection URL; asked again on every new connection, never on
/// recovery (which reuses the URL of the connection it recovers).
public enum ClientURLProvider: Sendable {
    /// Always the same URL (stops working once its token expires).
    case fixed(String)
    /// A URL fetched on demand, e.g. from an app's `/negotiate` endpoint.
    case provider(@Sendable () async throws -> String)
}

/// Why a `/negotiate` request failed.
public struct NegotiateError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The HTTP status, or 0 when no response arrived.
    public var status: Int
    /// A short description.
    public var reason: String

    /// Creates an error.
    public init(status: Int, reason: String) {
        self.status = status
        self.reason = reason
    }

    /// Status and reason.
    public var description: String { status == 0 ? reason : "HTTP \(status): \(reason)" }
}

extension WebPubSubClient {
    /// A provider that asks `GET {server}/negotiate?userId=…[&group=…][&hub=…]` with
    /// `x-api-key` for a URL on every new connection (protocol-spec/negotiate.md); `server`
    /// is `http://host:port` or `https://host:port` (verified with `tls`, default the system's
    /// trust store). Uses the project's own loop, HTTP codec and TLS.
    public static func negotiateURLProvider(
        server: String, userId: String, group: String?, hub: String?, apiKey: String, tls: ClientTLS? = nil
    ) -> ClientURLProvider {
        var query = "/negotiate?userId=" + HTTPPercent.encodeSegment(userId)
        if let group { query += "&group=" + HTTPPercent.encodeSegment(group) }
        if let hub { query += "&hub=" + HTTPPercent.encodeSegment(hub) }
        let target = query
        return .provider {
            guard let base = ClientURL(server) else {
                throw NegotiateError(status: 0, reason: "unsupported server URL \(server)")
            }
            var secure: ClientTLS?
            if base.secure {
                guard let made = tls ?? (try? ClientTLS()) else {
                    throw NegotiateError(status: 0, reason: "TLS is not available")
                }
                secure = made
            }
            let prefix = base.target == "/" ? "" : String(base.target.reversed().drop { $0 == "/" }.reversed())
            let body = try await HTTPGetHandler.get(
                host: base.host, port: base.port, hostHeader: base.hostHeader, target: prefix + target,
                headers: [("x-api-key", apiKey)], tls: secure)
            guard body.status == 200 else {
                throw NegotiateError(status: body.status, reason: String(decoding: body.body, as: UTF8.self))
            }
            let url: String? = body.body.withUnsafeBytes { bytes in
                var found: String?
                try? JSON.scanObject(bytes) { key, value throws(JSONError) in
                    if JSON.stringEquals(bytes, key, "url") { found = JSON.string(bytes, value) }
                }
                return found
            }
            guard let url else { throw NegotiateError(status: 200, reason: "the answer has no url") }
            return url
        }
    }
}
