public import WPSDeflate

/// One loop's compressors for permessage-deflate. The server always negotiates
/// `server_no_context_takeover`, so compressed bytes depend only on the message and the
/// window size: one compressor per window serves every connection of the loop, and a
/// broadcast is compressed once per loop and window (protocol-spec/deflate.md).
public final class DeflatePool {
    public let configuration: DeflateConfiguration
    private var deflaters: [Int: MessageDeflater] = [:]
    private var inflaters: [Int: MessageInflater] = [:]
    /// Compressions done, for tests and metrics.
    public private(set) var compressions = 0
    /// Bytes handed to `compress` and bytes it made of them, for metrics.
    public private(set) var compressedInputBytes = 0
    public private(set) var compressedOutputBytes = 0

    public init(configuration: DeflateConfiguration) {
        self.configuration = configuration
    }

    /// Whether a message of this size is worth compressing.
    public func shouldCompress(_ byteCount: Int) -> Bool {
        configuration.shouldCompress(messageBytes: byteCount)
    }

    /// The compressed form of `message` (without the `00 00 FF FF` tail), or nil if zlib
    /// failed, in which case the message goes out uncompressed.
    public func compress(_ message: UnsafeRawBufferPointer, windowBits: Int) -> [UInt8]? {
        let deflater: MessageDeflater
        if let existing = deflaters[windowBits] {
            deflater = existing
        } else {
            do {
                deflater = try MessageDeflater(
                    windowBits: windowBits, noContextTakeover: true, level: configuration.compressionLevel,
                    memLevel: configuration.memLevel)
            } catch {
                return nil
            }
            deflaters[windowBits] = deflater
        }
        var output: [UInt8] = []
        output.reserveCapacity(message.count / 2 + 16)
        do {
            try deflater.compress(message, into: &output)
        } catch {
            return nil
        }
        compressions += 1
        compressedInputBytes += message.count
        compressedOutputBytes += output.count
        return output
    }

    /// The inflater every connection of this loop shares when its client resets context per
    /// message: inflating is synchronous and the stream is reset before each message, so
    /// those connections hold no zlib memory of their own. nil if `windowBits` is invalid.
    public func sharedInflater(windowBits: Int) -> MessageInflater? {
        if let existing = inflaters[windowBits] { return existing }
        guard let made = try? MessageInflater(windowBits: windowBits, noContextTakeover: true) else { return nil }
        inflaters[windowBits] = made
        return made
    }

    /// zlib memory held by this loop's shared compressors and inflaters.
    public var allocatedBytes: Int {
        deflaters.values.reduce(0) { $0 + $1.allocatedBytes } + inflaters.values.reduce(0) { $0 + $1.allocatedBytes }
    }

    /// Appends a stored DEFLATE block holding `bytes` plus the start of the next block, so a
    /// compressed prefix (ending where its sync flush left a stored-block header) can be
    /// finished per recipient without compressing again: the peer's appended `00 00 FF FF`
    /// then closes an empty stored block (RFC 1951 §3.2.4, RFC 7692 §7.2.1).
    public static func appendStoredTail(_ bytes: UnsafeRawBufferPointer, to out: inout [UInt8]) {
        let length = UInt16(bytes.count)
        out.append(UInt8(length & 0xFF))
        out.append(UInt8(length >> 8))
        out.append(UInt8(~length & 0xFF))
        out.append(UInt8(~length >> 8))
        out.append(contentsOf: bytes)
        out.append(0x00)
    }

    /// Bytes `appendStoredTail` adds around `count` bytes.
    public static func storedTailOverhead() -> Int { 5 }
}
