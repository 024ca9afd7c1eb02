import Synchronization
import WPSLoop

/// A trivial event handler for the `upstream` workload, on its own event loop(s): HTTP/1.1
/// keep-alive on 127.0.0.1. `OPTIONS` (the abuse-protection preflight) gets 200 with
/// `WebHook-Allowed-Origin: *`; every `POST` gets `204 No Content`, except a user event whose
/// target ends in `/reply…`, which gets 200 `text/plain` with a short body (the server sends
/// it to the client before the ack). Answers are built once; a request costs a scan of its
/// head and one copy of the answer into the loop's turn arena.
final class UpstreamHandler: Sendable {
    /// What the handler answered, over every loop.
    final class Counters: Sendable {
        let connections = Atomic<Int>(0)
        let preflights = Atomic<Int>(0)
        let noContent = Atomic<Int>(0)
        let replies = Atomic<Int>(0)
        let other = Atomic<Int>(0)
        let invalid = Atomic<Int>(0)
    }

    /// The answers, byte for byte.
    struct Answers: Sendable {
        let preflight: [UInt8]
        let noContent: [UInt8]
        let reply: [UInt8]
        let notAllowed: [UInt8]

        init(replyBytes: Int) {
            preflight = Array("HTTP/1.1 200 OK\r\nWebHook-Allowed-Origin: *\r\nContent-Length: 0\r\n\r\n".utf8)
            noContent = Array("HTTP/1.1 204 No Content\r\n\r\n".utf8)
            let body = String(repeating: "r", count: max(1, replyBytes))
            reply = Array(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)".utf8)
            notAllowed = Array("HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n".utf8)
        }
    }

    let group: EventLoopGroup
    let counters: Counters
    var port: Int { group.port }

    /// Listens on 127.0.0.1:`port` (0: a free one) with `threads` loops sharing the port.
    init(port: Int, threads: Int, replyBytes: Int) throws(LoopError) {
        let counters = Counters()
        self.counters = counters
        let answers = Answers(replyBytes: replyBytes)
        group = try EventLoopGroup(threads: max(1, threads), host: "127.0.0.1", port: port) { loop in
            loop.acceptHandler = { _ in
                counters.connections.add(1, ordering: .relaxed)
                return HandlerConnection(answers: answers, counters: counters)
            }
        }
    }

    /// Closes every connection (within a second) and waits for the loops to end.
    func stop() {
        group.shutdown(graceNanos: 1_000_000_000)
        group.join()
    }
}

/// One keep-alive connection from the server's upstream client.
final class HandlerConnection: ConnectionHandler {
    private let answers: UpstreamHandler.Answers
    private let counters: UpstreamHandler.Counters
    private var input = HandlerRequestBuffer()

    init(answers: UpstreamHandler.Answers, counters: UpstreamHandler.Counters) {
        self.answers = answers
        self.counters = counters
    }

    func received(_ bytes: UnsafeMutableRawBufferPointer, on connection: Connection) {
        let framed = input.feed(UnsafeRawBufferPointer(bytes)) { request in
            switch request.method {
            case .post where request.wantsReply:
                counters.replies.add(1, ordering: .relaxed)
                connection.queue(copying: answers.reply)
            case .post:
                counters.noContent.add(1, ordering: .relaxed)
                connection.queue(copying: answers.noContent)
            case .options:
                counters.preflights.add(1, ordering: .relaxed)
                connection.queue(copying: answers.preflight)
            case .other:
                counters.other.add(1, ordering: .relaxed)
                connection.queue(copying: answers.notAllowed)
            }
        }
        if !framed {
            counters.invalid.add(1, ordering: .relaxed)
            connection.abort()
        }
    }
}
