/// RFC 7692 permessage-deflate negotiation for both roles; policy in `protocol-spec/deflate.md` §2–§3.
public enum DeflateNegotiation {
    /// The extension token, compared case-insensitively.
    public static let extensionName = "permessage-deflate"

    /// Server side: the parameters for the first acceptable permessage-deflate offer among the
    /// client's `Sec-WebSocket-Extensions` values (one string per header line), or nil to run
    /// without compression. Offers with unknown, duplicate or invalid parameters are declined
    /// one by one (RFC 7692 §5); declining is never an error.
    public static func negotiate(offers: [String], configuration: DeflateConfiguration) -> DeflateParameters? {
        guard configuration.enabled else { return nil }
        for element in ExtensionHeaderParser.parse(offers) where element.name == extensionName {
            if let parameters = accept(element, configuration: configuration) { return parameters }
        }
        return nil
    }

    /// The server's answer to one offer, or nil when the offer must be declined.
    static func accept(_ offer: ExtensionElement, configuration: DeflateConfiguration) -> DeflateParameters? {
        guard offer.isWellFormed else { return nil }
        var seen: Set<String> = []
        var clientNoContextTakeover = configuration.requestsClientNoContextTakeover
        var serverBits: Int?
        var clientBitsOffered = false
        var clientBits: Int?
        for parameter in offer.parameters {
            guard seen.insert(parameter.name).inserted else { return nil }
            switch parameter.name {
            case "server_no_context_takeover":
                // Always answered: the server never keeps context (shared broadcasts).
                guard parameter.value == nil else { return nil }
            case "client_no_context_takeover":
                guard parameter.value == nil else { return nil }
                clientNoContextTakeover = true
            case "server_max_window_bits":
                guard let bits = parameter.value.flatMap(windowBits) else { return nil }
                serverBits = bits
            case "client_max_window_bits":
                clientBitsOffered = true
                if let value = parameter.value {
                    guard let bits = windowBits(value) else { return nil }
                    clientBits = bits
                }
            default:
                return nil
            }
        }
        let serverWindow = min(serverBits ?? 15, configuration.maxWindowBits)
        // Without client_max_window_bits in the offer the response may not name it, and the
        // client may use the full 15-bit window (RFC 7692 §7.1.2.2).
        let clientWindow = clientBitsOffered ? min(clientBits ?? 15, configuration.maxWindowBits) : 15
        return DeflateParameters(
            serverNoContextTakeover: true,
            clientNoContextTakeover: clientNoContextTakeover,
            serverMaxWindowBits: serverWindow,
            clientMaxWindowBits: clientWindow,
            announcesServerMaxWindowBits: serverBits != nil || serverWindow != 15,
            announcesClientMaxWindowBits: clientBitsOffered
        )
    }

    /// A window-bits value: decimal 8...15 without leading zeros (RFC 7692 §7.1.2.1).
    static func windowBits(_ value: String) -> Int? {
        let digits = Array(value.utf8)
        guard (1...2).contains(digits.count), digits[0] != UInt8(ascii: "0"),
            digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") })
        else { return nil }
        let number = digits.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
        return DeflateParameters.windowBitsRange.contains(number) ? number : nil
    }

    /// What a client asks for in its offer.
    public struct ClientOffer: Sendable, Hashable {
        /// Ask the server not to keep context between messages.
        public var serverNoContextTakeover: Bool
        /// Promise not to keep context between the client's own messages.
        public var clientNoContextTakeover: Bool
        /// Ask the server to compress with at most this window (8...15); nil leaves it at 15.
        public var serverMaxWindowBits: Int?
        /// The client's own window; nil sends a bare `client_max_window_bits` (supports any value).
        public var clientMaxWindowBits: Int?

        /// Creates an offer; window bits outside 8...15 are programmer errors.
        public init(
            serverNoContextTakeover: Bool = false,
            clientNoContextTakeover: Bool = false,
            serverMaxWindowBits: Int? = nil,
            clientMaxWindowBits: Int? = nil
        ) {
            for bits in [serverMaxWindowBits, clientMaxWindowBits].compactMap({ $0 }) {
                precondition(DeflateParameters.windowBitsRange.contains(bits), "window bits must be 8...15")
            }
            self.serverNoContextTakeover = serverNoContextTakeover
            self.clientNoContextTakeover = clientNoContextTakeover
            self.serverMaxWindowBits = serverMaxWindowBits
            self.clientMaxWindowBits = clientMaxWindowBits
        }

        /// The `Sec-WebSocket-Extensions` request value.
        public var headerValue: String {
            var value = DeflateNegotiation.extensionName
            if serverNoContextTakeover { value += "; server_no_context_takeover" }
            if clientNoContextTakeover { value += "; client_no_context_takeover" }
            if let serverMaxWindowBits { value += "; server_max_window_bits=\(serverMaxWindowBits)" }
            value += "; client_max_window_bits"
            if let clientMaxWindowBits { value += "=\(clientMaxWindowBits)" }
            return value
        }
    }

    /// Client side: the `Sec-WebSocket-Extensions` value to send.
    public static func clientOffer(_ offer: ClientOffer = ClientOffer()) -> String {
        offer.headerValue
    }

    /// Client side: validates the server's `Sec-WebSocket-Extensions` response against what was
    /// offered. nil means the response is invalid and the client must fail the connection
    /// (RFC 7692 §5); a response without the header at all is simply "no compression".
    public static func acceptResponse(_ headerValue: String, offered: ClientOffer) -> DeflateParameters? {
        let elements = ExtensionHeaderParser.parse([headerValue])
        guard elements.count == 1, let element = elements.first, element.isWellFormed,
            element.name == extensionName
        else { return nil }
        var seen: Set<String> = []
        var serverNoContextTakeover = false
        var clientNoContextTakeover = offered.clientNoContextTakeover
        var serverBits: Int?
        var clientBits: Int?
        for parameter in element.parameters {
            guard seen.insert(parameter.name).inserted else { return nil }
            switch parameter.name {
            case "server_no_context_takeover":
                guard parameter.value == nil else { return nil }
                serverNoContextTakeover = true
            case "client_no_context_takeover":
                guard parameter.value == nil else { return nil }
                clientNoContextTakeover = true
            case "server_max_window_bits":
                guard let bits = parameter.value.flatMap(windowBits), bits <= offered.serverMaxWindowBits ?? 15
                else { return nil }
                serverBits = bits
            case "client_max_window_bits":
                guard let bits = parameter.value.flatMap(windowBits), bits <= offered.clientMaxWindowBits ?? 15
                else { return nil }
                clientBits = bits
            default:
                return nil
            }
        }
        // RFC 7692 §7.1.1.1 and §7.1.2.1: what was asked of the server must be confirmed.
        if offered.serverNoContextTakeover && !serverNoContextTakeover { return nil }
        if offered.serverMaxWindowBits != nil && serverBits == nil { return nil }
        return DeflateParameters(
            serverNoContextTakeover: serverNoContextTakeover,
            clientNoContextTakeover: clientNoContextTakeover,
            serverMaxWindowBits: serverBits ?? 15,
            clientMaxWindowBits: clientBits ?? offered.clientMaxWindowBits ?? 15,
            announcesServerMaxWindowBits: serverBits != nil,
            announcesClientMaxWindowBits: clientBits != nil
        )
    }
}
