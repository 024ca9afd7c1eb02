import WPSBytes
import WPSHTTP
import WPSLoop
import WPSUpstream

/// A complete answer from an event handler.
struct UpstreamResponse {
    var status: Int
    var headers: HTTPHeaders
    var body: [UInt8]
}

/// The limits of the outbound HTTP client (protocol-spec/upstream.md §7).
struct UpstreamLimits: Sendable {
    /// Connections one loop keeps open to one handler origin; more requests wait for one.
    var maxConnectionsPerOrigin = 64
    /// Largest handler response body; a longer one fails the request.
    var maxResponseBodyBytes = 1 << 20
    /// How long a kept-alive connection may sit unused before it is closed.
    var idleNanos: UInt64 = 30_000_000_000
}

/// One request waiting for or holding an upstream connection.
final class UpstreamCall {
    let request: [UInt8]
    let deadline: UInt64
    private var completion: ((Result<UpstreamResponse, UpstreamFailure>) -> Void)?

    init(request: [UInt8], deadline: UInt64, completion: @escaping (Result<UpstreamResponse, UpstreamFailure>) -> Void)
    {
        self.request = request
        self.deadline = deadline
        self.completion = completion
    }

    var isFinished: Bool { completion == nil }

    func finish(_ result: Result<UpstreamResponse, UpstreamFailure>) {
        guard let completion else { return }
        self.completion = nil
        completion(result)
    }
}

/// Why a request got no usable answer.
struct UpstreamFailure: Error, CustomStringConvertible {
    var description: String
    /// True when the handler did not answer in time.
    var timedOut = false
    init(_ description: String, timedOut: Bool = false) {
        self.description = description
        self.timedOut = timedOut
    }
}

/// The HTTP/1.1 client of one loop for event handlers: a keep-alive pool per origin, never
/// blocking the loop (protocol-spec/upstream.md §7).
final class UpstreamClient {
    unowned let loop: EventLoop
    let limits: UpstreamLimits
    let tls: UpstreamTLS?
    var pools: [String: UpstreamPool] = [:]

    init(loop: EventLoop, limits: UpstreamLimits, tls: UpstreamTLS?) {
        self.loop = loop
        self.limits = limits
        self.tls = tls
    }

    /// Sends `request` (a whole HTTP/1.1 request) to the template's origin.
    func send(
        _ request: [UInt8], to template: URLTemplate, timeoutNanos: UInt64,
        completion: @escaping (Result<UpstreamResponse, UpstreamFailure>) -> Void
    ) {
        let call = UpstreamCall(request: request, deadline: loop.now &+ timeoutNanos, completion: completion)
        let key = template.origin
        let pool: UpstreamPool
        if let existing = pools[key] {
            pool = existing
        } else {
            pool = UpstreamPool(client: self, host: template.host, port: template.port, isTLS: template.isTLS)
            pools[key] = pool
        }
        pool.submit(call)
    }

    /// Fails requests that waited for a connection past their deadline.
    func expireWaiting(now: UInt64) {
        for pool in pools.values { pool.expireWaiting(now: now) }
    }
}

/// Connections to one origin from one loop.
final class UpstreamPool {
    unowned let client: UpstreamClient
    let host: String
    let port: Int
    let isTLS: Bool
    var idle: [UpstreamConnection] = []
    var openCount = 0
    var waiting: [UpstreamCall] = []

    init(client: UpstreamClient, host: String, port: Int, isTLS: Bool) {
        self.client = client
        self.host = host
        self.port = port
        self.isTLS = isTLS
    }

    func submit(_ call: UpstreamCall) {
        while let connection = idle.popLast() {
            if connection.start(call, reused: true) { return }
        }
        if openCount < client.limits.maxConnectionsPerOrigin {
            open(with: call)
        } else {
            waiting.append(call)
        }
    }

    private func open(with call: UpstreamCall) {
        if isTLS, client.tls == nil {
            call.finish(.failure(UpstreamFailure("https is not available")))
            return
        }
        let handler = UpstreamConnection(pool: self)
        guard let connection = client.loop.connect(host: host, port: port, handler: handler) else {
            call.finish(.failure(UpstreamFailure("cannot connect to \(host):\(port)")))
            return
        }
        if isTLS, let tls = client.tls { connection.transform = tls.transform(serverName: host) }
        openCount += 1
        handler.connection = connection
        _ = handler.start(call, reused: false)
    }

    /// A connection finished its request and may take the next.
    func released(_ connection: UpstreamConnection) {
        while !waiting.isEmpty {
            let call = waiting.removeFirst()
            if call.isFinished { continue }
            if connection.start(call, reused: true) { return }
            waiting.insert(call, at: 0)
            return
        }
        idle.append(connection)
        connection.idleSince(client.loop.now)
    }

    /// A connection closed; a waiting request gets a new one.
    func closed(_ connection: UpstreamConnection) {
        openCount -= 1
        idle.removeAll { $0 === connection }
        while let call = waiting.first, call.isFinished { waiting.removeFirst() }
        if !waiting.isEmpty, openCount < client.limits.maxConnectionsPerOrigin {
            open(with: waiting.removeFirst())
        }
    }

    /// A request on a reused connection that the origin had closed meanwhile: tried once
    /// more on a fresh connection, as HTTP clients do for idempotent-looking failures.
    func retryFresh(_ call: UpstreamCall) {
        if openCount < client.limits.maxConnectionsPerOrigin {
            open(with: call)
        } else {
            waiting.insert(call, at: 0)
        }
    }

    func expireWaiting(now: UInt64) {
        guard !waiting.isEmpty else { return }
        waiting.removeAll { call in
            if call.isFinished { return true }
            guard now >= call.deadline else { return false }
            call.finish(
                .failure(UpstreamFailure("no connection to \(host):\(port) became free in time", timedOut: true)))
            return true
        }
    }
}

/// One keep-alive connection to an event handler, carrying one request at a time.
final class UpstreamConnection: ConnectionHandler {
    unowned let pool: UpstreamPool
    var connection: Connection?
    var call: UpstreamCall?
    var reused = false
    var buffer: [UInt8] = []
    var parser = HTTPResponseHeadParser()
    var head: HTTPResponseHead?
    var headLength = 0
    var chunked = HTTPChunkedDecoder()
    var body: [UInt8] = []
    /// Response bytes seen for the current request; a reused connection that closes before
    /// any is retried.
    var received = 0

    init(pool: UpstreamPool) {
        self.pool = pool
    }

    /// Sends `call` on this connection; false when the connection can no longer be used.
    func start(_ call: UpstreamCall, reused: Bool) -> Bool {
        guard let connection, connection.isOpen || !reused else { return false }
        self.call = call
        self.reused = reused
        buffer.removeAll(keepingCapacity: true)
        parser.reset()
        head = nil
        headLength = 0
        received = 0
        body = []
        connection.setTimer(at: call.deadline)
        connection.queue(copying: call.request)
        return true
    }

    func idleSince(_ now: UInt64) {
        connection?.setTimer(at: now &+ pool.client.limits.idleNanos)
    }

    func received(_ bytes: UnsafeMutableRawBufferPointer, on connection: Connection) {
        guard let call else {
            // Nothing was asked: a handler talking out of turn cannot be trusted with the next request.
            connection.abort()
            return
        }
        received += bytes.count
        if head == nil {
            buffer.append(contentsOf: UnsafeRawBufferPointer(bytes))
            switch buffer.withUnsafeBytes({ parser.parse($0) }) {
            case .needMore:
                return
            case .failure(let error):
                fail(call, UpstreamFailure("invalid response: \(error.reason)"))
                return
            case .complete(let parsed, let length):
                head = parsed
                headLength = length
                chunked = HTTPChunkedDecoder(maxBodyBytes: pool.client.limits.maxResponseBodyBytes)
                let rest = Array(buffer[length...])
                buffer.removeAll(keepingCapacity: true)
                rest.withUnsafeBytes { consumeBody($0, call: call, connection: connection) }
            }
        } else {
            consumeBody(UnsafeRawBufferPointer(bytes), call: call, connection: connection)
        }
    }

    private func consumeBody(_ bytes: UnsafeRawBufferPointer, call: UpstreamCall, connection: Connection) {
        guard let head else { return }
        let limit = pool.client.limits.maxResponseBodyBytes
        if head.status == 204 || head.status == 304 || (100..<200).contains(head.status) {
            complete(call, head, connection: connection)
            return
        }
        if head.isChunked {
            switch chunked.feed(bytes, into: &body) {
            case .needMore: return
            case .failure(let error): fail(call, UpstreamFailure("invalid chunked body: \(error.reason)"))
            case .complete: complete(call, head, connection: connection)
            }
            return
        }
        body.append(contentsOf: bytes)
        if let length = head.contentLength {
            if length > limit {
                fail(call, UpstreamFailure("response body of \(length) bytes is over the \(limit)-byte limit"))
            } else if body.count >= length {
                if body.count > length { body.removeLast(body.count - length) }
                complete(call, head, connection: connection)
            }
        } else if body.count > limit {
            fail(call, UpstreamFailure("response body over the \(limit)-byte limit"))
        }
    }

    private func complete(_ call: UpstreamCall, _ head: HTTPResponseHead, connection: Connection) {
        self.call = nil
        let keepAlive =
            head.minorVersion >= 1 && !head.headers.containsToken("Connection", "close")
            && (head.contentLength != nil || head.isChunked || head.status == 204 || head.status == 304)
        let response = UpstreamResponse(status: head.status, headers: head.headers, body: body)
        body = []
        if keepAlive {
            pool.released(self)
        } else {
            connection.close()
        }
        call.finish(.success(response))
    }

    private func fail(_ call: UpstreamCall, _ failure: UpstreamFailure) {
        self.call = nil
        connection?.abort()
        call.finish(.failure(failure))
    }

    func receivedEOF(on connection: Connection) {
        guard let call else {
            connection.close()
            return
        }
        if let head, !head.isChunked, head.contentLength == nil {
            // A body delimited by the end of the connection.
            self.call = nil
            connection.close()
            call.finish(.success(UpstreamResponse(status: head.status, headers: head.headers, body: body)))
            return
        }
        self.call = nil
        connection.close()
        if reused && received == 0 {
            pool.retryFresh(call)
        } else {
            call.finish(.failure(UpstreamFailure("the event handler closed the connection before answering")))
        }
    }

    func timerFired(on connection: Connection, now: UInt64) {
        if let call {
            guard now >= call.deadline else {
                connection.setTimer(at: call.deadline)
                return
            }
            fail(call, UpstreamFailure("the event handler did not answer in time", timedOut: true))
        } else {
            connection.close()
        }
    }

    func shutdownRequested(on connection: Connection) {
        connection.abort()
    }

    func closed(_ connection: Connection) {
        self.connection = nil
        pool.closed(self)
        if let call {
            self.call = nil
            if reused && received == 0 {
                pool.retryFresh(call)
            } else {
                call.finish(.failure(UpstreamFailure("cannot reach the event handler at \(pool.host):\(pool.port)")))
            }
        }
    }
}
