import Logging
import WPSHTTP
import WPSWebSocket

/// What the server does with one complete request.
enum RouteDecision {
    case respond(HTTPStatus, body: String, headers: HTTPHeaders)
    case upgrade(response: [UInt8], application: WebSocketApplication)
}

/// Maps requests to routes. Immutable and shared by every loop.
struct Router: Sendable {
    let configuration: ServerConfiguration
    let logger: Logger

    func route(_ head: HTTPRequestHead) -> RouteDecision {
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
            let response = WebSocketHandshake.responseHead(
                accept: WebSocketHandshake.acceptValue(forKey: request.key), protocol: selected)
            return .upgrade(response: response, application: make())
        }
    }
}
