import WPSBytes

/// The bytes the bench sends and the fast scans it runs on what comes back.
///
/// A payload is `{"t":<send ns>,"p":<publisher slot>,"n":<sequence>,"pad":"xx…"}`, padded to a
/// fixed size; the server forwards it byte for byte inside `"data":…`, so a subscriber finds
/// it again by looking for `{"t":` without parsing the envelope.
enum BenchPayload {
    /// How a payload is padded: `x` repeats one letter (the historical default, compresses
    /// about 100x); `text` uses words, so compression behaves like real JSON text.
    enum PayloadStyle: String, Sendable, CaseIterable {
        case x
        case text
    }

    /// A stamp found in a delivered message.
    struct Stamp {
        var sentNanos: UInt64
        var publisher: Int
        var sequence: UInt64
    }

    /// Kinds of server message, told apart by the first letter of `type`.
    enum Kind { case message, ack, system, pong, other }

    /// The payload for one publish, padded to `size` bytes (never shorter than needed): with
    /// `x` by default, or with a slice of `textCorpus` (chosen by `sequence`) for `.text`.
    static func make(
        sentNanos: UInt64, publisher: Int, sequence: UInt64, size: Int, style: PayloadStyle = .x
    ) -> OutputBuffer {
        var out = OutputBuffer(capacity: max(size, 64))
        out.append(#"{"t":"#)
        out.appendDecimal(sentNanos)
        out.append(#","p":"#)
        out.appendDecimal(publisher)
        out.append(#","n":"#)
        out.appendDecimal(sequence)
        out.append(#","pad":""#)
        let padding = size - out.count - 2
        if padding > 0 {
            switch style {
            case .x:
                out.append(contentsOf: repeatElement(UInt8(ascii: "x"), count: padding))
            case .text:
                let corpus = textCorpus
                let start = Int(truncatingIfNeeded: (sequence &* 2_654_435_761) % UInt64(textCorpusSlack))
                let end = min(start + padding, corpus.count)
                out.append(contentsOf: corpus[start..<end])
                // Only a padding longer than any payload limit could run past the corpus.
                if end - start < padding {
                    out.append(contentsOf: repeatElement(UInt8(ascii: " "), count: padding - (end - start)))
                }
            }
        }
        out.append(#""}"#)
        return out
    }

    /// Corpus offsets a text padding may start at, so consecutive publishes differ.
    static let textCorpusSlack = 4096

    /// Words from a small vocabulary, separated by single spaces, long enough for any
    /// `--payload-bytes`. Uniform choice from 16 words compresses about 3.8x with zlib level
    /// 6, close to real JSON text (3–5x); a run of `x` compresses about 100x.
    static let textCorpus: [UInt8] = makeTextCorpus(bytes: 65_536 + textCorpusSlack)

    /// Deterministic pseudo-random words (xorshift64 with a fixed seed); JSON-string safe.
    static func makeTextCorpus(bytes: Int) -> [UInt8] {
        let words = [
            "the", "user", "order", "status", "message", "group", "update", "value",
            "and", "total", "price", "event", "server", "of", "item", "name",
        ].map { Array($0.utf8) }
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        var out: [UInt8] = []
        out.reserveCapacity(bytes + 16)
        while out.count < bytes {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            if !out.isEmpty { out.append(UInt8(ascii: " ")) }
            out.append(contentsOf: words[Int(truncatingIfNeeded: (state >> 11) % UInt64(words.count))])
        }
        return Array(out.prefix(bytes))
    }

    /// A `sendToGroup` request carrying `data` (a JSON value), acked when `ackId` is given.
    static func sendToGroup(group: String, ackId: UInt64?, data: OutputBuffer) -> [UInt8] {
        var out = OutputBuffer(capacity: data.count + 96)
        out.append(#"{"type":"sendToGroup","group":"#)
        JSONWriter.appendString(group, to: &out)
        if let ackId {
            out.append(#","ackId":"#)
            out.appendDecimal(ackId)
        }
        out.append(#","dataType":"json","data":"#)
        out.append(contentsOf: data.bytes)
        out.append("}")
        return out.bytes
    }

    /// A `joinGroup` or `leaveGroup` request with an ack id.
    static func groupRequest(join: Bool, group: String, ackId: UInt64) -> [UInt8] {
        var out = OutputBuffer(capacity: 96)
        out.append(join ? #"{"type":"joinGroup","group":"# : #"{"type":"leaveGroup","group":"#)
        JSONWriter.appendString(group, to: &out)
        out.append(#","ackId":"#)
        out.appendDecimal(ackId)
        out.append("}")
        return out.bytes
    }

    /// `{"type":"sequenceAck","sequenceId":N}`.
    static func sequenceAck(_ sequenceId: UInt64) -> [UInt8] {
        var out = OutputBuffer(capacity: 48)
        out.append(#"{"type":"sequenceAck","sequenceId":"#)
        out.appendDecimal(sequenceId)
        out.append("}")
        return out.bytes
    }

    /// The message kind from the bytes after `{"type":"`.
    static func kind(_ message: UnsafeRawBufferPointer) -> Kind {
        guard message.count > 10, message[0] == UInt8(ascii: "{"), message[8] == UInt8(ascii: "\"") else {
            return .other
        }
        switch message[9] {
        case UInt8(ascii: "m"): return .message
        case UInt8(ascii: "a"): return .ack
        case UInt8(ascii: "s"): return .system
        case UInt8(ascii: "p"): return .pong
        default: return .other
        }
    }

    /// Finds the bench stamp inside a delivered message, or nil when there is none.
    static func stamp(in message: UnsafeRawBufferPointer) -> Stamp? {
        let count = message.count
        var index = 0
        // `{"t":` — five bytes; the envelope puts it well after the start.
        while index &+ 5 <= count {
            if message[index] == UInt8(ascii: "{"), message[index &+ 1] == UInt8(ascii: "\""),
                message[index &+ 2] == UInt8(ascii: "t"), message[index &+ 3] == UInt8(ascii: "\""),
                message[index &+ 4] == UInt8(ascii: ":")
            {
                var position = index &+ 5
                guard let sent = digits(message, &position), skip(#","p":"#, message, &position),
                    let publisher = digits(message, &position), skip(#","n":"#, message, &position),
                    let sequence = digits(message, &position)
                else { return nil }
                return Stamp(sentNanos: sent, publisher: Int(publisher), sequence: sequence)
            }
            index &+= 1
        }
        return nil
    }

    /// The trailing `,"sequenceId":N}` of a reliable data message, or nil.
    static func sequenceId(in message: UnsafeRawBufferPointer) -> UInt64? {
        var end = message.count &- 1
        guard end > 16, message[end] == UInt8(ascii: "}") else { return nil }
        var value: UInt64 = 0
        var scale: UInt64 = 1
        end &-= 1
        while end > 0, message[end] >= 48, message[end] <= 57 {
            value &+= UInt64(message[end] &- 48) &* scale
            scale &*= 10
            end &-= 1
        }
        let label = #""sequenceId":"#.utf8
        guard scale > 1, end >= label.count else { return nil }
        var position = end &- label.count &+ 1
        return skip(#""sequenceId":"#, message, &position) ? value : nil
    }

    /// The ack id and success flag of `{"type":"ack","ackId":N,"success":…}`.
    static func ack(in message: UnsafeRawBufferPointer) -> (id: UInt64, success: Bool)? {
        var position = 13
        guard skip(#","ackId":"#, message, &position), let id = digits(message, &position),
            skip(#","success":"#, message, &position), position < message.count
        else { return nil }
        return (id, message[position] == UInt8(ascii: "t"))
    }

    /// True for `{"type":"system","event":"connected",…`.
    static func isConnected(_ message: UnsafeRawBufferPointer) -> Bool {
        var position = 16
        return skip(#","event":"connected""#, message, &position)
    }

    private static func digits(_ bytes: UnsafeRawBufferPointer, _ position: inout Int) -> UInt64? {
        let start = position
        var value: UInt64 = 0
        while position < bytes.count, bytes[position] >= 48, bytes[position] <= 57 {
            value = value &* 10 &+ UInt64(bytes[position] &- 48)
            position &+= 1
        }
        return position > start ? value : nil
    }

    private static func skip(_ literal: StaticString, _ bytes: UnsafeRawBufferPointer, _ position: inout Int) -> Bool {
        let count = literal.utf8CodeUnitCount
        guard position &+ count <= bytes.count else { return false }
        let text = literal.utf8Start
        for offset in 0..<count where bytes[position &+ offset] != text[offset] { return false }
        position &+= count
        return true
    }
}
