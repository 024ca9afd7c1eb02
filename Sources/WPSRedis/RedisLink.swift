import WPSLoop

/// What the cluster needs from Redis, whatever its shape: commands routed by key, publish
/// and subscribe, and a barrier that says when earlier subscription changes are in effect.
/// `RedisClient` is the link to one Redis; a Redis Cluster has a link of its own that routes
/// by hash slot and uses sharded pub/sub. Everything runs on the link's loop.
public protocol RedisLink: AnyObject {
    /// True while commands can be sent.
    var isReady: Bool { get }
    /// Hears the link becoming ready (true) or losing readiness (false).
    var onReadyChange: ((Bool) -> Void)? { get set }
    /// Hears each message on a subscribed channel: channel name and payload.
    var onMessage: ((_ channel: [UInt8], _ message: [UInt8]) -> Void)? { get set }

    /// Connects, and keeps reconnecting until `stop`.
    func start()
    /// Disconnects for good; waiting commands fail with `.stopped`.
    func stop()
    /// Sends one command. `key` is the key it touches (a cluster link routes by its slot);
    /// nil for commands about no key.
    func command(_ arguments: [RESPArgument], key: String?, reply: RedisClient.Reply?)
    /// Publishes `message` on `channel` (`PUBLISH`, or `SPUBLISH` on a cluster); the reply
    /// counts the subscribers that received it.
    func publish(channel: String, message: [UInt8], reply: ((Result<Int64, RedisError>) -> Void)?)
    /// Subscribes (kept across reconnects); messages arrive through `onMessage`.
    func subscribe(_ channels: [String])
    /// Stops receiving `channels`.
    func unsubscribe(_ channels: [String])
    /// Calls `done(true)` once every earlier `subscribe` and `unsubscribe` is in effect at
    /// Redis, or `done(false)` when that cannot be known (not connected, connection lost).
    func barrier(_ done: @escaping (Bool) -> Void)
    /// Replies received so far and the time they took in all (ns), for metrics.
    var roundTrips: (count: Int, nanos: UInt64) { get }
}

extension RedisLink {
    public var roundTrips: (count: Int, nanos: UInt64) { (0, 0) }
}

extension RedisClient: RedisLink {
    public var isReady: Bool { state == .ready }

    public var roundTrips: (count: Int, nanos: UInt64) { (repliesReceived, replyNanos) }

    public func command(_ arguments: [RESPArgument], key: String?, reply: Reply?) {
        send(arguments, reply: reply)
    }

    public func publish(channel: String, message: [UInt8], reply: ((Result<Int64, RedisError>) -> Void)?) {
        send(["PUBLISH", .text(channel), .bytes(message)]) { result in
            guard let reply else { return }
            switch result {
            case .success(.integer(let count)): reply(.success(count))
            case .success: reply(.failure(.server("PUBLISH answered with something other than a count")))
            case .failure(let error): reply(.failure(error))
            }
        }
    }

    public func subscribe(_ channels: [String]) { subscribe(channels, sharded: false) }

    public func unsubscribe(_ channels: [String]) { unsubscribe(channels, sharded: false) }

    public func barrier(_ done: @escaping (Bool) -> Void) {
        // Redis answers in order on one connection: once PING is answered, every earlier
        // SUBSCRIBE and UNSUBSCRIBE written before it has been applied.
        send(["PING"]) { result in
            if case .success = result { done(true) } else { done(false) }
        }
    }
}
