import Testing

@testable import wps_bench

@Suite struct HTTPScanTests {
    @Test func responseHeadEnd() {
        let head = Array("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n".utf8)
        #expect(BenchSocket.headEnd(head) == head.count)
        #expect(BenchSocket.headEnd(Array(head.dropLast())) == nil)
    }

    @Test func pipelinedRESTResponsesAreSplit() throws {
        let first = "HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n"
        let second = "HTTP/1.1 400 Bad Request\r\nContent-Length: 5\r\n\r\nerror"
        let bytes = Array((first + second).utf8)
        let one = try #require(RestChannel.response(in: bytes))
        #expect(one.0 == 202 && one.1 == first.utf8.count)
        let two = try #require(RestChannel.response(in: Array(bytes[one.1...])))
        #expect(two.0 == 400 && two.1 == second.utf8.count)
        #expect(RestChannel.response(in: Array(bytes[one.1..<(bytes.count - 1)])) == nil)
    }
}
