import WPSHTTP
import WPSLoop

/// One HTTP/1.1 GET over a loop connection (`Connection: close`), for `/negotiate`.
final class HTTPGetHandler: ConnectionHandler {
    /// A complete response: status and body.
    struct Response: Sendable {
        var status: Int
        var body: [UInt8]
    }

    /// The loop all negotiate requests of the process share (one thread, started on first use).
    static let loops: EventLoopGroup? = try? EventLoopGroup(threads: 1) { _ in }
    /// Whole-request bound: connect, send, answer.
    static let timeoutNanos: UInt64 = 10_000_000_000
    /// Largest body accepted; negotiate answers are well under 4 KiB.
    static let maxBodyBytes = 1 << 20

    private var buffer: [UInt8] = []
    private var parser = HTTPResponseHeadParser()
    private var head: HTTPResponseHead?
    private var headLength = 0
    private var completion: ((Result<Response, NegotiateError>) -> Void)?

    init(completion: @escaping (Result<Response, NegotiateError>) -> Void) {
        self.completion = completion
    }

    /// Sends the request and waits for the whole response.
    static func get(
        host: String, port: Int, hostHeader: String, target: String, headers: [(String, String)], tls: ClientTLS? = nil
    ) async throws -> Response {
        guard let inbox = loops?.inboxes.first else { throw NegotiateError(status: 0, reason: "no event loop") }
        var request = "GET \(target) HTTP/1.1\r\nHost: \(hostHeader)\r\n"
        for (name, value) in headers { request += "\(name): \(value)\r\n" }
        request += "Accept: application/json\r\nConnection: close\r\n\r\n"
        let bytes = Array(request.utf8)
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Response, any Error>) in
            inbox.post { loop in
                let handler = HTTPGetHandler { result in continuation.resume(with: result.mapError { $0 }) }
                guard let connection = loop.connect(host: host, port: port, handler: handler) else {
                    handler.finish(.failure(NegotiateError(status: 0, reason: "could not connect to \(host):\(port)")))
                    return
                }
                connection.transform = tls?.transform(serverName: host)
                connection.setTimer(at: loop.now &+ timeoutNanos)
                connection.queue(copying: bytes)
            }
        }
    }

    func finish(_ result: Result<Response, NegotiateError>) {
        guard let completion else { return }
        self.completion = nil
        completion(result)
    }

    func received(_ bytes: UnsafeMutableRawBufferPointer, on connection: Connection) {
        buffer.append(contentsOf: bytes)
        if head == nil {
            switch buffer.withUnsafeBytes({ parser.parse($0) }) {
            case .needMore:
                return
            case .failure(let error):
                finish(.failure(NegotiateError(status: 0, reason: error.reason)))
                connection.abort()
                return
            case .complete(let parsed, let length):
                head = parsed
                headLength = length
            }
        }
        guard let head else { return }
        let bodyBytes = buffer.count - headLength
        if bodyBytes > Self.maxBodyBytes {
            finish(.failure(NegotiateError(status: head.status, reason: "response body too large")))
            connection.abort()
        } else if let length = head.contentLength, !head.isChunked, bodyBytes >= length {
            finish(.success(Response(status: head.status, body: Array(buffer[headLength..<headLength + length]))))
            connection.close()
        }
    }

    func receivedEOF(on connection: Connection) {
        if let head {
            var body = Array(buffer[headLength...])
            if head.isChunked {
                var decoder = HTTPChunkedDecoder(maxBodyBytes: Self.maxBodyBytes)
                var decoded: [UInt8] = []
                _ = body.withUnsafeBytes { decoder.feed($0, into: &decoded) }
                body = decoded
            }
            finish(.success(Response(status: head.status, body: body)))
        }
        connection.close()
    }

    func timerFired(on connection: Connection, now: UInt64) {
        finish(.failure(NegotiateError(status: 0, reason: "negotiate timed out")))
        connection.abort()
    }

    func closed(_ connection: Connection) {
        finish(.failure(NegotiateError(status: 0, reason: "the connection closed before the response was complete")))
    }
}
