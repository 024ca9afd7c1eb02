import Testing
import WPSBytes
import WPSWebSocket

/// One protocol rule: a stream, the reader settings and the close code it must fail with.
struct RuleCase: CustomTestStringConvertible, Sendable {
    var name: String
    var bytes: [UInt8]
    var role: WebSocketRole = .server
    var allowCompressed = false
    var code: WebSocketCloseCode?
    var testDescription: String { name }
}

let ruleCases: [RuleCase] = [
    RuleCase(name: "unmasked client frame", bytes: frame(.text, "hi", from: .server), code: .protocolError),
    RuleCase(name: "masked server frame", bytes: frame(.text, "hi"), role: .client, code: .protocolError),
    RuleCase(name: "unmasked server frame", bytes: frame(.text, "hi", from: .server), role: .client, code: nil),
    RuleCase(name: "RSV1 without compression", bytes: frame(.text, "hi", rsv1: true), code: .protocolError),
    RuleCase(name: "RSV1 with compression", bytes: frame(.binary, [1], rsv1: true), allowCompressed: true, code: nil),
    RuleCase(
        name: "RSV2", bytes: withFirstByte(frame(.text, "hi"), or: 0x20), allowCompressed: true, code: .protocolError),
    RuleCase(
        name: "RSV3", bytes: withFirstByte(frame(.text, "hi"), or: 0x10), allowCompressed: true, code: .protocolError),
    RuleCase(name: "RSV1 on ping", bytes: frame(.ping, "x", rsv1: true), allowCompressed: true, code: .protocolError),
    RuleCase(
        name: "RSV1 on continuation",
        bytes: frame(.text, "a", fin: false, rsv1: true) + frame(.continuation, "b", rsv1: true),
        allowCompressed: true, code: .protocolError),
    RuleCase(name: "ping with 125 bytes", bytes: frame(.ping, [UInt8](repeating: 1, count: 125)), code: nil),
    RuleCase(name: "ping with 126 bytes", bytes: frame(.ping, [UInt8](repeating: 1, count: 126)), code: .protocolError),
    RuleCase(name: "pong with 126 bytes", bytes: frame(.pong, [UInt8](repeating: 1, count: 126)), code: .protocolError),
    RuleCase(
        name: "close with 126 bytes", bytes: frame(.close, [0x03, 0xE8] + [UInt8](repeating: 0x61, count: 124)),
        code: .protocolError),
    RuleCase(name: "ping without FIN", bytes: frame(.ping, "x", fin: false), code: .protocolError),
    RuleCase(name: "continuation first", bytes: frame(.continuation, "x"), code: .protocolError),
    RuleCase(
        name: "continuation after a finished message", bytes: frame(.text, "a") + frame(.continuation, "b"),
        code: .protocolError),
    RuleCase(
        name: "text during a fragmented message", bytes: frame(.text, "a", fin: false) + frame(.text, "b"),
        code: .protocolError),
    RuleCase(
        name: "binary during a fragmented message", bytes: frame(.binary, [1], fin: false) + frame(.binary, [2]),
        code: .protocolError),
    RuleCase(
        name: "ping between fragments",
        bytes: frame(.text, "a", fin: false) + frame(.ping, "p") + frame(.continuation, "b"), code: nil),
    RuleCase(
        name: "64-bit length with high bit",
        bytes: rawHeader(first: 0x82, lengthCode: 127, extended: [0x80, 0, 0, 0, 0, 0, 0, 1]), code: .protocolError),
    RuleCase(
        name: "64-bit length over the limit",
        bytes: rawHeader(first: 0x82, lengthCode: 127, extended: [0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]),
        code: .messageTooBig),
    RuleCase(
        name: "non-minimal 16-bit length",
        bytes: rawHeader(first: 0x82, lengthCode: 126, extended: [0, 3]) + masked([1, 2, 3]), code: nil),
    RuleCase(
        name: "non-minimal 64-bit length",
        bytes: rawHeader(first: 0x82, lengthCode: 127, extended: [0, 0, 0, 0, 0, 0, 0, 3]) + masked([1, 2, 3]),
        code: nil),
    RuleCase(name: "invalid UTF-8 text", bytes: frame(.text, [0x61, 0xFF]), code: .invalidPayload),
    RuleCase(name: "overlong UTF-8 text", bytes: frame(.text, [0xC0, 0xAF]), code: .invalidPayload),
    RuleCase(name: "text ending mid code point", bytes: frame(.text, [0x61, 0xE2, 0x82]), code: .invalidPayload),
    RuleCase(
        name: "code point split across fragments",
        bytes: frame(.text, [0x61, 0xE2], fin: false) + frame(.continuation, [0x82, 0xAC]), code: nil),
    RuleCase(
        name: "message ending mid code point across fragments",
        bytes: frame(.text, [0x61], fin: false) + frame(.continuation, [0xE2, 0x82]), code: .invalidPayload),
    RuleCase(
        name: "invalid UTF-8 in a later fragment",
        bytes: frame(.text, "ok", fin: false) + frame(.continuation, [0xED, 0xA0, 0x80]), code: .invalidPayload),
    RuleCase(name: "invalid UTF-8 in binary", bytes: frame(.binary, [0xFF]), code: nil),
    RuleCase(
        name: "invalid UTF-8 in compressed text", bytes: frame(.text, [0xFF], rsv1: true), allowCompressed: true,
        code: nil),
    RuleCase(name: "close with one byte", bytes: frame(.close, [0x03]), code: .protocolError),
    RuleCase(name: "close with no payload", bytes: frame(.close, []), code: nil),
    RuleCase(name: "close with invalid reason", bytes: frame(.close, [0x03, 0xE8, 0xFF]), code: .invalidPayload),
    RuleCase(name: "close with 1005", bytes: frame(.close, [0x03, 0xED]), code: .protocolError),
    RuleCase(name: "empty text", bytes: frame(.text, []), code: nil),
]

@Suite struct ReaderRuleTests {
    @Test(arguments: ruleCases)
    func rule(_ rule: RuleCase) {
        let code = failure(rule.bytes, role: rule.role, allowCompressed: rule.allowCompressed)
        #expect(code == rule.code)
    }

    @Test(arguments: Array(3...7) + Array(0xB...0xF))
    func reservedOpcode(_ value: Int) {
        let bytes = frame(WebSocketOpcode(rawValue: UInt8(value)), [1])
        #expect(failure(bytes) == .protocolError)
        #expect(
            failure(frame(WebSocketOpcode(rawValue: UInt8(value)), [1], from: .server), role: .client) == .protocolError
        )
    }

    /// Every class of close code: allowed ones are delivered, the rest are 1002.
    @Test(arguments: [
        (999, false), (1000, true), (1001, true), (1002, true), (1003, true), (1004, false), (1005, false),
        (1006, false), (1007, true), (1008, true), (1009, true), (1010, true), (1011, true), (1012, true),
        (1013, true), (1014, true), (1015, false), (1016, false), (2999, false), (3000, true), (4999, true),
        (5000, false), (0, false), (65535, false),
    ])
    func closeCode(_ code: Int, _ valid: Bool) {
        #expect(WebSocketCloseCode.isValidInCloseFrame(UInt16(code)) == valid)
        let payload = [UInt8(code >> 8), UInt8(code & 0xFF)] + Array("bye".utf8)
        let events = read(frame(.close, payload))
        if valid {
            #expect(events == [.close(UInt16(code), Array("bye".utf8))])
        } else {
            #expect(events == [.error(.protocolError)])
        }
    }

    @Test func closeEventsAndEmptyClose() {
        #expect(read(frame(.close, [])) == [.close(nil, [])])
        #expect(read(frame(.close, [0x03, 0xE8])) == [.close(1000, [])])
        let reason = Array("größer".utf8)
        #expect(read(frame(.close, [0x0F, 0xA0] + reason)) == [.close(4000, reason)])
    }

    @Test func inputAfterCloseIsIgnored() {
        var reader = WebSocketReader(role: .server)
        let events = read(frame(.close, [0x03, 0xE8]) + frame(.text, "late"), with: &reader)
        #expect(events == [.close(1000, [])])
        #expect(read(frame(.text, "later"), with: &reader) == [])
        #expect(reader.isFinished)
    }

    @Test func inputAfterErrorIsIgnored() {
        var reader = WebSocketReader(role: .server)
        #expect(read(frame(.text, "x", from: .server) + frame(.text, "y"), with: &reader) == [.error(.protocolError)])
        #expect(read(frame(.text, "y"), with: &reader) == [])
        #expect(reader.bufferedBytes == 0)
    }

    @Test func stopDropsTheRest() {
        var reader = WebSocketReader(role: .server)
        let stream = frame(.text, "a") + frame(.text, "b") + frame(.text, "c")
        #expect(read(stream, with: &reader, stopAfter: 1) == [.message(.text, [0x61], compressed: false)])
        #expect(read(frame(.text, "d"), with: &reader) == [])
    }

    @Test func eventsBeforeAnErrorAreDelivered() {
        let stream = frame(.text, "a") + frame(.ping, "p") + frame(.continuation, "x")
        #expect(read(stream) == [.message(.text, [0x61], compressed: false), .ping([0x70]), .error(.protocolError)])
    }

    @Test func compressedFlagFollowsTheFirstFrame() {
        let stream = frame(.binary, [1], fin: false, rsv1: true) + frame(.continuation, [2])
        #expect(read(stream, allowCompressed: true) == [.message(.binary, [1, 2], compressed: true)])
        #expect(read(frame(.text, "t"), allowCompressed: true) == [.message(.text, [0x74], compressed: false)])
    }

    @Test func errorsCarryReasons() {
        var reader = WebSocketReader(role: .server)
        var bytes = frame(.text, "x", from: .server)
        let error = bytes.withUnsafeMutableBytes { reader.feed($0) { _ in .continue } }
        #expect(error?.code == .protocolError)
        #expect(error?.reason.isEmpty == false)
    }
}
