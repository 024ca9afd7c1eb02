import Foundation
import WPSBytes
import WPSHub

/// Records what the hub says to one connection, as message-level actions, and renders each
/// as the message its client would read.
final class FakeTransport: HubTransport {
    enum Action {
        case deliver(Broadcast, sequenceId: UInt64)
        case system(String, urgent: Bool)
        case close(code: UInt16, reason: String)
    }

    struct Message {
        var isText: Bool
        var payload: [UInt8]
        /// Whether it went ahead of queued data (acks, pongs).
        var urgent = false
        var text: String { String(decoding: payload, as: UTF8.self) }
        var json: [String: Any] {
            (try? JSONSerialization.jsonObject(with: Data(payload), options: [.fragmentsAllowed])) as? [String: Any]
                ?? [:]
        }
        var type: String? { json["type"] as? String }
    }

    /// What the hub did since the last `take`, in order.
    var actions: [Action] = []
    /// Render deliveries as a simple (raw) client gets them.
    var isRaw = false
    var queued = 0
    var limit = Int.max
    var closedWith: (code: UInt16, reason: String)?

    init(raw: Bool = false) {
        isRaw = raw
        super.init()
    }

    override var queuedBytes: Int { queued }
    override var maxOutboundBytes: Int { limit }

    override func deliver(_ broadcast: Broadcast, sequenceId: UInt64) -> Bool {
        actions.append(.deliver(broadcast, sequenceId: sequenceId))
        return queued > limit
    }

    override func sendSystem(_ message: UnsafeRawBufferPointer, urgent: Bool) -> Bool {
        actions.append(.system(String(decoding: message, as: UTF8.self), urgent: urgent))
        return queued > limit
    }

    override func close(code: WebSocketCloseCode, reason: String) {
        actions.append(.close(code: code.rawValue, reason: reason))
        if closedWith == nil { closedWith = (code.rawValue, reason) }
    }

    /// The deliveries since the last `take` (broadcasts with their sequence ids).
    var deliveries: [(broadcast: Broadcast, sequenceId: UInt64)] {
        actions.compactMap { if case .deliver(let b, let id) = $0 { (b, id) } else { nil } }
    }

    /// Every message sent since the last call, as its client would read it: a data message
    /// is the broadcast's prefix closed by `}` or by `,"sequenceId":N}`, or its raw payload.
    /// The actions are dropped, and with them the broadcasts they held.
    func take() -> [Message] {
        defer { actions.removeAll() }
        return actions.compactMap { action in
            switch action {
            case .deliver(let broadcast, let sequenceId):
                if isRaw { return Message(isText: broadcast.payloadIsText, payload: broadcast.payload.array) }
                let end = sequenceId > 0 ? #","sequenceId":\#(sequenceId)}"# : "}"
                return Message(isText: true, payload: broadcast.prefix.array + Array(end.utf8))
            case .system(let text, let urgent):
                return Message(isText: true, payload: Array(text.utf8), urgent: urgent)
            case .close:
                return nil
            }
        }
    }
}

/// Hubs wired together as loops would be, delivering synchronously.
final class FakePeers: HubPeers {
    var hubs: [LoopHub] = []
    weak var own: LoopHub?

    func publish(_ broadcast: Broadcast) {
        for hub in hubs where hub !== own { hub.deliver(broadcast) }
    }
}

extension LoopHub {
    /// Feeds one text frame as the client would send it.
    func receive(_ text: String, on session: HubSession) {
        let bytes = Array(text.utf8)
        bytes.withUnsafeBytes { received($0, isText: true, on: session) }
    }
}

enum Fixtures {
    static let allRoles = ["webpubsub.joinLeaveGroup", "webpubsub.sendToGroup"]

    static func identity(
        _ kind: ClientKind = .jsonReliable, user: String? = "alice", roles: [String] = allRoles, groups: [String] = []
    ) -> ClientIdentity {
        ClientIdentity(hub: "chat", userId: user, roles: roles, groups: groups, kind: kind)
    }

    static func id(_ n: Int) -> String {
        let digits = String(n, radix: 16)
        return String(repeating: "0", count: 32 - digits.count) + digits
    }
}
