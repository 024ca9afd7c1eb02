/// Where Redis is and how the client treats it; each limit has its unit in its name.
public struct RedisConfiguration: Sendable, Equatable {
    public var host = "127.0.0.1"
    public var port = 6379
    public var username: String?
    public var password: String?
    public var database = 0
    /// `rediss://`: TLS to Redis, its certificate verified for `host`.
    public var tls = false
    /// With TLS, the CA certificates (PEM) Redis's certificate must chain to; nil for the
    /// system's trust store.
    public var tlsCAFile: String?
    /// A reply later than this counts as a broken link: the connection is replaced.
    public var commandTimeoutNanos: UInt64 = 5_000_000_000
    /// The first reconnect waits this long; each failure doubles it up to the maximum.
    public var minReconnectDelayNanos: UInt64 = 100_000_000
    public var maxReconnectDelayNanos: UInt64 = 5_000_000_000
    /// Commands that may wait for replies at once; past it, commands fail at once.
    public var maxWaitingCommands = 100_000
    public var parser = RESPParser()

    public init() {}

    public static func == (lhs: RedisConfiguration, rhs: RedisConfiguration) -> Bool {
        lhs.host == rhs.host && lhs.port == rhs.port && lhs.username == rhs.username && lhs.password == rhs.password
            && lhs.database == rhs.database && lhs.tls == rhs.tls && lhs.tlsCAFile == rhs.tlsCAFile
    }

    /// Reads `redis://[[user]:password@]host[:port][/db]` (or `rediss://`).
    public init(url: String) throws(RedisURLError) {
        var rest = Substring(url)
        if rest.hasPrefix("redis://") {
            rest = rest.dropFirst(8)
        } else if rest.hasPrefix("rediss://") {
            rest = rest.dropFirst(9)
            tls = true
        } else {
            throw RedisURLError("the URL must start with redis:// or rediss://")
        }
        if let slash = rest.firstIndex(of: "/") {
            let path = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
            if !path.isEmpty {
                guard let db = Int(path), db >= 0 else { throw RedisURLError("the database must be a number") }
                database = db
            }
        }
        if let at = rest.lastIndex(of: "@") {
            let userinfo = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = userinfo.firstIndex(of: ":") {
                let user = userinfo[..<colon]
                username = user.isEmpty ? nil : Self.percentDecoded(user)
                password = Self.percentDecoded(userinfo[userinfo.index(after: colon)...])
            } else if !userinfo.isEmpty {
                password = Self.percentDecoded(userinfo)
            }
        }
        guard !rest.isEmpty else { throw RedisURLError("no host") }
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { throw RedisURLError("unclosed [ in the host") }
            host = String(rest[rest.index(after: rest.startIndex)..<close])
            rest = rest[rest.index(after: close)...]
            if rest.hasPrefix(":") {
                guard let number = Int(rest.dropFirst()), (1...65535).contains(number) else {
                    throw RedisURLError("bad port")
                }
                port = number
            } else if !rest.isEmpty {
                throw RedisURLError("unexpected text after the host")
            }
        } else if let colon = rest.lastIndex(of: ":") {
            host = String(rest[..<colon])
            guard let number = Int(rest[rest.index(after: colon)...]), (1...65535).contains(number) else {
                throw RedisURLError("bad port")
            }
            port = number
        } else if !rest.isEmpty {
            host = String(rest)
        }
        guard !host.isEmpty else { throw RedisURLError("no host") }
    }

    /// The URL with the password hidden, for logs.
    public var redactedURL: String {
        let scheme = tls ? "rediss" : "redis"
        let credentials = password == nil ? "" : "\(username ?? ""):***@"
        let shownHost = host.contains(":") ? "[\(host)]" : host
        return "\(scheme)://\(credentials)\(shownHost):\(port)/\(database)"
    }

    static func percentDecoded(_ text: Substring) -> String {
        var bytes: [UInt8] = []
        var index = text.utf8.startIndex
        let utf8 = text.utf8
        while index < utf8.endIndex {
            let byte = utf8[index]
            if byte == UInt8(ascii: "%"), let first = utf8.index(index, offsetBy: 1, limitedBy: utf8.endIndex),
                first < utf8.endIndex, let second = utf8.index(first, offsetBy: 1, limitedBy: utf8.endIndex),
                second < utf8.endIndex, let high = hex(utf8[first]), let low = hex(utf8[second])
            {
                bytes.append(high << 4 | low)
                index = utf8.index(after: second)
            } else {
                bytes.append(byte)
                index = utf8.index(after: index)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func hex(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

/// A Redis URL that cannot be used, and why.
public struct RedisURLError: Error, Sendable, Equatable, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
