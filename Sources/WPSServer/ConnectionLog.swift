import Logging
import WPSBytes
import WPSHub

/// Writes the life of every connection and session to the log, one line per event, each
/// with a stable `event` name in its metadata (protocol-spec/server.md, Logs). It hears only
/// per-connection events, so it costs nothing per message.
///
/// Normal opens and closes are `debug` (a busy server opens thousands a second); anything
/// that decides a session's fate (refusals, drops, resumes, cuts, abnormal ends) is `info`.
/// Nothing here carries a token or key: the events hold ids, names, codes and reasons only.
final class ConnectionLog: HubObserver, ServerObserver {
    let logger: Logger
    let loopIndex: Int

    init(logger: Logger, loopIndex: Int) {
        self.logger = logger
        self.loopIndex = loopIndex
    }

    func hubEvent(_ event: HubEvent) {
        switch event {
        case .opened(let session):
            guard logger.logLevel <= .debug else { return }
            var metadata = describe(session, "connection.accepted")
            metadata["protocol"] = .string(Self.protocolName(session.kind))
            logger.debug("connection accepted", metadata: metadata)
        case .resumed(let session, let replayed):
            var metadata = describe(session, "session.resumed")
            metadata["replayed"] = .stringConvertible(replayed)
            logger.info("session resumed, \(replayed) message(s) replayed", metadata: metadata)
        case .resumeRefused(let connectionId, let reason):
            refused(connectionId: connectionId, reason: reason.rawValue)
        case .detached(let session, let cause):
            var metadata = describe(session, "session.detached")
            metadata["cause"] = .string(cause.rawValue)
            metadata["unacked"] = .stringConvertible(session.unackedCount)
            logger.info("reliable session detached (\(cause.rawValue)), waiting for recovery", metadata: metadata)
        case .slowConsumer(let session, let queuedBytes, let limitBytes):
            var metadata = describe(session, "connection.slow_consumer")
            metadata["queuedBytes"] = .stringConvertible(queuedBytes)
            metadata["limitBytes"] = .stringConvertible(limitBytes)
            logger.info(
                "slow consumer cut: \(queuedBytes) bytes queued, limit \(limitBytes)", metadata: metadata)
        case .ended(let session, let code, let reason, let cause):
            let routine = cause == .clientClosed
            guard logger.logLevel <= (routine ? .debug : .info) else { return }
            var metadata = describe(session, "session.ended")
            metadata["cause"] = .string(cause.rawValue)
            metadata["reason"] = .string(Self.clean(reason))
            if let code { metadata["code"] = .stringConvertible(Int(code.rawValue)) }
            logger.log(level: routine ? .debug : .info, "session ended (\(cause.rawValue))", metadata: metadata)
        }
    }

    func serverEvent(_ event: ServerEvent) {
        switch event {
        case .upgradeRefused(let hub, let status, let reason):
            var metadata: Logger.Metadata = [
                "event": "connection.refused", "status": .stringConvertible(status),
                "reason": .string(Self.clean(reason)),
                "loop": .stringConvertible(loopIndex),
            ]
            if let hub { metadata["hub"] = .string(Self.clean(hub)) }
            logger.info("upgrade refused with \(status)", metadata: metadata)
        case .recoveryRefused(let connectionId, let reason):
            refused(connectionId: connectionId, reason: reason)
        case .socketClosed(let session, let code, let reason, let byPeer):
            guard logger.logLevel <= .debug else { return }
            let by = code == nil ? "dropped" : byPeer ? "client" : "server"
            var metadata: Logger.Metadata =
                session.map { describe($0, "connection.closed") } ?? [
                    "event": "connection.closed", "loop": .stringConvertible(loopIndex),
                ]
            metadata["closedBy"] = .string(by)
            metadata["reason"] = .string(Self.clean(reason))
            if let code { metadata["code"] = .stringConvertible(Int(code.rawValue)) }
            logger.debug("connection closed by \(by)", metadata: metadata)
        }
    }

    private func refused(connectionId: String, reason: String) {
        logger.info(
            "recovery refused (\(reason))",
            metadata: [
                "event": "session.recovery_refused", "connectionId": .string(Self.clean(connectionId)),
                "reason": .string(reason),
                "loop": .stringConvertible(loopIndex),
            ])
    }

    /// What every line about a session says.
    private func describe(_ session: HubSession, _ event: String) -> Logger.Metadata {
        var metadata: Logger.Metadata = [
            "event": .string(event), "connectionId": .string(session.connectionId), "hub": .string(session.hub),
            "loop": .stringConvertible(loopIndex),
        ]
        if let user = session.userId { metadata["user"] = .string(Self.clean(user)) }
        return metadata
    }

    /// Text a client chose (a close reason, a user id, an id in a recovery URL): control
    /// characters become `?` and it is cut at 256 characters, so it cannot forge or flood
    /// lines of the text format.
    static func clean(_ text: String) -> String {
        let limit = 256
        guard text.utf8.count > limit || text.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) else { return text }
        var out = ""
        for scalar in text.unicodeScalars.prefix(limit) {
            out.unicodeScalars.append(scalar.value < 0x20 || scalar.value == 0x7F ? "?" : scalar)
        }
        return text.unicodeScalars.count > limit ? out + "…" : out
    }

    static func protocolName(_ kind: ClientKind) -> String {
        switch kind {
        case .json: "json.webpubsub.azure.v1"
        case .jsonReliable: "json.reliable.webpubsub.azure.v1"
        case .raw(let group): group == nil ? "raw.sendEvent" : "raw.sendToGroup"
        }
    }
}
