// libFuzzer harness for the WebSocket frame reader and the UTF-8 validator.
//
// Built as one module with the sources of WPSBytes and WPSWebSocket (minus the handshake,
// which needs OpenSSL); the build strips the imports below. Each input is read in both
// roles, with and without compression, whole and split at several offsets: every split
// must give the same events, and every event must respect the reader's limits.
import WPSBytes
import WPSWebSocket

private let fuzzMaxMessageBytes = 512

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    fuzzUTF8(input)
    let cutSets: [[Int]] = [
        [1], [size / 2], [size &- 1], [2, 6, 10, 14], [size / 3, 2 * size / 3], Array(stride(from: 1, to: size, by: 7)),
    ]
    for role in [WebSocketRole.server, .client] {
        for allowCompressed in [false, true] {
            let whole = fuzzRead(input, role: role, allowCompressed: allowCompressed, cuts: [])
            for cuts in cutSets {
                let split = fuzzRead(input, role: role, allowCompressed: allowCompressed, cuts: cuts)
                if split != whole { fatalError("split at \(cuts) changed the events: \(whole) vs \(split)") }
            }
            _ = fuzzRead(input, role: role, allowCompressed: allowCompressed, cuts: [size / 2], stopAfter: 1)
        }
    }
    return 0
}

/// Reads `input` (copied, since unmasking is in place) cut at `cuts`; returns a trace of digests.
private func fuzzRead(
    _ input: UnsafeRawBufferPointer, role: WebSocketRole, allowCompressed: Bool, cuts: [Int], stopAfter: Int? = nil
) -> [UInt64] {
    var reader = WebSocketReader(role: role, maxMessageBytes: fuzzMaxMessageBytes, allowCompressed: allowCompressed)
    var copy = Array(input)
    var trace: [UInt64] = []
    copy.withUnsafeMutableBytes { buffer in
        var start = 0
        for end in cuts + [buffer.count] where end >= start && end <= buffer.count {
            let piece = UnsafeMutableRawBufferPointer(rebasing: buffer[start..<end])
            start = end
            let error = reader.feed(piece) { event in
                trace.append(fuzzDigest(event))
                if let stopAfter, trace.count >= stopAfter { return .stop }
                return .continue
            }
            if let error { trace.append(0xE_0000 | UInt64(error.code.rawValue)) }
            // Header (14) + control (125) + message limit bound everything the reader holds.
            if reader.bufferedBytes > fuzzMaxMessageBytes + 14 + 125 { fatalError("reader holds too much") }
        }
    }
    return trace
}

/// Checks an event's invariants and folds it into one FNV-1a digest.
private func fuzzDigest(_ event: WebSocketEvent) -> UInt64 {
    var hash: UInt64 = 0xCBF2_9CE4_8422_2325
    func mix(_ byte: UInt8) { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3 }
    func mix(_ bytes: UnsafeRawBufferPointer) {
        for byte in bytes { mix(byte) }
        mix(UInt8(truncatingIfNeeded: bytes.count))
    }
    switch event {
    case let .message(opcode, payload, compressed):
        if payload.count > fuzzMaxMessageBytes { fatalError("message over the limit") }
        if opcode != .text && opcode != .binary { fatalError("message with opcode \(opcode)") }
        if opcode == .text, !compressed, !UTF8Validator.isValid(payload) { fatalError("invalid UTF-8 delivered") }
        mix(opcode.rawValue)
        mix(compressed ? 1 : 0)
        mix(payload)
    case let .ping(payload):
        if payload.count > 125 { fatalError("ping over 125 bytes") }
        mix(0x09)
        mix(payload)
    case let .pong(payload):
        if payload.count > 125 { fatalError("pong over 125 bytes") }
        mix(0x0A)
        mix(payload)
    case let .close(code, reason):
        if let code, !WebSocketCloseCode.isValidInCloseFrame(code) { fatalError("close code \(code) delivered") }
        if reason.count > 123 || (code == nil && !reason.isEmpty) { fatalError("bad close reason length") }
        if !UTF8Validator.isValid(reason) { fatalError("invalid close reason delivered") }
        mix(0x08)
        mix(UInt8(truncatingIfNeeded: (code ?? 0) >> 8))
        mix(UInt8(truncatingIfNeeded: code ?? 0))
        mix(reason)
    }
    return hash
}

/// The validator must agree with the standard library, whole and split at a few offsets.
private func fuzzUTF8(_ input: UnsafeRawBufferPointer) {
    let expected = String(validating: input, as: UTF8.self) != nil
    if UTF8Validator.isValid(input) != expected { fatalError("UTF-8 validator disagrees with the standard library") }
    for cut in [1, input.count / 2, input.count &- 3] where cut > 0 && cut < input.count {
        var validator = UTF8Validator()
        let valid =
            validator.validate(UnsafeRawBufferPointer(rebasing: input[..<cut]))
            && validator.validate(UnsafeRawBufferPointer(rebasing: input[cut...])) && validator.isComplete
        if valid != expected { fatalError("split UTF-8 validation at \(cut) disagrees") }
    }
}
