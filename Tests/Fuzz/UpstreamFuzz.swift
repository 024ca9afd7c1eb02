// libFuzzer harness for what the server reads from event handlers: response heads, chunked
// bodies, `connect` answers, and URL templates from the configuration.
//
// Built by `scripts/fuzz upstream` as ONE module with the sources of WPSBytes, WPSHTTP,
// WPSProtocol and WPSUpstream (their `import WPS…` lines stripped).
// Invariants, checked on every input:
//   - no crash, no sanitizer report;
//   - the response head parser gives the same answer however the bytes arrive, and a
//     complete head never claims more bytes than were given;
//   - the chunked decoder never emits more than its limit and gives the same body however
//     its input is split;
//   - a connect answer either parses or fails cleanly, the same way twice;
//   - a URL template that parses expands to a target starting with `/` and holds no
//     control bytes or spaces, whatever hub and event names it is given.

func upstreamCheck(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("invariant violated: \(message())") }
}

func upstreamSummary(_ result: HTTPResponseHeadParseResult) -> String {
    switch result {
    case .needMore: return "needMore"
    case .failure(let error): return "failure \(error.reason)"
    case .complete(let head, let length):
        var text = "complete \(length) \(head.status) \(head.minorVersion)"
        for field in head.headers { text += " \(field.name):\(field.value)" }
        return text + " cl:\(String(describing: head.contentLength)) chunked:\(head.isChunked)"
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func upstreamFuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    let limits = HTTPLimits(maxHeadBytes: 512, maxHeaderCount: 8, maxURIBytes: 64, maxBodyBytes: 256)

    var whole = HTTPResponseHeadParser(limits: limits)
    let expected = upstreamSummary(whole.parse(input))
    if case .complete(_, let length) = whole.parse(input) { upstreamCheck(length <= size, "head longer than input") }
    for split in Set([0, size / 3, size / 2, max(0, size - 1)]) where split <= size {
        var parser = HTTPResponseHeadParser(limits: limits)
        _ = parser.parse(UnsafeRawBufferPointer(rebasing: input[0..<split]))
        let again = upstreamSummary(parser.parse(input))
        upstreamCheck(again == expected, "split at \(split): \(again) != \(expected)")
    }

    var decoder = HTTPChunkedDecoder(maxBodyBytes: 256)
    var body: [UInt8] = []
    let full = decoder.feed(input, into: &body)
    upstreamCheck(body.count <= 256, "chunked body over its limit")
    if size > 1 {
        var pieces = HTTPChunkedDecoder(maxBodyBytes: 256)
        var pieceBody: [UInt8] = []
        let half = size / 2
        var result = pieces.feed(UnsafeRawBufferPointer(rebasing: input[0..<half]), into: &pieceBody)
        if case .needMore = result {
            result = pieces.feed(UnsafeRawBufferPointer(rebasing: input[half...]), into: &pieceBody)
            if case .complete = full, case .complete = result {
                upstreamCheck(pieceBody == body, "chunked body depends on the split")
            }
        }
    }

    let first = Result { try ConnectEvent.parseAnswer(input) }
    let second = Result { try ConnectEvent.parseAnswer(input) }
    switch (first, second) {
    case (.success(let a), .success(let b)): upstreamCheck(a == b, "connect answer not stable")
    case (.failure, .failure): break
    default: upstreamCheck(false, "connect answer parse not stable")
    }

    let text = String(decoding: input, as: UTF8.self)
    if let template = try? URLTemplate(text) {
        for (hub, event) in [("chat", "connect"), ("a b", "x/y"), (text, text)] {
            let target = template.target(hub: hub, event: event)
            upstreamCheck(target.hasPrefix("/"), "target without a leading slash: \(target)")
            upstreamCheck(target.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F }, "target with control bytes or spaces")
        }
        upstreamCheck((1...65535).contains(template.port), "port out of range")
    }
    return 0
}
