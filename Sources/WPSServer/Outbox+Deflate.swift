import WPSBytes
import WPSHub
import WPSLoop
import WPSWebSocket

/// A broadcast compressed for one window size: the JSON prefix compressed once, from which
/// every JSON variant is finished with a small stored block, and the raw payload.
struct CompressedBroadcast {
    /// The JSON prefix compressed (sync-flushed, tail stripped); nil when not worth it.
    var prefix: SharedBytes?
    /// Whole frame (RSV1) for JSON clients without sequence ids.
    var jsonFrame: SharedBytes?
    /// Whole frame (RSV1) for raw clients; nil: send the uncompressed raw frame.
    var rawFrame: SharedBytes?
    /// Which halves were tried: each is compressed only when a client of its form is met.
    var triedPrefix = false
    var triedRaw = false
}

/// permessage-deflate for broadcasts: the server always negotiates
/// `server_no_context_takeover`, so a message compresses to the same bytes for every
/// connection with the same window, and is compressed once per loop and window
/// (protocol-spec/deflate.md).
extension Outbox {
    func deliverCompressed(
        _ broadcast: Broadcast, sequenceId: UInt64, to port: HubApplication, windowBits: Int
    ) -> Bool {
        guard let connection = port.deliveryConnection else { return false }
        let variants = compressedVariants(broadcast, windowBits, raw: port.form == .raw)
        let queued: Int
        switch port.form {
        case .json:
            let frame = variants.jsonFrame ?? jsonFrame ?? makeJSONFrame(broadcast)
            countDelivered(bytes: frame.count)
            queued = connection._withUnsafeGuaranteedRef { $0.queue(frame) }
        case .raw:
            let frame = variants.rawFrame ?? rawFrame ?? makeRawFrame(broadcast)
            countDelivered(bytes: frame.count)
            queued = connection._withUnsafeGuaranteedRef { $0.queue(frame) }
        case .reliable:
            buildPending(port)
            guard let prefix = variants.prefix else {
                queued = sendSequencedUncompressed(broadcast, sequenceId: sequenceId, on: connection)
                break
            }
            // The shared compressed prefix, then a per-recipient stored block holding the
            // suffix: header, LEN, NLEN, `,"sequenceId":N}`, and the next block's header byte.
            queued = withUnsafeTemporaryAllocation(byteCount: 96, alignment: 8) { scratch in
                let base = scratch.baseAddress!
                let tail = base + 16
                let suffix = Self.writeSequenceSuffix(sequenceId, at: tail + 4)
                let length = UInt16(suffix)
                tail.storeBytes(of: UInt8(length & 0xFF), as: UInt8.self)
                (tail + 1).storeBytes(of: UInt8(length >> 8), as: UInt8.self)
                (tail + 2).storeBytes(of: UInt8(~length & 0xFF), as: UInt8.self)
                (tail + 3).storeBytes(of: UInt8(~length >> 8), as: UInt8.self)
                (tail + 4 + suffix).storeBytes(of: 0, as: UInt8.self)
                let tailCount = suffix + DeflatePool.storedTailOverhead()
                let header = WebSocketFrameEncoder.writeHeader(
                    into: UnsafeMutableRawBufferPointer(start: base, count: 14), opcode: .text, rsv1: true,
                    payloadLength: prefix.count + tailCount)
                countDelivered(bytes: header + prefix.count + tailCount)
                return connection._withUnsafeGuaranteedRef {
                    $0.queue(
                        prefix, head: UnsafeRawBufferPointer(start: base, count: header),
                        tail: UnsafeRawBufferPointer(start: tail, count: tailCount))
                }
            }
        }
        return queued > maxOutboundBytes
    }

    private func sendSequencedUncompressed(
        _ broadcast: Broadcast, sequenceId: UInt64, on connection: Unmanaged<Connection>
    ) -> Int {
        let size = Self.sequencedFrameSize(broadcast.prefix.count, sequenceId)
        countDelivered(bytes: size)
        let prefix = broadcast.prefix.pointer
        return connection._withUnsafeGuaranteedRef {
            $0.queue(byteCount: size) { out in
                _ = Self.writeSequencedFrame(prefix.baseAddress, prefix.count, sequenceId, at: out)
            }
        }
    }

    /// The compressed forms of `broadcast` for `windowBits`, each made on first need: the
    /// JSON prefix for JSON and reliable clients, the payload for raw ones (`raw`).
    func compressedVariants(_ broadcast: Broadcast, _ windowBits: Int, raw: Bool) -> CompressedBroadcast {
        var variants = compressed[windowBits] ?? CompressedBroadcast()
        if raw ? variants.triedRaw : variants.triedPrefix { return variants }
        guard let compressors else { return variants }
        if raw {
            variants.triedRaw = true
            let payload = broadcast.payload.pointer
            if compressors.shouldCompress(payload.count),
                let body = compressors.compress(payload, windowBits: windowBits)
            {
                variants.rawFrame = body.withUnsafeBytes {
                    Self.frame(text: broadcast.payloadIsText, $0, Self.nothing, compressed: true)
                }
            }
            compressed[windowBits] = variants
            return variants
        }
        variants.triedPrefix = true
        let prefix = broadcast.prefix.pointer
        if compressors.shouldCompress(prefix.count), let body = compressors.compress(prefix, windowBits: windowBits) {
            variants.prefix = SharedBytes(body)
            var whole = body
            Self.closingBrace.withUnsafeBytes { DeflatePool.appendStoredTail($0, to: &whole) }
            variants.jsonFrame = whole.withUnsafeBytes { Self.frame(text: true, $0, Self.nothing, compressed: true) }
        }
        compressed[windowBits] = variants
        return variants
    }
}
