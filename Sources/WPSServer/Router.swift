import Glibc
import Logging
import WPSAuth
import WPSDeflate
import WPSHTTP
import WPSLoop
import WPSWebSocket

/// What the server does with one complete request.
enum RouteDecision {
    case respond(HTTPStatus, body: String, headers: HTTPHeaders)
    /// A complete answer with its own content type (JSON bodies of the REST API).
    case answer(HTTPAnswer)
    /// The answer comes later, on this loop, once other loops have replied.
    case deferred((@escaping (HTTPAnswer) -> Void) -> Void)
    /// The decision comes later, on this loop (an upgrade waiting for the `connect` event
    /// handler); it is never `deferred` again.
    case deferredDecision((@escaping (RouteDecision) -> Void) -> Void)
    case upgrade(response: [UInt8], application: WebSocketApplication, deflate: NegotiatedDeflate?)
    /// Hand the socket to another loop, which answers the upgrade there (recovery of a
    /// session that lives on that loop).
    case moveAndUpgrade(toLoop: Int, response: [UInt8], start: HubApplication.Start, deflate: NegotiatedDeflate?)
}

/// Maps requests to routes. Immutable and shared by every loop; a class, so a session holds
/// one reference rather than a copy of the configuration.
final class Router: Sendable {
    let configuration: ServerConfiguration
    /// The `/negotiate` key as a digest, checked in constant time; nil when negotiate is off.
    let negotiateKey: SecretDigest?
    let logger: Logger
    /// Bounds the inflate windows clients with context takeover hold (protocol-spec/deflate.md §6).
    let deflateBudget: DeflateMemoryBudget
    /// What every WebSocket session reads from the configuration.
    let webSocketLimits: WebSocketSession.Limits
    /// The handshake timeout in nanoseconds, converted once rather than per connection.
    let handshakeNanos: UInt64
    /// Counts connections when a connection limit is set; nil otherwise.
    let connections: ConnectionCounter?
    /// Wall-clock start, for `/admin/server`'s uptime.
    let startedAt = Int64(time(nil))

    /// Whether `/readyz` says ready.
    let readiness: Readiness
    /// The registry `/metrics` renders.
    let metrics: ServerMetrics
    /// Listener indexes (`Connection.listener`) of the plaintext port beside TLS and of the
    /// metrics port, in the order `Server` binds them.
    let plainListener: Int?
    let metricsListener: Int?

    init(
        configuration: ServerConfiguration, logger: Logger, readiness: Readiness? = nil,
        metrics: ServerMetrics = ServerMetrics()
    ) {
        self.metrics = metrics
        plainListener = configuration.tls != nil && configuration.plainPort != nil ? 1 : nil
        metricsListener = configuration.metricsPort != nil ? (plainListener ?? 0) + 1 : nil
        self.configuration = configuration
        self.readiness = readiness ?? Readiness(configuration: configuration)
        if readiness == nil { self.readiness.listening() }
        negotiateKey = configuration.negotiateKey.map(SecretDigest.init)
        self.logger = logger
        webSocketLimits = WebSocketSession.Limits(configuration)
        handshakeNanos = configuration.handshakeTimeout.nanoseconds
        deflateBudget = DeflateMemoryBudget(limitBytes: configuration.deflate.maxWindowMemoryBytes)
        connections = configuration.limits.countsConnections ? ConnectionCounter(limits: configuration.limits) : nil
    }

    func route(
        _ head: HTTPRequestHead, body: [UInt8], context: LoopContext, secure: Bool, connection: Connection? = nil
    ) -> RouteDecision {
        if let metricsListener, let connection, connection.listener == metricsListener {
            return head.path == "/metrics"
                ? routeMetrics(head, context: context, open: true)
                : .respond(.notFound, body: "not found\n", headers: HTTPHeaders())
        }
        if let hub = clientHub(head) {
            return reportingRefusals(
                routeClient(head, hubName: hub, context: context, connection: connection), hub, context)
        }
        if head.path == "/api" || head.path.hasPrefix("/api/") {
            return routeREST(head, body: body, context: context, secure: secure)
        }
        if head.path == "/admin" || head.path.hasPrefix("/admin/") {
            return routeAdmin(head, context: context, secure: secure)
        }
        if head.path == "/negotiate" || head.path.hasPrefix("/negotiate/") {
            return routeNegotiate(head, secure: secure)
        }
        switch head.path {
        case "/healthz":
            guard head.method == "GET" || head.method == "HEAD" else {
                return .respond(.methodNotAllowed, body: "method not allowed\n", headers: ["Allow": "GET, HEAD"])
            }
            return .respond(.ok, body: "ok", headers: HTTPHeaders())
        case "/readyz":
            guard head.method == "GET" || head.method == "HEAD" else {
                return .respond(.methodNotAllowed, body: "method not allowed\n", headers: ["Allow": "GET, HEAD"])
            }
            if let reason = readiness.notReadyReason(dispatcher: context.upstream) {
                return .respond(.serviceUnavailable, body: "not ready: \(reason)\n", headers: HTTPHeaders())
            }
            return .respond(.ok, body: "ready", headers: HTTPHeaders())
        case "/metrics":
            return routeMetrics(head, context: context, open: false)
        case "/echo" where configuration.enableEcho:
            guard head.method == "GET" else {
                return .respond(.methodNotAllowed, body: "method not allowed\n", headers: ["Allow": "GET"])
            }
            return upgrade(head, protocols: nil) { EchoApplication() }
        default:
            return .respond(.notFound, body: "not found\n", headers: HTTPHeaders())
        }
    }

    /// Validates the upgrade; `protocols` nil accepts any offered subprotocol (echoing the first).
    func upgrade(
        _ head: HTTPRequestHead, protocols: [String]?, make: () -> WebSocketApplication
    ) -> RouteDecision {
        switch WebSocketHandshake.validateUpgrade(method: head.method, fields: head.headers.rawFields) {
        case .failure(let error):
            return .respond(
                HTTPStatus(code: error.status), body: error.reason + "\n", headers: HTTPHeaders(error.headers))
        case .success(let request):
            let selected: String?
            if let protocols {
                selected = WebSocketHandshake.selectProtocol(offered: request.offeredProtocols, supported: protocols)
            } else {
                selected = request.offeredProtocols.first
            }
            let deflate = negotiateDeflate(request)
            let response = upgradeResponse(request, protocol: selected, deflate: deflate)
            return .upgrade(response: response, application: make(), deflate: deflate)
        }
    }
}

extension Router {
    /// Tells the loop's listeners about an upgrade answered with anything but 101.
    private func reportingRefusals(_ decision: RouteDecision, _ hub: String?, _ context: LoopContext) -> RouteDecision {
        guard !context.events.isEmpty else { return decision }
        switch decision {
        case .respond(let status, let body, _):
            context.events.report(.upgradeRefused(hub: hub, status: status.code, reason: Self.firstLine(body)))
        case .answer(let answer):
            context.events.report(.upgradeRefused(hub: hub, status: answer.status.code, reason: ""))
        case .deferredDecision(let start):
            return .deferredDecision { complete in
                start { decision in complete(self.reportingRefusals(decision, hub, context)) }
            }
        case .upgrade, .moveAndUpgrade, .deferred:
            break
        }
        return decision
    }

    static func firstLine(_ text: String) -> String {
        String(text.prefix { $0 != "\n" && $0 != "\r" })
    }

    /// permessage-deflate parameters for this upgrade, or nil (off, not offered, no acceptable offer).
    /// A client that keeps context needs its own inflate window here; when the window budget
    /// is spent, the answer asks it for client_no_context_takeover instead, which RFC 7692
    /// §7.1.1.2 allows even when the offer did not name it.
    func negotiateDeflate(_ request: WebSocketUpgradeRequest) -> NegotiatedDeflate? {
        guard configuration.deflate.enabled, !request.extensionOffers.isEmpty,
            var parameters = DeflateNegotiation.negotiate(
                offers: request.extensionOffers, configuration: configuration.deflate)
        else { return nil }
        var reservation: DeflateReservation?
        if !parameters.clientNoContextTakeover {
            reservation = deflateBudget.reserve(
                DeflateConfiguration.inflateStreamBytes(windowBits: parameters.clientMaxWindowBits))
            if reservation == nil {
                parameters.clientNoContextTakeover = true
                if deflateBudget.shouldReportRefusal(now: Int64(time(nil))) {
                    logger.notice(
                        "deflate window budget reached (\(deflateBudget.reservedBytes) of \(deflateBudget.limitBytes) bytes reserved, zlib holds \(ZlibMemory.allocatedBytes) bytes): new clients are asked for client_no_context_takeover"
                    )
                }
            }
        }
        return NegotiatedDeflate(parameters: parameters, reservation: reservation)
    }

    /// The 101 response, echoing the subprotocol and the accepted extension.
    func upgradeResponse(_ request: WebSocketUpgradeRequest, protocol selected: String?, deflate: NegotiatedDeflate?)
        -> [UInt8]
    {
        WebSocketHandshake.responseHead(
            forKey: request.key, protocol: selected,
            extraHeaders: deflate.map { [("Sec-WebSocket-Extensions", $0.parameters.responseHeaderValue)] } ?? [])
    }
}

/// A response with a body of any content type.
struct HTTPAnswer {
    var status: HTTPStatus
    var body: [UInt8]
    var contentType: String
    var headers: HTTPHeaders

    init(
        _ status: HTTPStatus, body: [UInt8] = [], contentType: String = "application/json; charset=utf-8",
        headers: HTTPHeaders = HTTPHeaders()
    ) {
        self.status = status
        self.body = body
        self.contentType = contentType
        self.headers = headers
    }
}

/// permessage-deflate as agreed for one connection, with the share of the window budget its
/// own inflater holds (nil when the client resets context and the loop's shared one serves it).
struct NegotiatedDeflate {
    let parameters: DeflateParameters
    let reservation: DeflateReservation?
}
