public import WPSBytes
public import WPSProtocol

/// One data message for many recipients, held as the parts every client kind is made from
/// and shared by all of them without copying: `prefix`, the JSON message up to and
/// including its `data` value (no closing brace), and `payload`, what a raw client gets.
/// The server's `Outbox` turns it into frames, once per form and loop.
///
/// A JSON client gets `prefix` + `}`; a reliable one `prefix` + `,"sequenceId":N}`; a raw
/// one `payload` in a text or binary message (`payloadIsText`).
public final class Broadcast: @unchecked Sendable {
    public let hub: String
    public let selector: ConnectionSelector
    public let prefix: SharedBytes
    public let payload: SharedBytes
    public let payloadIsText: Bool
    /// Which message this is, cluster-wide, so a session moving between nodes gets each once
    /// (LoopHub+Handover): a number unique on the node that made it (0: not numbered), and
    /// that node, nil for this one.
    public internal(set) var serial: UInt64 = 0
    public let origin: String?
    /// Monotonic time (ns) after which a copy not yet on the wire is dropped; 0: never.
    public let expiresAt: UInt64
    /// Reliable sessions that buffered this message for replay and have not acknowledged
    /// it. While above zero the broadcast holds one reference to itself. Only the loop that
    /// delivers this instance touches it (other loops deliver their own copy), so a plain
    /// integer does what one atomic reference count per recipient did before.
    private var replayHolders = 0

    init(
        selector: ConnectionSelector, prefix: OutputBuffer, raw: (isText: Bool, payload: [UInt8]), expiresAt: UInt64 = 0
    ) {
        hub = selector.hub
        self.selector = selector
        self.expiresAt = expiresAt
        self.prefix = SharedBytes(prefix.bytes)
        payload = SharedBytes(raw.payload)
        payloadIsText = raw.isText
        origin = nil
    }

    /// A message made elsewhere (another node), from its parts as they were sent, with the
    /// node that made it (nil: this one) and its number there.
    public init(
        selector: ConnectionSelector, prefix: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer,
        payloadIsText: Bool, expiresAt: UInt64, origin: String? = nil, serial: UInt64 = 0
    ) {
        hub = selector.hub
        self.selector = selector
        self.expiresAt = expiresAt
        self.prefix = SharedBytes(prefix)
        self.payload = SharedBytes(payload)
        self.payloadIsText = payloadIsText
        self.origin = origin
        self.serial = serial
    }

    /// The message's identity for de-duplication; nil when it has none.
    var tag: BroadcastTag? { serial == 0 ? nil : BroadcastTag(origin: origin, serial: serial) }

    private init(copying other: Broadcast) {
        hub = other.hub
        selector = other.selector
        expiresAt = other.expiresAt
        prefix = SharedBytes(other.prefix.pointer)
        payload = SharedBytes(other.payload.pointer)
        payloadIsText = other.payloadIsText
        origin = other.origin
        serial = other.serial
    }

    func addReplayHolder() {
        replayHolders += 1
        if replayHolders == 1 { _ = Unmanaged.passUnretained(self).retain() }
    }

    static func removeReplayHolder(_ broadcast: Unmanaged<Broadcast>) {
        let last = broadcast._withUnsafeGuaranteedRef { broadcast in
            broadcast.replayHolders -= 1
            return broadcast.replayHolders == 0
        }
        if last { broadcast.release() }
    }

    /// The same message in buffers of its own, for another loop. Each loop then touches
    /// only its own instance (`replayHolders` is not atomic), and reference counts of
    /// bytes shared by two loops no longer bounce between cores (that once took a quarter
    /// of the server's time); one copy per loop and message costs far less.
    public func copyForAnotherLoop() -> Broadcast {
        Broadcast(copying: self)
    }

    /// A group message published by a JSON client; `data` is the raw JSON value it sent.
    public convenience init?(
        hub: String, group: String, fromUserId: String?, dataType: DataType, data: UnsafeRawBufferPointer,
        excluding excluded: String?
    ) {
        guard let raw = RawClientPayload.frame(dataType: dataType, data: data) else { return nil }
        var prefix = OutputBuffer(capacity: data.count + 128)
        ServerMessageEncoder.groupMessagePrefix(
            group: group, fromUserId: fromUserId, dataType: dataType, data: data, into: &prefix)
        let selector = ConnectionSelector(hub: hub, target: .group(group), excluded: excluded.map { [$0] } ?? [])
        self.init(selector: selector, prefix: prefix, raw: raw)
    }

    /// A message sent through the REST API: `data` is a JSON value already validated for
    /// `dataType` (a JSON string for text, base64 for binary). Group targets arrive as group
    /// messages without a sender; every other target as server messages.
    public convenience init?(
        selector: ConnectionSelector, dataType: DataType, data: UnsafeRawBufferPointer, expiresAt: UInt64 = 0
    ) {
        guard let raw = RawClientPayload.frame(dataType: dataType, data: data) else { return nil }
        var prefix = OutputBuffer(capacity: data.count + 128)
        if case .group(let group) = selector.target {
            ServerMessageEncoder.groupMessagePrefix(
                group: group, fromUserId: nil, dataType: dataType, data: data, into: &prefix)
        } else {
            ServerMessageEncoder.serverMessagePrefix(dataType: dataType, data: data, into: &prefix)
        }
        self.init(selector: selector, prefix: prefix, raw: raw, expiresAt: expiresAt)
    }

    /// A group message published by a raw client: a text frame is `text`, a binary one `binary`.
    public convenience init(
        hub: String, group: String, fromUserId: String?, isText: Bool, payload: UnsafeRawBufferPointer
    ) {
        var value = OutputBuffer(capacity: payload.count * 4 / 3 + 8)
        if isText {
            JSONWriter.appendString(payload, to: &value)
        } else {
            value.append(UInt8(ascii: "\""))
            var encoded: [UInt8] = []
            Base64.encode(payload, into: &encoded)
            value.append(contentsOf: encoded)
            value.append(UInt8(ascii: "\""))
        }
        var prefix = OutputBuffer(capacity: value.count + 128)
        value.bytes.withUnsafeBytes { data in
            ServerMessageEncoder.groupMessagePrefix(
                group: group, fromUserId: fromUserId, dataType: isText ? .text : .binary, data: data, into: &prefix)
        }
        self.init(
            selector: ConnectionSelector(hub: hub, target: .group(group)), prefix: prefix, raw: (isText, Array(payload))
        )
    }
}

/// A message's identity in the cluster: the node that made it (nil: this one) and its number.
struct BroadcastTag: Hashable {
    let origin: String?
    let serial: UInt64
}
