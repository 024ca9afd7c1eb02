public import WPSLoop

/// One connection to Redis on an event loop: commands pipelined with their replies matched
/// in order, RESP3 pushes (pub/sub messages) handed to `onPush`, and a connection that heals:
/// when Redis goes away every waiting command fails at once, and the client reconnects with
/// a growing delay, says `HELLO 3` again and subscribes again to what it was subscribed to.
///
/// Used only on its loop's thread.
public final class RedisClient: ConnectionHandler {
    public enum State: Sendable, Equatable {
        /// Connecting, or waiting for the handshake's answer.
        case connecting
        /// Commands are answered.
        case ready
        /// Not connected; a reconnect is due at the next retry.
        case disconnected
        /// `stop` was called.
        case stopped
    }

    public typealias Reply = (Result<RESPValue, RedisError>) -> Void

    public let configuration: RedisConfiguration
    #if DEBUG
        public unowned let loop: EventLoop
    #else
        public unowned(unsafe) let loop: EventLoop
    #endif
    public private(set) var state = State.disconnected {
        didSet {
            guard state != oldValue else { return }
            onStateChange?(state)
            if (state == .ready) != (oldValue == .ready) { onReadyChange?(state == .ready) }
        }
    }
    /// Out-of-band data from Redis: pub/sub messages (`message`, `smessage`, `pmessage`) and
    /// subscription confirmations.
    public var onPush: ((RESPValue) -> Void)?
    public var onStateChange: ((State) -> Void)?
    public var onReadyChange: ((Bool) -> Void)?
    public var onMessage: ((_ channel: [UInt8], _ message: [UInt8]) -> Void)?
    /// Replies received, and the time between each command and its reply, summed (ns).
    public private(set) var repliesReceived = 0
    public private(set) var replyNanos: UInt64 = 0
    /// The id Redis gave this connection (`CLIENT ID`), from the handshake; 0 before.
    public private(set) var clientId: Int64 = 0

    private var connection: Connection?
    private var input: [UInt8] = []
    /// Replies awaited, oldest first (`pendingHead` is the next to be answered).
    private var pending: [PendingCommand] = []
    private var pendingHead = 0
    private var channels: Set<String> = []
    private var shardChannels: Set<String> = []
    private var reconnectAt: UInt64 = 0
    private var failures = 0
    private var ticking = false

    struct PendingCommand {
        let deadline: UInt64
        let reply: Reply?
    }

    public init(loop: EventLoop, configuration: RedisConfiguration) {
        self.loop = loop
        self.configuration = configuration
    }

    /// Connects now, and again whenever the connection is lost, until `stop`.
    public func start() {
        guard state == .disconnected else { return }
        if !ticking {
            ticking = true
            loop.every(Self.tickNanos) { [weak self] in self?.tick() }
        }
        connect()
    }

    /// Closes the connection for good; waiting commands fail.
    public func stop() {
        state = .stopped
        failAll(.stopped)
        connection?.close()
        connection = nil
    }

    /// Commands waiting for a reply.
    public var waitingCount: Int { pending.count - pendingHead }

    // MARK: - commands

    /// Sends one command; `reply` hears its answer (a Redis error reply arrives as
    /// `.failure(.server)`), or a failure when the client is not ready, the reply does not
    /// come within `commandTimeout`, or the connection is lost.
    public func send(_ arguments: [RESPArgument], reply: Reply? = nil) {
        guard state == .ready, let connection else {
            reply?(.failure(.unavailable))
            return
        }
        guard waitingCount < configuration.maxWaitingCommands else {
            reply?(.failure(.overloaded))
            return
        }
        write(arguments, on: connection)
        pending.append(PendingCommand(deadline: loop.now &+ configuration.commandTimeoutNanos, reply: reply))
        armTimer()
    }

    /// Subscribes to `names` (`SUBSCRIBE`, or `SSUBSCRIBE` for sharded channels); kept across
    /// reconnects. Messages arrive through `onPush`.
    public func subscribe(_ names: [String], sharded: Bool = false) {
        let new = names.filter { sharded ? shardChannels.insert($0).inserted : channels.insert($0).inserted }
        guard !new.isEmpty, state == .ready, let connection else { return }
        write([.text(sharded ? "SSUBSCRIBE" : "SUBSCRIBE")] + new.map { .text($0) }, on: connection)
    }

    /// Stops receiving `names`.
    public func unsubscribe(_ names: [String], sharded: Bool = false) {
        let gone = names.filter { sharded ? shardChannels.remove($0) != nil : channels.remove($0) != nil }
        guard !gone.isEmpty, state == .ready, let connection else { return }
        write([.text(sharded ? "SUNSUBSCRIBE" : "UNSUBSCRIBE")] + gone.map { .text($0) }, on: connection)
    }

    public var subscribedChannels: Set<String> { channels }

    private func write(_ arguments: [RESPArgument], on connection: Connection) {
        var bytes: [UInt8] = []
        RESPEncoder.command(arguments, into: &bytes)
        connection.queue(copying: bytes)
    }

    // MARK: - connection

    private func connect() {
        state = .connecting
        input.removeAll(keepingCapacity: true)
        guard let made = loop.connect(host: configuration.host, port: configuration.port, handler: self) else {
            lost()
            return
        }
        connection = made
        // The handshake goes first; its answer makes the client ready.
        var hello: [RESPArgument] = ["HELLO", "3"]
        if let password = configuration.password {
            hello += ["AUTH", .text(configuration.username ?? "default"), .text(password)]
        }
        write(hello, on: made)
        pending.append(
            PendingCommand(deadline: loop.now &+ configuration.commandTimeoutNanos) { [weak self] result in
                self?.handshakeAnswered(result)
            })
        if configuration.database != 0 {
            write(["SELECT", .text(String(configuration.database))], on: made)
            pending.append(
                PendingCommand(deadline: loop.now &+ configuration.commandTimeoutNanos) { [weak self] result in
                    if case .failure = result { self?.connection?.abort() }
                })
        }
        armTimer()
    }

    private func handshakeAnswered(_ result: Result<RESPValue, RedisError>) {
        guard case .success(let hello) = result, let connection else {
            connection?.abort()
            return
        }
        if case .map(let fields) = hello {
            for (key, value) in fields where key.string == "id" {
                if case .integer(let id) = value { clientId = id }
            }
        }
        failures = 0
        if !channels.isEmpty { write(["SUBSCRIBE"] + channels.sorted().map { .text($0) }, on: connection) }
        if !shardChannels.isEmpty {
            write(["SSUBSCRIBE"] + shardChannels.sorted().map { .text($0) }, on: connection)
        }
        state = .ready
    }

    /// The connection is gone: everything waiting fails, and a reconnect is scheduled.
    private func lost() {
        connection = nil
        failAll(.connectionLost)
        guard state != .stopped else { return }
        state = .disconnected
        failures += 1
        let delay = min(
            configuration.maxReconnectDelayNanos,
            configuration.minReconnectDelayNanos << UInt64(min(failures - 1, 16)))
        reconnectAt = loop.now &+ delay
    }

    private func failAll(_ error: RedisError) {
        let waiting = pending[pendingHead...]
        pending.removeAll(keepingCapacity: true)
        pendingHead = 0
        for command in waiting { command.reply?(.failure(error)) }
    }

    private func tick() {
        if state == .disconnected, loop.now >= reconnectAt { connect() }
    }

    private func armTimer() {
        guard let connection, pendingHead < pending.count else { return }
        connection.setTimer(at: pending[pendingHead].deadline)
    }

    // MARK: - ConnectionHandler

    public func received(_ bytes: UnsafeMutableRawBufferPointer, on connection: Connection) {
        guard connection === self.connection else { return }
        input.append(contentsOf: UnsafeRawBufferPointer(bytes))
        var consumed = 0
        while consumed < input.count {
            let result = input.withUnsafeBytes {
                configuration.parser.parse(UnsafeRawBufferPointer(rebasing: $0[consumed...]))
            }
            switch result {
            case .needMore:
                input.removeFirst(consumed)
                return
            case .failure:
                connection.abort()
                return
            case .value(let value, let used):
                consumed += used
                deliver(value)
                // A reply callback may have stopped the client or dropped this connection.
                guard connection === self.connection else { return }
            }
        }
        input.removeAll(keepingCapacity: input.capacity <= Self.keptInputBytes)
    }

    private func deliver(_ value: RESPValue) {
        if case .push(let parts) = value {
            // `message channel payload` and `smessage channel payload`; confirmations and
            // other pushes go to `onPush` only.
            if let onMessage, parts.count == 3, case .bulkString(let kind) = parts[0],
                kind == Self.messageKind || kind == Self.shardMessageKind,
                case .bulkString(let channel) = parts[1], case .bulkString(let payload) = parts[2]
            {
                onMessage(channel, payload)
            }
            onPush?(value)
            return
        }
        guard pendingHead < pending.count else { return }  // An answer nobody asked for.
        let command = pending[pendingHead]
        pendingHead += 1
        repliesReceived += 1
        replyNanos &+= loop.now &- (command.deadline &- configuration.commandTimeoutNanos)
        if pendingHead == pending.count {
            pending.removeAll(keepingCapacity: true)
            pendingHead = 0
        }
        if case .error(let text) = value {
            command.reply?(.failure(.server(String(decoding: text, as: UTF8.self))))
        } else {
            command.reply?(.success(value))
        }
        armTimer()
    }

    public func timerFired(on connection: Connection, now: UInt64) {
        guard connection === self.connection, pendingHead < pending.count else { return }
        if now >= pending[pendingHead].deadline {
            // A reply this late means the link is broken; a fresh one is cheaper than waiting.
            connection.abort()
        } else {
            armTimer()
        }
    }

    public func shutdownRequested(on connection: Connection) {
        stop()
    }

    public func closed(_ connection: Connection) {
        guard connection === self.connection else { return }
        lost()
    }

    static let messageKind = Array("message".utf8)
    static let shardMessageKind = Array("smessage".utf8)

    /// How often a disconnected client checks whether its reconnect is due.
    static let tickNanos: UInt64 = 50_000_000
    /// Input buffer capacity kept between replies.
    static let keptInputBytes = 64 * 1024
}

/// Why a command got no answer from Redis.
public enum RedisError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The client is not connected (Redis unreachable, or reconnecting).
    case unavailable
    /// Too many commands wait for replies already.
    case overloaded
    /// The connection was lost before the reply came (or the reply was late).
    case connectionLost
    /// `stop` was called.
    case stopped
    /// Redis answered with an error.
    case server(String)

    public var description: String {
        switch self {
        case .unavailable: "Redis is unavailable"
        case .overloaded: "too many Redis commands waiting"
        case .connectionLost: "the connection to Redis was lost"
        case .stopped: "the Redis client stopped"
        case .server(let message): "Redis: \(message)"
        }
    }
}
