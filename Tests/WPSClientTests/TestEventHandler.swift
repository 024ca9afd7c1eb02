import Glibc
import Synchronization

/// A small blocking HTTP/1.1 event handler on 127.0.0.1 for client tests: one thread per
/// connection, keep-alive, the answer chosen by the event name.
final class TestEventHandler: Sendable {
    let port: Int
    private let listener: Int32
    /// Event names in arrival order.
    let recorder = Recorder()
    var events: [String] { recorder.names.withLock { $0 } }

    final class Recorder: Sendable {
        let names = Mutex<[String]>([])
    }

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, listen(fd, 64) == 0 else { throw TestHandlerError() }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        port = Int(UInt16(bigEndian: address.sin_port))
        listener = fd
        let handler = Handler(recorder: recorder)
        Thread.start {
            while true {
                let client = accept(fd, nil, nil)
                if client < 0 { return }
                Thread.start { handler.serve(client) }
            }
        }
    }

    var template: String { "http://127.0.0.1:\(port)/{event}" }

    func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    struct TestHandlerError: Error {}

    /// Reads requests and answers them: `echo` returns the body as text, `fail` 500,
    /// `slow` waits a second, anything else 204.
    final class Handler: Sendable {
        let recorder: Recorder
        init(recorder: Recorder) { self.recorder = recorder }

        func serve(_ fd: Int32) {
            defer { close(fd) }
            var buffer: [UInt8] = []
            while true {
                guard let (head, body) = readRequest(fd, &buffer) else { return }
                let lines = head.split(separator: "\r\n").map(String.init)
                let name =
                    lines.first { $0.lowercased().hasPrefix("ce-eventname:") }
                    .map { String($0.dropFirst("ce-eventName:".count)).trimmingCharacters() } ?? ""
                var response: String
                var payload: [UInt8] = []
                if lines.first?.hasPrefix("OPTIONS") == true {
                    response = "HTTP/1.1 200 OK\r\nWebHook-Allowed-Origin: *\r\nContent-Length: 0\r\n\r\n"
                } else {
                    recorder.names.withLock { $0.append(name) }
                    switch name {
                    case "echo":
                        payload = body
                        response =
                            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: \(body.count)\r\n\r\n"
                    case "fail":
                        payload = Array("nope".utf8)
                        response = "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\n"
                    case "slow":
                        usleep(1_000_000)
                        response = "HTTP/1.1 204 No Content\r\n\r\n"
                    default:
                        response = "HTTP/1.1 204 No Content\r\n\r\n"
                    }
                }
                let out = Array(response.utf8) + payload
                guard out.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == out.count
                else { return }
            }
        }

        /// One request (head text, body) from `buffer` and the socket; nil at end of stream.
        func readRequest(_ fd: Int32, _ buffer: inout [UInt8]) -> (String, [UInt8])? {
            var chunk = [UInt8](repeating: 0, count: 16384)
            while true {
                if let end = find(buffer, Array("\r\n\r\n".utf8)) {
                    let head = String(decoding: buffer[..<end], as: UTF8.self)
                    let length =
                        head.split(separator: "\r\n")
                        .first { $0.lowercased().hasPrefix("content-length:") }
                        .flatMap { Int(String($0.dropFirst("content-length:".count)).trimmingCharacters()) } ?? 0
                    if buffer.count >= end + 4 + length {
                        let body = Array(buffer[(end + 4)..<(end + 4 + length)])
                        buffer.removeFirst(end + 4 + length)
                        return (head, body)
                    }
                }
                let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if count <= 0 { return nil }
                buffer += chunk[0..<count]
            }
        }

        func find(_ haystack: [UInt8], _ needle: [UInt8]) -> Int? {
            guard haystack.count >= needle.count else { return nil }
            for start in 0...(haystack.count - needle.count)
            where Array(haystack[start..<start + needle.count]) == needle {
                return start
            }
            return nil
        }
    }
}

extension String {
    func trimmingCharacters() -> String {
        var view = Substring(self)
        while view.first == " " { view.removeFirst() }
        while view.last == " " || view.last == "\r" { view.removeLast() }
        return String(view)
    }
}

/// A detached thread, for blocking test servers.
enum Thread {
    static func start(_ body: @escaping @Sendable () -> Void) {
        final class Box: @unchecked Sendable {
            let body: @Sendable () -> Void
            init(_ body: @escaping @Sendable () -> Void) { self.body = body }
        }
        var thread = pthread_t()
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        pthread_create(
            &thread, nil,
            { raw in
                let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
                box.body()
                return nil
            }, box)
        pthread_detach(thread)
    }
}
