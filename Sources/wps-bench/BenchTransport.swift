import WPSClient
import WPSDeflate

/// How bench sockets reach the server: plain TCP or TLS, with or without a
/// permessage-deflate offer. Fixed for the whole run.
struct BenchTransport: Sendable {
    /// TLS toward the server (no verification: a loopback bench against a self-signed
    /// certificate); nil for plain TCP.
    var tls: ClientTLS?
    /// Offer permessage-deflate in every upgrade request.
    var deflate = false

    /// Server name sent in the TLS ClientHello (SNI); the bench's certificate is for localhost.
    static let serverName = "localhost"

    /// The offer: the server never keeps context for what it sends (broadcasts are compressed
    /// once and shared), and bench clients never compress, so they promise no context either.
    static let offer = DeflateNegotiation.ClientOffer(serverNoContextTakeover: true, clientNoContextTakeover: true)

    /// What an upgrade response's `Sec-WebSocket-Extensions` means for a bench socket.
    enum Negotiated: Equatable {
        /// No extension in use: messages arrive uncompressed.
        case none
        /// permessage-deflate with these parameters.
        case deflate(DeflateParameters)
        /// An answer that was not offered or is malformed: the connection must fail (RFC 7692 §5).
        case invalid
    }

    /// Reads the server's answer (`nil` when the header is absent) against what was offered.
    static func negotiated(answer: String?, offered: Bool) -> Negotiated {
        guard let answer else { return .none }
        guard offered, let parameters = DeflateNegotiation.acceptResponse(answer, offered: offer) else {
            return .invalid
        }
        return .deflate(parameters)
    }
}
