import Glibc
import Logging
import Synchronization
import WPSAuth
import WPSBytes
import WPSHTTP
import WPSHub
import WPSLoop
import WPSProtocol
import WPSTLS
import WPSTLSStream
import WPSUpstream

/// How https handlers are reached: one client context (trust store) for every loop.
struct UpstreamTLS: Sendable {
    let context: TLSClientContext

    /// Loads the CA file, or the system's trust store when there is none.
    init(configuration: UpstreamConfiguration) throws {
        context = try TLSClientContext(caFile: configuration.tlsCAFile, insecure: configuration.tlsInsecure)
    }

    func transform(serverName: String) -> StreamTransform {
        TLSClientTransform(context: context, serverName: serverName)
    }
}

/// The application side of one loop: builds CloudEvents for the hub's events, sends them
/// with the loop's HTTP client and hands the answers back (protocol-spec/upstream.md).
final class UpstreamDispatcher: HubUpstream {
    let configuration: UpstreamConfiguration
    let keys: [AccessKey]
    let requestOrigin: String
    let client: UpstreamClient
    unowned let loop: EventLoop
    unowned let hub: LoopHub
    let logger: Logger
    let reports: UpstreamReports
    let timeoutNanos: UInt64
    let validationTimeoutNanos: UInt64
    /// Event ids, unique per loop and so per connection (`ce-id`).
    var nextEventId: UInt64 = 1
    var validations: [String: Validation] = [:]
    /// Fire-and-forget requests waiting for their next attempt.
    var retries: [Retry] = []
    /// Requests of a connection waiting for its previous one, by connection id.
    var connectionQueues: [String: ConnectionQueue] = [:]

    final class ConnectionQueue {
        var waiting: [(_ done: @escaping () -> Void) -> Void] = []
    }

    struct Retry {
        var due: UInt64
        var run: () -> Void
    }

    enum Validation {
        case pending([(String?) -> Void])
        case valid
        case failed(reason: String, until: UInt64)
    }

    init(
        configuration: UpstreamConfiguration, keys: [AccessKey], requestOrigin: String, loop: EventLoop, hub: LoopHub,
        tls: UpstreamTLS?, logger: Logger, reports: UpstreamReports
    ) {
        self.configuration = configuration
        self.keys = keys
        self.requestOrigin = requestOrigin
        self.loop = loop
        self.hub = hub
        self.logger = logger
        self.reports = reports
        timeoutNanos = configuration.requestTimeout.nanoseconds
        validationTimeoutNanos = configuration.validationTimeout.nanoseconds
        client = UpstreamClient(
            loop: loop,
            limits: UpstreamLimits(
                maxConnectionsPerOrigin: configuration.maxConnectionsPerOrigin,
                maxResponseBodyBytes: configuration.maxResponseBodyBytes),
            tls: tls)
    }

    /// Housekeeping: requests past their deadline in a queue, retries that are due.
    func tick(now: UInt64) {
        client.expireWaiting(now: now)
        guard !retries.isEmpty else { return }
        var due: [Retry] = []
        retries.removeAll { retry in
            guard retry.due <= now else { return false }
            due.append(retry)
            return true
        }
        for retry in due { retry.run() }
    }

    /// The loop has stopped: retries, queued requests, validation waiters and requests
    /// waiting for a pooled connection will never run. Their closures hold this dispatcher,
    /// so they are dropped here or the dispatcher, its hub and its pools outlive the loop.
    func dropPendingWork() {
        retries.removeAll()
        connectionQueues.removeAll()
        validations.removeAll()
        client.pools.removeAll()
    }

    func after(_ nanos: UInt64, _ run: @escaping () -> Void) {
        retries.append(Retry(due: loop.now &+ nanos, run: run))
    }

    func takeEventId() -> UInt64 {
        defer { nextEventId &+= 1 }
        return nextEventId
    }

    static func source(_ session: HubSession) -> EventSource {
        EventSource(
            hub: session.hub, connectionId: session.connectionId, userId: session.userId,
            subprotocol: session.subprotocolName, connectionState: session.connectionState)
    }

    // MARK: HubUpstream

    func handlesUserEvent(hub: String, name: String) -> Bool {
        configuration.handlers.handler(hub: hub, userEvent: name) != nil
    }

    func userEvent(_ event: UserEvent, from session: HubSession) {
        guard let handler = configuration.handlers.handler(hub: session.hub, userEvent: event.name) else {
            return answerLater(
                session, .failure(AckError(name: .notFound, message: "No event handler takes '\(event.name)'.")))
        }
        let source = Self.source(session)
        inOrder(source.connectionId) { [self] done in
            validated(handler, hub: source.hub) { [self] failure in
                if let failure {
                    done()
                    return answerLater(session, .failure(AckError(name: .internalServerError, message: failure)))
                }
                let request = event.body.withUnsafeBytes { body in
                    CloudEventRequest.event(
                        handler: handler, source: source, type: CloudEventRequest.type(userEvent: event.name),
                        eventName: event.name, id: takeEventId(), time: Int64(time(nil)),
                        signature: EventSignature.header(connectionId: source.connectionId, keys: keys),
                        requestOrigin: requestOrigin, contentType: UpstreamContent.contentType(event.dataType),
                        body: body)
                }
                let started = loop.now
                client.send(request, to: handler.urlTemplate, timeoutNanos: timeoutNanos) { [self] result in
                    reports.record(event: "user", result: result, nanos: loop.now &- started)
                    done()
                    hub.upstreamAnswered(session, answer(result, event: event.name))
                }
            }
        }
    }

    /// Runs `work` for connection `id` once its previous request was answered: a handler
    /// sees `connected` before the connection's first user event, and `disconnected` after
    /// its last. Only first attempts hold the line; retries go on their own.
    func inOrder(_ id: String, _ work: @escaping (_ done: @escaping () -> Void) -> Void) {
        if let queue = connectionQueues[id] {
            queue.waiting.append(work)
            return
        }
        connectionQueues[id] = ConnectionQueue()
        start(id, work)
    }

    private func start(_ id: String, _ work: @escaping (_ done: @escaping () -> Void) -> Void) {
        var finished = false
        work { [self] in
            guard !finished else { return }
            finished = true
            guard let queue = connectionQueues[id] else { return }
            if queue.waiting.isEmpty {
                connectionQueues[id] = nil
            } else {
                start(id, queue.waiting.removeFirst())
            }
        }
    }

    /// What the client gets for a handler's response (protocol-spec/upstream.md §6.2).
    func answer(_ result: Result<UpstreamResponse, UpstreamFailure>, event: String) -> UpstreamAnswer {
        switch result {
        case .failure(let failure):
            return .failure(
                AckError(name: .internalServerError, message: "The event handler for '\(event)' failed: \(failure).")
            )
        case .success(let response):
            guard (200..<300).contains(response.status) else {
                return .failure(
                    AckError(
                        name: .internalServerError,
                        message:
                            "The event handler for '\(event)' answered \(response.status)\(Self.detail(response.body))."
                    ))
            }
            let state = response.headers["ce-connectionState"]
            if let state, state.utf8.count > configuration.maxConnectionStateBytes {
                return .failure(
                    AckError(
                        name: .internalServerError,
                        message:
                            "The event handler's connection state is over \(configuration.maxConnectionStateBytes) bytes."
                    ))
            }
            guard response.status != 204, !response.body.isEmpty else {
                return .success(reply: nil, connectionState: state)
            }
            let dataType = UpstreamContent.dataType(ofReply: response.headers["Content-Type"])
            return .success(reply: .init(dataType: dataType, body: response.body), connectionState: state)
        }
    }

    /// `: <first line of the body>` for error messages, short and printable.
    static func detail(_ body: [UInt8]) -> String {
        let text = String(decoding: body.prefix(200), as: UTF8.self)
        let line = text.split(whereSeparator: { $0 == "\n" || $0 == "\r" }).first.map(String.init) ?? ""
        return line.isEmpty ? "" : ": " + line
    }

    /// Answers on a later turn: the hub is in the middle of handling the request.
    func answerLater(_ session: HubSession, _ answer: UpstreamAnswer) {
        after(0) { [hub] in hub.upstreamAnswered(session, answer) }
        // The periodic tick runs at least every few hundred ms; a failure that needs no
        // network does not wait for it.
        loop.inbox.post { loop in LoopContext.of(loop).upstream?.tick(now: loop.now) }
    }

    func connected(_ session: HubSession) {
        fireSystemEvent(.connected, source: Self.source(session), body: Array("{}".utf8))
    }

    func disconnected(_ session: HubSession, reason: String) {
        var body = OutputBuffer(capacity: reason.utf8.count + 16)
        body.append("{\"reason\":")
        JSONWriter.appendString(reason, to: &body)
        body.append(UInt8(ascii: "}"))
        fireSystemEvent(.disconnected, source: Self.source(session), body: body.bytes)
    }

    /// Sends `connected`/`disconnected`, retried on 408, 5xx and network errors.
    func fireSystemEvent(_ event: SystemEvent, source: EventSource, body: [UInt8]) {
        guard let handler = configuration.handlers.handler(hub: source.hub, event) else { return }
        let id = takeEventId()
        let time = Int64(Glibc.time(nil))
        func attempt(_ number: Int, done: @escaping () -> Void) {
            validated(handler, hub: source.hub) { [self] failure in
                if failure != nil { return done() }  // Reported once by the validation.
                let request = body.withUnsafeBytes {
                    CloudEventRequest.event(
                        handler: handler, source: source, type: CloudEventRequest.type(system: event),
                        eventName: event.rawValue, id: id, time: time,
                        signature: EventSignature.header(connectionId: source.connectionId, keys: keys),
                        requestOrigin: requestOrigin, contentType: UpstreamContent.systemEvent, body: $0)
                }
                let started = loop.now
                client.send(request, to: handler.urlTemplate, timeoutNanos: timeoutNanos) { [self] result in
                    reports.record(event: event.rawValue, result: result, nanos: loop.now &- started)
                    done()
                    var status: Int?
                    switch result {
                    case .success(let response):
                        if (200..<300).contains(response.status) { return }
                        status = response.status
                    case .failure:
                        status = nil
                    }
                    if let delay = configuration.retry.delay(afterAttempt: number, status: status) {
                        after(delay) { attempt(number + 1, done: {}) }
                    } else {
                        let what = status.map { "answered \($0)" } ?? "failed"
                        logger.warning(
                            "event handler \(handler.urlTemplate.redactedURL(hub: source.hub, event: event.rawValue)) \(what) for \(event.rawValue) of connection \(source.connectionId) after \(number) attempt(s)"
                        )
                    }
                }
            }
        }
        inOrder(source.connectionId) { done in attempt(1, done: done) }
    }

    // MARK: connect

    /// The outcome of `connect`: the answer to apply, or the status and text to refuse with.
    enum ConnectOutcome {
        case accepted(ConnectEvent.Answer, connectionState: String?)
        case refused(status: Int, reason: String)
    }

    func connectHandler(hub: String) -> EventHandler? {
        configuration.handlers.handler(hub: hub, .connect)
    }

    /// Sends the blocking `connect` event (protocol-spec/upstream.md §5).
    func connect(
        handler: EventHandler, source: EventSource, body: [UInt8], completion: @escaping (ConnectOutcome) -> Void
    ) {
        validated(handler, hub: source.hub) { [self] failure in
            if let failure { return completion(.refused(status: 500, reason: failure)) }
            let request = body.withUnsafeBytes {
                CloudEventRequest.event(
                    handler: handler, source: source, type: CloudEventRequest.type(system: .connect),
                    eventName: "connect", id: 0, time: Int64(time(nil)),
                    signature: EventSignature.header(connectionId: source.connectionId, keys: keys),
                    requestOrigin: requestOrigin, contentType: UpstreamContent.systemEvent, body: $0)
            }
            let started = loop.now
            client.send(request, to: handler.urlTemplate, timeoutNanos: timeoutNanos) { [self] result in
                reports.record(event: "connect", result: result, nanos: loop.now &- started)
                completion(connectOutcome(result))
            }
        }
    }

    func connectOutcome(_ result: Result<UpstreamResponse, UpstreamFailure>) -> ConnectOutcome {
        switch result {
        case .failure(let failure):
            return .refused(status: 500, reason: "the connect event handler failed: \(failure)")
        case .success(let response):
            switch response.status {
            case 200..<300:
                let state = response.headers["ce-connectionState"]
                if let state, state.utf8.count > configuration.maxConnectionStateBytes {
                    return .refused(status: 500, reason: "the connect event handler's connection state is too large")
                }
                if response.status == 204 { return .accepted(ConnectEvent.Answer(), connectionState: state) }
                do {
                    let answer = try response.body.withUnsafeBytes { (body) throws(ConnectEvent.Failure) in
                        try ConnectEvent.parseAnswer(body)
                    }
                    return .accepted(answer, connectionState: state)
                } catch {
                    return .refused(status: 500, reason: "the connect event handler's answer is invalid: \(error)")
                }
            case 400..<500:
                let text = String(decoding: response.body.prefix(1024), as: UTF8.self)
                return .refused(
                    status: response.status, reason: text.isEmpty ? "refused by the connect event handler" : text)
            default:
                return .refused(
                    status: 500,
                    reason: "the connect event handler answered \(response.status)\(Self.detail(response.body))")
            }
        }
    }

    // MARK: abuse protection

    /// Calls `then` with nil once the handler's URL passed its preflight on this loop, or
    /// with the reason it did not (protocol-spec/upstream.md §4).
    func validated(_ handler: EventHandler, hub: String, then: @escaping (String?) -> Void) {
        let key = handler.urlTemplate.url(hub: hub, event: "validate")
        switch validations[key] {
        case .valid:
            return then(nil)
        case .pending(var waiting):
            waiting.append(then)
            validations[key] = .pending(waiting)
            return
        case .failed(let reason, let until) where loop.now < until:
            return then(reason)
        case .failed, .none:
            validations[key] = .pending([then])
            preflight(handler, hub: hub, key: key, attempt: 1)
        }
    }

    /// Starts the preflight of `handler` unless one runs, passed, or failed too recently
    /// (readiness probes call this; unlike `validated`, nothing waits on it).
    func prevalidate(_ handler: EventHandler, hub: String) {
        let key = handler.urlTemplate.url(hub: hub, event: "validate")
        switch validations[key] {
        case .pending, .valid: return
        case .failed(_, let until) where loop.now < until: return
        case .failed, .none: validated(handler, hub: hub) { _ in }
        }
    }

    private func preflight(_ handler: EventHandler, hub: String, key: String, attempt: Int) {
        let request = CloudEventRequest.validation(handler: handler, hub: hub, requestOrigin: requestOrigin)
        // The reason reaches clients (500 bodies, acks) and the log: never the query's values.
        let shown = handler.urlTemplate.redactedURL(hub: hub, event: "validate")
        client.send(request, to: handler.urlTemplate, timeoutNanos: validationTimeoutNanos) { [self] result in
            var reason: String?
            switch result {
            case .failure(let failure):
                reason = "abuse protection for '\(shown)' failed: \(failure)"
            case .success(let response):
                let allowed = response.headers.values("WebHook-Allowed-Origin").flatMap {
                    $0.split(separator: ",").map { String($0).trimmingSpaces }
                }
                if !(200..<300).contains(response.status) {
                    reason = "abuse protection for '\(shown)' failed: \(response.status)"
                } else if !allowed.contains(where: { $0 == "*" || $0.lowercased() == requestOrigin.lowercased() }) {
                    reason =
                        "abuse protection for '\(shown)' missing allowed origins (WebHook-Allowed-Origin must be * or \(requestOrigin))"
                }
            }
            // Any failed preflight is tried again, whatever it answered: a handler may still be starting.
            if reason != nil, let delay = configuration.validationRetry.delay(afterAttempt: attempt, status: nil) {
                reports.validationRetried()
                after(delay) { self.preflight(handler, hub: hub, key: key, attempt: attempt + 1) }
                return
            }
            guard case .pending(let waiting) = validations[key] else { return }
            if let reason {
                validations[key] = .failed(
                    reason: reason, until: loop.now &+ configuration.validationRetryAfter.nanoseconds)
                if reports.validationFailed(key: key) { logger.error("\(reason); its events are not sent") }
            } else {
                validations[key] = .valid
                if reports.validationPassed(key: key) { logger.info("event handler \(shown) passed abuse protection") }
            }
            for waiter in waiting { waiter(reason) }
        }
    }
}

/// What every loop's dispatcher reports, shared: counts for tests and operators, and the
/// once-only log lines of validation.
final class UpstreamReports: Sendable {
    struct Counts {
        var requests: [String: Int] = [:]
        var failures: [String: Int] = [:]
        var validationFailures = 0
        var validationRetries = 0
        var failedKeys: Set<String> = []
        var passedKeys: Set<String> = []
    }

    let counts = Mutex(Counts())
    /// Where each request's status and latency also go; nil in tests that need only counts.
    let metrics: ServerMetrics?

    init(metrics: ServerMetrics? = nil) {
        self.metrics = metrics
    }

    func record(event: String, result: Result<UpstreamResponse, UpstreamFailure>, nanos: UInt64) {
        counts.withLock { counts in
            counts.requests[event, default: 0] += 1
            if case .failure = result { counts.failures[event, default: 0] += 1 }
        }
        metrics?.recordUpstream(event: event, result: result, nanos: nanos)
    }

    func validationRetried() { counts.withLock { $0.validationRetries += 1 } }

    /// True the first time `key` fails, so the failure is logged once.
    func validationFailed(key: String) -> Bool {
        counts.withLock { counts in
            counts.validationFailures += 1
            counts.passedKeys.remove(key)
            return counts.failedKeys.insert(key).inserted
        }
    }

    /// True the first time `key` passes (or passes again after failing).
    func validationPassed(key: String) -> Bool {
        counts.withLock { counts in
            counts.failedKeys.remove(key)
            return counts.passedKeys.insert(key).inserted
        }
    }
}
