internal import CWPSZlib

/// The outcome of decompressing one message; `protocol-spec/deflate.md` §5 maps it to close codes.
public enum InflateResult: Sendable, Hashable {
    /// The whole message was appended to the output.
    case ok
    /// The output would exceed `maxOutputBytes`; inflating stopped there (close 1009).
    case tooBig
    /// Not a valid DEFLATE stream, or the message does not end on a block boundary (close 1007).
    case corrupt
    /// zlib could not allocate its stream (close 1011).
    case failed
}

/// Decompresses whole permessage-deflate messages (RFC 7692 §7.2.2) under an output cap.
///
/// `00 00 FF FF` is appended to the payload (without copying it) and the result inflated in
/// chunks of `outputChunkBytes`; the cap is checked after every chunk, so a decompression bomb
/// costs at most `maxOutputBytes + outputChunkBytes` bytes of output. With `noContextTakeover`
/// the stream is reset before every message and one instance per loop can serve every
/// connection with the same window; with context takeover the window carries over and the
/// instance belongs to one connection.
///
/// Not thread-safe. The zlib stream is allocated on the first non-empty message.
public final class MessageInflater {
    /// Output grows by at most this many bytes per `inflate` call.
    public static let outputChunkBytes = 16 * 1024

    /// The window the peer may use (8...15).
    public let windowBits: Int
    /// Whether every message starts from an empty window.
    public let noContextTakeover: Bool

    private var stream: UnsafeMutablePointer<z_stream>?
    private let counter: UnsafeMutablePointer<Int>
    private var needsReset = false

    /// Validates the window; allocates nothing from zlib yet.
    public init(windowBits: Int, noContextTakeover: Bool) throws(DeflateError) {
        guard DeflateParameters.windowBitsRange.contains(windowBits) else { throw .invalidParameters }
        self.windowBits = windowBits
        self.noContextTakeover = noContextTakeover
        counter = .allocate(capacity: 1)
        counter.initialize(to: 0)
    }

    deinit {
        freeStream()
        counter.deallocate()
    }

    /// Bytes zlib currently holds for this stream (the window is allocated on first output).
    public var allocatedBytes: Int { counter.pointee }

    /// Whether the zlib stream is currently allocated.
    public var isAllocated: Bool { stream != nil }

    /// Frees the zlib stream when that loses nothing, i.e. with `noContextTakeover`; returns
    /// whether it did. With context takeover the peer may refer to earlier messages, so the
    /// window must stay.
    @discardableResult
    public func releaseMemory() -> Bool {
        guard noContextTakeover else { return stream == nil }
        freeStream()
        return true
    }

    /// Appends the decompressed message to `output`; on any result but `.ok`, `output` is left
    /// as it was and the stream is reset (the caller closes the connection).
    public func decompress(
        _ compressed: UnsafeRawBufferPointer, maxOutputBytes: Int, into output: inout [UInt8]
    ) -> InflateResult {
        // Some peers send an empty payload for an empty message; accept it without zlib.
        guard let base = compressed.baseAddress, !compressed.isEmpty else { return .ok }
        guard let stream = openStream() else { return .failed }
        if needsReset { inflateReset(stream) }
        needsReset = noContextTakeover
        let start = output.count
        var inflation = Inflation(stream: stream, start: start, maxOutputBytes: max(maxOutputBytes, 0))
        inflation.keepsWindow = !noContextTakeover
        inflation.windowBits = windowBits
        var result = InflateResult.ok
        var offset = 0
        while result == .ok && offset < compressed.count {
            let slice = min(compressed.count - offset, 1 << 30)
            result = inflation.feed(UnsafeRawBufferPointer(start: base + offset, count: slice), tail: false, &output)
            offset += slice
        }
        if result == .ok {
            result = withUnsafeBytes(of: Self.syncTail) { tail in inflation.feed(tail, tail: true, &output) }
        }
        if result == .ok && !inflation.endedCleanly && stream.pointee.data_type & 128 == 0 {
            result = .corrupt  // the payload stopped inside a block
        }
        stream.pointee.next_in = nil
        stream.pointee.next_out = nil
        if result != .ok {
            output.removeSubrange(start...)
            inflateReset(stream)
            needsReset = false
        }
        return result
    }

    /// Decompresses `compressed`; the output is empty unless the result is `.ok`.
    public func decompress(_ compressed: [UInt8], maxOutputBytes: Int) -> (InflateResult, [UInt8]) {
        var output: [UInt8] = []
        let result = compressed.withUnsafeBytes { decompress($0, maxOutputBytes: maxOutputBytes, into: &output) }
        return (result, output)
    }

    /// `00 00 FF FF` in memory order.
    private static let syncTail: (UInt8, UInt8, UInt8, UInt8) = (0x00, 0x00, 0xFF, 0xFF)

    private func openStream() -> UnsafeMutablePointer<z_stream>? {
        if let stream { return stream }
        let fresh = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        fresh.initialize(to: z_stream())
        wps_zlib_count_allocations(fresh, counter)
        guard wps_inflate_init_raw(fresh, Int32(windowBits)) == Z_OK else {
            fresh.deallocate()
            return nil
        }
        stream = fresh
        needsReset = false
        return fresh
    }

    private func freeStream() {
        guard let stream else { return }
        inflateEnd(stream)
        stream.deallocate()
        self.stream = nil
        needsReset = false
    }
}

extension MessageInflater {
    /// The inflate loop for one message: feeds input slices, grows the output in capped chunks
    /// and restarts the stream after a final (BFINAL) block (RFC 7692 §7.2.3.4).
    struct Inflation {
        let stream: UnsafeMutablePointer<z_stream>
        /// Where this message's output begins in the caller's buffer.
        let start: Int
        let maxOutputBytes: Int
        /// Carry the window over a stream end (context takeover).
        var keepsWindow = false
        var windowBits = 15
        /// The last input ended a final block and nothing followed yet.
        private(set) var endedCleanly = false

        init(stream: UnsafeMutablePointer<z_stream>, start: Int, maxOutputBytes: Int) {
            self.stream = stream
            self.start = start
            self.maxOutputBytes = maxOutputBytes
        }

        /// Inflates all of `input`; `.ok` when it is consumed and the output is within the cap.
        mutating func feed(_ input: UnsafeRawBufferPointer, tail: Bool, _ output: inout [UInt8]) -> InflateResult {
            guard let base = input.baseAddress, !input.isEmpty else { return .ok }
            // A message that ended with a final block may omit the trailing empty block; then
            // the appended tail is not part of any stream and is dropped.
            if tail && endedCleanly { return .ok }
            stream.pointee.next_in = UnsafeMutablePointer(mutating: base.assumingMemoryBound(to: Bytef.self))
            stream.pointee.avail_in = uInt(input.count)
            while true {
                let produced = output.count - start
                let room = min(MessageInflater.outputChunkBytes, maxOutputBytes - produced + 1)
                let code = run(room: room, &output)
                if output.count - start > maxOutputBytes { return .tooBig }
                let inputLeft = stream.pointee.avail_in
                let outputLeft = stream.pointee.avail_out
                switch code {
                case Z_OK:
                    endedCleanly = false
                    if inputLeft == 0 && outputLeft > 0 { return .ok }
                case Z_BUF_ERROR:
                    // No progress possible: fine once the input is used up, corrupt otherwise.
                    if inputLeft == 0 { return .ok }
                    if outputLeft > 0 { return .corrupt }
                case Z_STREAM_END:
                    guard restartAfterFinalBlock() else { return .failed }
                    endedCleanly = true
                    if inputLeft == 0 { return .ok }
                    if tail && inputLeft == uInt(input.count) { return .ok }
                case Z_MEM_ERROR:
                    return .failed
                default:
                    return .corrupt
                }
            }
        }

        /// One `inflate` call into `room` fresh bytes at the end of `output`; unused bytes are cut.
        private func run(room: Int, _ output: inout [UInt8]) -> Int32 {
            let before = output.count
            output.appendZeros(room)
            let code = output.withUnsafeMutableBufferPointer { buffer in
                stream.pointee.next_out = buffer.baseAddress! + before
                stream.pointee.avail_out = uInt(room)
                return inflate(stream, Z_SYNC_FLUSH)
            }
            stream.pointee.next_out = nil
            output.removeLast(Int(stream.pointee.avail_out))
            return code
        }

        /// Resets the stream after a final block so later blocks can follow, keeping the window
        /// when context takeover is on (the peer may still refer to it).
        private func restartAfterFinalBlock() -> Bool {
            guard keepsWindow else { return inflateReset(stream) == Z_OK }
            return withUnsafeTemporaryAllocation(of: Bytef.self, capacity: 1 << windowBits) { window in
                var length: uInt = 0
                guard inflateGetDictionary(stream, window.baseAddress, &length) == Z_OK,
                    inflateReset(stream) == Z_OK
                else { return false }
                return length == 0 || inflateSetDictionary(stream, window.baseAddress, length) == Z_OK
            }
        }
    }
}
