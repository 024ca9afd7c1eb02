/// Which connections of a hub an operation applies to: a target narrowed by exclusions and an
/// optional predicate (the REST API's `excluded` and `filter`).
public struct ConnectionSelector: Sendable {
    public enum Target: Sendable, Equatable {
        case hub
        case group(String)
        case user(String)
        case connection(String)

        var isConnection: Bool {
            if case .connection = self { return true }
            return false
        }
    }

    /// Decides per connection; the REST layer compiles its OData filter into one.
    public typealias Predicate = @Sendable (HubSession) -> Bool

    public var hub: String
    public var target: Target
    public var excluded: Set<String>
    public var predicate: Predicate?
    /// The filter's source text, so another node can compile the same predicate.
    public var filterText: String?

    public init(
        hub: String, target: Target, excluded: Set<String> = [], predicate: Predicate? = nil, filterText: String? = nil
    ) {
        self.hub = hub
        self.target = target
        self.excluded = excluded
        self.predicate = predicate
        self.filterText = filterText
    }

    /// True when `session` passes the exclusions and the predicate (the target is checked by
    /// whoever enumerates the candidates).
    func admits(_ session: HubSession) -> Bool {
        if !excluded.isEmpty, excluded.contains(session.connectionId) { return false }
        if let predicate { return predicate(session) }
        return true
    }
}
