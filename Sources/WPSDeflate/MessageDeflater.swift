internal import CWPSZlib

/// Why a compression stream could not be created or used.
public enum DeflateError: Error, Sendable, Hashable {
    /// Window bits (8...15), level (0...9) or memLevel (1...9) out of range.
    case invalidParameters
    /// zlib refused (in practice: out of memory). Send the message uncompressed, or close 1011.
    case zlibFailure(code: Int)
}

/// Compresses whole messages for permessage-deflate (RFC 7692 §7.2.1).
///
/// Each message is deflated with a sync flush and the trailing `00 00 FF FF` is removed.
/// With `noContextTakeover` the stream is reset before every message, so the output depends
/// only on the message: one instance per loop can serve every connection with the same
/// parameters, and one compressed broadcast can be shared by all of them
/// (`protocol-spec/deflate.md` §6). With context takeover the LZ77 window carries over, so
/// the instance belongs to one connection.
///
/// Not thread-safe: use an instance from one thread (its loop). The zlib stream is allocated
/// on the first non-empty message, not in `init`, and `releaseMemory()` gives it back.
public final class MessageDeflater {
    /// The negotiated window (8...15). zlib's raw deflate cannot use 8; 9 is used instead, which
    /// is safe because zlib never emits a distance beyond `window - 262` = 250 bytes there.
    public let windowBits: Int
    /// Whether every message starts from an empty window.
    public let noContextTakeover: Bool
    /// zlib compression level.
    public let level: Int
    /// zlib memLevel (hash table size).
    public let memLevel: Int

    private var stream: UnsafeMutablePointer<z_stream>?
    private let counter: UnsafeMutablePointer<Int>
    private var needsReset = false

    /// Validates the parameters; allocates nothing from zlib yet.
    public init(windowBits: Int, noContextTakeover: Bool, level: Int = 6, memLevel: Int = 8) throws(DeflateError) {
        guard DeflateParameters.windowBitsRange.contains(windowBits), (0...9).contains(level),
            (1...9).contains(memLevel)
        else { throw .invalidParameters }
        self.windowBits = windowBits
        self.noContextTakeover = noContextTakeover
        self.level = level
        self.memLevel = memLevel
        counter = .allocate(capacity: 1)
        counter.initialize(to: 0)
    }

    deinit {
        releaseMemory()
        counter.deallocate()
    }

    /// Bytes zlib currently holds for this stream (0 until the first message, and after release).
    public var allocatedBytes: Int { counter.pointee }

    /// Whether the zlib stream is currently allocated.
    public var isAllocated: Bool { stream != nil }

    /// Frees the zlib stream. Always safe: a compressor that forgets its window only loses
    /// ratio, the peer's decompressor needs nothing from it.
    public func releaseMemory() {
        guard let stream else { return }
        deflateEnd(stream)
        stream.deallocate()
        self.stream = nil
        needsReset = false
    }

    /// Appends the compressed form of `message` (without the `00 00 FF FF` tail) to `output`.
    ///
    /// On error `output` is left as it was and the stream is released; the caller may send
    /// the message uncompressed.
    public func compress(_ message: UnsafeRawBufferPointer, into output: inout [UInt8]) throws(DeflateError) {
        // An empty message is one empty stored block header (RFC 7692 §7.2.3.6); zlib would
        // refuse a second sync flush with no input, and nothing needs allocating for it.
        guard let base = message.baseAddress, !message.isEmpty else {
            output.append(0x00)
            return
        }
        let stream = try openStream()
        if needsReset { deflateReset(stream) }
        needsReset = noContextTakeover
        let start = output.count
        var offset = 0
        var failure: Int32 = Z_OK
        // avail_in is 32 bits: feed huge messages in slices, flushing only after the last.
        repeat {
            let slice = min(message.count - offset, 1 << 30)
            stream.pointee.next_in = UnsafeMutablePointer(
                mutating: (base + offset).assumingMemoryBound(to: Bytef.self))
            stream.pointee.avail_in = uInt(slice)
            offset += slice
            let flush = offset == message.count ? Z_SYNC_FLUSH : Z_NO_FLUSH
            var room = Int(deflateBound(stream, uLong(slice))) + 16
            room = min(room, max(1024, slice / 4))
            while true {
                let code = Self.run(stream, flush: flush, room: room, output: &output)
                if code != Z_OK && code != Z_BUF_ERROR {
                    failure = code
                    break
                }
                if stream.pointee.avail_in == 0 && stream.pointee.avail_out != 0 { break }
                room = max(4096, output.count - start)
            }
        } while failure == Z_OK && offset < message.count
        stream.pointee.next_in = nil
        guard failure == Z_OK, output.count - start >= 4, output.suffix(4).elementsEqual([0, 0, 0xFF, 0xFF]) else {
            output.removeSubrange(start...)
            releaseMemory()
            throw .zlibFailure(code: Int(failure))
        }
        output.removeLast(4)
    }

    /// Returns the compressed form of `message` (without the `00 00 FF FF` tail).
    public func compress(_ message: some Collection<UInt8>) throws(DeflateError) -> [UInt8] {
        var output: [UInt8] = []
        let bytes = Array(message)
        let result = bytes.withUnsafeBytes { buffer in
            Result { () throws(DeflateError) in try compress(buffer, into: &output) }
        }
        try result.get()
        return output
    }

    /// One `deflate` call into `room` fresh bytes at the end of `output`; unused bytes are cut.
    private static func run(
        _ stream: UnsafeMutablePointer<z_stream>, flush: Int32, room: Int, output: inout [UInt8]
    ) -> Int32 {
        let before = output.count
        output.appendZeros(room)
        let code = output.withUnsafeMutableBufferPointer { buffer in
            stream.pointee.next_out = buffer.baseAddress! + before
            stream.pointee.avail_out = uInt(room)
            return deflate(stream, flush)
        }
        stream.pointee.next_out = nil
        output.removeLast(Int(stream.pointee.avail_out))
        return code
    }

    private func openStream() throws(DeflateError) -> UnsafeMutablePointer<z_stream> {
        if let stream { return stream }
        let fresh = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        fresh.initialize(to: z_stream())
        wps_zlib_count_allocations(fresh, counter)
        // zlib's raw deflate rejects 8 (since 1.2.9); 9 keeps every distance within 256 bytes.
        let code = wps_deflate_init_raw(fresh, Int32(level), Int32(max(windowBits, 9)), Int32(memLevel))
        guard code == Z_OK else {
            fresh.deallocate()
            throw .zlibFailure(code: Int(code))
        }
        stream = fresh
        needsReset = false
        return fresh
    }
}

/// Zeros to grow output buffers from: appending a contiguous slice is a memcpy, where a
/// `repeatElement` sequence is copied element by element.
private let zeroBytes = [UInt8](repeating: 0, count: 64 * 1024)

extension Array where Element == UInt8 {
    /// Appends `count` zero bytes, space for zlib to write into.
    mutating func appendZeros(_ count: Int) {
        var remaining = count
        while remaining > 0 {
            let step = Swift.min(remaining, zeroBytes.count)
            append(contentsOf: zeroBytes[0..<step])
            remaining -= step
        }
    }
}
