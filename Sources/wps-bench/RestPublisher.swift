import WPSAuth
import WPSBytes
import WPSLoop

/// Publishes stamped payloads with the REST API (`POST /api/hubs/{hub}/groups/{g}/:send`)
/// over one keep-alive HTTP/1.1 connection with pipelined requests: the requests in flight
/// are the saturation window, and one connection keeps the publishes in order (parallel
/// connections would land on different server loops and race). With TLS each connection
/// gets the same transform as the WebSocket clients; REST bodies are never compressed.
final class RestPublisher: BenchTicker {
    private unowned let context: LoopContext
    let plan: PublishPlan
    private let requestHead: [UInt8]
    private var channels: [RestChannel] = []
    private var startedAt: UInt64 = 0
    private var running = false
    private(set) var sent = 0
    private(set) var acked = 0

    /// `token` is a REST JWT whose `aud` is the full request URL.
    init(context: LoopContext, plan: PublishPlan, token: String, path: String) {
        self.context = context
        self.plan = plan
        var head = OutputBuffer(capacity: 512)
        head.append("POST \(path) HTTP/1.1\r\nHost: \(context.config.host):\(context.config.port)\r\n")
        head.append("Authorization: Bearer \(token)\r\nContent-Type: application/json\r\n")
        head.append("Content-Length: ")
        requestHead = head.bytes
    }

    /// Opens the connection(s); with more than one, order across them is not guaranteed.
    func connect(channels count: Int = 1) {
        let config = context.config
        for _ in 0..<count {
            let channel = RestChannel(publisher: self)
            channels.append(channel)
            if let connection = context.loop.connect(host: config.host, port: config.port, handler: channel) {
                if let tls = config.transport.tls {
                    connection.transform = tls.transform(serverName: BenchTransport.serverName)
                }
                channel.connection = connection
                context.shared.opened.add(1, ordering: .relaxed)
            } else {
                context.shared.failedConnects.add(1, ordering: .relaxed)
            }
        }
    }

    func begin() {
        running = true
        startedAt = context.loop.now
        pump(now: startedAt)
    }

    var inFlight: Int { sent - acked }

    func close() {
        for channel in channels { channel.connection?.close() }
    }

    func tick(now: UInt64) {
        if running { pump(now: now) }
    }

    private func pump(now: UInt64) {
        if context.shared.isStopped || (plan.maxCount > 0 && sent >= plan.maxCount) {
            running = false
            return
        }
        var budget: Int
        let perChannel: Int
        switch plan.pace {
        case .rate(let perSecond):
            budget = Int(Double(now &- startedAt) * perSecond / 1e9) + 1 - sent
            perChannel = 1_000
        case .saturation(let window):
            let delivered = context.shared.delivered.load(ordering: .relaxed)
            let undelivered = sent * plan.subscribers - delivered
            budget = (plan.deliveryWindow * plan.subscribers - undelivered) / max(1, plan.subscribers)
            perChannel = window
        }
        if plan.maxCount > 0 { budget = min(budget, plan.maxCount - sent) }
        for channel in channels where channel.connection?.isOpen == true {
            while budget > 0, channel.inFlight < perChannel {
                budget -= 1
                send(on: channel)
            }
        }
    }

    private func send(on channel: RestChannel) {
        sent += 1
        let body = BenchPayload.make(
            sentNanos: ProcessControl.monotonicNanos, publisher: 0, sequence: UInt64(sent),
            size: context.config.payloadBytes, style: context.config.payloadStyle)
        var request = OutputBuffer(capacity: requestHead.count + body.count + 16)
        request.append(contentsOf: requestHead)
        request.appendDecimal(body.count)
        request.append("\r\n\r\n")
        request.append(contentsOf: body.bytes)
        channel.inFlight += 1
        channel.connection?.queue(copying: request.bytes)
        context.stats.published += 1
        context.shared.published.add(1, ordering: .relaxed)
    }

    /// A response arrived on `channel` with `status`.
    func answered(_ channel: RestChannel, status: Int) {
        channel.inFlight -= 1
        acked += 1
        context.shared.acked.add(1, ordering: .relaxed)
        if status != 202 {
            context.stats.failedAcks += 1
            context.stats.recordFailure("REST status \(status)")
        }
        if running { pump(now: context.loop.now) }
    }

    func channelClosed(_ channel: RestChannel) {
        acked += channel.inFlight
        channel.inFlight = 0
        if !context.shared.isStopped { context.stats.recordFailure("REST connection closed") }
    }
}

/// One keep-alive HTTP connection of a `RestPublisher`: parses responses just enough to find
/// their status and skip their body.
final class RestChannel: ConnectionHandler {
    private unowned let publisher: RestPublisher
    var connection: Connection?
    /// Requests sent whose response has not arrived.
    var inFlight = 0
    private var buffer: [UInt8] = []

    init(publisher: RestPublisher) {
        self.publisher = publisher
    }

    func received(_ bytes: UnsafeMutableRawBufferPointer, on connection: Connection) {
        buffer.append(contentsOf: UnsafeRawBufferPointer(bytes))
        while let (status, length) = Self.response(in: buffer) {
            buffer.removeFirst(length)
            publisher.answered(self, status: status)
        }
    }

    func closed(_ connection: Connection) {
        self.connection = nil
        publisher.channelClosed(self)
    }

    /// Status and total length of the first complete response in `bytes`, if any.
    static func response(in bytes: [UInt8]) -> (Int, Int)? {
        guard let end = BenchSocket.headEnd(bytes), end >= 12 else { return nil }
        var status = 0
        for index in 9..<12 { status = status * 10 + Int(bytes[index] &- 48) }
        var bodyLength = 0
        let name = Array("content-length:".utf8)
        var lineStart = 0
        for index in 0..<end where bytes[index] == 10 {
            let line = bytes[lineStart..<index]
            lineStart = index + 1
            guard line.count > name.count,
                zip(line.prefix(name.count), name).allSatisfy({ $0 | 0x20 == $1 | 0x20 })
            else { continue }
            for byte in line.dropFirst(name.count) where byte >= 48 && byte <= 57 {
                bodyLength = bodyLength * 10 + Int(byte - 48)
            }
        }
        guard bytes.count >= end + bodyLength else { return nil }
        return (status, end + bodyLength)
    }
}
