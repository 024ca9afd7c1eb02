/// Server (or client) policy for permessage-deflate; see `protocol-spec/deflate.md` §2 and §4.
public struct DeflateConfiguration: Sendable, Hashable {
    /// Whether to accept permessage-deflate offers at all.
    public var enabled: Bool
    /// Messages shorter than this are sent uncompressed (RSV1 clear): below a few hundred bytes
    /// deflate's block overhead and CPU cost outweigh the savings. Default 256.
    public var minMessageBytes: Int
    /// zlib level, 1...9. Default 6, zlib's own default: most of level 9's ratio at far less CPU.
    public var compressionLevel: Int
    /// zlib memLevel, 1...9. Default 8 (zlib's default; 9 buys little and doubles the hash memory).
    public var memLevel: Int
    /// Largest LZ77 window (8...15) this side uses to compress and asks the peer to use.
    /// Default 15, the RFC default; lower values save memory per stream (`protocol-spec/deflate.md` §6).
    public var maxWindowBits: Int
    /// Answer every offer with client_no_context_takeover even when the client did not offer
    /// it (RFC 7692 §7.1.1.2 allows this). Default false: better ratio for client messages,
    /// at the cost of one inflate window per connection that has sent a compressed message.
    public var requestsClientNoContextTakeover: Bool
    /// Most bytes of inflate windows that clients keeping context may hold on the server, all
    /// connections together. Past it, new clients are answered with client_no_context_takeover
    /// and share their loop's inflater. Default 128 MiB (about 3,300 windows of 15 bits).
    public var maxWindowMemoryBytes: Int

    /// Creates a configuration; out-of-range values are programmer errors (validate flags first).
    public init(
        enabled: Bool = true,
        minMessageBytes: Int = 256,
        compressionLevel: Int = 6,
        memLevel: Int = 8,
        maxWindowBits: Int = 15,
        requestsClientNoContextTakeover: Bool = false,
        maxWindowMemoryBytes: Int = 128 << 20
    ) {
        precondition(maxWindowMemoryBytes >= 0, "maxWindowMemoryBytes must not be negative")
        precondition(minMessageBytes >= 0, "minMessageBytes must not be negative")
        precondition((1...9).contains(compressionLevel), "compressionLevel must be 1...9")
        precondition((1...9).contains(memLevel), "memLevel must be 1...9")
        precondition(DeflateParameters.windowBitsRange.contains(maxWindowBits), "maxWindowBits must be 8...15")
        self.enabled = enabled
        self.minMessageBytes = minMessageBytes
        self.compressionLevel = compressionLevel
        self.memLevel = memLevel
        self.maxWindowBits = maxWindowBits
        self.requestsClientNoContextTakeover = requestsClientNoContextTakeover
        self.maxWindowMemoryBytes = maxWindowMemoryBytes
    }

    /// Whether a message of `byteCount` bytes should be compressed under this policy.
    public func shouldCompress(messageBytes byteCount: Int) -> Bool {
        enabled && byteCount >= minMessageBytes
    }

    /// Bytes zlib allocates for one deflate stream with these settings (zlib.h formula:
    /// `(1 << (windowBits + 2)) + (1 << (memLevel + 9))`, plus about 6 KiB of state).
    public func deflateStreamBytes(windowBits: Int) -> Int {
        (1 << (max(windowBits, 9) + 2)) + (1 << (memLevel + 9)) + 6 * 1024
    }

    /// Bytes zlib allocates for one inflate stream: the window plus about 7 KiB of state.
    public static func inflateStreamBytes(windowBits: Int) -> Int {
        (1 << windowBits) + 7 * 1024
    }
}
