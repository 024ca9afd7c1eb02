import WPSBytes
import WPSDeflate
import WPSProtocol
import WPSWebSocket

extension LoopHub {
    /// Sends one broadcast to one member in the form its client kind expects.
    func send(_ broadcast: Broadcast, to session: HubSession) {
        if let bits = session.transport?.deflateWindowBits, let variants = compressedVariants(broadcast, bits) {
            sendCompressed(broadcast, variants, to: session)
            return
        }
        switch session.kind {
        case .json:
            session.transport?.send(broadcast.jsonFrame, endsFrame: true)
        case .raw:
            session.transport?.send(broadcast.rawFrame, endsFrame: true)
        case .jsonReliable:
            sendUncompressedReliable(broadcast, to: session)
            return
        }
        enforceOutboundLimit(session)
    }

    /// Numbers and buffers the message for a reliable session; nil when that overflowed the
    /// buffer and ended the session.
    func bufferReliable(_ broadcast: Broadcast, for session: HubSession) -> UInt64? {
        let sequenceId = session.nextSequenceId
        session.nextSequenceId += 1
        session.buffer(sequenceId: sequenceId, prefix: broadcast.reliablePrefix, expiresAt: broadcast.expiresAt)
        if session.unackedCount > configuration.reliableMaxMessages
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
            sendSequenced(broadcast.reliablePrefix, sequenceId: sequenceId, to: transport)
            enforceOutboundLimit(session)
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
    func sendSequenced(_ prefix: SharedBytes, sequenceId: UInt64, to transport: HubTransport) {
        withUnsafeTemporaryAllocation(byteCount: 48, alignment: 1) { scratch in
            var suffix = 0
            for byte in ",\"sequenceId\":".utf8 {
                scratch[14 + suffix] = byte
                suffix += 1
            }
            var digits = 0
            var value = sequenceId
            repeat {
                digits += 1
                value /= 10
            } while value > 0
            value = sequenceId
            for position in stride(from: digits - 1, through: 0, by: -1) {
                scratch[14 + suffix + position] = UInt8(ascii: "0") + UInt8(value % 10)
                value /= 10
            }
            suffix += digits
            scratch[14 + suffix] = UInt8(ascii: "}")
            suffix += 1
            let header = WebSocketFrameEncoder.writeHeader(
                into: UnsafeMutableRawBufferPointer(rebasing: scratch[0..<14]), opcode: .text,
                payloadLength: prefix.count + suffix)
            transport.send(UnsafeRawBufferPointer(rebasing: scratch[0..<header]), endsFrame: false)
            transport.send(prefix, endsFrame: false)
            transport.send(UnsafeRawBufferPointer(rebasing: scratch[14..<14 + suffix]), endsFrame: true)
        }
    }

    /// A client that does not read is cut: a reliable one keeps its session so it can
    /// resume; any other ends (protocol-spec/reliability.md, slow consumers).
    func enforceOutboundLimit(_ session: HubSession) {
        guard let transport = session.transport, transport.queuedBytes > configuration.maxOutboundBytes else { return }
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
                    transport.send(head, endsFrame: false)
                    transport.send(payload, endsFrame: true)
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
