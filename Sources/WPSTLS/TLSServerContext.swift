internal import CWPSOpenSSL
internal import Synchronization

/// Shared, reloadable server context: an OpenSSL `SSL_CTX` built from PEM files.
///
/// Every event loop makes sessions from the same context, so it is thread-safe: the current
/// `SSL_CTX` sits behind a mutex. `reload()` builds a new one from the (possibly replaced) files
/// and swaps it in; sessions made afterwards use the new one, live sessions keep theirs because
/// OpenSSL reference-counts `SSL_CTX` (protocol-spec/tls.md §4).
public final class TLSServerContext: @unchecked Sendable {
    /// What the context was built from; `reload()` reads the same paths again.
    public let configuration: TLSConfiguration
    private let alpnWire: [UInt8]
    /// The current `SSL_CTX`, holding one reference of its own.
    private let current: Mutex<ContextHandle>

    /// Loads the certificate chain and key; throws when a file is missing, unreadable or the key does not match.
    public init(_ configuration: TLSConfiguration) throws(TLSError) {
        self.configuration = configuration
        let wire = try ALPNWire.encode(configuration.alpn)
        self.alpnWire = wire
        self.current = Mutex(try Self.build(configuration, alpnWire: wire))
    }

    deinit {
        current.withLock { wps_tls_ctx_free($0.pointer) }
    }

    /// Rebuilds the context from the configured files and swaps it in for new sessions.
    ///
    /// On failure the previous context stays in use and the error says why.
    public func reload() throws(TLSError) {
        let fresh = try Self.build(configuration, alpnWire: alpnWire)
        let old = current.withLock { ctx in
            let previous = ctx
            ctx = fresh
            return previous
        }
        wps_tls_ctx_free(old.pointer)
    }

    /// Makes a server-role session on the current context; it starts in `.handshaking`.
    public func makeSession() -> TLSSession {
        let handle = current.withLock { ctx in
            wps_tls_session_new(ctx.pointer, 1, nil)
        }
        return TLSSession(handle: handle, role: .server)
    }

    private static func build(_ configuration: TLSConfiguration, alpnWire: [UInt8]) throws(TLSError) -> ContextHandle {
        wps_tls_error_clear()
        let ctx = configuration.certificateChainPath.withCString { chain in
            configuration.privateKeyPath.withCString { key in
                alpnWire.withUnsafeBufferPointer { alpn in
                    wps_tls_server_ctx_new(
                        chain, key, configuration.minimumVersion.shimValue, alpn.baseAddress, alpn.count)
                }
            }
        }
        guard let ctx else {
            throw TLSError.fromQueue(
                "cannot load certificate \(configuration.certificateChainPath) with key \(configuration.privateKeyPath)"
            )
        }
        if let clientCA = configuration.clientCAPath {
            let loaded = clientCA.withCString {
                wps_tls_server_ctx_verify_clients(ctx, $0, configuration.requireClientCertificate ? 1 : 0)
            }
            guard loaded == 1 else {
                wps_tls_ctx_free(ctx)
                throw TLSError.fromQueue("cannot load client CA certificates \(clientCA)")
            }
        }
        return ContextHandle(pointer: ctx)
    }
}

/// An `SSL_CTX` pointer that may cross threads: OpenSSL contexts are thread-safe once built.
struct ContextHandle: @unchecked Sendable {
    let pointer: OpaquePointer
}
