import Logging
import WPSDeflate
import WPSLoop
import WPSHTTP
import WPSWebSocket

/// What the server does with one complete request.
enum RouteDecision {
    case respond(HTTPStatus, body: String, headers: HTTPHeaders)
    /// A complete answer with its own content type (JSON bodies of the REST API).
    case answer(HTTPAnswer)
    /// The answer comes later, on this loop, once other loops have replied.
    case deferred((@escaping (HTTPAnswer) -> Void) -> Void)
    case upgrade(response: [UInt8], application: WebSocketApplication, deflate: DeflateParameters?)
    /// Hand the socket to another loop, which answers the upgrade there (recovery of a
    /// session that lives on that loop).
    case moveAndUpgrade(toLoop: Int, response: [UInt8], start: HubApplication.Start, deflate: DeflateParameters?)
}

/// Maps requests to routes. Immutable and shared by every loop.
struct Router: Sendable {
    let configuration: ServerConfiguration
    let logger: Logger

    func route(_ head: HTTPRequestHead, body: [UInt8], loop: EventLoop, secure: Bool) -> RouteDecision {
        if let hub = clientHub(head) {
            return routeClient(head, hubName: hub, loop: loop)
        }
        if head.path == "/api" || head.path.hasPrefix("/api/") {
            return routeREST(head, body: body, loop: loop, secure: secure)
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
    private func upgrade(
        _ head: HTTPRequestHead, protocols: [String]?, make: () -> WebSocketApplication
    ) -> RouteDecision {
        switch WebSocketHandshake.validateUpgrade(method: head.method, headers: head.headers.fields) {
        case .failure(let error):
            return .respond(HTTPStatus(code: error.status), body: error.reason + "\n", headers: HTTPHeaders(error.headers))
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
    /// permessage-deflate parameters for this upgrade, or nil (off, not offered, no acceptable offer).
    func negotiateDeflate(_ request: WebSocketUpgradeRequest) -> DeflateParameters? {
        guard configuration.deflate.enabled, !request.extensionOffers.isEmpty else { return nil }
        return DeflateNegotiation.negotiate(offers: request.extensionOffers, configuration: configuration.deflate)
    }

    /// The 101 response, echoing the subprotocol and the accepted extension.
    func upgradeResponse(_ request: WebSocketUpgradeRequest, protocol selected: String?, deflate: DeflateParameters?) -> [UInt8] {
        WebSocketHandshake.responseHead(
            accept: WebSocketHandshake.acceptValue(forKey: request.key), protocol: selected,
            extraHeaders: deflate.map { [("Sec-WebSocket-Extensions", $0.responseHeaderValue)] } ?? [])
    }
}

/// A response with a body of any content type.
struct HTTPAnswer {
    var status: HTTPStatus
    var body: [UInt8]
    var contentType: String
    var headers: HTTPHeaders

    init(_ status: HTTPStatus, body: [UInt8] = [], contentType: String = "application/json; charset=utf-8", headers: HTTPHeaders = HTTPHeaders()) {
        self.status = status
        self.body = body
        self.contentType = contentType
        self.headers = headers
    }
}
