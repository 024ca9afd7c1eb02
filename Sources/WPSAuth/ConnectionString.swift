/// A Web PubSub connection string, `Endpoint=…;AccessKey=…;Version=1.0;[Port=…;]`
/// (protocol-spec/auth.md §1).
public struct ConnectionString: Sendable, Hashable {
    /// `scheme://host[:port]` with no trailing slash; includes `Port=` when one was given,
    /// because token audiences and REST URLs carry it.
    public let endpoint: String
    /// The signing key.
    public let accessKey: AccessKey
    /// The explicit port (from `Port=` or the endpoint URL), or nil for the scheme default.
    public let port: Int?

    /// `scheme://host` without port, kept so `formatted()` can write `Port=` separately.
    let origin: String

    /// Builds a connection string from parts; `endpoint` is `scheme://host[:port]`, and an
    /// explicit `port` replaces the endpoint's. Nil when the endpoint is not http(s).
    public init?(endpoint: String, accessKey: AccessKey, port: Int? = nil) {
        guard let parts = Self.parseEndpoint(endpoint) else { return nil }
        if let port, !(1...65535).contains(port) { return nil }
        let effective = port ?? parts.port
        origin = parts.origin
        self.port = effective
        self.accessKey = accessKey
        self.endpoint = effective.map { "\(parts.origin):\($0)" } ?? parts.origin
    }

    /// Parses a connection string; nil when `Endpoint` or `AccessKey` is missing or empty, a
    /// segment has no `=`, the endpoint is not `http(s)://host[:port][/]`, or `Port` is not
    /// 1–65535. Keys compare ignoring case, later keys win, and `Version` is ignored, as in
    /// the Python SDK.
    public static func parse(_ text: String) -> ConnectionString? {
        var endpoint: String?
        var key: String?
        var port: Int?
        for segment in text.utf8.split(separator: UInt8(ascii: ";"), omittingEmptySubsequences: true) {
            let trimmedSegment = ASCII.trimmed(Array(segment))
            if trimmedSegment.isEmpty { continue }
            guard let equals = trimmedSegment.firstIndex(of: UInt8(ascii: "=")) else { return nil }
            let name = ASCII.lowercased(ASCII.trimmed(Array(trimmedSegment[..<equals])))
            let value = String(decoding: ASCII.trimmed(Array(trimmedSegment[(equals + 1)...])), as: UTF8.self)
            switch String(decoding: name, as: UTF8.self) {
            case "endpoint": endpoint = value
            case "accesskey": key = value
            case "port":
                guard let parsed = ASCII.port(value.utf8) else { return nil }
                port = parsed
            default: continue  // Version and unknown keys are ignored, like the SDKs do.
            }
        }
        guard let endpoint, let key, !key.isEmpty else { return nil }
        return ConnectionString(endpoint: endpoint, accessKey: AccessKey(key), port: port)
    }

    /// The canonical text: `Endpoint=<scheme://host>;[Port=<n>;]AccessKey=<key>;Version=1.0;`.
    public func formatted() -> String {
        var text = "Endpoint=\(origin);"
        if let port { text += "Port=\(port);" }
        text += "AccessKey=\(accessKey.string);Version=1.0;"
        return text
    }

    /// Splits `http(s)://host[:port][/]` into `scheme://host` (scheme lower-cased) and port.
    /// A missing scheme means https, as in the JS SDK; paths, queries and user info are refused.
    static func parseEndpoint(_ text: String) -> (origin: String, port: Int?)? {
        var bytes = Array(ASCII.trimmed(Array(text.utf8)))
        while bytes.last == UInt8(ascii: "/") { bytes.removeLast() }
        var scheme = "https"
        var rest = bytes[...]
        if let marker = Self.find(Array("://".utf8), in: bytes) {
            scheme = String(decoding: ASCII.lowercased(bytes[..<marker]), as: UTF8.self)
            guard scheme == "http" || scheme == "https" else { return nil }
            rest = bytes[(marker + 3)...]
        }
        guard !rest.contains(where: { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "#") })
        else { return nil }
        guard let (_, port) = AudienceURL.parseAuthority(rest) else { return nil }
        // Keep the host as written (minus any port) so a formatted string round-trips.
        var hostEnd = rest.endIndex
        if port != nil, let colon = rest.lastIndex(of: UInt8(ascii: ":")) { hostEnd = colon }
        let host = String(decoding: rest[..<hostEnd], as: UTF8.self)
        return ("\(scheme)://\(host)", port)
    }

    static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for start in 0...(haystack.count - needle.count)
        where haystack[start..<(start + needle.count)].elementsEqual(needle) {
            return start
        }
        return nil
    }
}
