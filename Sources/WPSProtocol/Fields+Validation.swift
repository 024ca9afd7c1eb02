import WPSBytes

/// Field checks for `ClientRequestDecoder` (protocol-spec/client-protocol.md §3).
extension Fields {
    /// `group`: a JSON string of 1–1024 Unicode scalars that is not only whitespace.
    ///
    /// Scalars, not UTF-16 units or grapheme clusters, because JSON Schema `maxLength` (the
    /// REST API's rule) counts code points; any other character is allowed, as in the service.
    func groupName(_ frame: UnsafeRawBufferPointer, _ ackId: UInt64?) -> Result<String, ClientRequestError> {
        guard let token = group else {
            return .failure(.badRequest(ackId: ackId, message: "group is required"))
        }
        guard let name = JSON.string(frame, token) else {
            return .failure(.badRequest(ackId: ackId, message: "group must be a string"))
        }
        if let problem = GroupName.problem(name) {
            return .failure(.badRequest(ackId: ackId, message: problem))
        }
        return .success(name)
    }

    /// `event`: `^[A-Za-z][A-Za-z0-9_.-]{0,127}$`, the emulator's rule with both cases allowed.
    ///
    /// The name becomes part of the upstream CloudEvents type `azure.webpubsub.user.<event>`
    /// and of handler URL templates, so it is kept to characters safe in both.
    func eventName(_ frame: UnsafeRawBufferPointer, _ ackId: UInt64?) -> Result<String, ClientRequestError> {
        guard let token = event else {
            return .failure(.badRequest(ackId: ackId, message: "event is required"))
        }
        guard let name = JSON.string(frame, token) else {
            return .failure(.badRequest(ackId: ackId, message: "event must be a string"))
        }
        guard Self.isValidEventName(name) else {
            return .failure(
                .badRequest(
                    ackId: ackId,
                    message:
                        "event must start with a letter and contain only letters, digits, '_', '.', '-' (at most 128)"
                )
            )
        }
        return .success(name)
    }

    static func isValidEventName(_ name: String) -> Bool {
        let utf8 = name.utf8
        guard let first = utf8.first, utf8.count <= ClientRequestDecoder.maxEventNameBytes else { return false }
        guard isLetter(first) else { return false }
        return utf8.dropFirst().allSatisfy { byte in
            isLetter(byte) || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
                || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "-")
        }
    }

    @inline(__always)
    private static func isLetter(_ byte: UInt8) -> Bool {
        (byte | 0x20) >= UInt8(ascii: "a") && (byte | 0x20) <= UInt8(ascii: "z")
    }

    /// `dataType` (default `json`) and `data`, which must be present and fit the type.
    ///
    /// `allowsNull` is false for `sendToGroup`: the .NET client throws on `data: null` and
    /// then recovers into a replay of the same message, so one publisher could wedge every
    /// .NET subscriber of the group. Events go to the app server only, where null is harmless.
    func payload(
        _ frame: UnsafeRawBufferPointer,
        _ ackId: UInt64?,
        allowsNull: Bool
    ) -> Result<(DataType, Range<Int>), ClientRequestError> {
        var type = DataType.json
        if let token = dataType, token.kind != .null {
            guard let parsed = DataType.parse(frame, token) else {
                return .failure(
                    .badRequest(ackId: ackId, message: "dataType must be one of json, text, binary, protobuf"))
            }
            type = parsed
        }
        guard let token = data else {
            return .failure(.badRequest(ackId: ackId, message: "data is required"))
        }
        switch type {
        case .text:
            guard token.kind == .string else {
                return .failure(.badRequest(ackId: ackId, message: "data must be a string when dataType is text"))
            }
        case .json:
            guard allowsNull || token.kind != .null else {
                return .failure(.badRequest(ackId: ackId, message: "data must not be null"))
            }
        default:
            guard token.kind == .string, Self.isBase64String(frame, token) else {
                return .failure(
                    .badRequest(ackId: ackId, message: "data must be a base64 string when dataType is \(type.wireName)")
                )
            }
        }
        return .success((type, token.range))
    }

    /// Whether a string token holds padded base64; escapes (e.g. `\/`) are decoded first.
    static func isBase64String(_ frame: UnsafeRawBufferPointer, _ token: JSONToken) -> Bool {
        if let plain = JSON.unescapedContents(frame, token) { return Base64.isValid(plain) }
        guard let decoded = JSON.stringBytes(frame, token) else { return false }
        return decoded.withUnsafeBytes { Base64.isValid($0) }
    }
}
