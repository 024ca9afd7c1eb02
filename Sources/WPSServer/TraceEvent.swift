import WPSBytes

/// One event of the live trace (protocol-spec/admin.md §5). Built on the loop where it
/// happened, only while a viewer watches, and encoded there.
struct TraceEvent {
    var type: String
    var hub: String?
    var connectionId: String?
    var userId: String?
    var group: String?
    /// Fields particular to `type`, in order.
    var fields: [AdminJSON.Field] = []
    /// The message's data as sent; only a viewer of that one connection that asked for
    /// payloads gets it.
    var payload: [UInt8]?
    var payloadForm = PayloadForm.json

    /// How `payload` goes into the event's `data`.
    enum PayloadForm {
        /// A JSON value as the client wrote it (the `data` of a JSON-protocol message).
        case json
        /// Text of a simple client, as a JSON string.
        case text
        /// Binary of a simple client, base64 in a JSON string.
        case base64
    }

    init(
        _ type: String, hub: String? = nil, connectionId: String? = nil, userId: String? = nil, group: String? = nil,
        fields: [AdminJSON.Field] = []
    ) {
        self.type = type
        self.hub = hub
        self.connectionId = connectionId
        self.userId = userId
        self.group = group
        self.fields = fields
    }

    /// `{"type":…,"time":…,"loop":…,"hub":…,"connectionId":…,"userId":…,"group":…,…}`;
    /// absent identity fields are left out.
    func encode(timeMillis: Int64, loop: Int, withPayload: Bool) -> [UInt8] {
        var all: [AdminJSON.Field] = [
            .init("type", .string(type)), .init("time", .int(Int(timeMillis))), .init("loop", .int(loop)),
        ]
        if let hub { all.append(.init("hub", .string(hub))) }
        if let connectionId { all.append(.init("connectionId", .string(connectionId))) }
        if let userId { all.append(.init("userId", .string(userId))) }
        if let group { all.append(.init("group", .string(group))) }
        all += fields
        var bytes = AdminJSON.object(all).bytes
        guard withPayload, let payload else { return bytes }
        bytes.removeLast()
        var tail = OutputBuffer(capacity: payload.count + 16)
        tail.append(#","data":"#)
        switch payloadForm {
        case .json: tail.append(contentsOf: payload)
        case .text: payload.withUnsafeBytes { JSONWriter.appendString($0, to: &tail) }
        case .base64: JSONWriter.appendString(Base64.encode(payload), to: &tail)
        }
        tail.append("}")
        return bytes + tail.bytes
    }
}

/// Which events a viewer wants: every given field must match (query parameters of
/// `/admin/trace`).
struct TraceFilter: Sendable, Equatable {
    var hub: String?
    var user: String?
    var connection: String?
    var group: String?
    /// Message data too; only with `connection`.
    var payloads = false

    /// `isMember` says whether the event's connection is in a group, for events that name
    /// no group of their own.
    func matches(_ event: TraceEvent, isMember: (String) -> Bool) -> Bool {
        if let hub, event.hub != hub { return false }
        if let user, event.userId != user { return false }
        if let connection, event.connectionId != connection { return false }
        if let group {
            if let named = event.group { return named == group }
            return event.connectionId != nil && isMember(group)
        }
        return true
    }

    /// The filter of a trace request, or why it is refused.
    static func parse(query: (String) -> String?) -> Result<TraceFilter, TraceFilterError> {
        var filter = TraceFilter()
        filter.hub = query("hub").map { $0.lowercased() }
        filter.user = query("user")
        filter.connection = query("connection")
        filter.group = query("group")
        switch query("payloads") {
        case nil, "false": break
        case "true": filter.payloads = true
        default: return .failure(TraceFilterError("payloads must be true or false"))
        }
        if filter.payloads, filter.connection == nil {
            return .failure(TraceFilterError("payloads=true needs a connection filter"))
        }
        return .success(filter)
    }
}

struct TraceFilterError: Error, Equatable {
    let message: String
    init(_ message: String) { self.message = message }
}
