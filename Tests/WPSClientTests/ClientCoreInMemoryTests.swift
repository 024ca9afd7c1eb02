import Synchronization
import Testing
import WPSBytes
import WPSLoop
import WPSWebSocket

@testable import WPSClient

/// A socket that connects nowhere: what the client sends is recorded by a `FakeServer`, and
/// the test pushes server frames and drops through it. Its state is touched on the loop only.
final class MemorySocket: ClientSocket, @unchecked Sendable {
    let index: Int
    /// Path and query of the URL the client opened.
    let target: String
    /// Weak: the server keeps its sockets, and a cycle would outlive the test.
    weak var server: FakeServer?
    weak var delegate: (any WebSocketClientDelegate)?
    private var loop: EventLoop?
    private var isClosed = false

    init(index: Int, target: String, server: FakeServer) {
        self.index = index
        self.target = target
        self.server = server
    }

    func open(on loop: EventLoop) -> Bool {
        self.loop = loop
        loop.inbox.post { [self] _ in
            guard !isClosed else { return }
            delegate?.webSocketOpened(self)
            server?.opened(self)
        }
        return true
    }

    func sendText(_ payload: [UInt8]) {
        guard !isClosed else { return }
        server?.record(String(decoding: payload, as: UTF8.self), on: index)
    }

    func close(code: WebSocketCloseCode, reason: String) {
        let raw = code.rawValue
        loop?.inbox.post { [self] _ in finish(code: raw) }
    }

    func abort() {
        loop?.inbox.post { [self] _ in finish(code: nil) }
    }

    /// The server sends one text frame (posted to the loop, so it keeps its order).
    func push(_ text: String) {
        loop?.inbox.post { [self] _ in
            guard !isClosed else { return }
            var bytes = Array(text.utf8)
            bytes.withUnsafeMutableBytes { delegate?.webSocket(self, receivedText: UnsafeRawBufferPointer($0)) }
        }
    }

    /// The connection goes away: with a close frame carrying `code`, or without one (nil).
    func drop(code: UInt16?) {
        loop?.inbox.post { [self] _ in finish(code: code) }
    }

    private func finish(code: UInt16?) {
        guard !isClosed else { return }
        isClosed = true
        delegate?.webSocketClosed(self, code: code, reason: "", opened: true)
    }
}

/// A scripted server: records every socket the client opens and every frame it sends, and
/// runs `onOpen` for each new socket (by default: `connected` as c1 with token `t/+=`).
final class FakeServer: Sendable {
    struct State {
        var sockets: [MemorySocket] = []
        var frames: [(socket: Int, text: String)] = []
    }

    static func connectedFrame(_ connectionId: String = "c1", token: String = "t/+=") -> String {
        #"{"type":"system","event":"connected","connectionId":"\#(connectionId)","userId":"u","reconnectionToken":"\#(token)"}"#
    }

    private let state = Mutex(State())
    private let onOpen: @Sendable (MemorySocket) -> Void

    init(onOpen: @escaping @Sendable (MemorySocket) -> Void = { $0.push(FakeServer.connectedFrame()) }) {
        self.onOpen = onOpen
    }

    /// The factory handed to the client.
    func makeSocket(_ url: ClientURL, _ transform: StreamTransform?) -> any ClientSocket {
        state.withLock { state in
            let socket = MemorySocket(index: state.sockets.count, target: url.target, server: self)
            state.sockets.append(socket)
            return socket
        }
    }

    func opened(_ socket: MemorySocket) { onOpen(socket) }

    func record(_ text: String, on socket: Int) {
        state.withLock { $0.frames.append((socket, text)) }
    }

    var sockets: [MemorySocket] { state.withLock { $0.sockets } }
    var targets: [String] { sockets.map(\.target) }
    var current: MemorySocket? { sockets.last }

    /// The frames sent on socket `index` (all sockets when nil).
    func frames(on index: Int? = nil) -> [String] {
        state.withLock { state in state.frames.filter { index == nil || $0.socket == index }.map(\.text) }
    }

    /// The sent frames that contain every one of `parts`.
    func frames(containing parts: String..., on index: Int? = nil) -> [String] {
        frames(on: index).filter { frame in parts.allSatisfy { frame.contains($0) } }
    }
}

/// A value shared between tasks.
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<Result: Sendable>(_ body: (inout Value) -> Result) -> Result { mutex.withLock { body(&$0) } }
}

/// The number after `"key":` in a JSON frame.
func number(_ key: String, in frame: String) -> UInt64? {
    guard let range = frame.firstRange(of: "\"\(key)\":") else { return nil }
    return UInt64(String(frame[range.upperBound...].prefix { $0.isNumber }))
}

func ackFrame(_ ackId: UInt64, error: String? = nil) -> String {
    guard let error else { return #"{"type":"ack","ackId":\#(ackId),"success":true}"# }
    return #"{"type":"ack","ackId":\#(ackId),"success":false,"error":{"name":"\#(error)","message":"no"}}"#
}

func groupFrame(_ text: String, sequenceId: UInt64) -> String {
    #"{"type":"message","from":"group","fromUserId":"v","group":"g","dataType":"text","data":"\#(text)","sequenceId":\#(sequenceId)}"#
}

/// Polls `condition` until it holds or `timeout` passes; returns whether it held.
func eventually(timeout: Duration = .seconds(5), _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(5))
    }
    return condition()
}

/// Options for in-memory runs: everything short.
func memoryOptions() -> WebPubSubClientOptions {
    var options = WebPubSubClientOptions()
    options.reconnectDelay = .milliseconds(50)
    options.sequenceAckInterval = .milliseconds(20)
    options.maxRecoveryDuration = .seconds(3)
    options.ackTimeout = .seconds(5)
    return options
}

let memoryURL = "ws://fake.test/client/hubs/hub?access_token=abc"

func memoryClient(
    _ server: FakeServer, url: ClientURLProvider = .fixed(memoryURL), options: WebPubSubClientOptions = memoryOptions()
) -> WebPubSubClient {
    WebPubSubClient(url: url, options: options, makeSocket: { server.makeSocket($0, $1) })
}

@Suite(.timeLimit(.minutes(1))) struct ClientCoreInMemoryTests {
    @Test func acksResolveTheirOwnRequestsOutOfOrder() async throws {
        let server = FakeServer()
        let client = memoryClient(server)
        try await client.start()
        let done = Locked<[String]>([])
        let one = Task {
            try await client.sendToGroup("g", data: .text("one"))
            done.withLock { $0.append("one") }
        }
        let two = Task {
            try await client.sendToGroup("g", data: .text("two"))
            done.withLock { $0.append("two") }
        }
        #expect(await eventually { server.frames(containing: "sendToGroup").count == 2 })
        let oneId = try #require(server.frames(containing: "\"one\"").first.flatMap { number("ackId", in: $0) })
        let twoId = try #require(server.frames(containing: "\"two\"").first.flatMap { number("ackId", in: $0) })
        #expect(oneId != twoId)
        server.current?.push(ackFrame(999))  // no such request: ignored
        server.current?.push(ackFrame(twoId))
        try await two.value
        try await Task.sleep(for: .milliseconds(50))
        #expect(done.withLock { $0 } == ["two"])
        server.current?.push(ackFrame(oneId))
        try await one.value
        #expect(done.withLock { $0 } == ["two", "one"])
        await client.stop()
    }

    @Test func forbiddenAckFailsTheRequest() async throws {
        let server = FakeServer()
        let client = memoryClient(server)
        try await client.start()
        let send = Task { try await client.sendToGroup("g", data: .text("x")) }
        #expect(await eventually { !server.frames(containing: "sendToGroup").isEmpty })
        let ackId = try #require(number("ackId", in: server.frames(containing: "sendToGroup")[0]))
        server.current?.push(ackFrame(ackId, error: "Forbidden"))
        await #expect(throws: SendMessageError(ackId: ackId, errorName: "Forbidden", message: "no")) {
            try await send.value
        }
        await client.stop()
    }

    @Test func duplicateAckCountsAsSuccess() async throws {
        let server = FakeServer()
        let client = memoryClient(server)
        try await client.start()
        let join = Task { try await client.joinGroup("g", ackId: 42) }
        #expect(await eventually { !server.frames(containing: "joinGroup", "\"ackId\":42").isEmpty })
        server.current?.push(ackFrame(42, error: "Duplicate"))
        try await join.value
        await client.stop()
    }

    @Test func repeatedSequenceIdsAreDeliveredOnceAndAcked() async throws {
        let server = FakeServer()
        let client = memoryClient(server)
        let log = EventLog(client)
        try await client.start()
        let socket = try #require(server.current)
        for (text, id) in [("m1", 1), ("m2", 2), ("m2", 2), ("m1", 1), ("m3", 3)] {
            socket.push(groupFrame(text, sequenceId: UInt64(id)))
        }
        #expect(await log.wait(timeout: .seconds(5)) { $0.groupTexts.count >= 3 })
        let acked = { server.frames(containing: "sequenceAck").compactMap { number("sequenceId", in: $0) } }
        #expect(await eventually { acked().last == 3 })
        // A replay of an older message after the ack: still not delivered, still acked as 3.
        socket.push(groupFrame("m2", sequenceId: 2))
        socket.push(groupFrame("m4", sequenceId: 4))
        #expect(await log.wait(timeout: .seconds(5)) { $0.groupTexts.count >= 4 })
        #expect(await eventually { acked().last == 4 })
        try await Task.sleep(for: .milliseconds(60))
        #expect(log.groupTexts == ["m1", "m2", "m3", "m4"])
        let ids = acked()
        #expect(ids == ids.sorted())
        #expect(ids.allSatisfy { $0 <= 4 })
        await client.stop()
    }

    @Test func droppedSocketRecoversWithTheSameAckId() async throws {
        let server = FakeServer()
        let client = memoryClient(server)
        let log = EventLog(client)
        try await client.start()
        let send = Task { try await client.sendToGroup("g", data: .text("x")) }
        #expect(await eventually { !server.frames(containing: "\"x\"", on: 0).isEmpty })
        let ackId = try #require(number("ackId", in: server.frames(containing: "\"x\"", on: 0)[0]))
        server.sockets[0].drop(code: nil)  // no close frame
        #expect(await eventually { server.sockets.count == 2 })
        #expect(
            server.targets[1]
                == "/client/hubs/hub?access_token=abc&awps_connection_id=c1&awps_reconnection_token=t%2F%2B%3D")
        #expect(await eventually { !server.frames(containing: "\"x\"", on: 1).isEmpty })
        #expect(number("ackId", in: server.frames(containing: "\"x\"", on: 1)[0]) == ackId)
        server.sockets[1].push(ackFrame(ackId))
        try await send.value
        #expect(await client.connectionId == "c1")
        try await Task.sleep(for: .milliseconds(50))
        #expect(log.connectedIds == ["c1"])
        #expect(!log.all.contains { if case .disconnected = $0 { true } else { false } })
        await client.stop()
    }

    @Test func refusedRecoveryOpensAFreshURLAndRejoins() async throws {
        let fresh = Locked(0)
        let server = FakeServer { socket in
            if socket.target.contains("awps_connection_id") {
                socket.drop(code: WebSocketCloseCode.policyViolation.rawValue)
            } else {
                socket.push(FakeServer.connectedFrame(socket.index == 0 ? "c1" : "c2"))
            }
        }
        let provider = ClientURLProvider.provider {
            let n = fresh.withLock { count in
                count += 1
                return count
            }
            return "ws://fake.test/client/hubs/hub?access_token=n\(n)"
        }
        let client = memoryClient(server, url: provider)
        let log = EventLog(client)
        try await client.start()
        let join = Task { try await client.joinGroup("g") }
        #expect(await eventually { !server.frames(containing: "joinGroup", on: 0).isEmpty })
        let joinId = try #require(number("ackId", in: server.frames(containing: "joinGroup", on: 0)[0]))
        server.sockets[0].push(ackFrame(joinId))
        try await join.value
        server.sockets[0].drop(code: nil)
        #expect(await eventually { server.sockets.count == 3 })
        let targets = server.targets
        #expect(targets[0] == "/client/hubs/hub?access_token=n1")
        #expect(targets[1].hasPrefix("/client/hubs/hub?access_token=n1&awps_connection_id=c1&"))
        #expect(targets[2] == "/client/hubs/hub?access_token=n2")
        #expect(await eventually { !server.frames(containing: "joinGroup", "\"group\":\"g\"", on: 2).isEmpty })
        #expect(await log.wait(timeout: .seconds(5)) { $0.connectedIds == ["c1", "c2"] })
        #expect(log.all.contains { if case .disconnected = $0 { true } else { false } })
        #expect(await client.connectionId == "c2")
        await client.stop()
    }

    @Test func requestFailsOnceItsRetriesAreUsedUp() async throws {
        let server = FakeServer()
        var options = memoryOptions()
        options.messageRetries = 1
        let client = memoryClient(server, options: options)
        try await client.start()
        let send = Task { try await client.sendToGroup("g", data: .text("x")) }
        #expect(await eventually { !server.frames(containing: "\"x\"", on: 0).isEmpty })
        let ackId = try #require(number("ackId", in: server.frames(containing: "\"x\"", on: 0)[0]))
        server.sockets[0].drop(code: nil)
        #expect(await eventually { !server.frames(containing: "\"x\"", on: 1).isEmpty })  // the one retry
        server.sockets[1].drop(code: nil)
        let error = await #expect(throws: SendMessageError.self) { try await send.value }
        #expect(error?.ackId == ackId)
        #expect(error?.errorName == "ConnectionLost")
        #expect(await eventually { server.sockets.count == 3 })
        try await Task.sleep(for: .milliseconds(50))
        #expect(server.frames(containing: "\"x\"").count == 2)
        await client.stop()
    }
}
