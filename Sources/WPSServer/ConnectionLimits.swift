import Synchronization

/// Limits on the client endpoint that stop one user, address or token from taking the
/// server (protocol-spec/server.md, limits). 0 turns a limit off.
public struct ConnectionLimits: Sendable {
    /// Logical connections in total (a reliable session waiting for its client counts).
    public var maxConnections = 0
    /// Logical connections of one user id.
    public var maxConnectionsPerUser = 0
    /// Logical connections opened from one IP address.
    public var maxConnectionsPerIP = 0
    /// Logical connections opened with one access token (its signature), as Azure's
    /// `ThrottleByJwtSignatureRule` counts them.
    public var maxConnectionsPerToken = 0
    /// Messages one connection may send per second, on average over a second.
    public var maxMessagesPerSecond = 0

    public init() {}

    var countsConnections: Bool {
        maxConnections > 0 || maxConnectionsPerUser > 0 || maxConnectionsPerIP > 0 || maxConnectionsPerToken > 0
    }
}

/// Live logical connections by user, address and token, shared by every loop. Touched once
/// when a connection opens and once when it ends, never per message.
final class ConnectionCounter: Sendable {
    struct Counts {
        var total = 0
        var users: [String: Int] = [:]
        var addresses: [String: Int] = [:]
        var tokens: [String: Int] = [:]
    }

    let limits: ConnectionLimits
    private let counts = Mutex(Counts())

    init(limits: ConnectionLimits) {
        self.limits = limits
    }

    /// A place for one more connection, or the reason there is none (answered 429).
    func admit(user: String?, address: String?, token: String?) -> Result<ConnectionTicket, LimitReached> {
        let user = limits.maxConnectionsPerUser > 0 ? user : nil
        let address = limits.maxConnectionsPerIP > 0 ? address : nil
        let token = limits.maxConnectionsPerToken > 0 ? token : nil
        let refusal: LimitReached? = counts.withLock { counts in
            if limits.maxConnections > 0, counts.total >= limits.maxConnections {
                return LimitReached("the server has \(limits.maxConnections) connections, its limit")
            }
            if let user, counts.users[user, default: 0] >= limits.maxConnectionsPerUser {
                return LimitReached(
                    "user '\(user)' has \(limits.maxConnectionsPerUser) connections, the limit per user")
            }
            if let address, counts.addresses[address, default: 0] >= limits.maxConnectionsPerIP {
                return LimitReached("\(address) has \(limits.maxConnectionsPerIP) connections, the limit per address")
            }
            if let token, counts.tokens[token, default: 0] >= limits.maxConnectionsPerToken {
                return LimitReached(
                    "this access token has \(limits.maxConnectionsPerToken) connections, the limit per token")
            }
            counts.total += 1
            if let user { counts.users[user, default: 0] += 1 }
            if let address { counts.addresses[address, default: 0] += 1 }
            if let token { counts.tokens[token, default: 0] += 1 }
            return nil
        }
        if let refusal { return .failure(refusal) }
        return .success(ConnectionTicket(counter: self, user: user, address: address, token: token))
    }

    fileprivate func release(user: String?, address: String?, token: String?) {
        counts.withLock { counts in
            counts.total -= 1
            func drop(_ key: String?, _ map: inout [String: Int]) {
                guard let key, let count = map[key] else { return }
                map[key] = count > 1 ? count - 1 : nil
            }
            drop(user, &counts.users)
            drop(address, &counts.addresses)
            drop(token, &counts.tokens)
        }
    }
}

/// One counted connection; its place is given back when the ticket goes, whichever way the
/// connection ends (refused by the handler, the client gone during `connect`, session end).
final class ConnectionTicket: Sendable {
    let counter: ConnectionCounter
    let user: String?
    let address: String?
    let token: String?

    init(counter: ConnectionCounter, user: String?, address: String?, token: String?) {
        self.counter = counter
        self.user = user
        self.address = address
        self.token = token
    }

    deinit { counter.release(user: user, address: address, token: token) }
}

struct LimitReached: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Messages a connection may still send: a bucket of `rate` tokens refilled continuously.
struct MessageRate {
    let rate: Double
    var tokens: Double
    var last: UInt64

    init(perSecond rate: Int, now: UInt64) {
        self.rate = Double(rate)
        tokens = Double(rate)
        last = now
    }

    /// Takes one token; false when the connection is over its rate.
    mutating func take(now: UInt64) -> Bool {
        if now > last {
            tokens = min(rate, tokens + Double(now - last) * rate / 1_000_000_000)
            last = now
        }
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }
}
