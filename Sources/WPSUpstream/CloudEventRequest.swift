import WPSBytes

/// Who an event is about: the `ce-*` attributes every request of one connection carries
/// (protocol-spec/upstream.md §3).
public struct EventSource: Sendable {
    public var hub: String
    public var connectionId: String
    public var userId: String?
    /// The client's subprotocol; nil for simple WebSocket clients.
    public var subprotocol: String?
    /// What the handler stored with `ce-connectionState`; nil: nothing stored.
    public var connectionState: String?

    public init(
        hub: String, connectionId: String, userId: String?, subprotocol: String?, connectionState: String? = nil
    ) {
        self.hub = hub
        self.connectionId = connectionId
        self.userId = userId
        self.subprotocol = subprotocol
        self.connectionState = connectionState
    }
}

/// Builds the HTTP/1.1 requests of the upstream contract: CloudEvents in binary mode
/// (protocol-spec/upstream.md §3) and the abuse-protection preflight (§4).
public enum CloudEventRequest {
    /// `azure.webpubsub.sys.<name>` or `azure.webpubsub.user.<name>`.
    public static func type(system event: SystemEvent) -> String { "azure.webpubsub.sys." + event.rawValue }
    public static func type(userEvent name: String) -> String { "azure.webpubsub.user." + name }

    /// One event as a complete request: head and body.
    public static func event(
        handler: EventHandler, source: EventSource, type: String, eventName: String, id: UInt64, time: Int64,
        signature: String, requestOrigin: String, contentType: String, body: UnsafeRawBufferPointer
    ) -> [UInt8] {
        var out = OutputBuffer(capacity: 640 + body.count)
        let template = handler.urlTemplate
        line(&out, "POST ", template.target(hub: source.hub, event: eventName), " HTTP/1.1")
        header(&out, "Host", template.hostHeader)
        header(&out, "Content-Type", contentType)
        header(&out, "Content-Length", String(body.count))
        header(&out, "WebHook-Request-Origin", requestOrigin)
        header(&out, "ce-specversion", "1.0")
        header(&out, "ce-type", type)
        header(&out, "ce-source", "/hubs/\(source.hub)/client/\(source.connectionId)")
        header(&out, "ce-id", String(id))
        header(&out, "ce-time", Timestamp.iso8601(time))
        header(&out, "ce-signature", signature)
        if let userId = source.userId { header(&out, "ce-userId", userId) }
        header(&out, "ce-connectionId", source.connectionId)
        header(&out, "ce-hub", source.hub)
        header(&out, "ce-eventName", eventName)
        if let subprotocol = source.subprotocol { header(&out, "ce-subprotocol", subprotocol) }
        if let state = source.connectionState { header(&out, "ce-connectionState", state) }
        header(&out, "ce-awpsversion", "1.0")
        for field in handler.headers { header(&out, field.name, field.value) }
        out.append(contentsOf: crlf)
        out.append(body)
        return out.bytes
    }

    /// The preflight: `OPTIONS` at the template with `{event}` = `validate`.
    public static func validation(handler: EventHandler, hub: String, requestOrigin: String) -> [UInt8] {
        var out = OutputBuffer(capacity: 320)
        let template = handler.urlTemplate
        line(&out, "OPTIONS ", template.target(hub: hub, event: "validate"), " HTTP/1.1")
        header(&out, "Host", template.hostHeader)
        header(&out, "WebHook-Request-Origin", requestOrigin)
        header(&out, "ce-awpsversion", "1.0")
        header(&out, "Content-Length", "0")
        for field in handler.headers { header(&out, field.name, field.value) }
        out.append(contentsOf: crlf)
        return out.bytes
    }

    static let crlf: [UInt8] = [13, 10]

    static func line(_ out: inout OutputBuffer, _ a: String, _ b: String, _ c: String) {
        out.append(a)
        out.append(b)
        out.append(c)
        out.append(contentsOf: crlf)
    }

    /// Writes `name: value`; control bytes in values (from tokens or handlers) are dropped
    /// so no value can end the head or add a field.
    static func header(_ out: inout OutputBuffer, _ name: String, _ value: String) {
        out.append(name)
        out.append(UInt8(ascii: ":"))
        out.append(UInt8(ascii: " "))
        for byte in value.utf8 where byte >= 0x20 && byte != 0x7F { out.append(byte) }
        out.append(contentsOf: crlf)
    }
}

/// UTC timestamps for `ce-time`.
public enum Timestamp {
    /// `YYYY-MM-DDTHH:MM:SSZ` for seconds since the epoch.
    public static func iso8601(_ seconds: Int64) -> String {
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let rest = seconds - days * 86_400
        // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        func two(_ value: Int64) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(year)-\(two(month))-\(two(day))T\(two(rest / 3600)):\(two(rest % 3600 / 60)):\(two(rest % 60))Z"
    }
}
