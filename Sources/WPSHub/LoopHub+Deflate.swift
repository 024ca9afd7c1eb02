import WPSBytes
import WPSDeflate
import WPSWebSocket

/// A broadcast compressed for one window size: the JSON prefix compressed once, from which
/// every JSON variant is finished with a small stored block, and the raw payload.
struct CompressedBroadcast {
    /// The JSON prefix compressed (sync-flushed, tail stripped); nil when not worth it.
    var prefix: SharedBytes?
    /// Whole frame (RSV1) for non-reliable JSON clients.
    var jsonFrame: SharedBytes?
    /// Whole frame (RSV1) for raw clients; nil: send the uncompressed raw frame.
    var rawFrame: SharedBytes?
}

extension LoopHub {
    /// The compressed forms of `broadcast` for `windowBits`, computed on first need.
    func compressedVariants(_ broadcast: Broadcast, _ windowBits: Int) -> CompressedBroadcast? {
        guard let deflate else { return nil }
        if let cached = compressed[windowBits] { return cached }
        var variants = CompressedBroadcast()
        let prefixBytes = broadcast.reliablePrefix.pointer
        if deflate.shouldCompress(prefixBytes.count), let body = deflate.compress(prefixBytes, windowBits: windowBits) {
            variants.prefix = SharedBytes(body)
            var whole = body
            [ServerMessageEncoderEnd.brace].withUnsafeBytes { DeflatePool.appendStoredTail($0, to: &whole) }
            variants.jsonFrame = Self.compressedFrame(text: true, whole)
        }
        let raw = broadcast.rawFrame.pointer
        let payload = UnsafeRawBufferPointer(rebasing: raw[Self.frameHeaderLength(raw)...])
        if deflate.shouldCompress(payload.count), let body = deflate.compress(payload, windowBits: windowBits) {
            variants.rawFrame = Self.compressedFrame(text: raw.first.map { $0 & 0x0F == 1 } ?? true, body)
        }
        compressed[windowBits] = variants
        return variants
    }

    /// Sends the compressed form to a client that negotiated permessage-deflate.
    func sendCompressed(_ broadcast: Broadcast, _ variants: CompressedBroadcast, to session: HubSession) {
        guard let transport = session.transport else {
            // A reliable session without a socket still buffers (uncompressed) for replay.
            if session.kind.isReliable { sendUncompressedReliable(broadcast, to: session) }
            return
        }
        switch session.kind {
        case .json:
            _ = transport.sendFrame(head: Self.nothing, shared: variants.jsonFrame ?? broadcast.jsonFrame, tail: Self.nothing)
        case .raw:
            _ = transport.sendFrame(head: Self.nothing, shared: variants.rawFrame ?? broadcast.rawFrame, tail: Self.nothing)
        case .jsonReliable:
            guard let prefix = variants.prefix else {
                sendUncompressedReliable(broadcast, to: session)
                return
            }
            guard let sequenceId = bufferReliable(broadcast, for: session) else { return }
            // Shared compressed prefix, then a per-recipient stored block with the suffix.
            var tail: [UInt8] = []
            tail.reserveCapacity(40)
            var suffix: [UInt8] = []
            Self.appendSequenceSuffix(sequenceId, to: &suffix)
            suffix.withUnsafeBytes { DeflatePool.appendStoredTail($0, to: &tail) }
            withUnsafeTemporaryAllocation(byteCount: 14, alignment: 1) { header in
                let count = WebSocketFrameEncoder.writeHeader(
                    into: header, opcode: .text, rsv1: true, payloadLength: prefix.count + tail.count)
                tail.withUnsafeBytes {
                    _ = transport.sendFrame(head: UnsafeRawBufferPointer(rebasing: header[0..<count]), shared: prefix, tail: $0)
                }
            }
        }
        enforceOutboundLimit(session)
    }

    /// A whole unmasked RSV1 frame around `payload`.
    static func compressedFrame(text: Bool, _ payload: [UInt8]) -> SharedBytes {
        let headerLength = WebSocketFrameEncoder.headerLength(payloadLength: payload.count, masked: false)
        return SharedBytes(count: headerLength + payload.count) { out in
            _ = WebSocketFrameEncoder.writeHeader(
                into: out, opcode: text ? .text : .binary, rsv1: true, payloadLength: payload.count)
            payload.withUnsafeBytes {
                UnsafeMutableRawBufferPointer(rebasing: out[headerLength...]).copyMemory(from: $0)
            }
        }
    }

    /// The header length of an unmasked frame the server encoded (2, 4 or 10 bytes).
    static func frameHeaderLength(_ frame: UnsafeRawBufferPointer) -> Int {
        guard frame.count >= 2 else { return frame.count }
        switch frame[1] & 0x7F {
        case 126: return 4
        case 127: return 10
        default: return 2
        }
    }
}

/// The closing brace of a non-reliable data message.
enum ServerMessageEncoderEnd {
    static let brace: UInt8 = UInt8(ascii: "}")
}
