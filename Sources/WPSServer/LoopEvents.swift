import WPSBytes
import WPSHTTP
import WPSHub

/// What happened on a loop outside the hub's view: upgrades refused, sockets closed, recovery
/// attempts turned away before they reached the hub.
enum ServerEvent {
    /// A request to the client endpoint was answered with `status` instead of 101.
    case upgradeRefused(hub: String?, status: Int, reason: String)
    /// A recovery attempt was turned away before the hub saw it (bad or expired token, a
    /// subprotocol that cannot recover, a socket that could not move to its session's loop).
    /// `reason` is a stable name: `badToken`, `notReliable`, `badConnectionId`.
    case recoveryRefused(connectionId: String, reason: String)
    /// A WebSocket closed. `session` is nil for one that never had a hub session. `code` and
    /// `reason` are those of the close frame the server sent, or the peer's when `byPeer`;
    /// `code` is nil when the socket dropped without a close handshake.
    case socketClosed(session: HubSession?, code: WebSocketCloseCode?, reason: String, byPeer: Bool)
}

/// Hears a loop's `ServerEvent`s, on the loop's thread.
protocol ServerObserver: AnyObject {
    func serverEvent(_ event: ServerEvent)
}

/// Where one loop's events go: the hub's session events and the server's own, handed to
/// every listener (logs, metrics, live trace). Events are about lives of connections, never
/// single messages, so the fan-out costs nothing on the message path.
final class LoopEvents: HubObserver {
    private(set) var hubListeners: [HubObserver] = []
    private(set) var serverListeners: [ServerObserver] = []

    func add(_ listener: HubObserver) { hubListeners.append(listener) }
    func add(_ listener: ServerObserver) { serverListeners.append(listener) }

    var isEmpty: Bool { hubListeners.isEmpty && serverListeners.isEmpty }

    func hubEvent(_ event: HubEvent) {
        for listener in hubListeners { listener.hubEvent(event) }
    }

    func report(_ event: ServerEvent) {
        for listener in serverListeners { listener.serverEvent(event) }
    }
}
