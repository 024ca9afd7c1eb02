internal import WPSBytes

/// A WebSocket subprotocol of Azure Web PubSub that wps-server speaks (protocol-spec/client-protocol.md §1).
///
/// Only the two JSON subprotocols are implemented; anything else a client offers (including
/// the protobuf ones) is not selected, so such a client is served as a raw WebSocket client.
public struct WebPubSubSubprotocol: Hashable, Sendable, CustomStringConvertible {
    /// The canonical lower-case name, echoed in `Sec-WebSocket-Protocol` of the 101 response.
    public let name: String
    /// Whether data messages carry `sequenceId` and the session survives a dropped socket.
    public let isReliable: Bool

    private init(name: String, isReliable: Bool) {
        self.name = name
        self.isReliable = isReliable
    }

    /// `json.webpubsub.azure.v1`: JSON envelopes, no sequence ids, no recovery.
    public static let json = WebPubSubSubprotocol(name: "json.webpubsub.azure.v1", isReliable: false)
    /// `json.reliable.webpubsub.azure.v1`: JSON envelopes with sequence ids and recovery; the SDK default.
    public static let jsonReliable = WebPubSubSubprotocol(name: "json.reliable.webpubsub.azure.v1", isReliable: true)

    /// Every subprotocol the server can select.
    public static let all: [WebPubSubSubprotocol] = [.json, .jsonReliable]

    /// Recognises a subprotocol name, ignoring ASCII case (SDKs send lower case, the
    /// emulator compares case-insensitively) and surrounding spaces of a header list item.
    public static func parse(_ name: String) -> WebPubSubSubprotocol? {
        var name = name
        return name.withUTF8 { bytes in
            var start = 0
            var end = bytes.count
            while start < end, bytes[start] == 0x20 || bytes[start] == 0x09 { start += 1 }
            while end > start, bytes[end - 1] == 0x20 || bytes[end - 1] == 0x09 { end -= 1 }
            let candidate = UnsafeBufferPointer(rebasing: bytes[start..<end])
            for known in all where asciiCaseInsensitiveEquals(candidate, known.name) {
                return known
            }
            return nil
        }
    }

    /// The first recognised subprotocol among those a client offered, in the client's order.
    ///
    /// Clients offer exactly one in practice (reference §1.3); with several and no connect
    /// handler to choose, taking the client's first preference is the least surprising rule.
    public static func select(offered: [String]) -> WebPubSubSubprotocol? {
        for name in offered {
            if let known = parse(name) { return known }
        }
        return nil
    }

    /// The canonical name.
    public var description: String { name }

    private static func asciiCaseInsensitiveEquals(_ left: UnsafeBufferPointer<UInt8>, _ right: String) -> Bool {
        var right = right
        // Over contiguous bytes: stepping through a String's UTF-8 view costs several times more.
        return right.withUTF8 {
            ByteScan.equalIgnoringASCIICase(UnsafeRawBufferPointer(left), UnsafeRawBufferPointer($0))
        }
    }
}
