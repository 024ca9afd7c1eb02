import WPSBytes
import WPSDeflate
import WPSLoop
import WPSWebSocket

/// The client's state, confined to its loop thread: every method runs there (the public
/// `WebPubSubClient` posts to the loop inbox), which is why it may be marked Sendable.
///
/// Connection life (protocol-spec/client-library.md): a fresh connect takes a URL from the
/// provider; a reliable connection that drops (not 1008, not stopped) is recovered on the
/// same URL plus `awps_connection_id`/`awps_reconnection_token`, every `reconnectDelay`
/// until `maxRecoveryDuration`; after that, or on 1008, or for a non-reliable drop, the
/// logical connection is lost and a fresh one is opened (groups rejoined).
final class ClientCore: @unchecked Sendable, WebSocketClientDelegate {
    enum Phase: Equatable {
        /// Not started, or stopped.
        case idle
        /// Waiting for a URL from the provider (fresh connects only).
        case fetchingURL
        /// A socket is opening; `recovery` tells which kind.
        case connecting(recovery: Bool)
        /// `system/connected` arrived on the current socket.
        case open
        /// Waiting until `until` before the next attempt.
        case waiting(until: UInt64, recovery: Bool)
        /// `stop()` was called; the close handshake runs.
        case stopping
    }

    static let tickNanos: UInt64 = 20_000_000

    let options: WebPubSubClientOptions
    let urlProvider: ClientURLProvider
    let events: AsyncStream<ClientEvent>.Continuation
    let tls: ClientTLS?
    var loop: EventLoop?
    var phase = Phase.idle
    var socket: (any ClientSocket)?
    /// Makes the socket for one connection attempt; tests substitute an in-memory one.
    let makeSocket: SocketFactory
    /// Bumped per fresh attempt, so a late URL from the provider is ignored.
    var attempt = 0
    /// The URL of the current logical connection (recovery reuses it).
    var connectionURL: String?
    var connectionId: String?
    var reconnectionToken: String?
    var recoveryDeadline: UInt64 = 0
    var disconnectMessage: String?
    var startWaiters: [CheckedContinuation<Void, any Error>] = []
    var stopWaiters: [CheckedContinuation<Void, Never>] = []
    var nextAckId: UInt64 = 1
    var pending: [UInt64: ClientOperation] = [:]
    var outbox: [ClientOperation] = []
    var invocations: [String: InvocationWaiter] = [:]
    var nextInvocationId: UInt64 = 1
    var joinedGroups: [String] = []
    var maxSequenceId: UInt64 = 0
    var sequenceChanged = false
    var nextSequenceAck: UInt64 = 0
    var isShutDown = false

    var isReliable: Bool { options.protocol == .jsonReliable }

    /// Makes a socket for `url` (the recovery parameters included) with `transform` for TLS.
    typealias SocketFactory = (_ url: ClientURL, _ transform: StreamTransform?) -> any ClientSocket

    init(
        options: WebPubSubClientOptions, urlProvider: ClientURLProvider,
        events: AsyncStream<ClientEvent>.Continuation,
        tls: ClientTLS?,
        makeSocket: SocketFactory? = nil
    ) {
        self.options = options
        self.urlProvider = urlProvider
        self.events = events
        self.tls = tls
        self.makeSocket =
            makeSocket ?? { url, transform in
                WebSocketClientHandler(
                    url: url, protocols: [options.protocol.name], transform: transform,
                    maxMessageBytes: options.maxMessageBytes, handshakeTimeoutNanos: options.handshakeTimeout.nanos,
                    compression: options.compression ? DeflateConfiguration() : nil)
            }
    }

    /// Runs on the loop thread before its first turn.
    func attach(_ loop: EventLoop) {
        self.loop = loop
        loop.every(Self.tickNanos) { [unowned self] in tick() }
    }

    var now: UInt64 { loop?.now ?? 0 }

    // MARK: start and stop

    func start(_ continuation: CheckedContinuation<Void, any Error>) {
        if isShutDown {
            continuation.resume(throwing: ClientConnectError("the client is gone"))
            return
        }
        switch phase {
        case .open:
            continuation.resume()
        case .idle:
            startWaiters.append(continuation)
            beginFresh()
        case .stopping:
            continuation.resume(throwing: ClientConnectError("the client is stopping"))
        default:
            startWaiters.append(continuation)
        }
    }

    func stop(_ continuation: CheckedContinuation<Void, Never>) {
        switch phase {
        case .idle:
            continuation.resume()
        case .stopping:
            stopWaiters.append(continuation)
        default:
            stopWaiters.append(continuation)
            phase = .stopping
            if let socket {
                socket.close(code: .normal, reason: "")
            } else {
                finishStop()
            }
        }
    }

    func finishStop() {
        phase = .idle
        socket = nil
        connectionId = nil
        reconnectionToken = nil
        connectionURL = nil
        failAll(errorName: "Stopped", message: "The client was stopped.")
        let waiters = startWaiters
        startWaiters = []
        for waiter in waiters { waiter.resume(throwing: ClientConnectError("the client was stopped")) }
        events.yield(.stopped)
        let stopped = stopWaiters
        stopWaiters = []
        for waiter in stopped { waiter.resume() }
    }

    /// The public client is gone: drop the socket and end the event stream.
    func shutDown() {
        isShutDown = true
        socket?.delegate = nil
        socket?.abort()
        socket = nil
        phase = .idle
        failAll(errorName: "Stopped", message: "The client was released.")
        events.finish()
    }

    // MARK: connecting

    /// Starts a new logical connection: a URL from the provider, then a socket.
    func beginFresh() {
        attempt &+= 1
        let current = attempt
        switch urlProvider {
        case .fixed(let url):
            openSocket(url: url, recovery: false)
        case .provider(let provide):
            phase = .fetchingURL
            guard let inbox = loop?.inbox else { return }
            Task {
                let result: Result<String, any Error>
                do { result = .success(try await provide()) } catch { result = .failure(error) }
                inbox.post { [self] _ in
                    guard attempt == current, phase == .fetchingURL else { return }
                    switch result {
                    case .success(let url): openSocket(url: url, recovery: false)
                    case .failure(let error): freshAttemptFailed("the URL provider failed: \(error)")
                    }
                }
            }
        }
    }

    func openSocket(url: String, recovery: Bool) {
        guard let loop else { return }
        var target = url
        if recovery, let connectionId, let reconnectionToken {
            target = ClientURL.recoveryURL(url, connectionId: connectionId, reconnectionToken: reconnectionToken)
        } else {
            connectionURL = url
        }
        phase = .connecting(recovery: recovery)
        guard let parsed = ClientURL(target), !parsed.secure || tls != nil else {
            attemptFailed(recovery: recovery, reason: "unsupported URL \(url)")
            return
        }
        let transform = parsed.secure ? tls?.transform(serverName: parsed.host) : nil
        let handler = makeSocket(parsed, transform)
        handler.delegate = self
        socket = handler
        if !handler.open(on: loop) {
            socket = nil
            attemptFailed(recovery: recovery, reason: "could not connect to \(parsed.host):\(parsed.port)")
        }
    }

    func attemptFailed(recovery: Bool, reason: String) {
        if recovery {
            if now < recoveryDeadline {
                phase = .waiting(until: now &+ options.reconnectDelay.nanos, recovery: true)
            } else {
                logicalConnectionLost()
            }
        } else {
            freshAttemptFailed(reason)
        }
    }

    func freshAttemptFailed(_ reason: String) {
        if !startWaiters.isEmpty {
            let waiters = startWaiters
            startWaiters = []
            phase = .idle
            failAll(errorName: "NotStarted", message: reason)
            for waiter in waiters { waiter.resume(throwing: ClientConnectError(reason)) }
        } else if options.autoReconnect {
            phase = .waiting(until: now &+ options.reconnectDelay.nanos, recovery: false)
        } else {
            phase = .idle
            failAll(errorName: "ConnectionLost", message: reason)
            events.yield(.stopped)
        }
    }

    /// The logical connection is over: report it and open a new one (or stop).
    func logicalConnectionLost() {
        events.yield(.disconnected(message: disconnectMessage))
        disconnectMessage = nil
        connectionId = nil
        reconnectionToken = nil
        if options.autoReconnect {
            beginFresh()
        } else {
            phase = .idle
            failAll(errorName: "ConnectionLost", message: "The connection was lost.")
            events.yield(.stopped)
        }
    }

    // MARK: socket events

    func webSocketOpened(_ socket: any ClientSocket) {}

    func webSocketClosed(_ closed: any ClientSocket, code: UInt16?, reason: String, opened: Bool) {
        guard closed === socket else { return }
        socket = nil
        if phase == .stopping {
            finishStop()
            return
        }
        let wasOpen = phase == .open
        let wasRecovering = phase == .connecting(recovery: true)
        requeueInFlight()
        failWrittenInvocations()
        let recoverable =
            isReliable && code != WebSocketCloseCode.policyViolation.rawValue
            && connectionId != nil && reconnectionToken != nil && (wasOpen || wasRecovering)
        if wasOpen && recoverable {
            recoveryDeadline = now &+ options.maxRecoveryDuration.nanos
            openSocket(url: connectionURL ?? "", recovery: true)
        } else if wasRecovering {
            if recoverable, now < recoveryDeadline {
                phase = .waiting(until: now &+ options.reconnectDelay.nanos, recovery: true)
            } else {
                logicalConnectionLost()
            }
        } else if wasOpen {
            logicalConnectionLost()
        } else {
            freshAttemptFailed(reason.isEmpty ? "the connection closed before it was established" : reason)
        }
    }

    /// Periodic work: pending attempts, overdue acks, the sequence ack.
    func tick() {
        let now = self.now
        if case .waiting(let until, let recovery) = phase, now >= until {
            if recovery {
                openSocket(url: connectionURL ?? "", recovery: true)
            } else {
                beginFresh()
            }
        }
        expireAcks(now: now)
        expireInvocations(now: now)
        if phase == .open, isReliable, sequenceChanged, now >= nextSequenceAck {
            sendSequenceAck()
            nextSequenceAck = now &+ options.sequenceAckInterval.nanos
        }
    }
}
