import Testing
import WPSDeflate

/// Client side: the offer it sends and how it checks the server's answer.
@Suite struct ClientNegotiationTests {
    typealias Offer = DeflateNegotiation.ClientOffer

    static let offers: [(offer: Offer, header: String)] = [
        (Offer(), "permessage-deflate; client_max_window_bits"),
        (Offer(clientMaxWindowBits: 10), "permessage-deflate; client_max_window_bits=10"),
        (
            Offer(serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 9),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
                + "server_max_window_bits=9; client_max_window_bits"
        ),
    ]

    @Test(arguments: offers)
    func rendersTheOffer(offer: Offer, header: String) {
        #expect(DeflateNegotiation.clientOffer(offer) == header)
    }

    /// Responses to the default offer: accepted (with the resulting parameters) or rejected.
    static let responses: [(response: String, expected: DeflateParameters?)] = [
        ("permessage-deflate", DeflateParameters()),
        ("Permessage-Deflate; server_no_context_takeover", DeflateParameters(serverNoContextTakeover: true)),
        (
            "permessage-deflate; server_no_context_takeover; client_max_window_bits=15",
            DeflateParameters(serverNoContextTakeover: true, announcesClientMaxWindowBits: true)
        ),
        (
            "permessage-deflate; client_no_context_takeover; server_max_window_bits=10",
            DeflateParameters(clientNoContextTakeover: true, serverMaxWindowBits: 10)
        ),
        (
            "permessage-deflate; client_max_window_bits=\"9\"",
            DeflateParameters(clientMaxWindowBits: 9, announcesClientMaxWindowBits: true)
        ),
        ("permessage-deflate; client_max_window_bits", nil),  // the response must carry a value
        ("permessage-deflate; server_max_window_bits", nil),
        ("permessage-deflate; server_max_window_bits=16", nil),
        ("permessage-deflate; server_no_context_takeover; server_no_context_takeover", nil),
        ("permessage-deflate; server_no_context_takeover=yes", nil),
        ("permessage-deflate; unknown", nil),
        ("permessage-deflate, permessage-deflate", nil),
        ("x-webkit-deflate-frame", nil),
        ("permessage-deflate;", nil),
        ("", nil),
    ]

    @Test(arguments: responses)
    func validatesTheResponse(response: String, expected: DeflateParameters?) {
        #expect(DeflateNegotiation.acceptResponse(response, offered: Offer()) == expected)
    }

    /// What the client asked for must come back within bounds.
    static let constrained: [(offer: Offer, response: String, accepted: Bool)] = [
        (Offer(serverNoContextTakeover: true), "permessage-deflate", false),
        (Offer(serverNoContextTakeover: true), "permessage-deflate; server_no_context_takeover", true),
        (Offer(serverMaxWindowBits: 10), "permessage-deflate", false),
        (Offer(serverMaxWindowBits: 10), "permessage-deflate; server_max_window_bits=10", true),
        (Offer(serverMaxWindowBits: 10), "permessage-deflate; server_max_window_bits=9", true),
        (Offer(serverMaxWindowBits: 10), "permessage-deflate; server_max_window_bits=11", false),
        (Offer(clientMaxWindowBits: 10), "permessage-deflate; client_max_window_bits=11", false),
        (Offer(clientMaxWindowBits: 10), "permessage-deflate; client_max_window_bits=8", true),
    ]

    @Test(arguments: constrained)
    func enforcesWhatWasAsked(offer: Offer, response: String, accepted: Bool) {
        #expect((DeflateNegotiation.acceptResponse(response, offered: offer) != nil) == accepted)
    }

    @Test func clientKeepsItsOwnPromises() throws {
        let offer = Offer(clientNoContextTakeover: true, clientMaxWindowBits: 12)
        let parameters = try #require(DeflateNegotiation.acceptResponse("permessage-deflate", offered: offer))
        #expect(parameters.clientNoContextTakeover)
        #expect(parameters.clientMaxWindowBits == 12)
    }

    /// Server and client agree on the same parameters for the same handshake.
    @Test(arguments: [
        Offer(),
        Offer(clientMaxWindowBits: 11),
        Offer(serverNoContextTakeover: true, clientNoContextTakeover: true),
        Offer(serverMaxWindowBits: 8, clientMaxWindowBits: 8),
        Offer(serverMaxWindowBits: 15),
    ])
    func bothSidesAgree(offer: Offer) throws {
        for maxWindowBits in [10, 15] {
            let configuration = DeflateConfiguration(maxWindowBits: maxWindowBits)
            let server = try #require(
                DeflateNegotiation.negotiate(
                    offers: [DeflateNegotiation.clientOffer(offer)], configuration: configuration))
            let client = try #require(DeflateNegotiation.acceptResponse(server.responseHeaderValue, offered: offer))
            #expect(client == server)
        }
    }
}
