import WPSBytes
import WPSDeflate
import WPSHTTP
import WPSLoop

/// One HTTP/1.1 connection before any upgrade: parses request heads (pipelined and
/// keep-alive), collects `Content-Length` bodies, answers or hands over to a WebSocket.
final class HTTPSession: ConnectionHandler {
    enum Phase {
        case head
        case body(HTTPRequestHead, remaining: Int)
        case chunkedBody(HTTPRequestHead)
        /// A deferred answer is on its way; later requests wait in `pending`.
        case waiting(HTTPRequestHead)
        case finished
    }

    let connection: Connection
    let router: Router
    /// What the server keeps for the loop this connection is on.
    let context: LoopContext
    /// The loop's compressors, for the WebSocket session.
    var compressors: DeflatePool? { context.deflate }
    var parser: HTTPHeadParser
    var phase = Phase.head
    /// Bytes of an incomplete head or body, kept only between reads.
    var pending: [UInt8] = []
    var body: [UInt8] = []
    var chunked: HTTPChunkedDecoder
    let handshakeNanos: UInt64
    var maxPendingBytes: Int { router.configuration.http.maxHeadBytes + router.configuration.http.maxBodyBytes }

    init(connection: Connection, router: Router, context: LoopContext) {
        self.context = context
        self.connection = connection
        self.router = router
        parser = HTTPHeadParser(limits: router.configuration.http)
        chunked = HTTPChunkedDecoder(limits: router.configuration.http)
        handshakeNanos = router.handshakeNanos
        connection.setTimer(at: connection.loop.now + handshakeNanos)
    }

    func received(_ bytes: UnsafeMutableRawBufferPointer, on connection: Connection) {
        if pending.isEmpty {
            let used = process(bytes)
            if used < bytes.count, connection.handler === self {
                pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[used...]))
            }
        } else {
            pending.append(contentsOf: UnsafeRawBufferPointer(bytes))
            if case .waiting = phase, pending.count > maxPendingBytes {
                // A client pipelining without reading answers gets cut, not buffered forever.
                connection.abort()
                return
            }
            let used = pending.withUnsafeMutableBytes { process($0) }
            if connection.handler === self {
                pending.removeFirst(min(used, pending.count))
            } else {
                pending = []
            }
        }
    }

    /// Consumes as much of `buffer` as forms requests; returns the bytes used. After an
    /// upgrade the rest goes to the new handler and everything counts as used.
    func process(_ buffer: UnsafeMutableRawBufferPointer) -> Int {
        var offset = 0
        while offset < buffer.count || isBodyComplete {
            switch phase {
            case .finished:
                return buffer.count
            case .waiting:
                return offset
            case .head:
                let rest = UnsafeRawBufferPointer(rebasing: buffer[offset...])
                switch parser.parseNext(rest) {
                case .needMore:
                    return offset
                case .failure(let error):
                    respond(error.status, body: error.reason + "\n", headers: HTTPHeaders(), close: true)
                    return buffer.count
                case .complete(let head, let headLength):
                    offset += headLength
                    if !head.isChunked, head.contentLength == 0 {
                        // No body (every upgrade, most GETs): routed straight away, without
                        // passing the head through a body phase and back.
                        if dispatch(head, rest: UnsafeMutableRawBufferPointer(rebasing: buffer[offset...])) {
                            return buffer.count
                        }
                    } else if head.isChunked {
                        chunked.reset()
                        phase = .chunkedBody(head)
                    } else {
                        phase = .body(head, remaining: head.contentLength)
                    }
                }
            case .chunkedBody(let head):
                let rest = UnsafeRawBufferPointer(rebasing: buffer[offset...])
                switch chunked.feed(rest, into: &body) {
                case .needMore:
                    return buffer.count
                case .failure(let error):
                    respond(error.status, body: error.reason + "\n", headers: HTTPHeaders(), close: true)
                    return buffer.count
                case .complete(let consumed):
                    offset += consumed
                    phase = .head
                    if dispatch(head, rest: UnsafeMutableRawBufferPointer(rebasing: buffer[offset...])) {
                        return buffer.count
                    }
                }
            case .body(let head, let remaining):
                let take = min(remaining, buffer.count - offset)
                if take > 0 {
                    body.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[offset..<offset + take]))
                    offset += take
                }
                if remaining - take > 0 {
                    phase = .body(head, remaining: remaining - take)
                    return offset
                }
                phase = .head
                if dispatch(head, rest: UnsafeMutableRawBufferPointer(rebasing: buffer[offset...])) {
                    return buffer.count
                }
            }
        }
        return offset
    }

    private var isBodyComplete: Bool {
        if case .body(_, let remaining) = phase { return remaining == 0 }
        return false
    }

    /// Routes a complete request. Returns true when the connection changed hands or closed.
    func dispatch(_ head: HTTPRequestHead, rest: UnsafeMutableRawBufferPointer) -> Bool {
        let requestBody = body
        body = []
        return apply(
            router.route(
                head, body: requestBody, context: context, secure: connection.transform != nil, connection: connection),
            for: head,
            rest: rest)
    }

    /// Carries out a route's decision. Returns true when the connection changed hands or closed.
    func apply(_ decision: RouteDecision, for head: HTTPRequestHead, rest: UnsafeMutableRawBufferPointer) -> Bool {
        switch decision {
        case .answer(let answer):
            return send(answer, for: head)
        case .deferred(let start):
            phase = .waiting(head)
            connection.cancelTimer()
            start { [weak self] answer in self?.finishWaiting(answer) }
            // Whatever follows stays unread until the answer is out.
            return false
        case .deferredDecision(let start):
            phase = .waiting(head)
            connection.cancelTimer()
            // A decision made at once is applied here, on the bytes at hand; a later one to
            // what waited in `pending` meanwhile (frames sent right behind an upgrade request).
            var starting = true
            var immediate: RouteDecision?
            start { [weak self] decision in
                if starting { immediate = decision } else { self?.finishWaiting(decision) }
            }
            starting = false
            if let immediate {
                phase = .head
                return apply(immediate, for: head, rest: rest)
            }
            return false
        case .respond(let status, let text, let headers):
            let close = !head.keepAlive
            respond(status, body: text, headers: headers, close: close, omitBody: head.method == "HEAD")
            if close { return true }
            connection.setTimer(at: connection.loop.now + handshakeNanos)
            return false
        case .upgrade(let response, let application, let deflate):
            phase = .finished
            connection.queue(copying: response)
            let session = WebSocketSession(
                connection: connection, configuration: router.webSocketLimits, application: application,
                deflate: deflate,
                compressors: compressors)
            connection.handler = session
            session.start()
            // Frames that came with the upgrade request: unmask them in place, no copy.
            if rest.count > 0 { session.received(rest, on: connection) }
            return true
        case .moveAndUpgrade(let target, let response, let start, let deflate):
            phase = .finished
            let leftover = Array(rest)
            let messageRate = router.configuration.limits.maxMessagesPerSecond
            let configuration = router.webSocketLimits
            let inbox = connection.loop.siblings[target]
            let moved = connection.detach { socket in
                inbox.post { loop in
                    guard let connection = loop.adopt(socket) else { return }
                    let context = LoopContext.of(loop)
                    HTTPSession.upgrade(
                        connection, response: response,
                        application: HubApplication(context: context, start: start, maxMessagesPerSecond: messageRate),
                        configuration: configuration, deflate: deflate, compressors: context.deflate, leftover: leftover
                    )
                }
            }
            if !moved {
                // Earlier pipelined responses are still queued here: refuse the recovery
                // rather than split the byte stream across loops.
                let refusal = HubApplication(
                    context: context,
                    start: .refuse(code: .policyViolation, reason: "the connection cannot be recovered"))
                HTTPSession.upgrade(
                    connection, response: response, application: refusal, configuration: configuration,
                    deflate: deflate,
                    compressors: compressors, leftover: [])
            }
            return true
        }
    }

    /// Answers the upgrade on `connection` and hands it to a WebSocket session.
    static func upgrade(
        _ connection: Connection, response: [UInt8], application: WebSocketApplication,
        configuration: WebSocketSession.Limits, deflate: NegotiatedDeflate?, compressors: DeflatePool?,
        leftover: [UInt8]
    ) {
        connection.queue(copying: response)
        let session = WebSocketSession(
            connection: connection, configuration: configuration, application: application, deflate: deflate,
            compressors: compressors)
        connection.handler = session
        session.start()
        if !leftover.isEmpty {
            var bytes = leftover
            bytes.withUnsafeMutableBytes { session.received($0, on: connection) }
        }
    }

    /// Sends a complete answer; returns true when the connection closes after it.
    func send(_ answer: HTTPAnswer, for head: HTTPRequestHead) -> Bool {
        let close = !head.keepAlive
        var out = OutputBuffer(capacity: 200 + answer.body.count)
        HTTPResponse.write(
            status: answer.status, body: head.method == "HEAD" ? [] : answer.body, contentType: answer.contentType,
            close: close, extraHeaders: answer.headers, into: &out)
        connection.queue(copying: out.bytes)
        if close {
            phase = .finished
            connection.close()
            return true
        }
        connection.setTimer(at: connection.loop.now + handshakeNanos)
        return false
    }

    /// A deferred decision arrived: carried out on the bytes that waited behind the request.
    func finishWaiting(_ decision: RouteDecision) {
        guard case .waiting(let head) = phase, connection.isOpen, connection.handler === self else { return }
        phase = .head
        var rest = pending
        pending = []
        let handedOver = rest.withUnsafeMutableBytes { apply(decision, for: head, rest: $0) }
        if handedOver || connection.handler !== self { return }
        // Refused: keep-alive goes on with what followed the request.
        pending = rest
        processPending()
    }

    func finishWaiting(_ answer: HTTPAnswer) {
        guard case .waiting(let head) = phase, connection.isOpen, connection.handler === self else { return }
        phase = .head
        if send(answer, for: head) { return }
        processPending()
    }

    /// Goes on with requests that arrived while an answer was deferred.
    private func processPending() {
        guard !pending.isEmpty else { return }
        let used = pending.withUnsafeMutableBytes { process($0) }
        if connection.handler === self {
            pending.removeFirst(min(used, pending.count))
        } else {
            pending = []
        }
    }

    func respond(_ status: HTTPStatus, body: String, headers: HTTPHeaders, close: Bool, omitBody: Bool = false) {
        var out = OutputBuffer(capacity: 160 + body.utf8.count)
        HTTPResponse.write(
            status: status, body: body.utf8, contentType: "text/plain; charset=utf-8", close: close,
            extraHeaders: headers, into: &out)
        if omitBody {
            // HEAD: the same head as GET, without the body (RFC 9110 §9.3.2).
            connection.queue(copying: Array(out.bytes.dropLast(body.utf8.count)))
        } else {
            connection.queue(copying: out.bytes)
        }
        if close {
            phase = .finished
            connection.close()
        }
    }

    func timerFired(on connection: Connection, now: UInt64) {
        switch phase {
        case .finished, .waiting:
            return
        case .head where pending.isEmpty:
            // Idle between requests: nothing to answer.
            phase = .finished
            connection.close()
        default:
            respond(.requestTimeout, body: "request head not received in time\n", headers: HTTPHeaders(), close: true)
        }
    }

    func shutdownRequested(on connection: Connection) {
        if case .head = phase, pending.isEmpty {
            phase = .finished
            connection.close()
        }
    }
}
