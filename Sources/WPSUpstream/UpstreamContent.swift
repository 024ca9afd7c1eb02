public import WPSProtocol

/// Content types of user events and of handler replies (protocol-spec/upstream.md §6).
public enum UpstreamContent {
    /// System event bodies are JSON.
    public static let systemEvent = "application/json; charset=utf-8"

    /// The request's content type for a user event's data type.
    public static func contentType(_ dataType: DataType) -> String {
        switch dataType {
        case .text: "text/plain"
        case .json: "application/json"
        default: "application/octet-stream"
        }
    }

    /// The data type of a handler's reply, from its content type with parameters ignored:
    /// `text/*` is text, JSON media types are json, everything else binary.
    public static func dataType(ofReply contentType: String?) -> DataType {
        guard let contentType else { return .binary }
        let media =
            contentType.split(separator: ";", maxSplits: 1).first.map { String($0).trimmingWhitespace.lowercased() }
            ?? ""
        if media.hasPrefix("text/") { return .text }
        if media == "application/json" || media.hasSuffix("+json") { return .json }
        return .binary
    }
}

/// When a failed fire-and-forget request is tried again (protocol-spec/upstream.md §7):
/// after 1, 3 and 5 seconds, four attempts in all, on 408, 5xx and network errors only.
public struct RetrySchedule: Sendable, Equatable {
    public var delaysNanos: [UInt64]

    public init(delaysNanos: [UInt64] = [1_000_000_000, 3_000_000_000, 5_000_000_000]) {
        self.delaysNanos = delaysNanos
    }

    public var maxAttempts: Int { delaysNanos.count + 1 }

    /// The wait before attempt `attempt + 1` after attempt `attempt` (1-based) failed with
    /// `status` (nil: no response), or nil when there is no further attempt.
    public func delay(afterAttempt attempt: Int, status: Int?) -> UInt64? {
        guard attempt >= 1, attempt <= delaysNanos.count, Self.isRetryable(status) else { return nil }
        return delaysNanos[attempt - 1]
    }

    public static func isRetryable(_ status: Int?) -> Bool {
        guard let status else { return true }
        return status == 408 || status >= 500
    }
}
