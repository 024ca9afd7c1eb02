import Foundation
import WPSBytes
import WPSDeflate
import WPSHub
import WPSWebSocket

/// Records what the hub sends to one connection and decodes it back into messages.
final class FakeTransport: HubTransport {
    struct Message {
        var isText: Bool
        var payload: [UInt8]
        var text: String { String(decoding: payload, as: UTF8.self) }
        var json: [String: Any] {
            (try? JSONSerialization.jsonObject(with: Data(payload), options: [.fragmentsAllowed])) as? [String: Any] ?? [:]
        }
        var type: String? { json["type"] as? String }
    }

    var wire: [UInt8] = []
    var queued = 0
    /// With `defersSequencedFrames` set: how often the hub said frames are pending.
    var pendingCalls = 0

    override func sequencedFramesPending() -> Int {
        pendingCalls += 1
        return queued
    }
    var window: Int?
    override var queuedBytes: Int { queued }
    override var deflateWindowBits: Int? { window }
    /// Messages that arrived compressed (RSV1).
    var compressedCount = 0
    var closedWith: (code: UInt16, reason: String)?

    override func send(_ shared: SharedBytes, endsFrame: Bool) { wire += shared.array }
    override func send(_ bytes: UnsafeRawBufferPointer, endsFrame: Bool) { wire += bytes }
    override func sendUrgent(_ header: UnsafeRawBufferPointer, _ payload: UnsafeRawBufferPointer) {
        wire += header
        wire += payload
    }
    override func close(code: UInt16, reason: String) {
        if closedWith == nil { closedWith = (code, reason) }
    }

    /// Every complete frame sent since the last call, decoded as a client would.
    func take() -> [Message] {
        var reader = WebSocketReader(role: .client, maxMessageBytes: 64 << 20, allowCompressed: deflateWindowBits != nil)
        let inflater = deflateWindowBits.flatMap { try? MessageInflater(windowBits: $0, noContextTakeover: true) }
        var messages: [Message] = []
        var bytes = wire
        wire = []
        let error = bytes.withUnsafeMutableBytes { buffer in
            reader.feed(buffer) { event in
                if case .message(let opcode, let payload, let compressed) = event {
                    var data = Array(payload)
                    if compressed, let inflater {
                        var output: [UInt8] = []
                        precondition(inflater.decompress(payload, maxOutputBytes: 64 << 20, into: &output) == .ok)
                        data = output
                        compressedCount += 1
                    }
                    messages.append(Message(isText: opcode == .text, payload: data))
                }
                return .continue
            }
        }
        precondition(error == nil, "the hub sent a malformed frame: \(String(describing: error))")
        return messages
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
