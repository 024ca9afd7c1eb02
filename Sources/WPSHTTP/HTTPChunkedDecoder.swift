public import WPSBytes

/// Incremental decoder for `Transfer-Encoding: chunked` request bodies (RFC 9112 §7.1).
///
/// Feed bytes as they arrive; chunk data is handed out as it is seen, so nothing is buffered
/// here. Extensions and trailers are checked for syntax and discarded. Framing lines must end
/// in CRLF. Limits: protocol-spec/http.md §5.
public struct HTTPChunkedDecoder: Sendable {
    /// What one `feed` call achieved.
    public enum Progress: Sendable, Equatable {
        /// Every byte was consumed; the body is not finished.
        case needMore
        /// The body ended after `consumed` bytes of this input; the rest is the next request.
        case complete(consumed: Int)
        /// The body is malformed (400) or too large (413); answer and close.
        case failure(HTTPParseError)
    }

    enum State: Sendable {
        case size, sizeExtension, sizeLF
        case data, dataCR, dataLF
        case trailerLineStart, trailerLine, trailerLF, finalLF
        case done
        case failed(HTTPParseError)
    }

    /// Extension and trailer bytes allowed per body: they are discarded, so a small cap
    /// (16 KiB, the head limit) only stops a peer from streaming them forever.
    public static let maxMetadataBytes = 16 * 1024
    /// Hex digits allowed in one chunk size (leading zeros included).
    static let maxSizeDigits = 16

    /// The largest total of chunk data accepted; more → 413.
    public var maxBodyBytes: Int
    /// Body bytes decoded so far.
    public private(set) var bodyBytes = 0
    var state = State.size
    var chunkRemaining = 0
    var sizeDigits = 0
    var metadataBytes = 0

    /// Creates a decoder that accepts at most `maxBodyBytes` of chunk data.
    public init(maxBodyBytes: Int = HTTPLimits().maxBodyBytes) {
        self.maxBodyBytes = maxBodyBytes
    }

    /// Creates a decoder using `limits.maxBodyBytes`.
    public init(limits: HTTPLimits) {
        self.init(maxBodyBytes: limits.maxBodyBytes)
    }

    /// True once the terminating chunk and trailer section were read.
    public var isComplete: Bool {
        if case .done = state { return true }
        return false
    }

    /// Prepares for the next body.
    public mutating func reset() {
        self = HTTPChunkedDecoder(maxBodyBytes: maxBodyBytes)
    }

    /// Decodes `input`, appending chunk data to `body`.
    public mutating func feed(_ input: UnsafeRawBufferPointer, into body: inout [UInt8]) -> Progress {
        feed(input) { body.append(contentsOf: $0) }
    }

    /// Decodes `input`, appending chunk data to `body`.
    public mutating func feed(_ input: UnsafeRawBufferPointer, into body: inout OutputBuffer) -> Progress {
        feed(input) { body.append($0) }
    }

    /// Decodes `input`, passing each run of chunk data to `onData` (valid only during the call).
    public mutating func feed(_ input: UnsafeRawBufferPointer, onData: (UnsafeRawBufferPointer) -> Void) -> Progress {
        var index = 0
        while index < input.count {
            let byte = input[index]
            switch state {
            case .size:
                if let digit = HTTPBytes.hexValue(byte) {
                    sizeDigits += 1
                    guard sizeDigits <= HTTPChunkedDecoder.maxSizeDigits else {
                        return fail(.badRequest("chunk size too long"))
                    }
                    // The first guard keeps the shift from overflowing when maxBodyBytes is huge.
                    guard chunkRemaining <= Int.max >> 4 else { return fail(.bodyTooLarge) }
                    chunkRemaining = chunkRemaining << 4 | Int(digit)
                    if chunkRemaining > maxBodyBytes - bodyBytes { return fail(.bodyTooLarge) }
                } else if sizeDigits == 0 {
                    return fail(.badRequest("missing chunk size"))
                } else if byte == UInt8(ascii: ";") || HTTPBytes.isOWS(byte) {
                    state = .sizeExtension
                    if let error = countMetadata() { return fail(error) }
                } else if byte == HTTPBytes.cr {
                    state = .sizeLF
                } else {
                    return fail(.badRequest("invalid chunk size"))
                }
            case .sizeExtension:
                if byte == HTTPBytes.cr {
                    state = .sizeLF
                } else if HTTPBytes.isFieldValueByte(byte) {
                    if let error = countMetadata() { return fail(error) }
                } else {
                    return fail(.badRequest("invalid chunk extension"))
                }
            case .sizeLF:
                guard byte == HTTPBytes.lf else { return fail(.badRequest("chunk size line must end in CRLF")) }
                sizeDigits = 0
                state = chunkRemaining == 0 ? .trailerLineStart : .data
            case .data:
                let count = min(chunkRemaining, input.count - index)
                onData(input.slice(index..<index + count))
                bodyBytes += count
                chunkRemaining -= count
                index += count
                if chunkRemaining == 0 { state = .dataCR }
                continue
            case .dataCR:
                guard byte == HTTPBytes.cr else { return fail(.badRequest("chunk data must end in CRLF")) }
                state = .dataLF
            case .dataLF:
                guard byte == HTTPBytes.lf else { return fail(.badRequest("chunk data must end in CRLF")) }
                state = .size
            case .trailerLineStart:
                if byte == HTTPBytes.cr {
                    state = .finalLF
                } else if HTTPBytes.isToken(byte) {
                    state = .trailerLine
                    if let error = countMetadata() { return fail(error) }
                } else {
                    return fail(.badRequest("invalid trailer field"))
                }
            case .trailerLine:
                if byte == HTTPBytes.cr {
                    state = .trailerLF
                } else if HTTPBytes.isFieldValueByte(byte) {
                    if let error = countMetadata() { return fail(error) }
                } else {
                    return fail(.badRequest("invalid trailer field"))
                }
            case .trailerLF:
                guard byte == HTTPBytes.lf else { return fail(.badRequest("trailer line must end in CRLF")) }
                state = .trailerLineStart
            case .finalLF:
                guard byte == HTTPBytes.lf else { return fail(.badRequest("chunked body must end in CRLF")) }
                state = .done
                return .complete(consumed: index + 1)
            case .done:
                return .complete(consumed: 0)
            case .failed(let error):
                return .failure(error)
            }
            index += 1
        }
        switch state {
        case .done: return .complete(consumed: 0)
        case .failed(let error): return .failure(error)
        default: return .needMore
        }
    }

    private mutating func countMetadata() -> HTTPParseError? {
        metadataBytes += 1
        return metadataBytes > HTTPChunkedDecoder.maxMetadataBytes
            ? .badRequest("chunk extensions or trailers too long") : nil
    }

    private mutating func fail(_ error: HTTPParseError) -> Progress {
        state = .failed(error)
        return .failure(error)
    }
}
