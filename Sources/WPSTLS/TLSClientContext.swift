internal import CWPSOpenSSL

/// Client context for outgoing `wss://` connections: peer verification, SNI and ALPN.
///
/// Immutable after init and safe to share between loops; sessions take their own reference.
public final class TLSClientContext: @unchecked Sendable {
    private let ctx: OpaquePointer
    private let verifies: Bool

    /// Verifies servers against `caFile` (PEM, one or more CA certificates) or, when nil, the
    /// system store; `insecure` turns verification off (for tests and self-signed development
    /// servers only). Versions default to 1.2...1.3 like the server.
    public init(
        caFile: String?,
        insecure: Bool = false,
        alpn: [String] = ["http/1.1"],
        minimumVersion: TLSVersion = .v1_2,
        maximumVersion: TLSVersion = .v1_3
    ) throws(TLSError) {
        guard minimumVersion.shimValue <= maximumVersion.shimValue else {
            throw TLSError("minimum TLS version is above the maximum")
        }
        let wire = try ALPNWire.encode(alpn)
        wps_tls_error_clear()
        let made = wire.withUnsafeBufferPointer { alpnBytes in
            Self.withOptionalCString(caFile) { ca in
                wps_tls_client_ctx_new(
                    ca, insecure ? 1 : 0, minimumVersion.shimValue, maximumVersion.shimValue,
                    alpnBytes.baseAddress, alpnBytes.count
                )
            }
        }
        guard let made else {
            throw TLSError.fromQueue(caFile.map { "cannot load CA file \($0)" } ?? "cannot load the system CA store")
        }
        ctx = made
        verifies = !insecure
    }

    deinit {
        wps_tls_ctx_free(ctx)
    }

    /// Makes a client-role session; `serverName` is sent as SNI and checked against the
    /// certificate (an IP literal is checked against IP addresses and not sent as SNI).
    /// Call `startHandshake()` and send the output to begin.
    /// An empty name is refused when verifying, since any trusted certificate would then pass.
    public func makeSession(serverName: String) -> TLSSession {
        if serverName.utf8.contains(0) {
            return TLSSession(handle: nil, role: .client, refusal: TLSError("server name contains NUL"))
        }
        if verifies && serverName.isEmpty {
            return TLSSession(
                handle: nil, role: .client, refusal: TLSError("a server name is needed to verify the peer")
            )
        }
        let handle = serverName.withCString { wps_tls_session_new(ctx, 0, $0) }
        return TLSSession(handle: handle, role: .client)
    }

    private static func withOptionalCString<R>(_ text: String?, _ body: (UnsafePointer<CChar>?) -> R) -> R {
        guard let text else { return body(nil) }
        return text.withCString { body($0) }
    }
}
