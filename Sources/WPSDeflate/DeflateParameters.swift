/// Negotiated permessage-deflate parameters (RFC 7692 §7.1), the same value on both sides.
///
/// `server*` fields govern what the server compresses and the client inflates; `client*`
/// fields the reverse. Built by `DeflateNegotiation`; see `protocol-spec/deflate.md` §2.
public struct DeflateParameters: Sendable, Hashable {
    /// Window sizes RFC 7692 §7.1.2 allows, as base-2 logarithms.
    public static let windowBitsRange: ClosedRange<Int> = 8...15

    /// The server resets its compressor for every message (RFC 7692 §7.1.1.1).
    public var serverNoContextTakeover: Bool
    /// The client resets its compressor for every message (RFC 7692 §7.1.1.2).
    public var clientNoContextTakeover: Bool
    /// Largest LZ77 window the server compresses with, 8...15 (RFC 7692 §7.1.2.1).
    public var serverMaxWindowBits: Int
    /// Largest LZ77 window the client compresses with, 8...15 (RFC 7692 §7.1.2.2).
    public var clientMaxWindowBits: Int
    /// Whether the response names `server_max_window_bits` (required when it was offered).
    public var announcesServerMaxWindowBits: Bool
    /// Whether the response names `client_max_window_bits` (allowed only when it was offered).
    public var announcesClientMaxWindowBits: Bool

    /// Creates parameters; window bits outside 8...15 are programmer errors. A nil
    /// `announcesServerMaxWindowBits` announces the server window only when it is not 15.
    public init(
        serverNoContextTakeover: Bool = false,
        clientNoContextTakeover: Bool = false,
        serverMaxWindowBits: Int = 15,
        clientMaxWindowBits: Int = 15,
        announcesServerMaxWindowBits: Bool? = nil,
        announcesClientMaxWindowBits: Bool = false
    ) {
        precondition(Self.windowBitsRange.contains(serverMaxWindowBits), "serverMaxWindowBits must be 8...15")
        precondition(Self.windowBitsRange.contains(clientMaxWindowBits), "clientMaxWindowBits must be 8...15")
        self.serverNoContextTakeover = serverNoContextTakeover
        self.clientNoContextTakeover = clientNoContextTakeover
        self.serverMaxWindowBits = serverMaxWindowBits
        self.clientMaxWindowBits = clientMaxWindowBits
        self.announcesServerMaxWindowBits = announcesServerMaxWindowBits ?? (serverMaxWindowBits != 15)
        self.announcesClientMaxWindowBits = announcesClientMaxWindowBits
    }

    /// The `Sec-WebSocket-Extensions` response value, e.g.
    /// `permessage-deflate; server_no_context_takeover; client_max_window_bits=15`.
    public var responseHeaderValue: String {
        var value = DeflateNegotiation.extensionName
        if serverNoContextTakeover { value += "; server_no_context_takeover" }
        if clientNoContextTakeover { value += "; client_no_context_takeover" }
        if announcesServerMaxWindowBits { value += "; server_max_window_bits=\(serverMaxWindowBits)" }
        if announcesClientMaxWindowBits { value += "; client_max_window_bits=\(clientMaxWindowBits)" }
        return value
    }

    /// The compressor the server uses to send (lazily allocated; see `MessageDeflater`).
    public func makeServerDeflater(configuration: DeflateConfiguration) throws(DeflateError) -> MessageDeflater {
        try MessageDeflater(
            windowBits: serverMaxWindowBits,
            noContextTakeover: serverNoContextTakeover,
            level: configuration.compressionLevel,
            memLevel: configuration.memLevel
        )
    }

    /// The decompressor the server uses for client messages.
    public func makeServerInflater() throws(DeflateError) -> MessageInflater {
        try MessageInflater(windowBits: clientMaxWindowBits, noContextTakeover: clientNoContextTakeover)
    }

    /// The compressor a client uses to send.
    public func makeClientDeflater(configuration: DeflateConfiguration) throws(DeflateError) -> MessageDeflater {
        try MessageDeflater(
            windowBits: clientMaxWindowBits,
            noContextTakeover: clientNoContextTakeover,
            level: configuration.compressionLevel,
            memLevel: configuration.memLevel
        )
    }

    /// The decompressor a client uses for server messages.
    public func makeClientInflater() throws(DeflateError) -> MessageInflater {
        try MessageInflater(windowBits: serverMaxWindowBits, noContextTakeover: serverNoContextTakeover)
    }
}
