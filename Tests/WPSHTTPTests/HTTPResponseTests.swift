import Testing
import WPSBytes
import WPSHTTP

/// Exact bytes of response heads and canned responses.
@Suite struct HTTPResponseTests {
    static func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    @Test func switchingProtocolsHead() {
        let bytes = HTTPResponse.head(
            status: .switchingProtocols,
            headers: [
                "Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Accept": "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
            ])
        #expect(
            Self.text(bytes)
                == "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n")
    }

    @Test(arguments: [
        (HTTPStatus.ok, 12 as Int?, false, "HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n"),
        (.ok, nil, false, "HTTP/1.1 200 OK\r\n\r\n"),
        (.ok, 0, true, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
        (.noContent, 0, false, "HTTP/1.1 204 No Content\r\n\r\n"),
        (.switchingProtocols, 5, false, "HTTP/1.1 101 Switching Protocols\r\n\r\n"),
        (HTTPStatus(code: 299, reasonPhrase: "Custom"), 1, false, "HTTP/1.1 299 Custom\r\nContent-Length: 1\r\n\r\n"),
    ])
    func headLines(status: HTTPStatus, length: Int?, close: Bool, expected: String) {
        #expect(Self.text(HTTPResponse.head(status: status, contentLength: length, close: close)) == expected)
    }

    @Test func cannedResponse() {
        let bytes = HTTPResponse.canned(
            status: .notFound, body: "no such hub\n", close: false, extraHeaders: ["X-Id": "7"])
        #expect(
            Self.text(bytes)
                == "HTTP/1.1 404 Not Found\r\nX-Id: 7\r\nContent-Type: text/plain; charset=utf-8\r\n"
                + "Content-Length: 12\r\n\r\nno such hub\n")
    }

    @Test func cannedCountsUTF8Bytes() {
        let bytes = HTTPResponse.canned(status: .ok, body: "é", close: true)
        #expect(
            Self.text(bytes)
                == "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 2\r\n"
                + "Connection: close\r\n\r\né")
    }

    @Test func cannedNoContentHasNoBody() {
        let bytes = HTTPResponse.canned(status: .noContent, body: "ignored")
        #expect(Self.text(bytes) == "HTTP/1.1 204 No Content\r\n\r\n")
    }

    @Test func errorResponseCloses() {
        let error = HTTPParseError(status: .headersTooLarge, reason: "request head too large")
        #expect(
            Self.text(HTTPResponse.error(error))
                == "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: text/plain; charset=utf-8\r\n"
                + "Content-Length: 23\r\nConnection: close\r\n\r\nrequest head too large\n")
    }

    @Test func headerInjectionIsNeutralized() {
        let bytes = HTTPResponse.head(status: .ok, headers: ["X-A": "1\r\nSet-Cookie: x", "Bad\nName": "v"])
        #expect(Self.text(bytes) == "HTTP/1.1 200 OK\r\nX-A: 1  Set-Cookie: x\r\nBad Name: v\r\n\r\n")
    }

    @Test func writesIntoOutputBuffer() {
        var out = OutputBuffer()
        out.append("prefix|")
        HTTPResponse.write(status: .accepted, body: [UInt8](), contentType: "application/json", into: &out)
        #expect(
            Self.text(out.bytes)
                == "prefix|HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: 0\r\n\r\n")
    }

    @Test(arguments: [
        (HTTPStatus.ok, 200, "OK"), (.switchingProtocols, 101, "Switching Protocols"),
        (.badRequest, 400, "Bad Request"),
        (.unauthorized, 401, "Unauthorized"), (.forbidden, 403, "Forbidden"), (.notFound, 404, "Not Found"),
        (.methodNotAllowed, 405, "Method Not Allowed"), (.requestTimeout, 408, "Request Timeout"),
        (.payloadTooLarge, 413, "Content Too Large"), (.uriTooLong, 414, "URI Too Long"),
        (.unsupportedMediaType, 415, "Unsupported Media Type"), (.upgradeRequired, 426, "Upgrade Required"),
        (.headersTooLarge, 431, "Request Header Fields Too Large"),
        (.internalServerError, 500, "Internal Server Error"),
        (.notImplemented, 501, "Not Implemented"), (.serviceUnavailable, 503, "Service Unavailable"),
        (.versionNotSupported, 505, "HTTP Version Not Supported"), (.accepted, 202, "Accepted"),
        (.noContent, 204, "No Content"), (HTTPStatus(code: 599), 599, "Unknown"),
    ])
    func statusTable(status: HTTPStatus, code: Int, phrase: String) {
        #expect(status.code == code)
        #expect(status.reasonPhrase == phrase)
        #expect(status == HTTPStatus(code: code))
    }
}
