import WPSBytes
import WPSDeflate
import WPSProtocol
import WPSWebSocket

extension LoopHub {
    /// Sends one broadcast to one member in the form its client kind expects.
    /// One transport call per recipient, which also reports the queue for the slow-consumer
    /// check; the deflate window is asked only for messages big enough to compress.
    func send(_ broadcast: Broadcast, to session: HubSession) {
        guard let target = session.deliveryTarget else {
            // A reliable session without a socket still numbers and buffers for replay.
            if session.kind.isReliable { _ = bufferReliable(broadcast, for: session) }
            return
        }
        if let deflate, deflate.shouldCompress(broadcast.reliablePrefix.count),
            let bits = target._withUnsafeGuaranteedRef({ $0.deflateWindowBits }),
            let variants = compressedVariants(broadcast, bits)
        {
            sendCompressed(broadcast, variants, to: session)
            return
        }
        let queued: Int
        switch session.kind {
        case .json:
            let frame = broadcast.jsonFrame
            queued = target._withUnsafeGuaranteedRef { $0.sendFrame(head: Self.nothing, shared: frame, tail: Self.nothing) }
        case .raw:
            let frame = broadcast.rawFrame
            queued = target._withUnsafeGuaranteedRef { $0.sendFrame(head: Self.nothing, shared: frame, tail: Self.nothing) }
        case .jsonReliable:
            let prefixCount = broadcast.reliablePrefix.count
            let defers = prefixCount < Self.builtAtTurnEndBelow && target._withUnsafeGuaranteedRef { $0.defersSequencedFrames }
            guard let sequenceId = bufferReliable(broadcast, for: session, deferred: defers) else { return }
            if defers {
                // Only buffered now; the frame is built with this client's others of the turn.
                session.unsent += 1
                session.unsentBytes += prefixCount + 32
                queued = target._withUnsafeGuaranteedRef { $0.sequencedFramesPending() } + session.unsentBytes
            } else {
                queued = sendSequenced(broadcast.reliablePrefix, sequenceId: sequenceId, to: target)
            }
        }
        if queued > configuration.maxOutboundBytes { cutSlowConsumer(session) }
    }

    static var nothing: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: nil, count: 0) }

    /// Numbers and buffers the message for a reliable session; nil when that overflowed the
    /// buffer and ended the session.
    func bufferReliable(_ broadcast: Broadcast, for session: HubSession, deferred: Bool = false) -> UInt64? {
        // Frames go out in sequence order: deferred ones are built before any sent now.
        if !deferred, session.unsent > 0 { writeUnsent(session) }
        let sequenceId = session.nextSequenceId
        session.nextSequenceId += 1
        session.buffer(sequenceId: sequenceId, broadcast)
        if (configuration.reliableMaxMessages > 0 && session.unackedCount > configuration.reliableMaxMessages)
            || session.unackedBytes > configuration.reliableMaxBytes
        {
            end(session, code: WebSocketCloseCode.policyViolation.rawValue, reason: "The reliable message buffer is full.")
            return nil
        }
        return sequenceId
    }

    func sendUncompressedReliable(_ broadcast: Broadcast, to session: HubSession) {
        guard let sequenceId = bufferReliable(broadcast, for: session) else { return }
        if let transport = session.transport {
            let queued = sendSequenced(
                broadcast.reliablePrefix, sequenceId: sequenceId, to: Unmanaged.passUnretained(transport))
            if queued > configuration.maxOutboundBytes { cutSlowConsumer(session) }
        }
    }

    /// Appends the reliable suffix `,"sequenceId":N}` to `out`.
    static func appendSequenceSuffix(_ sequenceId: UInt64, to out: inout [UInt8]) {
        out.append(contentsOf: ",\"sequenceId\":".utf8)
        var digits: [UInt8] = []
        var value = sequenceId
        repeat {
            digits.append(UInt8(ascii: "0") + UInt8(value % 10))
            value /= 10
        } while value > 0
        out.append(contentsOf: digits.reversed())
        out.append(UInt8(ascii: "}"))
    }

    /// Frame header, the shared prefix, then `,"sequenceId":N}`: only the two small ends are
    /// per recipient (ARCHITECTURE rule 4).
    @discardableResult
    func sendSequenced(_ prefix: SharedBytes, sequenceId: UInt64, to target: Unmanaged<HubTransport>) -> Int {
        withUnsafeTemporaryAllocation(byteCount: 64, alignment: 8) { scratch in
            // Scratch: the frame header at the start, `,"sequenceId":N}` from byte 16.
            let base = scratch.baseAddress!
            let cursor = base + 16
            let suffix = Self.writeSequenceSuffix(sequenceId, at: cursor)
            let length = prefix.count + suffix
            let header = Self.writeTextFrameHeader(payloadLength: length, at: base)
            return target._withUnsafeGuaranteedRef {
                $0.sendFrame(
                    head: UnsafeRawBufferPointer(start: base, count: header), shared: prefix,
                    tail: UnsafeRawBufferPointer(start: cursor, count: suffix))
            }
        }
    }

    /// Reliable messages with a prefix shorter than this are built at the end of the turn;
    /// longer ones are sent at once and reference the shared prefix.
    static let builtAtTurnEndBelow = 1024

    /// Builds the frames of the session's unsent reliable messages, oldest first, in one
    /// contiguous region of its transport's queue: header, the shared prefix, then
    /// `,"sequenceId":N}`. Called by the transport before its flush, and before anything
    /// else is sent to the session, so frames keep their order.
    public func writeUnsent(_ session: HubSession) {
        let count = session.unsent
        guard count > 0 else { return }
        session.unsent = 0
        session.unsentBytes = 0
        guard let target = session.deliveryTarget else { return }
        var total = 0
        session.unacked.forEach(last: count) { message in
            total += Self.sequencedFrameSize(message.prefix.count, message.sequenceId)
        }
        let queued = target._withUnsafeGuaranteedRef { transport in
            transport.sendBuilt(byteCount: total) { out in
                var cursor = out
                session.unacked.forEach(last: count) { message in
                    cursor += Self.writeSequencedFrame(message.prefix, message.sequenceId, at: cursor)
                }
            }
        }
        if queued > configuration.maxOutboundBytes { cutSlowConsumer(session) }
    }

    /// Bytes of a reliable frame whose prefix is `prefixCount` long.
    @inline(__always)
    static func sequencedFrameSize(_ prefixCount: Int, _ sequenceId: UInt64) -> Int {
        let length = prefixCount + 15 + decimalDigits(sequenceId)
        return length + (length < 126 ? 2 : length < 65_536 ? 4 : 10)
    }

    /// Writes one reliable frame at `out`; returns its size.
    @inline(__always)
    static func writeSequencedFrame(_ prefix: SharedBytes, _ sequenceId: UInt64, at out: UnsafeMutableRawPointer) -> Int {
        let length = prefix.count + 15 + decimalDigits(sequenceId)
        let header = writeTextFrameHeader(payloadLength: length, at: out)
        if let source = prefix.pointer.baseAddress { (out + header).copyMemory(from: source, byteCount: prefix.count) }
        _ = writeSequenceSuffix(sequenceId, at: out + header + prefix.count)
        return header + length
    }

    /// Writes `,"sequenceId":N}` at `out` (at most 35 bytes); returns its length.
    @inline(__always)
    static func writeSequenceSuffix(_ sequenceId: UInt64, at out: UnsafeMutableRawPointer) -> Int {
        let digits = decimalDigits(sequenceId)
        // `,"sequenceId":` in three little-endian stores, then the digits backwards and `}`.
        out.storeBytes(of: UInt64(0x6e65_7571_6573_222c).littleEndian, as: UInt64.self)
        (out + 8).storeBytes(of: UInt32(0x6449_6563).littleEndian, as: UInt32.self)
        (out + 12).storeBytes(of: UInt16(0x3a22).littleEndian, as: UInt16.self)
        var cursor = out + 14 + digits
        cursor.storeBytes(of: UInt8(ascii: "}"), as: UInt8.self)
        var value = sequenceId
        repeat {
            cursor -= 1
            cursor.storeBytes(of: UInt8(truncatingIfNeeded: value % 10) &+ 48, as: UInt8.self)
            value /= 10
        } while value > 0
        return 15 + digits
    }

    /// Writes the header of an unmasked, final text frame at `out`; returns its size. The 2-
    /// and 4-byte forms cover every message under 64 KiB with raw stores; longer ones take
    /// the general encoder.
    @inline(__always)
    static func writeTextFrameHeader(payloadLength length: Int, at out: UnsafeMutableRawPointer) -> Int {
        if length < 126 {
            out.storeBytes(of: 0x81, as: UInt8.self)
            (out + 1).storeBytes(of: UInt8(truncatingIfNeeded: length), as: UInt8.self)
            return 2
        }
        if length < 65_536 {
            out.storeBytes(of: 0x81, as: UInt8.self)
            (out + 1).storeBytes(of: 126, as: UInt8.self)
            (out + 2).storeBytes(of: UInt8(truncatingIfNeeded: length >> 8), as: UInt8.self)
            (out + 3).storeBytes(of: UInt8(truncatingIfNeeded: length), as: UInt8.self)
            return 4
        }
        return WebSocketFrameEncoder.writeHeader(
            into: UnsafeMutableRawBufferPointer(start: out, count: 14), opcode: .text, payloadLength: length)
    }

    /// How many decimal digits `value` has.
    @inline(__always)
    static func decimalDigits(_ value: UInt64) -> Int {
        var digits = 1
        var bound: UInt64 = 10
        while digits < 20, value >= bound {
            digits += 1
            bound &*= 10
        }
        return digits
    }

    /// A client that does not read is cut: a reliable one keeps its session so it can
    /// resume; any other ends (protocol-spec/reliability.md, slow consumers).
    func enforceOutboundLimit(_ session: HubSession) {
        guard let transport = session.transport, transport.queuedBytes > configuration.maxOutboundBytes else { return }
        cutSlowConsumer(session)
    }

    /// Cuts a client whose queue passed `maxOutboundBytes`.
    func cutSlowConsumer(_ session: HubSession) {
        guard let transport = session.transport else { return }
        if session.replayAllowance > 0,
            transport.queuedBytes + session.unsentBytes <= configuration.maxOutboundBytes + session.replayAllowance
        {
            return  // Still reading its replay, which does not count (LoopHub.resume).
        }
        let reason = "slow consumer: more than \(configuration.maxOutboundBytes) bytes queued"
        if session.kind.isReliable {
            session.transport = nil
            transport.close(code: WebSocketCloseCode.internalError.rawValue, reason: reason)
            session.detachedAt = now
            detached.insert(session.connectionId)
        } else {
            end(session, code: WebSocketCloseCode.policyViolation.rawValue, reason: reason)
        }
    }

    /// Builds a small JSON message in the scratch buffer and sends it as one text frame;
    /// `urgent` ones (acks, pongs) go ahead of queued data.
    func sendText(to session: HubSession, urgent: Bool = false, _ build: (inout OutputBuffer) -> Void) {
        guard let transport = session.transport else { return }
        sendText(to: transport, urgent: urgent, build)
    }

    func sendText(to transport: HubTransport, urgent: Bool = false, _ build: (inout OutputBuffer) -> Void) {
        scratch.removeAll()
        build(&scratch)
        let length = scratch.count
        withUnsafeTemporaryAllocation(byteCount: 14, alignment: 1) { header in
            let count = WebSocketFrameEncoder.writeHeader(into: header, opcode: .text, payloadLength: length)
            let head = UnsafeRawBufferPointer(rebasing: header[0..<count])
            scratch.bytes.withUnsafeBytes { payload in
                if urgent {
                    transport.sendUrgent(head, payload)
                } else {
                    transport.send(head, payload)
                }
            }
        }
    }

    func sendConnected(_ session: HubSession) {
        guard session.kind.isJSON else { return }
        sendText(to: session) {
            ServerMessageEncoder.connected(
                userId: session.userId, connectionId: session.connectionId,
                reconnectionToken: session.reconnectionToken, into: &$0)
        }
    }

    func sendDisconnected(_ reason: String, to transport: HubTransport) {
        sendText(to: transport) { ServerMessageEncoder.disconnected(message: reason, into: &$0) }
    }
}
