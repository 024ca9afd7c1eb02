import WPSBytes
import WPSProtocol
import WPSWebSocket

/// The bytes the floor workload's writer sends: what the server writes to a json subscriber
/// for one fan-out publish (a group message from the bench publisher), as an unmasked text
/// frame, so the floor moves the same number of bytes per delivery as a real fan-out.
enum FloorFrame {
    /// The fan-out workload's group and publisher user id, so the envelope has the same size.
    static let group = "fanout"
    static let fromUserId = "publisher"

    /// Appends one frame whose payload is a group message carrying a bench payload of
    /// `payloadBytes` stamped with `sentNanos`, publisher slot 0 and `sequence`.
    static func append(
        sentNanos: UInt64, sequence: UInt64, payloadBytes: Int, style: BenchPayload.PayloadStyle = .x,
        to frame: inout [UInt8]
    ) {
        let data = BenchPayload.make(
            sentNanos: sentNanos, publisher: 0, sequence: sequence, size: payloadBytes, style: style)
        var message = OutputBuffer(capacity: payloadBytes + 128)
        data.bytes.withUnsafeBytes { raw in
            ServerMessageEncoder.groupMessagePrefix(
                group: group, fromUserId: fromUserId, dataType: .json, data: raw, into: &message)
        }
        message.append(ServerMessageEncoder.messageEnd)
        var header: (UInt64, UInt64) = (0, 0)
        let headerCount = withUnsafeMutableBytes(of: &header) { raw in
            WebSocketFrameEncoder.writeHeader(into: raw, opcode: .text, payloadLength: message.count)
        }
        withUnsafeBytes(of: &header) { frame.append(contentsOf: $0.prefix(headerCount)) }
        frame.append(contentsOf: message.bytes)
    }

    /// One whole frame (see `append`).
    static func make(
        sentNanos: UInt64, sequence: UInt64, payloadBytes: Int, style: BenchPayload.PayloadStyle = .x
    ) -> [UInt8] {
        var frame: [UInt8] = []
        append(sentNanos: sentNanos, sequence: sequence, payloadBytes: payloadBytes, style: style, to: &frame)
        return frame
    }
}
