import Testing
import WPSHTTP

/// A comparable digest of a parse result, so results from different feeds can be compared.
enum Outcome: Equatable, CustomStringConvertible {
    case needMore
    case complete(HeadSummary, headLength: Int)
    case failure(code: Int)

    init(_ result: HTTPHeadParseResult) {
        switch result {
        case .needMore: self = .needMore
        case .complete(let head, let length): self = .complete(HeadSummary(head), headLength: length)
        case .failure(let error): self = .failure(code: error.status.code)
        }
    }

    var code: Int? {
        switch self {
        case .needMore: nil
        case .complete: 200
        case .failure(let code): code
        }
    }

    var description: String {
        switch self {
        case .needMore: "needMore"
        case .complete(let head, let length): "complete(\(head.method) \(head.target), \(length))"
        case .failure(let code): "failure(\(code))"
        }
    }
}

/// The fields of `HTTPRequestHead` in an Equatable shape.
struct HeadSummary: Equatable {
    var method, target, path, rawPath: String
    var query: [String]
    var version: HTTPVersion
    var headers: [String]
    var contentLength: Int
    var isChunked, keepAlive: Bool

    init(_ head: HTTPRequestHead) {
        method = head.method
        target = head.target
        path = head.path
        rawPath = head.rawPath
        query = head.query.map { "\($0.name)=\($0.value)" }
        version = head.version
        headers = head.headers.map { "\($0.name): \($0.value)" }
        contentLength = head.contentLength
        isChunked = head.isChunked
        keepAlive = head.keepAlive
    }
}

/// Parses `bytes` in one call with a fresh parser.
func parseWhole(_ bytes: [UInt8], limits: HTTPLimits = .init()) -> HTTPHeadParseResult {
    var parser = HTTPHeadParser(limits: limits)
    return bytes.withUnsafeBytes { parser.parse($0) }
}

func parseWhole(_ text: String, limits: HTTPLimits = .init()) -> HTTPHeadParseResult {
    parseWhole(Array(text.utf8), limits: limits)
}

/// The head of a successful parse, or nil.
func head(_ text: String, limits: HTTPLimits = .init()) -> HTTPRequestHead? {
    if case .complete(let head, _) = parseWhole(text, limits: limits) { return head }
    return nil
}

/// Feeds `bytes` to one parser as a buffer that grows by `step` bytes per call, and returns
/// every intermediate outcome; stops at the first non-needMore result.
func parseGrowing(_ bytes: [UInt8], step: Int = 1, limits: HTTPLimits = .init()) -> [Outcome] {
    var parser = HTTPHeadParser(limits: limits)
    var outcomes: [Outcome] = []
    bytes.withUnsafeBytes { all in
        var end = 0
        while end < all.count {
            end = min(all.count, end + step)
            let outcome = Outcome(parser.parse(UnsafeRawBufferPointer(rebasing: all[0..<end])))
            outcomes.append(outcome)
            if outcome != .needMore { return }
        }
    }
    return outcomes
}

/// Parses the first `split` bytes, then the whole buffer, with the same parser.
func parseSplit(_ bytes: [UInt8], at split: Int, limits: HTTPLimits = .init()) -> (Outcome, Outcome) {
    var parser = HTTPHeadParser(limits: limits)
    return bytes.withUnsafeBytes { all in
        let first = Outcome(parser.parse(UnsafeRawBufferPointer(rebasing: all[0..<split])))
        let second = Outcome(parser.parse(all))
        return (first, second)
    }
}

extension Array where Element == UInt8 {
    init(text: String) { self = Array(text.utf8) }
}
