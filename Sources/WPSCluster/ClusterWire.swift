import WPSAuth
public import WPSHub
import WPSProtocol

/// What nodes say to each other through Redis (protocol-spec/cluster.md, Wire format):
/// a broadcast for the node's members, a REST operation to apply, or a node's answer.
/// One message is one pub/sub payload: a tag byte, then fields, each a length and bytes.
public enum ClusterMessage: Sendable {
    /// A data message made on node `origin`; `ttlMillis` is what remained of its
    /// `messageTtlSeconds` when published (0: none).
    case broadcast(origin: String, Broadcast, ttlMillis: UInt64)
    /// The same, for a message its origin did not deliver itself (a REST send): every node
    /// delivers it as Redis hands it out, its origin too, so one caller's sends keep their
    /// order on every node.
    case broadcastEverywhere(origin: String, Broadcast, ttlMillis: UInt64)
    /// An operation asked by `origin`, answered on that node's channel with `id`.
    case request(origin: String, id: UInt64, HubOperation)
    /// Node `node`'s answer to request `id`.
    case reply(id: UInt64, node: String, HubOperationResult)
    /// Node `to` asks whoever holds reliable session `connectionId` to hand it over.
    case handoverBegin(connectionId: String, to: String)
    /// A node's answer to `handoverBegin`: the session, or nil from a node without it.
    case handoverState(connectionId: String, SessionSnapshot?)
    /// Node `to` has taken the session: the commit point in the cluster's message order.
    case handoverCommit(connectionId: String, to: String)
    /// What the old node kept for the session between begin and commit, in order.
    case handoverTail(connectionId: String, [Broadcast])
}

/// The byte form of `ClusterMessage`. Pure: no I/O, no clock.
public enum ClusterWire {
    static let version: UInt8 = 1
    enum Tag: UInt8 {
        case broadcast = 0x42  // B
        case broadcastEverywhere = 0x45  // E
        case request = 0x51  // Q
        case reply = 0x52  // R
        case handoverBegin = 0x48  // H
        case handoverState = 0x53  // S
        case handoverCommit = 0x43  // C
        case handoverTail = 0x54  // T
    }

    // MARK: - encoding

    /// Encodes `message`; `now` (monotonic ns) turns the deadlines of messages inside a
    /// handover into the TTLs that remain, and `localNode` names the node of messages made
    /// here (`Broadcast.origin` nil).
    public static func encode(
        _ message: ClusterMessage, now: UInt64 = 0, localNode: String = "", into out: inout [UInt8]
    ) {
        out.append(version)
        switch message {
        case .broadcast(let origin, let broadcast, let ttl), .broadcastEverywhere(let origin, let broadcast, let ttl):
            if case .broadcast = message {
                out.append(Tag.broadcast.rawValue)
            } else {
                out.append(Tag.broadcastEverywhere.rawValue)
            }
            appendString(origin, to: &out)
            appendNumber(broadcast.serial, to: &out)
            appendSelector(broadcast.selector, to: &out)
            appendNumber(ttl, to: &out)
            out.append(broadcast.payloadIsText ? 1 : 0)
            appendBytes(broadcast.prefix.pointer, to: &out)
            appendBytes(broadcast.payload.pointer, to: &out)
        case .request(let origin, let id, let operation):
            out.append(Tag.request.rawValue)
            appendString(origin, to: &out)
            appendNumber(id, to: &out)
            appendOperation(operation, to: &out)
        case .reply(let id, let node, let result):
            out.append(Tag.reply.rawValue)
            appendNumber(id, to: &out)
            appendString(node, to: &out)
            appendResult(result, to: &out)
        case .handoverBegin(let id, let node):
            out.append(Tag.handoverBegin.rawValue)
            appendString(id, to: &out)
            appendString(node, to: &out)
        case .handoverState(let id, let snapshot):
            out.append(Tag.handoverState.rawValue)
            appendString(id, to: &out)
            if let snapshot {
                out.append(1)
                appendSnapshot(snapshot, now: now, localNode: localNode, to: &out)
            } else {
                out.append(0)
            }
        case .handoverCommit(let id, let node):
            out.append(Tag.handoverCommit.rawValue)
            appendString(id, to: &out)
            appendString(node, to: &out)
        case .handoverTail(let id, let tail):
            out.append(Tag.handoverTail.rawValue)
            appendString(id, to: &out)
            appendNumber(UInt64(tail.count), to: &out)
            for broadcast in tail { appendMessage(broadcast, now: now, localNode: localNode, to: &out) }
        }
    }

    /// A buffered message: the node that made it and its number there, its remaining TTL
    /// (ms, 0: none) and bytes.
    static func appendMessage(_ broadcast: Broadcast, now: UInt64, localNode: String, to out: inout [UInt8]) {
        appendString(broadcast.origin ?? localNode, to: &out)
        appendNumber(broadcast.serial, to: &out)
        var ttl: UInt64 = 0
        if broadcast.expiresAt != 0 {
            ttl = broadcast.expiresAt > now ? max(1, (broadcast.expiresAt - now) / 1_000_000) : 1
        }
        appendNumber(ttl, to: &out)
        out.append(broadcast.payloadIsText ? 1 : 0)
        appendBytes(broadcast.prefix.pointer, to: &out)
        appendBytes(broadcast.payload.pointer, to: &out)
    }

    static func appendSnapshot(_ snapshot: SessionSnapshot, now: UInt64, localNode: String, to out: inout [UInt8]) {
        appendString(snapshot.hub, to: &out)
        appendOptional(snapshot.userId, to: &out)
        appendStrings(snapshot.permissions.transferForm, to: &out)
        appendStrings(snapshot.groups, to: &out)
        appendOptional(snapshot.reconnectionToken, to: &out)
        appendNumber(snapshot.nextSequenceId, to: &out)
        appendNumber(UInt64(snapshot.unacked.count), to: &out)
        for entry in snapshot.unacked {
            appendNumber(entry.sequenceId, to: &out)
            appendMessage(entry.broadcast, now: now, localNode: localNode, to: &out)
        }
        appendNumber(UInt64(snapshot.ackIds.count), to: &out)
        for id in snapshot.ackIds { appendNumber(id, to: &out) }
        appendOptional(snapshot.connectionState, to: &out)
        appendNumber(UInt64(max(0, snapshot.resumeCount)), to: &out)
        if let ack = snapshot.lastSequenceAck {
            out.append(1)
            appendNumber(ack, to: &out)
        } else {
            out.append(0)
        }
    }

    public static func encode(_ message: ClusterMessage, now: UInt64 = 0, localNode: String = "") -> [UInt8] {
        var out: [UInt8] = []
        encode(message, now: now, localNode: localNode, into: &out)
        return out
    }

    static func appendNumber(_ value: UInt64, to out: inout [UInt8]) {
        var rest = value
        while rest >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: rest) | 0x80)
            rest >>= 7
        }
        out.append(UInt8(rest))
    }

    static func appendBytes(_ bytes: UnsafeRawBufferPointer, to out: inout [UInt8]) {
        appendNumber(UInt64(bytes.count), to: &out)
        out.append(contentsOf: bytes)
    }

    static func appendString(_ text: String, to out: inout [UInt8]) {
        appendNumber(UInt64(text.utf8.count), to: &out)
        out.append(contentsOf: text.utf8)
    }

    /// Absent strings are marked by a leading 0, present ones by 1.
    static func appendOptional(_ text: String?, to out: inout [UInt8]) {
        guard let text else { return out.append(0) }
        out.append(1)
        appendString(text, to: &out)
    }

    static func appendStrings(_ list: [String], to out: inout [UInt8]) {
        appendNumber(UInt64(list.count), to: &out)
        for item in list { appendString(item, to: &out) }
    }

    static func appendSelector(_ selector: ConnectionSelector, to out: inout [UInt8]) {
        appendString(selector.hub, to: &out)
        switch selector.target {
        case .hub:
            out.append(0)
        case .group(let name):
            out.append(1)
            appendString(name, to: &out)
        case .user(let name):
            out.append(2)
            appendString(name, to: &out)
        case .connection(let id):
            out.append(3)
            appendString(id, to: &out)
        }
        appendStrings(selector.excluded.sorted(), to: &out)
        appendOptional(selector.filterText, to: &out)
    }

    static func appendKind(_ kind: Permissions.Kind, to out: inout [UInt8]) {
        out.append(kind == .sendToGroup ? 1 : 0)
    }

    static func appendOperation(_ operation: HubOperation, to out: inout [UInt8]) {
        switch operation {
        case .close(let selector, let reason):
            out.append(0)
            appendSelector(selector, to: &out)
            appendString(reason, to: &out)
        case .count(let selector):
            out.append(1)
            appendSelector(selector, to: &out)
        case .addToGroups(let selector, let groups):
            out.append(2)
            appendSelector(selector, to: &out)
            appendStrings(groups, to: &out)
        case .removeFromGroups(let selector, let groups):
            out.append(3)
            appendSelector(selector, to: &out)
            if let groups {
                out.append(1)
                appendStrings(groups, to: &out)
            } else {
                out.append(0)
            }
        case .grant(let hub, let id, let kind, let group, let granted):
            out.append(4)
            appendString(hub, to: &out)
            appendString(id, to: &out)
            appendKind(kind, to: &out)
            appendOptional(group, to: &out)
            out.append(granted ? 1 : 0)
        case .checkPermission(let hub, let id, let kind, let group):
            out.append(5)
            appendString(hub, to: &out)
            appendString(id, to: &out)
            appendKind(kind, to: &out)
            appendOptional(group, to: &out)
        case .members(let hub, let group):
            out.append(6)
            appendString(hub, to: &out)
            appendString(group, to: &out)
        }
    }

    static func appendResult(_ result: HubOperationResult, to out: inout [UInt8]) {
        switch result {
        case .count(let count):
            out.append(0)
            appendNumber(UInt64(max(0, count)), to: &out)
        case .flag(let flag):
            out.append(1)
            out.append(flag == nil ? 2 : flag == true ? 1 : 0)
        case .members(let members):
            out.append(2)
            appendNumber(UInt64(members.count), to: &out)
            for member in members {
                appendString(member.connectionId, to: &out)
                appendOptional(member.userId, to: &out)
            }
        }
    }

    // MARK: - decoding

    /// Why a payload is not a cluster message (another version, or damaged).
    public struct DecodeError: Error, Equatable, CustomStringConvertible {
        public let description: String
    }

    /// Decodes one message. `now` (monotonic ns) turns a broadcast's TTL into a deadline;
    /// messages made by `localNode` come out with no origin (made here); `compile` turns a
    /// selector's filter text into its predicate.
    public static func decode(
        _ bytes: UnsafeRawBufferPointer, now: UInt64, localNode: String = "",
        compile: (String) -> ConnectionSelector.Predicate?
    ) throws(DecodeError) -> ClusterMessage {
        var reader = Reader(bytes: bytes, localNode: localNode)
        guard try reader.byte() == version else { throw DecodeError(description: "unknown cluster message version") }
        guard let tag = Tag(rawValue: try reader.byte()) else {
            throw DecodeError(description: "unknown cluster message kind")
        }
        switch tag {
        case .broadcast, .broadcastEverywhere:
            let origin = try reader.string()
            let serial = try reader.number()
            let selector = try reader.selector(compile)
            let ttl = try reader.number()
            let isText = try reader.byte() == 1
            let prefix = try reader.bytes()
            let payload = try reader.bytes()
            let broadcast = Broadcast(
                selector: selector, prefix: prefix, payload: payload, payloadIsText: isText,
                expiresAt: ttl == 0 ? 0 : now &+ ttl &* 1_000_000, origin: origin == localNode ? nil : origin,
                serial: serial)
            if tag == .broadcastEverywhere { return .broadcastEverywhere(origin: origin, broadcast, ttlMillis: ttl) }
            return .broadcast(origin: origin, broadcast, ttlMillis: ttl)
        case .request:
            let origin = try reader.string()
            let id = try reader.number()
            return .request(origin: origin, id: id, try reader.operation(compile))
        case .reply:
            let id = try reader.number()
            let node = try reader.string()
            return .reply(id: id, node: node, try reader.result())
        case .handoverBegin:
            let id = try reader.string()
            return .handoverBegin(connectionId: id, to: try reader.string())
        case .handoverState:
            let id = try reader.string()
            guard try reader.byte() == 1 else { return .handoverState(connectionId: id, nil) }
            return .handoverState(connectionId: id, try reader.snapshot(connectionId: id, now: now))
        case .handoverCommit:
            let id = try reader.string()
            return .handoverCommit(connectionId: id, to: try reader.string())
        case .handoverTail:
            let id = try reader.string()
            let count = try reader.count()
            var tail: [Broadcast] = []
            for _ in 0..<count { tail.append(try reader.message(connectionId: id, hub: "", now: now)) }
            return .handoverTail(connectionId: id, tail)
        }
    }

    struct Reader {
        let input: UnsafeRawBufferPointer
        let localNode: String
        var offset = 0

        init(bytes: UnsafeRawBufferPointer, localNode: String = "") {
            input = bytes
            self.localNode = localNode
        }

        static let truncated = DecodeError(description: "truncated cluster message")

        mutating func byte() throws(DecodeError) -> UInt8 {
            guard offset < input.count else { throw Self.truncated }
            defer { offset += 1 }
            return input[offset]
        }

        mutating func number() throws(DecodeError) -> UInt64 {
            var value: UInt64 = 0
            var shift: UInt64 = 0
            while true {
                let next = try byte()
                guard shift < 64 else { throw DecodeError(description: "number too long") }
                value |= UInt64(next & 0x7F) << shift
                if next & 0x80 == 0 { return value }
                shift += 7
            }
        }

        mutating func bytes() throws(DecodeError) -> UnsafeRawBufferPointer {
            let count = try number()
            guard count <= UInt64(input.count - offset) else { throw Self.truncated }
            defer { offset += Int(count) }
            return UnsafeRawBufferPointer(rebasing: input[offset..<offset + Int(count)])
        }

        mutating func string() throws(DecodeError) -> String {
            String(decoding: try bytes(), as: UTF8.self)
        }

        mutating func optional() throws(DecodeError) -> String? {
            try byte() == 1 ? try string() : nil
        }

        mutating func strings() throws(DecodeError) -> [String] {
            let count = try number()
            // Each string takes at least its length byte: a larger count is damage.
            guard count <= UInt64(input.count - offset) else { throw Self.truncated }
            var list: [String] = []
            list.reserveCapacity(Int(count))
            for _ in 0..<count { list.append(try string()) }
            return list
        }

        mutating func selector(_ compile: (String) -> ConnectionSelector.Predicate?) throws(DecodeError)
            -> ConnectionSelector
        {
            let hub = try string()
            let target: ConnectionSelector.Target
            switch try byte() {
            case 0: target = .hub
            case 1: target = .group(try string())
            case 2: target = .user(try string())
            case 3: target = .connection(try string())
            default: throw DecodeError(description: "unknown selector target")
            }
            let excluded = Set(try strings())
            let filter = try optional()
            var selector = ConnectionSelector(hub: hub, target: target, excluded: excluded, filterText: filter)
            if let filter {
                guard let predicate = compile(filter) else { throw DecodeError(description: "bad filter") }
                selector.predicate = predicate
            }
            return selector
        }

        /// A count of items that each take at least one byte.
        mutating func count() throws(DecodeError) -> Int {
            let count = try number()
            guard count <= UInt64(input.count - offset) else { throw Self.truncated }
            return Int(count)
        }

        /// A buffered message; replayed messages go to one connection only, whatever their
        /// original target was.
        mutating func message(connectionId: String, hub: String, now: UInt64) throws(DecodeError) -> Broadcast {
            let origin = try string()
            let serial = try number()
            let ttl = try number()
            let isText = try byte() == 1
            let prefix = try bytes()
            let payload = try bytes()
            return Broadcast(
                selector: ConnectionSelector(hub: hub, target: .connection(connectionId)), prefix: prefix,
                payload: payload, payloadIsText: isText, expiresAt: ttl == 0 ? 0 : now &+ ttl &* 1_000_000,
                origin: origin == localNode ? nil : origin, serial: serial)
        }

        mutating func snapshot(connectionId: String, now: UInt64) throws(DecodeError) -> SessionSnapshot {
            let hub = try string()
            let user = try optional()
            let permissions = Permissions(transferForm: try strings())
            let groups = try strings()
            let token = try optional()
            let next = try number()
            var unacked: [SessionSnapshot.Entry] = []
            for _ in 0..<(try count()) {
                let sequenceId = try number()
                unacked.append(
                    .init(
                        sequenceId: sequenceId, broadcast: try message(connectionId: connectionId, hub: hub, now: now)))
            }
            var ackIds: [UInt64] = []
            for _ in 0..<(try count()) { ackIds.append(try number()) }
            let state = try optional()
            let resumes = Int(clamping: try number())
            let lastAck: UInt64? = try byte() == 1 ? try number() : nil
            return SessionSnapshot(
                connectionId: connectionId, hub: hub, userId: user, permissions: permissions, groups: groups,
                reconnectionToken: token, nextSequenceId: next, unacked: unacked, ackIds: ackIds,
                connectionState: state, resumeCount: resumes, lastSequenceAck: lastAck)
        }

        mutating func kind() throws(DecodeError) -> Permissions.Kind {
            try byte() == 1 ? .sendToGroup : .joinLeaveGroup
        }

        mutating func operation(_ compile: (String) -> ConnectionSelector.Predicate?) throws(DecodeError)
            -> HubOperation
        {
            switch try byte() {
            case 0:
                let selector = try selector(compile)
                return .close(selector, reason: try string())
            case 1:
                return .count(try selector(compile))
            case 2:
                let selector = try selector(compile)
                return .addToGroups(selector, groups: try strings())
            case 3:
                let selector = try selector(compile)
                return .removeFromGroups(selector, groups: try byte() == 1 ? try strings() : nil)
            case 4:
                let hub = try string()
                let id = try string()
                let kind = try kind()
                let group = try optional()
                return .grant(hub: hub, connectionId: id, kind, group: group, granted: try byte() == 1)
            case 5:
                let hub = try string()
                let id = try string()
                let kind = try kind()
                return .checkPermission(hub: hub, connectionId: id, kind, group: try optional())
            case 6:
                let hub = try string()
                return .members(hub: hub, group: try string())
            default:
                throw DecodeError(description: "unknown operation")
            }
        }

        mutating func result() throws(DecodeError) -> HubOperationResult {
            switch try byte() {
            case 0:
                return .count(Int(clamping: try number()))
            case 1:
                switch try byte() {
                case 0: return .flag(false)
                case 1: return .flag(true)
                default: return .flag(nil)
                }
            case 2:
                let count = try number()
                guard count <= UInt64(input.count - offset) else { throw Self.truncated }
                var members: [LoopHub.ConnectionInfo] = []
                for _ in 0..<count {
                    let id = try string()
                    members.append(LoopHub.ConnectionInfo(connectionId: id, userId: try optional()))
                }
                return .members(members)
            default:
                throw DecodeError(description: "unknown result")
            }
        }
    }
}
