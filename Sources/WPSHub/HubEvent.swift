public import WPSBytes

/// What happened to a session, as the hub saw it: for logs, metrics and the live trace.
/// Only the life of sessions is reported here, never a message, so observing costs nothing
/// on the message path.
public enum HubEvent {
    /// A new logical connection.
    case opened(HubSession)
    /// A reliable client came back; `replayed` unacknowledged messages were sent again.
    case resumed(HubSession, replayed: Int)
    /// A recovery attempt found no session to resume.
    case resumeRefused(connectionId: String, reason: ResumeRefusal)
    /// A reliable session lost its socket and waits for its client (`resumeWindow`).
    case detached(HubSession, cause: DetachCause)
    /// A client whose queue passed `queuedBytes` > `limitBytes` was cut.
    case slowConsumer(HubSession, queuedBytes: Int, limitBytes: Int)
    /// The session is over for good. `code` is the close code the server sent (nil when the
    /// socket was already gone); `reason` says why.
    case ended(HubSession, code: WebSocketCloseCode?, reason: String, cause: EndCause)
}

/// Why a reliable session lost its socket but not its state.
public enum DetachCause: String, Sendable {
    /// The connection dropped (no close frame, or a close other than 1000).
    case dropped
    /// The server cut a client that did not read (slow consumer).
    case slowConsumer
    /// Another connection resumed the session while this one was still open.
    case replaced
    /// The client resumed on another node, which takes the session over.
    case handingOver
}

/// Why a session ended.
public enum EndCause: String, Sendable {
    /// The client closed with 1000 (or, for non-reliable clients, any close or a drop).
    case clientClosed
    /// A non-reliable client's connection dropped.
    case dropped
    /// A reliable session was not resumed within the resume window.
    case resumeWindowPassed
    /// The session moved to another node, where it goes on.
    case handedOver
    /// The reliable message buffer overflowed.
    case bufferOverflow
    /// A non-reliable client did not read (slow consumer).
    case slowConsumer
    /// The client broke the protocol, or a limit.
    case protocolViolation
    /// The application closed it (REST API, event handler).
    case closedByServer
}

/// Why a recovery attempt was refused (protocol-spec/reliability.md).
public enum ResumeRefusal: String, Sendable {
    /// No session with that id was ever here, or it ended so long ago it is forgotten.
    case unknown
    /// The session was not resumed within the resume window.
    case expired
    /// The session ended when its buffer of unacknowledged messages overflowed.
    case overflowed
    /// The application or the server closed it.
    case closedByServer
    /// The client ended it (close 1000) or broke the protocol.
    case ended
    /// The session belongs to a client that is not reliable.
    case notReliable

    init(_ cause: EndCause) {
        switch cause {
        case .resumeWindowPassed: self = .expired
        case .bufferOverflow: self = .overflowed
        case .closedByServer: self = .closedByServer
        case .clientClosed, .dropped, .slowConsumer, .protocolViolation: self = .ended
        case .handedOver: self = .unknown
        }
    }
}

/// Hears a loop's `HubEvent`s, on the loop's thread.
public protocol HubObserver: AnyObject {
    func hubEvent(_ event: HubEvent)
}
