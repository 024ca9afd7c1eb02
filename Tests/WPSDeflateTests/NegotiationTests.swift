import Testing
import WPSDeflate

/// Server-side negotiation: which offer is taken and what the response says.
@Suite struct NegotiationTests {
    static let base = "permessage-deflate; server_no_context_takeover"

    /// One offer header line each → the response value, or nil when every offer is declined.
    static let singleLine: [(offer: String, response: String?)] = [
        // Parameters, each alone.
        ("permessage-deflate", base),
        ("permessage-deflate; server_no_context_takeover", base),
        ("permessage-deflate; client_no_context_takeover", base + "; client_no_context_takeover"),
        ("permessage-deflate; client_max_window_bits", base + "; client_max_window_bits=15"),
        ("permessage-deflate; client_max_window_bits=10", base + "; client_max_window_bits=10"),
        ("permessage-deflate; client_max_window_bits=8", base + "; client_max_window_bits=8"),
        ("permessage-deflate; server_max_window_bits=15", base + "; server_max_window_bits=15"),
        ("permessage-deflate; server_max_window_bits=9", base + "; server_max_window_bits=9"),
        ("permessage-deflate; server_max_window_bits=8", base + "; server_max_window_bits=8"),
        // Everything at once, in another order.
        (
            "permessage-deflate; client_max_window_bits=11; server_max_window_bits=12; "
                + "client_no_context_takeover; server_no_context_takeover",
            base + "; client_no_context_takeover; server_max_window_bits=12; client_max_window_bits=11"
        ),
        // Quoted values and whitespace.
        ("permessage-deflate; client_max_window_bits=\"10\"", base + "; client_max_window_bits=10"),
        ("permessage-deflate; server_max_window_bits=\"1\\2\"", base + "; server_max_window_bits=12"),
        (
            "  permessage-deflate ;client_max_window_bits = 10 ;\tserver_max_window_bits=9  ",
            base + "; server_max_window_bits=9; client_max_window_bits=10"
        ),
        // Case-insensitive names.
        ("PerMessage-Deflate", base),
        ("PERMESSAGE-DEFLATE; Client_Max_Window_Bits", base + "; client_max_window_bits=15"),
        // Duplicates.
        ("permessage-deflate; client_no_context_takeover; client_no_context_takeover", nil),
        ("permessage-deflate; server_max_window_bits=10; server_max_window_bits=10", nil),
        ("permessage-deflate; client_max_window_bits; client_max_window_bits=10", nil),
        ("permessage-deflate; server_no_context_takeover; SERVER_NO_CONTEXT_TAKEOVER", nil),
        // Bad values.
        ("permessage-deflate; server_max_window_bits", nil),
        ("permessage-deflate; server_max_window_bits=7", nil),
        ("permessage-deflate; server_max_window_bits=16", nil),
        ("permessage-deflate; server_max_window_bits=08", nil),
        ("permessage-deflate; server_max_window_bits=010", nil),
        ("permessage-deflate; server_max_window_bits=+9", nil),
        ("permessage-deflate; client_max_window_bits=abc", nil),
        ("permessage-deflate; client_max_window_bits=\"\"", nil),
        ("permessage-deflate; client_max_window_bits=\"1 0\"", nil),
        ("permessage-deflate; client_max_window_bits=\"10", nil),
        ("permessage-deflate; client_max_window_bits=", nil),
        ("permessage-deflate; server_no_context_takeover=1", nil),
        ("permessage-deflate; client_no_context_takeover=\"true\"", nil),
        // Unknown parameters and other extensions.
        ("permessage-deflate; mux", nil),
        ("permessage-deflate; x-level=9", nil),
        ("x-webkit-deflate-frame", nil),
        ("deflate-frame; no_context_takeover", nil),
        ("permessage-deflate-x", nil),
        // Broken syntax.
        ("permessage-deflate;", nil),
        ("permessage-deflate; ; client_no_context_takeover", nil),
        ("permessage-deflate client_no_context_takeover", nil),
        ("; permessage-deflate", nil),
        ("", nil),
        // Several offers on one line: the first acceptable wins.
        (
            "permessage-deflate; server_max_window_bits=7, permessage-deflate; client_max_window_bits",
            base + "; client_max_window_bits=15"
        ),
        ("permessage-deflate; foo=\"a,b\", permessage-deflate", base),
        (
            "x-webkit-deflate-frame, permessage-deflate; client_no_context_takeover",
            base + "; client_no_context_takeover"
        ),
        ("permessage-deflate; server_max_window_bits=10, permessage-deflate", base + "; server_max_window_bits=10"),
        (", ,permessage-deflate,", base),
    ]

    @Test(arguments: singleLine)
    func negotiatesOneHeader(offer: String, response: String?) {
        let parameters = DeflateNegotiation.negotiate(offers: [offer], configuration: DeflateConfiguration())
        #expect(parameters?.responseHeaderValue == response)
    }

    /// Several header lines are one list, in order.
    static let multiLine: [(offers: [String], response: String?)] = [
        ([], nil),
        ([""], nil),
        (
            ["x-foo", "permessage-deflate; bogus", "permessage-deflate; server_max_window_bits=10"],
            base + "; server_max_window_bits=10"
        ),
        (["permessage-deflate; client_max_window_bits=16", "permessage-deflate"], base),
        (["permessage-deflate", "permessage-deflate; client_no_context_takeover"], base),
        (["x-foo; a=\"b", "permessage-deflate"], base),
        (["mux", "x-webkit-deflate-frame"], nil),
    ]

    @Test(arguments: multiLine)
    func negotiatesSeveralHeaders(offers: [String], response: String?) {
        let parameters = DeflateNegotiation.negotiate(offers: offers, configuration: DeflateConfiguration())
        #expect(parameters?.responseHeaderValue == response)
    }

    @Test func parametersCarryTheNegotiatedValues() throws {
        let offer = "permessage-deflate; client_no_context_takeover; server_max_window_bits=8; client_max_window_bits=9"
        let parameters = try #require(
            DeflateNegotiation.negotiate(offers: [offer], configuration: DeflateConfiguration()))
        #expect(parameters.serverNoContextTakeover)
        #expect(parameters.clientNoContextTakeover)
        #expect(parameters.serverMaxWindowBits == 8)
        #expect(parameters.clientMaxWindowBits == 9)
    }

    @Test func clientWindowIsFifteenWhenNotOffered() throws {
        let parameters = try #require(
            DeflateNegotiation.negotiate(
                offers: ["permessage-deflate"], configuration: DeflateConfiguration(maxWindowBits: 10)))
        // The client may not be told a smaller window it never offered to honour.
        #expect(parameters.clientMaxWindowBits == 15)
        #expect(parameters.serverMaxWindowBits == 10)
        #expect(parameters.responseHeaderValue == Self.base + "; server_max_window_bits=10")
    }

    /// A smaller configured window caps both directions where the RFC lets the server say so.
    static let configured: [(offer: String, maxWindowBits: Int, response: String)] = [
        (
            "permessage-deflate; client_max_window_bits", 10,
            base + "; server_max_window_bits=10; client_max_window_bits=10"
        ),
        (
            "permessage-deflate; client_max_window_bits=12", 10,
            base + "; server_max_window_bits=10; client_max_window_bits=10"
        ),
        (
            "permessage-deflate; client_max_window_bits=9", 10,
            base + "; server_max_window_bits=10; client_max_window_bits=9"
        ),
        ("permessage-deflate; server_max_window_bits=12", 10, base + "; server_max_window_bits=10"),
        ("permessage-deflate; server_max_window_bits=9", 10, base + "; server_max_window_bits=9"),
        ("permessage-deflate; client_max_window_bits", 15, base + "; client_max_window_bits=15"),
    ]

    @Test(arguments: configured)
    func honoursTheConfiguredWindow(offer: String, maxWindowBits: Int, response: String) {
        let configuration = DeflateConfiguration(maxWindowBits: maxWindowBits)
        #expect(
            DeflateNegotiation.negotiate(offers: [offer], configuration: configuration)?.responseHeaderValue == response
        )
    }

    @Test func disabledDeclinesEverything() {
        let configuration = DeflateConfiguration(enabled: false)
        #expect(DeflateNegotiation.negotiate(offers: ["permessage-deflate"], configuration: configuration) == nil)
    }

    @Test func canAskForClientNoContextTakeover() {
        let configuration = DeflateConfiguration(requestsClientNoContextTakeover: true)
        let parameters = DeflateNegotiation.negotiate(offers: ["permessage-deflate"], configuration: configuration)
        #expect(parameters?.clientNoContextTakeover == true)
        #expect(parameters?.responseHeaderValue == Self.base + "; client_no_context_takeover")
    }

    @Test func thresholdDecidesCompression() {
        let configuration = DeflateConfiguration()
        #expect(!configuration.shouldCompress(messageBytes: 255))
        #expect(configuration.shouldCompress(messageBytes: 256))
        #expect(configuration.shouldCompress(messageBytes: 257))
        #expect(!DeflateConfiguration(enabled: false).shouldCompress(messageBytes: 1 << 20))
    }

    /// The negotiated parameters build working streams for both roles, window 8 included.
    @Test(arguments: [8, 9, 12, 15])
    func parametersBuildMatchingStreams(bits: Int) throws {
        let offer = "permessage-deflate; server_max_window_bits=\(bits); client_max_window_bits=\(bits)"
        let configuration = DeflateConfiguration()
        let parameters = try #require(DeflateNegotiation.negotiate(offers: [offer], configuration: configuration))
        let serverOut = try parameters.makeServerDeflater(configuration: configuration)
        let clientIn = try parameters.makeClientInflater()
        let clientOut = try parameters.makeClientDeflater(configuration: configuration)
        let serverIn = try parameters.makeServerInflater()
        for variant in 0..<4 as Range<UInt64> {
            let message = Payload.compressible.bytes(count: 5000, variant: variant)
            #expect(clientIn.inflate(try #require(serverOut.deflate(message))) == message)
            #expect(serverIn.inflate(try #require(clientOut.deflate(message))) == message)
        }
    }

    /// 2000 seeded header values built from the grammar's pieces: negotiation never crashes,
    /// and every response it produces is one a client accepts as the same parameters.
    @Test func randomHeadersNeverCrash() {
        let pieces = [
            "permessage-deflate", "PERMESSAGE-DEFLATE", ";", ";", ",", "=", "\"", "\\", " ", "\t", "x",
            "client_max_window_bits", "server_max_window_bits", "server_no_context_takeover",
            "client_no_context_takeover", "8", "10", "15", "16", "08", "é",
        ]
        var generator = SeededGenerator(seed: 7692)
        var accepted = 0
        for _ in 0..<2000 {
            let lines = (0..<Int.random(in: 1...3, using: &generator)).map { _ in
                (0..<Int.random(in: 0...12, using: &generator)).map { _ in
                    pieces[Int.random(in: 0..<pieces.count, using: &generator)]
                }.joined()
            }
            guard let parameters = DeflateNegotiation.negotiate(offers: lines, configuration: DeflateConfiguration())
            else { continue }
            accepted += 1
            let echoed = DeflateNegotiation.acceptResponse(
                parameters.responseHeaderValue, offered: DeflateNegotiation.ClientOffer())
            #expect(echoed == parameters, "\(lines)")
        }
        #expect(accepted > 20)
    }
}
