import WPSBytes
import WPSHub
import WPSLoop
import WPSWebSocket

/// Everything that turns the hub's messages into bytes for the connections of one loop
/// (protocol-spec/server.md, outbound path). The hub says "deliver this broadcast to this
/// session, with this sequence id"; the Outbox picks the session's form, encodes it once
/// per form and loop, adds the per-recipient sequence-id part, compresses once per window
/// size, queues the bytes on the connection, and answers whether the client is now over
/// `maxOutboundBytes` (the slow-consumer check; the hub decides what that costs the
/// session).
///
/// Where the speed comes from, in one place:
/// - A broadcast's frames are built once per loop, on the first recipient that needs that
///   form, and the same shared bytes go to every recipient (one identity check each).
/// - Whole frames to a socket that keeps up are borrowed from the loop's turn arena by the
///   connection's queue, so a delivery copies nothing and counts no reference.
/// - Reliable frames are built at the end of the turn: `deliver` only records the prefix and
///   sequence id in `pending`, and before the loop flushes, each connection's frames of the
///   turn are written side by side into one region (header, prefix, `,"sequenceId":N}`),
///   which the kernel takes in one iovec. The broadcasts they point into are held once per
///   turn (`held`), not once per recipient.
/// - The hub calls its transports through unretained references, and ports reach their
///   connection the same way (`HubApplication.deliveryConnection`), so a delivery costs no
///   atomic reference counting.
final class Outbox: TurnProducer {
    /// Reliable messages with a prefix shorter than this are built at the end of the turn;
    /// longer ones are queued at once and reference the shared prefix (copying them costs
    /// more than the iovec they take).
    static let builtAtTurnEndBelow = 1024

    /// Bytes that may wait for one client before it counts as a slow consumer.
    let maxOutboundBytes: Int
    /// The loop's compressors; nil when permessage-deflate is off.
    let compressors: DeflatePool?
    /// The loop's event listeners, for ports reporting their sockets' ends.
    let events: LoopEvents
    #if DEBUG
        unowned let loop: EventLoop
    #else
        unowned(unsafe) let loop: EventLoop
    #endif

    // The broadcast encoded last, and its frames made so far. Deliveries of one broadcast
    // come one after another, so one entry serves them all; identity is compared by
    // `currentID`, which costs no reference count.
    private var current: Broadcast?
    private var currentID: ObjectIdentifier?
    var jsonFrame: SharedBytes? {
        didSet { jsonFrameRef = jsonFrame.map { Unmanaged.passUnretained($0) } }
    }
    var rawFrame: SharedBytes? {
        didSet { rawFrameRef = rawFrame.map { Unmanaged.passUnretained($0) } }
    }
    /// The same frames unretained, kept alive by the properties above: handing one to a
    /// recipient through a guaranteed reference costs no retain and release.
    private var jsonFrameRef: Unmanaged<SharedBytes>?
    private var rawFrameRef: Unmanaged<SharedBytes>?
    /// Compressed forms of the current broadcast, by window bits (Outbox+Deflate).
    var compressed: [Int: CompressedBroadcast] = [:]

    /// One reliable frame to build at the end of the turn; entries of one port are linked
    /// through `next` so a whole turn's worth lives in one reusable array.
    struct PendingFrame {
        let prefix: UnsafeRawPointer?
        let prefixCount: Int
        let sequenceId: UInt64
        var next: Int32
    }
    /// This turn's pending frames, in manually managed storage: appending and linking are
    /// plain stores, with no uniqueness check per recipient as an array would make.
    private var pending: UnsafeMutablePointer<PendingFrame>
    private var pendingCount = 0
    private var pendingCapacity: Int
    private var pendingPorts: [HubApplication] = []
    private var building: [HubApplication] = []
    /// Broadcasts `pending` points into, each held once for the turn.
    private var held: [Broadcast] = []
    private var lastHeldID: ObjectIdentifier?
    private var registered = false
    /// Messages and bytes through this loop, read at scrape time (LoopMetrics); current
    /// only after `settleTraffic()`.
    private(set) var traffic = Traffic()
    /// Whole JSON and raw frames of the current broadcast handed out, settled into `traffic`
    /// once per broadcast: the common delivery pays one increment, not a size read and two adds.
    private var jsonDeliveries = 0
    private var rawDeliveries = 0

    init(loop: EventLoop, maxOutboundBytes: Int, compressors: DeflatePool?, events: LoopEvents) {
        pendingCapacity = Self.initialPendingFrames
        pending = .allocate(capacity: pendingCapacity)
        self.loop = loop
        self.events = events
        self.maxOutboundBytes = maxOutboundBytes
        self.compressors = compressors
    }

    // MARK: - messages in

    /// Queues `broadcast` for `port` in its form; true when the port is now over the limit.
    @inline(__always)
    func deliver(_ broadcast: Broadcast, sequenceId: UInt64, to port: HubApplication) -> Bool {
        guard let connection = port.deliveryConnection else { return false }
        if currentID != ObjectIdentifier(broadcast) { switchTo(broadcast) }
        if port.deflateWindowBits != 0, let compressors, compressors.shouldCompress(broadcast.prefix.count) {
            return deliverCompressed(
                broadcast, sequenceId: sequenceId, to: port, windowBits: Int(port.deflateWindowBits))
        }
        let queued: Int
        switch port.form {
        case .json:
            if jsonFrameRef == nil { _ = makeJSONFrame(broadcast) }
            jsonDeliveries &+= 1
            queued = jsonFrameRef.unsafelyUnwrapped._withUnsafeGuaranteedRef { frame in
                connection._withUnsafeGuaranteedRef { $0.queue(frame) }
            }
        case .raw:
            if rawFrameRef == nil { _ = makeRawFrame(broadcast) }
            rawDeliveries &+= 1
            queued = rawFrameRef.unsafelyUnwrapped._withUnsafeGuaranteedRef { frame in
                connection._withUnsafeGuaranteedRef { $0.queue(frame) }
            }
        case .reliable:
            if broadcast.prefix.count < Self.builtAtTurnEndBelow {
                deferSequenced(broadcast, sequenceId: sequenceId, to: port)
                queued = connection._withUnsafeGuaranteedRef { $0.queuedBytes } + port.pendingBytes
            } else {
                buildPending(port)
                queued = sendSequenced(broadcast.prefix, sequenceId: sequenceId, on: connection)
            }
        }
        return queued > maxOutboundBytes
    }

    /// Queues one JSON system message; urgent ones (acks, pongs) go ahead of queued data,
    /// the rest after everything sent before them, deferred reliable frames included.
    func sendSystem(_ message: UnsafeRawBufferPointer, urgent: Bool, to port: HubApplication) -> Bool {
        guard let connection = port.deliveryConnection else { return false }
        if !urgent { buildPending(port) }
        traffic.systemMessagesOut &+= 1
        return withUnsafeTemporaryAllocation(byteCount: 14, alignment: 1) { header in
            let count = WebSocketFrameEncoder.writeHeader(into: header, opcode: .text, payloadLength: message.count)
            let head = UnsafeRawBufferPointer(rebasing: header[0..<count])
            traffic.systemBytesOut &+= head.count + message.count
            let queued = connection._withUnsafeGuaranteedRef {
                $0.queue(byteCount: head.count + message.count, urgent: urgent) { out in
                    Self.copy(head, message, to: out)
                }
            }
            // An urgent message leaves this port's deferred frames waiting; they count all
            // the same, as in `deliver`.
            return queued + port.pendingBytes > maxOutboundBytes
        }
    }

    /// Closes `port`'s session after what was delivered to it, deferred frames included.
    /// (Closes the WebSocket session makes by itself, for an idle peer, a shutdown or the
    /// peer's own close, drop frames deferred in that turn; a reliable session keeps them
    /// for its replay.)
    func close(_ port: HubApplication, code: WebSocketCloseCode, reason: String) {
        buildPending(port)
        port.session?.close(code, reason: reason)
    }

    // MARK: - counts

    /// Adds the current broadcast's whole-frame deliveries to `traffic`.
    func settleTraffic() {
        if jsonDeliveries > 0 {
            traffic.dataMessagesOut &+= jsonDeliveries
            traffic.dataBytesOut &+= jsonDeliveries &* (jsonFrame?.count ?? 0)
            jsonDeliveries = 0
        }
        if rawDeliveries > 0 {
            traffic.dataMessagesOut &+= rawDeliveries
            traffic.dataBytesOut &+= rawDeliveries &* (rawFrame?.count ?? 0)
            rawDeliveries = 0
        }
    }

    /// Counts one client message received.
    @inline(__always)
    func countReceived(bytes: Int) {
        traffic.clientMessagesIn &+= 1
        traffic.clientBytesIn &+= bytes
    }

    /// Counts one data message queued whole, outside the JSON and raw paths above.
    @inline(__always)
    func countDelivered(bytes: Int) {
        traffic.dataMessagesOut &+= 1
        traffic.dataBytesOut &+= bytes
    }

    // MARK: - forms of a broadcast

    private func switchTo(_ broadcast: Broadcast) {
        settleTraffic()
        current = broadcast
        currentID = ObjectIdentifier(broadcast)
        jsonFrame = nil
        rawFrame = nil
        if !compressed.isEmpty { compressed.removeAll(keepingCapacity: true) }
    }

    /// `prefix` + `}` as one text frame, for JSON clients.
    func makeJSONFrame(_ broadcast: Broadcast) -> SharedBytes {
        let frame = Self.closingBrace.withUnsafeBytes { Self.frame(text: true, broadcast.prefix.pointer, $0) }
        jsonFrame = frame
        return frame
    }

    /// The raw payload as one frame, for simple clients.
    func makeRawFrame(_ broadcast: Broadcast) -> SharedBytes {
        let frame = Self.frame(text: broadcast.payloadIsText, broadcast.payload.pointer, Self.nothing)
        rawFrame = frame
        return frame
    }

    static let closingBrace: [UInt8] = [UInt8(ascii: "}")]
    static var nothing: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: nil, count: 0) }

    /// Copies `first` then `second` to `out`.
    @inline(__always)
    static func copy(_ first: UnsafeRawBufferPointer, _ second: UnsafeRawBufferPointer, to out: UnsafeMutableRawPointer)
    {
        if let base = first.baseAddress, first.count > 0 { out.copyMemory(from: base, byteCount: first.count) }
        if let base = second.baseAddress, second.count > 0 {
            (out + first.count).copyMemory(from: base, byteCount: second.count)
        }
    }

    /// A whole unmasked frame of `first` then `second`, in one allocation.
    static func frame(
        text: Bool, _ first: UnsafeRawBufferPointer, _ second: UnsafeRawBufferPointer, compressed: Bool = false
    ) -> SharedBytes {
        let length = first.count + second.count
        let headerLength = WebSocketFrameEncoder.headerLength(payloadLength: length, masked: false)
        return SharedBytes(count: headerLength + length) { out in
            _ = WebSocketFrameEncoder.writeHeader(
                into: out, opcode: text ? .text : .binary, rsv1: compressed, payloadLength: length)
            if let base = first.baseAddress, first.count > 0 {
                (out.baseAddress! + headerLength).copyMemory(from: base, byteCount: first.count)
            }
            if let base = second.baseAddress, second.count > 0 {
                (out.baseAddress! + headerLength + first.count).copyMemory(from: base, byteCount: second.count)
            }
        }
    }

    // MARK: - reliable frames

    /// Records one reliable frame to build before the flush.
    @inline(__always)
    private func deferSequenced(_ broadcast: Broadcast, sequenceId: UInt64, to port: HubApplication) {
        let id = ObjectIdentifier(broadcast)
        if lastHeldID != id {
            held.append(broadcast)
            lastHeldID = id
        }
        let prefix = broadcast.prefix.pointer
        if pendingCount == pendingCapacity { growPending() }
        let entry = Int32(truncatingIfNeeded: pendingCount)
        (pending + pendingCount).initialize(
            to: PendingFrame(prefix: prefix.baseAddress, prefixCount: prefix.count, sequenceId: sequenceId, next: -1))
        pendingCount += 1
        if port.pendingFirst < 0 {
            port.pendingFirst = entry
            pendingPorts.append(port)
        } else {
            pending[Int(port.pendingLast)].next = entry
        }
        port.pendingLast = entry
        let size = Self.sequencedFrameSize(prefix.count, sequenceId)
        port.pendingBytes += size
        countDelivered(bytes: size)
        if !registered {
            registered = true
            loop.produceBeforeFlush(self)
        }
    }

    /// Before the loop's flush: every port's reliable frames of this turn, built.
    func produce() {
        registered = false
        swap(&pendingPorts, &building)
        while let port = building.popLast() { buildPending(port) }
        if pendingPorts.isEmpty {
            pendingCount = 0
            if pendingCapacity > Self.keptPendingFrames {
                pending.deallocate()
                pendingCapacity = Self.initialPendingFrames
                pending = .allocate(capacity: pendingCapacity)
            }
            held.removeAll(keepingCapacity: true)
            lastHeldID = nil
        }
    }

    private func growPending() {
        let grown = UnsafeMutablePointer<PendingFrame>.allocate(capacity: pendingCapacity * 2)
        grown.moveInitialize(from: pending, count: pendingCount)
        pending.deallocate()
        pending = grown
        pendingCapacity *= 2
    }

    deinit { pending.deallocate() }

    /// Pending entries allocated at first, and the most whose storage is kept between turns.
    static let initialPendingFrames = 1024
    static let keptPendingFrames = 1 << 16

    /// Writes `port`'s deferred frames, oldest first, in one region of its queue; called
    /// before anything else is queued for it, so frames keep their order.
    @inline(__always)
    func buildPending(_ port: HubApplication) {
        guard port.pendingFirst >= 0 else { return }
        buildPendingNow(port)
    }

    private func buildPendingNow(_ port: HubApplication) {
        let first = port.pendingFirst
        let total = port.pendingBytes
        port.pendingFirst = -1
        port.pendingLast = -1
        port.pendingBytes = 0
        guard let connection = port.deliveryConnection else { return }
        let frames = pending
        _ = connection._withUnsafeGuaranteedRef { connection in
            connection.queue(byteCount: total) { out in
                var cursor = out
                var index = Int(first)
                while index >= 0 {
                    let frame = frames[index]
                    cursor += Self.writeSequencedFrame(frame.prefix, frame.prefixCount, frame.sequenceId, at: cursor)
                    index = Int(frame.next)
                }
            }
        }
    }

    /// Frame header, the shared prefix, then `,"sequenceId":N}`: only the two small ends are
    /// per recipient (ARCHITECTURE rule 4). Returns the bytes now queued.
    private func sendSequenced(_ prefix: SharedBytes, sequenceId: UInt64, on connection: Unmanaged<Connection>) -> Int {
        withUnsafeTemporaryAllocation(byteCount: 64, alignment: 8) { scratch in
            // Scratch: the frame header at the start, `,"sequenceId":N}` from byte 16.
            let base = scratch.baseAddress!
            let cursor = base + 16
            let suffix = Self.writeSequenceSuffix(sequenceId, at: cursor)
            let header = Self.writeTextFrameHeader(payloadLength: prefix.count + suffix, at: base)
            countDelivered(bytes: header + prefix.count + suffix)
            return connection._withUnsafeGuaranteedRef {
                $0.queue(
                    prefix, head: UnsafeRawBufferPointer(start: base, count: header),
                    tail: UnsafeRawBufferPointer(start: cursor, count: suffix))
            }
        }
    }

    /// Bytes of a reliable frame whose prefix is `prefixCount` long.
    @inline(__always)
    static func sequencedFrameSize(_ prefixCount: Int, _ sequenceId: UInt64) -> Int {
        let length = prefixCount + 15 + decimalDigits(sequenceId)
        return length + (length < 126 ? 2 : length < 65_536 ? 4 : 10)
    }

    /// Writes one reliable frame at `out`; returns its size.
    @inline(__always)
    static func writeSequencedFrame(
        _ prefix: UnsafeRawPointer?, _ prefixCount: Int, _ sequenceId: UInt64, at out: UnsafeMutableRawPointer
    ) -> Int {
        let length = prefixCount + 15 + decimalDigits(sequenceId)
        let header = writeTextFrameHeader(payloadLength: length, at: out)
        if let prefix { (out + header).copyMemory(from: prefix, byteCount: prefixCount) }
        _ = writeSequenceSuffix(sequenceId, at: out + header + prefixCount)
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
}
