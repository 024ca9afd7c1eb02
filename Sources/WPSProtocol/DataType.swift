public import WPSBytes

/// How the `data` of a message is encoded in JSON (protocol-spec/client-protocol.md §4).
///
/// `text` is a JSON string, `json` any JSON value carried as is, `binary` and `protobuf` a
/// JSON string of padded base64. The wire name is always written in lower case, while
/// parsing ignores case because the .NET client sends `"Text"`, `"Json"`, `"Binary"`.
public struct DataType: Hashable, Sendable, CustomStringConvertible {
    private let code: UInt8

    private init(code: UInt8) { self.code = code }

    /// Any JSON value, forwarded byte for byte.
    public static let json = DataType(code: 0)
    /// A JSON string holding text.
    public static let text = DataType(code: 1)
    /// A JSON string holding base64 of arbitrary bytes.
    public static let binary = DataType(code: 2)
    /// A JSON string holding base64 of protobuf bytes; treated exactly like `binary` here.
    public static let protobuf = DataType(code: 3)

    /// Every data type, in wire-name order.
    public static let all: [DataType] = [.json, .text, .binary, .protobuf]

    /// The lower-case name written in outbound messages.
    public var wireName: String {
        switch code {
        case 0: "json"
        case 1: "text"
        case 2: "binary"
        default: "protobuf"
        }
    }

    /// Whether `data` is a base64 string of bytes (binary and protobuf).
    public var isBase64: Bool { code >= 2 }

    /// The wire name.
    public var description: String { wireName }

    /// Recognises a data type name, ignoring ASCII case.
    public static func parse(_ name: String) -> DataType? {
        let lowered = name.lowercased()
        return all.first { $0.wireName == lowered }
    }

    /// Recognises a data type from a JSON string token without allocating; nil for anything
    /// that is not one of the four names as a JSON string.
    public static func parse(_ bytes: UnsafeRawBufferPointer, _ token: JSONToken) -> DataType? {
        guard token.kind == .string else { return nil }
        if JSON.stringEquals(bytes, token, "json", caseInsensitive: true) { return .json }
        if JSON.stringEquals(bytes, token, "text", caseInsensitive: true) { return .text }
        if JSON.stringEquals(bytes, token, "binary", caseInsensitive: true) { return .binary }
        if JSON.stringEquals(bytes, token, "protobuf", caseInsensitive: true) { return .protobuf }
        return nil
    }
}
