/// One token of filter text (protocol-spec/rest-filter.md §2).
struct ODataFilterToken: Equatable {
    /// What the token is.
    enum Kind: Equatable {
        case openParen
        case closeParen
        case comma
        /// A quoted string with `''` already reduced to `'`.
        case string(String)
        case integer(Int64)
        /// A keyword, identifier or function name, ASCII-lowercased.
        case word(String)
        case end
    }

    var kind: Kind
    /// UTF-8 offset of the token's first byte in the filter text.
    var offset: Int
    /// UTF-8 length of the token as written.
    var length: Int
}

/// Splits filter text into tokens, one at a time. Works on the UTF-8 bytes; offsets are
/// byte offsets, converted to character positions only when an error is reported.
struct ODataFilterLexer {
    private let bytes: [UInt8]
    private var index = 0

    init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// Reads the next token, or throws at the first byte that cannot start one.
    mutating func next() throws(ODataFilterLexerError) -> ODataFilterToken {
        skipWhitespace()
        let start = index
        guard index < bytes.count else { return ODataFilterToken(kind: .end, offset: start, length: 0) }
        let byte = bytes[index]
        switch byte {
        case UInt8(ascii: "("):
            index += 1
            return ODataFilterToken(kind: .openParen, offset: start, length: 1)
        case UInt8(ascii: ")"):
            index += 1
            return ODataFilterToken(kind: .closeParen, offset: start, length: 1)
        case UInt8(ascii: ","):
            index += 1
            return ODataFilterToken(kind: .comma, offset: start, length: 1)
        case UInt8(ascii: "'"):
            return try stringLiteral()
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "+"), UInt8(ascii: "-"):
            return try integerLiteral()
        default:
            if Self.isWordStart(byte) { return word() }
            throw ODataFilterLexerError(offset: start, message: Self.unexpectedCharacter(byte))
        }
    }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"), UInt8(ascii: "\n"): index += 1
            default: return
            }
        }
    }

    /// `'…'` where `''` stands for one quote; the text between is kept as written.
    private mutating func stringLiteral() throws(ODataFilterLexerError) -> ODataFilterToken {
        let start = index
        index += 1
        var content: [UInt8] = []
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            if byte != UInt8(ascii: "'") {
                content.append(byte)
            } else if index < bytes.count && bytes[index] == UInt8(ascii: "'") {
                content.append(byte)
                index += 1
            } else {
                let text = String(decoding: content, as: UTF8.self)
                return ODataFilterToken(kind: .string(text), offset: start, length: index - start)
            }
        }
        throw ODataFilterLexerError(offset: start, message: "unterminated string literal")
    }

    /// `[+-]digit+` into an Int64; accumulated negatively so Int64.min fits.
    private mutating func integerLiteral() throws(ODataFilterLexerError) -> ODataFilterToken {
        let start = index
        var negative = false
        if bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
            negative = bytes[index] == UInt8(ascii: "-")
            index += 1
            guard index < bytes.count, Self.isDigit(bytes[index]) else {
                throw ODataFilterLexerError(offset: start, message: Self.unexpectedCharacter(bytes[start]))
            }
        }
        var value: Int64 = 0
        var overflow = false
        while index < bytes.count, Self.isDigit(bytes[index]) {
            let digit = Int64(bytes[index] - UInt8(ascii: "0"))
            let (times, o1) = value.multipliedReportingOverflow(by: 10)
            let (next, o2) = times.subtractingReportingOverflow(digit)
            overflow = overflow || o1 || o2
            value = next
            index += 1
        }
        if index < bytes.count, Self.isWordStart(bytes[index]) {
            throw ODataFilterLexerError(offset: start, message: "invalid integer literal")
        }
        if !negative {
            let (positive, o3) = value.multipliedReportingOverflow(by: -1)
            overflow = overflow || o3
            value = positive
        }
        if overflow {
            throw ODataFilterLexerError(offset: start, message: "integer literal out of range")
        }
        return ODataFilterToken(kind: .integer(value), offset: start, length: index - start)
    }

    /// `[A-Za-z_][A-Za-z0-9_]*`, lowercased: keywords and identifiers are case-insensitive.
    private mutating func word() -> ODataFilterToken {
        let start = index
        var lowered: [UInt8] = []
        while index < bytes.count, Self.isWordStart(bytes[index]) || Self.isDigit(bytes[index]) {
            let byte = bytes[index]
            lowered.append(byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte + 32 : byte)
            index += 1
        }
        return ODataFilterToken(
            kind: .word(String(decoding: lowered, as: UTF8.self)),
            offset: start,
            length: index - start
        )
    }

    private static func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    private static func isWordStart(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
            || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z")) || byte == UInt8(ascii: "_")
    }

    private static func unexpectedCharacter(_ byte: UInt8) -> String {
        if byte >= 0x21 && byte < 0x7F {
            return "unexpected character '\(Character(Unicode.Scalar(byte)))'"
        }
        return "unexpected character"
    }
}

/// A lexer failure at a UTF-8 offset; the parser turns it into an ODataFilterError.
struct ODataFilterLexerError: Error {
    var offset: Int
    var message: String
}
