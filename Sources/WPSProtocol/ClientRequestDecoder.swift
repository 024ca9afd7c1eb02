import WPSBytes

/// Decodes one text frame of a JSON subprotocol into a `ClientRequest`
/// (protocol-spec/client-protocol.md §2 and §5).
///
/// One validating pass over the frame collects the tokens of the known fields; the typed
/// checks then run on those tokens. Nothing is allocated except the group or event name.
/// Field names are matched exactly (the SDKs all send camelCase); unknown fields are
/// ignored; when a field repeats, the last occurrence wins, as in JavaScript and Python.
public enum ClientRequestDecoder {
    /// Longest group name in Unicode scalars (REST API `maxLength`, reference §7).
    public static let maxGroupNameScalars = 1024
    /// Longest event name in bytes: one letter plus up to 127 more (reference §7).
    public static let maxEventNameBytes = 128
    /// Longest `invocationId` in UTF-8 bytes: the JavaScript and .NET clients send short
    /// counters or GUIDs, and the id is echoed in every `invokeResponse`.
    public static let maxInvocationIdBytes = 128
    /// Deepest nesting accepted in a frame; deeper `data` is reported as invalid JSON.
    public static let maxDepth = 64
    /// Longest unknown type name echoed back in a close reason, which must fit in 123 bytes.
    static let maxEchoedTypeBytes = 48

    /// Decodes `frame` (the complete payload of one text message).
    public static func decode(_ frame: UnsafeRawBufferPointer) -> Result<ClientRequest, ClientRequestError> {
        var fields = Fields()
        do throws(JSONError) {
            try JSON.scanObject(frame, maxDepth: maxDepth) { key, value throws(JSONError) in
                fields.record(frame, key: key, value: value)
            }
        } catch {
            return .failure(.invalidJSON(error.description))
        }
        guard let type = fields.type else { return .failure(.unknownType("")) }
        guard let kind = RequestKind(frame, type) else { return .failure(.unknownType(echoedTypeName(frame, type))) }
        return fields.request(frame, kind)
    }

    /// The received `type` as text for an error, shortened so the close reason stays legal.
    private static func echoedTypeName(_ frame: UnsafeRawBufferPointer, _ token: JSONToken) -> String {
        let text = JSON.string(frame, token) ?? String(decoding: frame[token.range], as: UTF8.self)
        var scalars = String.UnicodeScalarView()
        var bytes = 0
        for scalar in text.unicodeScalars {
            let width = UTF8.width(scalar)
            guard bytes + width <= maxEchoedTypeBytes else { break }
            bytes += width
            scalars.append(scalar)
        }
        return String(scalars)
    }
}

/// The request types, matched case-insensitively as the emulator does.
enum RequestKind {
    case joinGroup, leaveGroup, sendToGroup, event, sequenceAck, ping, invoke, cancelInvocation

    init?(_ frame: UnsafeRawBufferPointer, _ token: JSONToken) {
        guard token.kind == .string else { return nil }
        if let plain = JSON.unescapedContents(frame, token) {
            // The usual case: one comparison, picked by length.
            let kind: RequestKind
            let name: StaticString
            switch plain.count {
            case 4: (kind, name) = (.ping, "ping")
            case 5: (kind, name) = (.event, "event")
            case 6: (kind, name) = (.invoke, "invoke")
            case 9: (kind, name) = (.joinGroup, "joinGroup")
            case 10: (kind, name) = (.leaveGroup, "leaveGroup")
            case 11:
                // "seNdToGroup" and "seQuenceAck" part at their third letter.
                (kind, name) =
                    plain[2] | 0x20 == UInt8(ascii: "q") ? (.sequenceAck, "sequenceAck") : (.sendToGroup, "sendToGroup")
            case 16: (kind, name) = (.cancelInvocation, "cancelInvocation")
            default: return nil
            }
            guard JSON.stringEquals(frame, token, name, caseInsensitive: true) else { return nil }
            self = kind
            return
        }
        if JSON.stringEquals(frame, token, "sendToGroup", caseInsensitive: true) {
            self = .sendToGroup
        } else if JSON.stringEquals(frame, token, "sequenceAck", caseInsensitive: true) {
            self = .sequenceAck
        } else if JSON.stringEquals(frame, token, "joinGroup", caseInsensitive: true) {
            self = .joinGroup
        } else if JSON.stringEquals(frame, token, "leaveGroup", caseInsensitive: true) {
            self = .leaveGroup
        } else if JSON.stringEquals(frame, token, "event", caseInsensitive: true) {
            self = .event
        } else if JSON.stringEquals(frame, token, "ping", caseInsensitive: true) {
            self = .ping
        } else if JSON.stringEquals(frame, token, "invoke", caseInsensitive: true) {
            self = .invoke
        } else if JSON.stringEquals(frame, token, "cancelInvocation", caseInsensitive: true) {
            self = .cancelInvocation
        } else {
            return nil
        }
    }
}

/// The tokens of the fields a request may carry, gathered during the single scan.
struct Fields {
    var type: JSONToken?
    var ackId: JSONToken?
    var group: JSONToken?
    var event: JSONToken?
    var noEcho: JSONToken?
    var dataType: JSONToken?
    var data: JSONToken?
    var sequenceId: JSONToken?
    var invocationId: JSONToken?
    var target: JSONToken?

    mutating func record(_ frame: UnsafeRawBufferPointer, key: JSONToken, value: JSONToken) {
        // Dispatch on the first byte after the quote so most keys cost one comparison.
        guard key.range.count >= 3 else { return }
        switch frame[key.range.lowerBound + 1] {
        case UInt8(ascii: "t") where JSON.stringEquals(frame, key, "type"): type = value
        case UInt8(ascii: "a") where JSON.stringEquals(frame, key, "ackId"): ackId = value
        case UInt8(ascii: "g") where JSON.stringEquals(frame, key, "group"): group = value
        case UInt8(ascii: "e") where JSON.stringEquals(frame, key, "event"): event = value
        case UInt8(ascii: "n") where JSON.stringEquals(frame, key, "noEcho"): noEcho = value
        case UInt8(ascii: "s") where JSON.stringEquals(frame, key, "sequenceId"): sequenceId = value
        case UInt8(ascii: "i") where JSON.stringEquals(frame, key, "invocationId"): invocationId = value
        case UInt8(ascii: "t") where JSON.stringEquals(frame, key, "target"): target = value
        case UInt8(ascii: "d"):
            if JSON.stringEquals(frame, key, "data") {
                data = value
            } else if JSON.stringEquals(frame, key, "dataType") {
                dataType = value
            }
        case UInt8(ascii: "\\"):
            // An escaped first letter: rare, so take the slow path through every name.
            recordEscaped(frame, key: key, value: value)
        default: return
        }
    }

    private mutating func recordEscaped(_ frame: UnsafeRawBufferPointer, key: JSONToken, value: JSONToken) {
        if JSON.stringEquals(frame, key, "type") {
            type = value
        } else if JSON.stringEquals(frame, key, "ackId") {
            ackId = value
        } else if JSON.stringEquals(frame, key, "group") {
            group = value
        } else if JSON.stringEquals(frame, key, "event") {
            event = value
        } else if JSON.stringEquals(frame, key, "noEcho") {
            noEcho = value
        } else if JSON.stringEquals(frame, key, "sequenceId") {
            sequenceId = value
        } else if JSON.stringEquals(frame, key, "data") {
            data = value
        } else if JSON.stringEquals(frame, key, "dataType") {
            dataType = value
        } else if JSON.stringEquals(frame, key, "invocationId") {
            invocationId = value
        } else if JSON.stringEquals(frame, key, "target") {
            target = value
        }
    }

    /// Builds the request of `kind` from the gathered fields, or says which field is wrong.
    func request(_ frame: UnsafeRawBufferPointer, _ kind: RequestKind) -> Result<ClientRequest, ClientRequestError> {
        switch kind {
        case .ping:
            return .success(.ping)
        case .sequenceAck:
            guard let token = sequenceId, let value = JSON.uint64(frame, token) else {
                return .failure(.badRequest(ackId: nil, message: "sequenceId must be a non-negative integer"))
            }
            return .success(.sequenceAck(sequenceId: value))
        case .invoke:
            return invocation(frame)
        case .cancelInvocation:
            return invocationIdentifier(frame).map { .cancelInvocation(invocationId: $0) }
        case .joinGroup, .leaveGroup, .sendToGroup, .event:
            break
        }
        // ackId first, so every later error can be acked.
        var ack: UInt64?
        if let token = ackId, token.kind != .null {
            guard let value = JSON.uint64(frame, token) else {
                return .failure(.badRequest(ackId: nil, message: "ackId must be a non-negative integer"))
            }
            ack = value
        }
        switch kind {
        case .joinGroup, .leaveGroup:
            switch groupName(frame, ack) {
            case .failure(let error): return .failure(error)
            case .success(let name):
                return .success(
                    kind == .joinGroup ? .joinGroup(group: name, ackId: ack) : .leaveGroup(group: name, ackId: ack))
            }
        case .sendToGroup:
            var echoOff = false
            if let token = noEcho, token.kind != .null {
                guard let value = JSON.bool(frame, token) else {
                    return .failure(.badRequest(ackId: ack, message: "noEcho must be true or false"))
                }
                echoOff = value
            }
            let name: String
            switch groupName(frame, ack) {
            case .failure(let error): return .failure(error)
            case .success(let value): name = value
            }
            return payload(frame, ack, allowsNull: false).map { type, range in
                .sendToGroup(group: name, ackId: ack, noEcho: echoOff, dataType: type, data: range)
            }
        default:
            let name: String
            switch eventName(frame, ack) {
            case .failure(let error): return .failure(error)
            case .success(let value): name = value
            }
            return payload(frame, ack, allowsNull: true).map { type, range in
                .event(event: name, ackId: ack, dataType: type, data: range)
            }
        }
    }
}
