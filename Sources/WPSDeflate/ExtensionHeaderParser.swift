/// One parameter of an extension element, name lower-cased, value unquoted (`nil` when absent).
struct ExtensionParameter: Hashable, Sendable {
    var name: String
    var value: String?
}

/// One element of a `Sec-WebSocket-Extensions` list (RFC 6455 §9.1).
///
/// `isWellFormed` is false when the element broke the grammar; the parser still finds the
/// elements after it, so a bad first offer does not hide a good second one.
struct ExtensionElement: Hashable, Sendable {
    var name: String
    var parameters: [ExtensionParameter]
    var isWellFormed: Bool
}

/// Parses `Sec-WebSocket-Extensions` header values into elements.
///
/// Grammar (RFC 6455 §9.1, RFC 7230 §3.2.6 / §7):
/// `1#( token *( OWS ";" OWS token [ OWS "=" OWS ( token / quoted-string ) ] ) )`.
/// Extension and parameter names compare ASCII case-insensitively, so both are lower-cased.
/// A quoted value must unescape to a token (RFC 6455 §9.1).
struct ExtensionHeaderParser {
    private let bytes: [UInt8]
    private var index = 0

    private init(_ value: String) {
        bytes = Array(value.utf8)
    }

    /// Every element of every header value, in order.
    static func parse(_ values: [String]) -> [ExtensionElement] {
        var elements: [ExtensionElement] = []
        for value in values {
            var parser = ExtensionHeaderParser(value)
            parser.parseList(into: &elements)
        }
        return elements
    }

    private mutating func parseList(into elements: inout [ExtensionElement]) {
        while true {
            // `#` lists allow empty elements: skip whitespace and stray commas.
            while index < bytes.count, bytes[index] == UInt8(ascii: ",") || Self.isSpace(bytes[index]) {
                index += 1
            }
            guard index < bytes.count else { return }
            if let element = parseElement() {
                elements.append(element)
            } else {
                let name = String(decoding: bytes[index..<bytes.count].prefix { Self.isTokenByte($0) }, as: UTF8.self)
                elements.append(ExtensionElement(name: name.lowercasedASCII, parameters: [], isWellFormed: false))
                skipToNextElement()
            }
        }
    }

    /// Parses one element ending at a top-level comma or the end; nil on a syntax error.
    private mutating func parseElement() -> ExtensionElement? {
        let start = index
        guard let name = readToken() else { return nil }
        var parameters: [ExtensionParameter] = []
        skipSpaces()
        while index < bytes.count, bytes[index] == UInt8(ascii: ";") {
            index += 1
            skipSpaces()
            guard let parameterName = readToken() else {
                index = start
                return nil
            }
            skipSpaces()
            var value: String?
            if index < bytes.count, bytes[index] == UInt8(ascii: "=") {
                index += 1
                skipSpaces()
                guard let parsed = readValue() else {
                    index = start
                    return nil
                }
                value = parsed
                skipSpaces()
            }
            parameters.append(ExtensionParameter(name: parameterName.lowercasedASCII, value: value))
        }
        guard index == bytes.count || bytes[index] == UInt8(ascii: ",") else {
            index = start
            return nil
        }
        return ExtensionElement(name: name.lowercasedASCII, parameters: parameters, isWellFormed: true)
    }

    private mutating func readToken() -> String? {
        let start = index
        while index < bytes.count, Self.isTokenByte(bytes[index]) { index += 1 }
        guard index > start else { return nil }
        return String(decoding: bytes[start..<index], as: UTF8.self)
    }

    /// A token, or a quoted-string whose unescaped content is a token.
    private mutating func readValue() -> String? {
        guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { return readToken() }
        index += 1
        var content: [UInt8] = []
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            switch byte {
            case UInt8(ascii: "\""):
                guard !content.isEmpty, content.allSatisfy(Self.isTokenByte) else { return nil }
                return String(decoding: content, as: UTF8.self)
            case UInt8(ascii: "\\"):
                guard index < bytes.count else { return nil }
                content.append(bytes[index])
                index += 1
            default:
                content.append(byte)
            }
        }
        return nil  // unterminated
    }

    /// Moves past the next comma outside a quoted string (or to the end).
    private mutating func skipToNextElement() {
        var quoted = false
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            if quoted {
                if byte == UInt8(ascii: "\\") {
                    index += 1
                } else if byte == UInt8(ascii: "\"") {
                    quoted = false
                }
            } else if byte == UInt8(ascii: "\"") {
                quoted = true
            } else if byte == UInt8(ascii: ",") {
                return
            }
        }
    }

    private mutating func skipSpaces() {
        while index < bytes.count, Self.isSpace(bytes[index]) { index += 1 }
    }

    private static func isSpace(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t")
    }

    /// RFC 7230 `tchar`.
    static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        case 0x21, 0x23...0x27, 0x2A, 0x2B, 0x2D, 0x2E, 0x5E, 0x5F, 0x60, 0x7C, 0x7E:  // !#$%&'*+-.^_`|~
            return true
        default:
            return false
        }
    }
}

extension String {
    /// ASCII-only lower-casing (header names are ASCII; no locale, no Foundation).
    var lowercasedASCII: String {
        String(decoding: utf8.map { ($0 >= 65 && $0 <= 90) ? $0 + 32 : $0 }, as: UTF8.self)
    }
}
