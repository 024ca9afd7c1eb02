public import WPSProtocol

/// Hears single client messages and acks for the live trace. `LoopHub.tracer` is set only
/// while someone watches, so the message path pays one nil check otherwise.
public protocol HubTracer: AnyObject {
    /// A decoded request from a JSON client; `frame` holds the ranges the request names.
    func received(_ request: ClientRequest, frame: UnsafeRawBufferPointer, on session: HubSession)
    /// A message from a simple WebSocket client, published to `group` or sent as an event.
    func receivedRaw(_ frame: UnsafeRawBufferPointer, isText: Bool, group: String?, on session: HubSession)
    /// The hub answered `ackId`; `error` nil means success.
    func acked(_ session: HubSession, ackId: UInt64, error: AckError?)
}
