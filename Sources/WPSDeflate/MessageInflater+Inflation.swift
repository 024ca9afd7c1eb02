internal import CWPSZlib

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
            output.append(contentsOf: repeatElement(0, count: room))
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
