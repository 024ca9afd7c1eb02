import Glibc
import Logging
import Synchronization
import WPSAuth
import WPSClient
import WPSServer
import WPSTLS
import WPSUpstream

/// An in-process server on 127.0.0.1 with one access key.
final class TestServer: Sendable {
    static let key = AccessKey("client-tests-key-0123456789abcdefghijkl")
    let server: Server
    var port: Int { server.port }

    init(negotiateKey: String? = nil, tls: TLSServerContext? = nil, eventHandler: String? = nil) throws {
        var configuration = ServerConfiguration()
        if let eventHandler {
            configuration.upstream.handlers.anyHub = [EventHandler(urlTemplate: try URLTemplate(eventHandler))]
        }
        configuration.tls = tls
        configuration.port = 0
        configuration.threads = 2
        configuration.accessKeys = [Self.key]
        configuration.negotiateKey = negotiateKey
        configuration.shutdownGrace = .milliseconds(200)
        configuration.lingerTimeout = .milliseconds(200)
        var logger = Logger(label: "client-tests")
        logger.logLevel = .critical
        server = try Server(configuration: configuration, logger: logger)
    }

    /// A client URL for `port` (the server's own, or a proxy's in front of it).
    static func url(
        port: Int, userId: String?, roles: [String] = ["webpubsub.joinLeaveGroup", "webpubsub.sendToGroup"]
    )
        -> String
    {
        let endpoint = "http://127.0.0.1:\(port)"
        let token = ClientToken.make(
            endpoint: endpoint, hub: "hub", userId: userId, roles: roles, groups: [], key: key,
            now: Int64(time(nil)))
        return ClientToken.clientURL(endpoint: endpoint, hub: "hub", token: token)
    }

    func url(userId: String?, roles: [String] = ["webpubsub.joinLeaveGroup", "webpubsub.sendToGroup"]) -> String {
        Self.url(port: port, userId: userId, roles: roles)
    }

    func shutdown() { server.shutdown() }
}

/// Collects a client's events so tests can wait for them with a bound.
final class EventLog: Sendable {
    private let events = Mutex<[ClientEvent]>([])

    init(_ client: WebPubSubClient) {
        let stream = client.events
        Task { [self] in
            for await event in stream { self.events.withLock { $0.append(event) } }
        }
    }

    var all: [ClientEvent] { events.withLock { $0 } }

    /// The data of every group message received, in order.
    var groupData: [MessageData] {
        all.compactMap { if case .groupMessage(_, _, let data, _) = $0 { data } else { nil } }
    }

    var groupTexts: [String] {
        groupData.compactMap { if case .text(let text) = $0 { text } else { nil } }
    }

    var connectedIds: [String] {
        all.compactMap { if case .connected(let id, _) = $0 { id } else { nil } }
    }

    /// Waits up to `timeout` for `condition`; returns whether it became true.
    func wait(timeout: Duration = .seconds(10), _ condition: (EventLog) -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if condition(self) { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return condition(self)
    }
}

/// Options for fast tests: short delays.
func fastOptions(_ proto: WebPubSubClientOptions.ClientProtocol = .jsonReliable) -> WebPubSubClientOptions {
    var options = WebPubSubClientOptions()
    options.protocol = proto
    options.reconnectDelay = .milliseconds(100)
    options.sequenceAckInterval = .milliseconds(100)
    options.maxRecoveryDuration = .seconds(5)
    options.ackTimeout = .seconds(10)
    return options
}
