/// The system events a handler can subscribe to (protocol-spec/upstream.md §2).
public enum SystemEvent: String, Sendable, Hashable, CaseIterable {
    case connect, connected, disconnected
}

/// Which user events a handler takes: `*`, a comma-separated list, or one name.
public struct EventPattern: Sendable, Hashable, CustomStringConvertible {
    /// nil: every event.
    public let names: Set<String>?
    public let description: String

    public struct Failure: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    public init(_ text: String) throws(Failure) {
        description = text
        let trimmed = text.trimmingWhitespace
        if trimmed == "*" {
            names = nil
            return
        }
        let parts = trimmed.split(separator: ",", omittingEmptySubsequences: false).map {
            String($0).trimmingWhitespace
        }
        guard !parts.isEmpty, parts.allSatisfy({ !$0.isEmpty && !$0.contains("*") && !$0.contains(" ") }) else {
            throw Failure(description: "userEventPattern '\(text)' must be *, one event name or a comma-separated list")
        }
        // Event names are case-insensitive (reference §7).
        names = Set(parts.map { $0.lowercased() })
    }

    public static let all = try! EventPattern("*")

    public func matches(_ event: String) -> Bool {
        guard let names else { return true }
        return names.contains(event) || names.contains(event.lowercased())
    }
}

/// One event handler of a hub: where events go and which ones.
public struct EventHandler: Sendable, Hashable {
    public var urlTemplate: URLTemplate
    /// nil: no user events.
    public var userEvents: EventPattern?
    public var systemEvents: Set<SystemEvent>
    /// Sent with every request (a function key, say); never logged.
    public var headers: [HeaderField]

    public struct HeaderField: Sendable, Hashable {
        public var name: String
        public var value: String
        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    public init(
        urlTemplate: URLTemplate, userEvents: EventPattern? = .all,
        systemEvents: Set<SystemEvent> = Set(SystemEvent.allCases), headers: [HeaderField] = []
    ) {
        self.urlTemplate = urlTemplate
        self.userEvents = userEvents
        self.systemEvents = systemEvents
        self.headers = headers
    }

    public func takes(userEvent name: String) -> Bool { userEvents?.matches(name) ?? false }
    public func takes(_ event: SystemEvent) -> Bool { systemEvents.contains(event) }
}

/// Every hub's ordered handlers; the first handler that takes an event gets it.
public struct EventHandlerTable: Sendable {
    /// By lower-cased hub name.
    public var hubs: [String: [EventHandler]]
    /// For hubs not named in `hubs` (the `--event-handler` flag).
    public var anyHub: [EventHandler]

    public init(hubs: [String: [EventHandler]] = [:], anyHub: [EventHandler] = []) {
        self.hubs = hubs
        self.anyHub = anyHub
    }

    public var isEmpty: Bool { anyHub.isEmpty && hubs.values.allSatisfy(\.isEmpty) }

    public func handlers(hub: String) -> [EventHandler] {
        hubs[hub] ?? hubs[hub.lowercased()] ?? anyHub
    }

    public func handler(hub: String, userEvent name: String) -> EventHandler? {
        handlers(hub: hub).first { $0.takes(userEvent: name) }
    }

    public func handler(hub: String, _ event: SystemEvent) -> EventHandler? {
        handlers(hub: hub).first { $0.takes(event) }
    }

    /// Every distinct handler, for validation at start.
    public var all: [EventHandler] {
        var seen = Set<EventHandler>()
        return (anyHub + hubs.values.flatMap { $0 }).filter { seen.insert($0).inserted }
    }
}

extension String {
    var trimmingWhitespace: String {
        var view = Substring(self)
        while let first = view.first, first == " " || first == "\t" { view.removeFirst() }
        while let last = view.last, last == " " || last == "\t" { view.removeLast() }
        return String(view)
    }
}
