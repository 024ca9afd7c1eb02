import WPSProtocol

/// Acks one loop's hub has sent, by result: plain counts on the loop's thread, which the
/// server reads when it is asked for metrics (one increment per ack, no call out).
public struct AckCounts: Sendable, Equatable {
    public internal(set) var success = 0
    public internal(set) var duplicate = 0
    public internal(set) var forbidden = 0
    public internal(set) var badRequest = 0
    public internal(set) var notFound = 0
    public internal(set) var internalServerError = 0
    public internal(set) var timeout = 0
    /// Any other error name.
    public internal(set) var other = 0

    public init() {}

    mutating func record(_ error: AckError?) {
        guard let name = error?.name else {
            success += 1
            return
        }
        switch name {
        case .duplicate: duplicate += 1
        case .forbidden: forbidden += 1
        case .badRequest: badRequest += 1
        case .notFound: notFound += 1
        case .internalServerError: internalServerError += 1
        case .timeout: timeout += 1
        default: other += 1
        }
    }

    /// Every count with its result label: `success`, or the error name as sent.
    public var byResult: [(result: String, count: Int)] {
        [
            ("success", success), (AckErrorName.duplicate.rawValue, duplicate),
            (AckErrorName.forbidden.rawValue, forbidden), (AckErrorName.badRequest.rawValue, badRequest),
            (AckErrorName.notFound.rawValue, notFound),
            (AckErrorName.internalServerError.rawValue, internalServerError),
            (AckErrorName.timeout.rawValue, timeout), ("other", other),
        ]
    }
}
