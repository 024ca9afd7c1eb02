import CWPSLinux
import Glibc
import Testing

@testable import wps_bench

@Suite struct HandlerRequestTests {
    static let preflight =
        "OPTIONS /validate HTTP/1.1\r\nHost: 127.0.0.1:7071\r\nWebHook-Request-Origin: localhost\r\n\r\n"
    static let event =
        "POST /bench HTTP/1.1\r\nHost: 127.0.0.1:7071\r\nContent-Type: text/plain\r\ncontent-LENGTH:  11\r\n"
        + "ce-type: azure.webpubsub.user.bench\r\n\r\nhello\r\n\r\nxx"
    static let reply = "POST /api/hubs/bench/reply?x=1 HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
    static let connected = "POST /connected HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}"
    static let other = "GET /reply HTTP/1.1\r\nHost: h\r\n\r\n"

    static let expected: [HandlerRequest] = [
        HandlerRequest(method: .options, length: preflight.utf8.count, wantsReply: false),
        HandlerRequest(method: .post, length: event.utf8.count, wantsReply: false),
        HandlerRequest(method: .post, length: reply.utf8.count, wantsReply: true),
        HandlerRequest(method: .post, length: connected.utf8.count, wantsReply: false),
        HandlerRequest(method: .other, length: other.utf8.count, wantsReply: true),
    ]

    static var pipeline: [UInt8] { Array((preflight + event + reply + connected + other).utf8) }

    @Test func eachRequestAlone() {
        for (text, request) in zip([Self.preflight, Self.event, Self.reply, Self.connected, Self.other], Self.expected)
        {
            let bytes = Array(text.utf8)
            #expect(bytes.withUnsafeBytes { HandlerRequest.scan($0) } == .request(request))
            // One byte short is never a request, and the body's own blank line is not its end.
            #expect(bytes.dropLast().withUnsafeBytes { HandlerRequest.scan($0) } == .needMore)
        }
    }

    /// The pipeline fed in two parts split at every offset, and one byte at a time, gives the
    /// same requests in the same order, and nothing is left over.
    @Test func pipelineSplitAtEveryOffset() {
        let bytes = Self.pipeline
        for split in 0...bytes.count {
            var buffer = HandlerRequestBuffer()
            var seen: [HandlerRequest] = []
            for part in [bytes[..<split], bytes[split...]] {
                let framed = Array(part).withUnsafeBytes { buffer.feed($0) { seen.append($0) } }
                #expect(framed, "split at \(split)")
            }
            #expect(seen == Self.expected, "split at \(split)")
            #expect(buffer.pendingBytes == 0)
        }
        var buffer = HandlerRequestBuffer()
        var seen: [HandlerRequest] = []
        for byte in bytes {
            #expect([byte].withUnsafeBytes { buffer.feed($0) { seen.append($0) } })
        }
        #expect(seen == Self.expected)
        #expect(buffer.pendingBytes == 0)
    }

    @Test func bytesOfTheNextRequestWait() {
        var buffer = HandlerRequestBuffer()
        var seen: [HandlerRequest] = []
        let bytes = Array((Self.connected + "POST /bench HT").utf8)
        #expect(bytes.withUnsafeBytes { buffer.feed($0) { seen.append($0) } })
        #expect(seen == [Self.expected[3]])
        #expect(buffer.pendingBytes == "POST /bench HT".utf8.count)
    }

    @Test func unframeableInputIsRefused() {
        for text in [
            " / HTTP/1.1\r\n\r\n",  // no method
            "POST\r\n\r\n",  // no target
            "POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n",
        ] {
            let bytes = Array(text.utf8)
            #expect(bytes.withUnsafeBytes { HandlerRequest.scan($0) } == .invalid, "\(text)")
            var buffer = HandlerRequestBuffer()
            #expect(!bytes.withUnsafeBytes { buffer.feed($0) { _ in } })
        }
        let endless = Array(repeating: UInt8(ascii: "a"), count: HandlerRequest.maxHeadBytes + 1)
        #expect(endless.withUnsafeBytes { HandlerRequest.scan($0) } == .invalid)
        #expect(endless.dropLast().withUnsafeBytes { HandlerRequest.scan($0) } == .needMore)
    }

    @Test func headEndAtEveryLength() {
        let head = Array("POST / HTTP/1.1\r\nA: b\r\n\r\n".utf8)
        for length in 0..<head.count {
            #expect(head[..<length].withUnsafeBytes { HandlerRequest.headEnd($0) } == nil)
        }
        #expect(head.withUnsafeBytes { HandlerRequest.headEnd($0) } == head.count)
        #expect(Array("\r\n\r\n".utf8).withUnsafeBytes { HandlerRequest.headEnd($0) } == 4)
        #expect(Array("x\n\r\n\r\n".utf8).withUnsafeBytes { HandlerRequest.headEnd($0) } == 6)
    }

    @Test func answersAreWellFormed() {
        let answers = UpstreamHandler.Answers(replyBytes: 5)
        #expect(String(decoding: answers.noContent, as: UTF8.self) == "HTTP/1.1 204 No Content\r\n\r\n")
        #expect(String(decoding: answers.reply, as: UTF8.self).hasSuffix("Content-Length: 5\r\n\r\nrrrrr"))
        #expect(String(decoding: answers.preflight, as: UTF8.self).contains("\r\nWebHook-Allowed-Origin: *\r\n"))
    }
}

/// The handler over real loopback sockets: pipelined requests, split across writes, get
/// their answers in order on one keep-alive connection.
@Suite struct UpstreamHandlerTests {
    @Test func answersPipelinedRequestsInOrder() throws {
        let handler = try UpstreamHandler(port: 0, threads: 1, replyBytes: 4)
        defer { handler.stop() }
        let fd = wps_connect_tcp("127.0.0.1", Int32(handler.port))
        try #require(fd >= 0)
        defer { _ = close(fd) }
        // Blocking from here on, with a receive timeout so a missing answer fails the test.
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let requests = Array(
            (HandlerRequestTests.preflight + HandlerRequestTests.event + HandlerRequestTests.reply).utf8)
        let answers = UpstreamHandler.Answers(replyBytes: 4)
        let expected = answers.preflight + answers.noContent + answers.reply
        // The first write ends inside the second request's body.
        let split = HandlerRequestTests.preflight.utf8.count + 100
        for part in [requests[..<split], requests[split...]] {
            let sent = Array(part).withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            #expect(sent == part.count)
            usleep(20_000)
        }
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while received.count < expected.count {
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { break }
            received += chunk[0..<count]
        }
        #expect(received == expected)
        #expect(handler.counters.preflights.load(ordering: .relaxed) == 1)
        #expect(handler.counters.noContent.load(ordering: .relaxed) == 1)
        #expect(handler.counters.replies.load(ordering: .relaxed) == 1)
        #expect(handler.counters.invalid.load(ordering: .relaxed) == 0)
    }
}
