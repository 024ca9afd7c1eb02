import Glibc
import Testing
import WPSAuth
import WPSHTTP
import WPSHub

@testable import WPSServer

@Suite struct HTTPSessionTests {
    struct Exchange: Sendable, CustomTestStringConvertible {
        var request: String
        var response: String
        /// Whether the server closes after answering.
        var closes = false
        var testDescription: String { String(request.prefix { $0 != "\r\n" }) }
    }

    static let textPlain = "Content-Type: text/plain; charset=utf-8\r\n"

    static let exchanges: [Exchange] = [
        Exchange(
            request: "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
            response: "HTTP/1.1 200 OK\r\n\(textPlain)Content-Length: 2\r\n\r\nok"),
        // HEAD: the GET head, without the body.
        Exchange(
            request: "HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
            response: "HTTP/1.1 200 OK\r\n\(textPlain)Content-Length: 2\r\n\r\n"),
        Exchange(
            request: "POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
            response:
                "HTTP/1.1 405 Method Not Allowed\r\nAllow: GET, HEAD\r\n\(textPlain)Content-Length: 19\r\n\r\nmethod not allowed\n"
        ),
        Exchange(
            request: "GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n",
            response: "HTTP/1.1 404 Not Found\r\n\(textPlain)Content-Length: 10\r\n\r\nnot found\n"),
        Exchange(
            request: "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            response: "HTTP/1.1 200 OK\r\n\(textPlain)Content-Length: 2\r\nConnection: close\r\n\r\nok", closes: true),
        Exchange(
            request: "GET /healthz HTTP/1.0\r\n\r\n",
            response: "HTTP/1.1 200 OK\r\n\(textPlain)Content-Length: 2\r\nConnection: close\r\n\r\nok", closes: true),
    ]

    /// Each request gets its exact response; a kept-alive connection then answers a second
    /// request, sent in the same write as the first (pipelined), and a closing one ends.
    @Test(arguments: exchanges)
    func plainRequestsGetTheirResponse(exchange: Exchange) throws {
        let harness = try LoopHarness()
        defer { harness.shutdown() }
        let peer = try harness.connectHTTP()
        let followUp = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
        try peer.write(exchange.request + (exchange.closes ? "" : followUp))
        #expect(
            String(decoding: try peer.read(exactly: exchange.response.utf8.count), as: UTF8.self) == exchange.response)
        if exchange.closes {
            #expect(try peer.readToEnd() == [])
        } else {
            let ok = Self.exchanges[0].response
            #expect(String(decoding: try peer.read(exactly: ok.utf8.count), as: UTF8.self) == ok)
        }
    }

    struct Oversized: Sendable, CustomTestStringConvertible {
        var limits: HTTPLimits
        var request: String
        var status: String
        var body: String
        var testDescription: String { status }
    }

    static let oversized: [Oversized] = [
        Oversized(
            limits: HTTPLimits(maxHeadBytes: 1024),
            request: "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Filler: \(String(repeating: "f", count: 2000))\r\n\r\n",
            status: "431 Request Header Fields Too Large", body: "request head too large\n"),
        Oversized(
            limits: HTTPLimits(maxHeaderCount: 4),
            request: "GET /healthz HTTP/1.1\r\n" + (1...6).map { "X-\($0): v\r\n" }.joined() + "\r\n",
            status: "431 Request Header Fields Too Large", body: "too many header fields\n"),
        Oversized(
            limits: HTTPLimits(maxURIBytes: 64),
            request: "GET /\(String(repeating: "u", count: 100)) HTTP/1.1\r\nHost: x\r\n\r\n",
            status: "414 URI Too Long", body: "request-target too long\n"),
    ]

    /// A head over a configured limit gets that limit's status and reason, then the close.
    @Test(arguments: oversized)
    func headsOverALimitAreRefused(oversized: Oversized) throws {
        let harness = try LoopHarness { $0.http = oversized.limits }
        defer { harness.shutdown() }
        let peer = try harness.connectHTTP()
        try peer.write(oversized.request)
        let expected =
            "HTTP/1.1 \(oversized.status)\r\n\(Self.textPlain)Content-Length: \(oversized.body.utf8.count)\r\n"
            + "Connection: close\r\n\r\n\(oversized.body)"
        #expect(String(decoding: try peer.readToEnd(), as: UTF8.self) == expected)
    }

    /// The key and accept value of RFC 6455 §1.3.
    static let key = "dGhlIHNhbXBsZSBub25jZQ=="
    static let accept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

    static func upgradeRequest(token: String?, host: String = "127.0.0.1:8080", protocols: String) -> String {
        "GET /client/hubs/Hub\(token.map { "?access_token=\($0)" } ?? "") HTTP/1.1\r\nHost: \(host)\r\n"
            + "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: \(key)\r\n"
            + "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: \(protocols)\r\n\r\n"
    }

    static func token(userId: String) -> String {
        ClientToken.make(
            endpoint: "http://127.0.0.1:8080", hub: "hub", userId: userId, roles: [], groups: [], key: LoopHarness.key,
            now: Int64(time(nil)))
    }

    /// A valid upgrade to the client endpoint: 101 with the accept value and the chosen
    /// subprotocol, then `connected` as the first frame, and a session in the loop's hub.
    /// Reliable clients also get a reconnection token.
    @Test(arguments: [
        ("json.webpubsub.azure.v1", false),
        ("json.reliable.webpubsub.azure.v1", true),
        ("mqtt, json.reliable.webpubsub.azure.v1, json.webpubsub.azure.v1", true),
    ])
    func aValidUpgradeGetsAWebSocketAndConnected(offered: String, reliable: Bool) throws {
        let harness = try LoopHarness()
        defer { harness.shutdown() }
        let peer = try harness.connectHTTP()
        try peer.write(Self.upgradeRequest(token: Self.token(userId: "alice"), protocols: offered))
        let chosen = reliable ? "json.reliable.webpubsub.azure.v1" : "json.webpubsub.azure.v1"
        #expect(
            try peer.readHead()
                == "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + "Sec-WebSocket-Accept: \(Self.accept)\r\nSec-WebSocket-Protocol: \(chosen)\r\n\r\n")
        let connected = try #require(try peer.frames(1).first)
        #expect(connected.opcode == .text)
        let json = try #require(connected.json)
        #expect(json["type"] as? String == "system")
        #expect(json["event"] as? String == "connected")
        #expect(json["userId"] as? String == "alice")
        #expect((json["reconnectionToken"] as? String).map { !$0.isEmpty } == (reliable ? true : nil))
        let id = try #require(json["connectionId"] as? String)
        #expect(id.count == 32 && id.hasSuffix("00"), "32 hex digits ending in the loop's index")
        let session = try harness.onLoop { _, context in
            context.hub.sessions[id].map { ($0.hub, $0.userId, $0.kind.isReliable) }
        }
        #expect(session?.0 == "hub", "hub names are kept in one spelling")
        #expect(session?.1 == "alice")
        #expect(session?.2 == reliable)
    }

    /// Refused upgrades are plain HTTP answers; the connection stays usable.
    @Test(
        arguments: [
            (nil, "127.0.0.1:8080", "an access token is required\n"),
            ("alice", "other.example:8080", "the token's audience does not match this endpoint\n"),
        ] as [(String?, String, String)])
    func anUpgradeWithoutAValidTokenIsRefused(user: String?, host: String, reason: String) throws {
        let harness = try LoopHarness()
        defer { harness.shutdown() }
        let peer = try harness.connectHTTP()
        try peer.write(
            Self.upgradeRequest(token: user.map(Self.token), host: host, protocols: "json.webpubsub.azure.v1"))
        let expected =
            "HTTP/1.1 401 Unauthorized\r\n\(Self.textPlain)Content-Length: \(reason.utf8.count)\r\n\r\n\(reason)"
        #expect(String(decoding: try peer.read(exactly: expected.utf8.count), as: UTF8.self) == expected)
        try peer.write("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        let ok = Self.exchanges[0].response
        #expect(String(decoding: try peer.read(exactly: ok.utf8.count), as: UTF8.self) == ok)
    }
}
