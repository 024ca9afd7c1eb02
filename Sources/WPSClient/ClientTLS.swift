public import WPSLoop
import WPSTLS
import WPSTLSStream

/// How the client makes TLS sessions for `wss://` and `https://`.
public struct ClientTLS: Sendable {
    let context: TLSClientContext

    /// Verifies servers against the system's trust store, or only `caFile` when given;
    /// `insecure` skips verification (for local tests only).
    public init(caFile: String? = nil, insecure: Bool = false) throws {
        context = try TLSClientContext(caFile: caFile, insecure: insecure)
    }

    /// A fresh TLS session for one connection to `serverName` (sent as SNI and, unless
    /// insecure, verified), as the transform to set on a `Connection` right after `connect`.
    public func transform(serverName: String) -> StreamTransform {
        TLSClientTransform(context: context, serverName: serverName)
    }
}
