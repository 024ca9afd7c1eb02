// libFuzzer harness for the HTTP head parser and the chunked decoder.
//
// Built by `scripts/fuzz http` as ONE module together with the sources of WPSBytes and
// WPSHTTP (their `import WPS…` lines stripped), so nothing here may be module-qualified.
// Invariants, checked on every input:
//   - no crash, no sanitizer report;
//   - a complete head never claims more bytes than were given;
//   - the answer does not depend on how the bytes arrived (split points, byte-by-byte growth);
//   - pipelined heads found through headLength each parse the same way on their own;
//   - the chunked decoder never consumes more than it was given, never emits more than
//     maxBodyBytes, and gives the same body however the input is split.

/// Limits small enough that the fuzzer reaches every limit branch quickly.
let fuzzLimits = HTTPLimits(maxHeadBytes: 1024, maxHeaderCount: 12, maxURIBytes: 256, maxBodyBytes: 2048)

/// Tiny limits, including a URI limit above the head limit, to exercise how limits interact.
let fuzzLimitSets = [
    fuzzLimits,
    HTTPLimits(maxHeadBytes: 48, maxHeaderCount: 2, maxURIBytes: 20, maxBodyBytes: 16),
    HTTPLimits(maxHeadBytes: 40, maxHeaderCount: 1, maxURIBytes: 64, maxBodyBytes: 0),
]

/// A comparable rendering of a parse result.
func fuzzSummary(_ result: HTTPHeadParseResult) -> String {
    switch result {
    case .needMore:
        return "needMore"
    case .failure(let error):
        return "failure \(error.status.code) \(error.reason)"
    case .complete(let head, let length):
        var text = "complete \(length) \(head.method) \(head.target) \(head.path) \(head.rawPath) \(head.version)"
        for item in head.query { text += " q:\(item.name)=\(item.value)" }
        for field in head.headers { text += " h:\(field.name):\(field.value)" }
        text += " cl:\(head.contentLength) chunked:\(head.isChunked) ka:\(head.keepAlive)"
        return text
    }
}

func fuzzCheck(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("invariant violated: \(message())") }
}

/// Parses `input[0..<split]`, then all of `input`, with one parser; returns both summaries.
func fuzzParseSplit(_ input: UnsafeRawBufferPointer, at split: Int, limits: HTTPLimits) -> (String, String) {
    var parser = HTTPHeadParser(limits: limits)
    let first = fuzzSummary(parser.parse(UnsafeRawBufferPointer(rebasing: input[0..<split])))
    let second = fuzzSummary(parser.parse(input))
    return (first, second)
}

func fuzzHead(_ input: UnsafeRawBufferPointer, limits: HTTPLimits) {
    var parser = HTTPHeadParser(limits: limits)
    let result = parser.parse(input)
    let whole = fuzzSummary(result)
    if case .complete(_, let length) = result {
        fuzzCheck(length > 0 && length <= input.count, "headLength \(length) of \(input.count)")
    }
    fuzzCheck(fuzzSummary(parser.parse(input)) == whole, "result not repeated")

    let count = input.count
    for split in Set([0, 1, count / 3, count / 2, count - 1].filter { $0 >= 0 && $0 <= count }) {
        let (first, second) = fuzzParseSplit(input, at: split, limits: limits)
        fuzzCheck(second == whole, "split \(split): \(second) != \(whole)")
        fuzzCheck(first == "needMore" || first == whole, "prefix \(split): \(first) != \(whole)")
    }

    if count <= 300 {
        var growing = HTTPHeadParser(limits: limits)
        var last = "needMore"
        var end = 0
        while end < count && last == "needMore" {
            end += 1
            last = fuzzSummary(growing.parse(UnsafeRawBufferPointer(rebasing: input[0..<end])))
        }
        fuzzCheck(last == whole, "growing: \(last) != \(whole)")
    }

    // Pipelining: walk heads through headLength (+ Content-Length), reusing one parser.
    var offset = 0
    var rounds = 0
    var pipelined = HTTPHeadParser(limits: limits)
    while offset < count && rounds < 8 {
        let rest = UnsafeRawBufferPointer(rebasing: input[offset...])
        guard case .complete(let head, let length) = pipelined.parse(rest) else { break }
        fuzzCheck(length <= rest.count, "pipelined headLength")
        offset += length + min(head.contentLength, rest.count - length)
        pipelined.reset()
        rounds += 1
    }

}

/// Decodes `input` with the chunked decoder fed in pieces cut at `splits`.
func fuzzChunked(_ input: UnsafeRawBufferPointer, splits: [Int]) -> String {
    var decoder = HTTPChunkedDecoder(limits: fuzzLimits)
    var body: [UInt8] = []
    var start = 0
    for end in splits + [input.count] where end >= start && end <= input.count {
        let piece = UnsafeRawBufferPointer(rebasing: input[start..<end])
        let progress = decoder.feed(piece, into: &body)
        fuzzCheck(body.count <= fuzzLimits.maxBodyBytes, "chunked body over limit")
        fuzzCheck(decoder.bodyBytes == body.count, "chunked bodyBytes")
        switch progress {
        case .needMore:
            start = end
        case .complete(let consumed):
            fuzzCheck(consumed <= piece.count, "chunked consumed \(consumed) of \(piece.count)")
            return "complete \(start + consumed) \(body)"
        case .failure(let error):
            return "failure \(error.status.code)"
        }
    }
    return "needMore \(body)"
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    for limits in fuzzLimitSets { fuzzHead(input, limits: limits) }
    // Defaults must hold too (larger limits, different branches).
    var roomy = HTTPHeadParser()
    if case .complete(_, let length) = roomy.parse(input) {
        fuzzCheck(length <= size, "default-limits headLength")
    }
    let whole = fuzzChunked(input, splits: [])
    for splits in [[size / 2], [1, size / 3, size - 2]] {
        let split = fuzzChunked(input, splits: splits)
        fuzzCheck(split == whole, "chunked split \(splits): \(split) != \(whole)")
    }
    return 0
}
