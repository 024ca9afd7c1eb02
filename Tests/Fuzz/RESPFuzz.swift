// libFuzzer harness for the RESP parser and encoder.
//
// Built as one module with the parser's sources; the build strips the imports below. Each
// input is parsed value by value: every prefix of a value that parses must ask for more,
// nothing may be consumed past the input, limits must hold, and a command the encoder
// writes must parse back to its arguments.
import WPSRedis

private let fuzzParser = RESPParser(maxBulkBytes: 256, maxElements: 64, maxDepth: 8)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    var offset = 0
    var values = 0
    while offset < size, values < 64 {
        let rest = UnsafeRawBufferPointer(rebasing: input[offset...])
        switch fuzzParser.parse(rest) {
        case .needMore, .failure:
            return 0
        case .value(let value, let consumed):
            guard consumed > 0, consumed <= rest.count else { fatalError("consumed \(consumed) of \(rest.count)") }
            fuzzCheckLimits(value, depth: 0)
            for cut in [0, 1, consumed / 2, consumed - 1] where cut < consumed {
                let prefix = UnsafeRawBufferPointer(rebasing: rest[0..<cut])
                if fuzzParser.parse(prefix) != .needMore { fatalError("a prefix of \(cut) bytes did not ask for more") }
            }
            fuzzRoundTrip(value)
            offset += consumed
            values += 1
        }
    }
    return 0
}

private func fuzzCheckLimits(_ value: RESPValue, depth: Int) {
    if depth > fuzzParser.maxDepth { fatalError("nested past the limit") }
    switch value {
    case .bulkString(let bytes), .error(let bytes):
        if bytes.count > fuzzParser.maxBulkBytes, case .bulkString = value { fatalError("bulk string past the limit") }
    case .array(let values), .push(let values):
        if values.count > fuzzParser.maxElements { fatalError("too many elements") }
        for element in values { fuzzCheckLimits(element, depth: depth + 1) }
    case .map(let pairs):
        if pairs.count > fuzzParser.maxElements { fatalError("too many pairs") }
        for (key, element) in pairs {
            fuzzCheckLimits(key, depth: depth + 1)
            fuzzCheckLimits(element, depth: depth + 1)
        }
    default:
        break
    }
}

/// Strings found in the value, sent as a command, come back as the same bulk strings.
private func fuzzRoundTrip(_ value: RESPValue) {
    var arguments: [[UInt8]] = []
    func collect(_ value: RESPValue) {
        switch value {
        case .simpleString(let bytes), .bulkString(let bytes), .error(let bytes): arguments.append(bytes)
        case .array(let values), .push(let values): values.forEach(collect)
        default: break
        }
    }
    collect(value)
    guard !arguments.isEmpty, arguments.count <= fuzzParser.maxElements,
        arguments.allSatisfy({ $0.count <= fuzzParser.maxBulkBytes })
    else { return }
    var encoded: [UInt8] = []
    RESPEncoder.command(arguments.map { .bytes($0) }, into: &encoded)
    let parsed = encoded.withUnsafeBytes { fuzzParser.parse($0) }
    guard parsed == .value(.array(arguments.map { .bulkString($0) }), consumed: encoded.count) else {
        fatalError("an encoded command did not parse back: \(parsed)")
    }
}
