import WPSHTTP

/// An event handler's URL with `{hub}` and `{event}` placeholders (protocol-spec/upstream.md §1),
/// checked once when the configuration is read so that expanding it per event cannot fail.
public struct URLTemplate: Sendable, Hashable, CustomStringConvertible {
    /// `http` or `https`.
    public let isTLS: Bool
    /// The host as written (a name, an IPv4 address or a bracketed IPv6 address without brackets).
    public let host: String
    public let port: Int
    /// Path and query with placeholders, starting with `/`.
    public let target: String
    /// The text the template was read from.
    public let description: String

    /// Why a template was refused.
    public struct Failure: Error, Sendable, Equatable, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    public static let placeholders: Set<String> = ["hub", "event"]

    /// Parses `http[s]://host[:port][/path][?query]` with placeholders only in path and query.
    public init(_ text: String) throws(Failure) {
        description = text
        let lower = text.lowercased()
        let rest: Substring
        if lower.hasPrefix("http://") {
            isTLS = false
            rest = text.dropFirst(7)
        } else if lower.hasPrefix("https://") {
            isTLS = true
            rest = text.dropFirst(8)
        } else {
            throw Failure("'\(text)' must start with http:// or https://")
        }
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        var path = String(rest[authorityEnd...])
        if path.contains("#") { throw Failure("'\(text)' must not have a fragment") }
        if authority.contains("@") { throw Failure("'\(text)' must not carry credentials; use a header instead") }
        if authority.contains("{") { throw Failure("'\(text)': placeholders are allowed in the path and query only") }
        var hostPart = Substring(authority)
        var portText: Substring?
        if hostPart.hasPrefix("[") {
            guard let close = hostPart.firstIndex(of: "]") else {
                throw Failure("'\(text)' has an unclosed IPv6 address")
            }
            let after = hostPart[hostPart.index(after: close)...]
            if after.hasPrefix(":") {
                portText = after.dropFirst()
            } else if !after.isEmpty {
                throw Failure("'\(text)' has an invalid host")
            }
            hostPart = hostPart[hostPart.index(after: hostPart.startIndex)..<close]
        } else if let colon = hostPart.lastIndex(of: ":") {
            portText = hostPart[hostPart.index(after: colon)...]
            hostPart = hostPart[..<colon]
        }
        guard !hostPart.isEmpty,
            hostPart.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "%") })
        else { throw Failure("'\(text)' has no valid host") }
        host = String(hostPart)
        if let portText {
            guard let value = Int(portText), (1...65535).contains(value) else {
                throw Failure("'\(text)' has an invalid port")
            }
            port = value
        } else {
            port = isTLS ? 443 : 80
        }
        if path.isEmpty || path.hasPrefix("?") { path = "/" + path }
        guard path.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw Failure("'\(text)' has spaces or non-ASCII characters in its path; percent-encode them")
        }
        // Every brace must open one known placeholder.
        var scan = Substring(path)
        var pieces: [Piece] = []
        while let open = scan.firstIndex(where: { $0 == "{" || $0 == "}" }) {
            guard scan[open] == "{", let close = scan[open...].firstIndex(of: "}") else {
                throw Failure("'\(text)' has an unmatched brace")
            }
            let name = String(scan[scan.index(after: open)..<close])
            guard Self.placeholders.contains(name) else {
                throw Failure("'\(text)' has an unknown placeholder {\(name)}; known: {hub}, {event}")
            }
            if open > scan.startIndex { pieces.append(.literal(String(scan[..<open]))) }
            pieces.append(name == "hub" ? .hub : .event)
            scan = scan[scan.index(after: close)...]
        }
        if !scan.isEmpty { pieces.append(.literal(String(scan))) }
        target = path
        self.pieces = pieces
    }

    /// The target split once at its placeholders, so expanding it per event is appending.
    enum Piece: Sendable, Hashable {
        case literal(String)
        case hub
        case event
    }

    let pieces: [Piece]

    /// The `Host` header value: the port only when it is not the scheme's default.
    public var hostHeader: String {
        let name = host.contains(":") ? "[\(host)]" : host
        return port == (isTLS ? 443 : 80) ? name : "\(name):\(port)"
    }

    /// `scheme://host:port`: the connection pool's key.
    public var origin: String { (isTLS ? "https://" : "http://") + hostHeader }

    /// The request target for one event, the values percent-encoded.
    public func target(hub: String, event: String) -> String {
        if pieces.count == 1, case .literal = pieces[0] { return target }
        var out = ""
        out.reserveCapacity(target.utf8.count + hub.utf8.count + event.utf8.count)
        for piece in pieces {
            switch piece {
            case .literal(let text): out += text
            case .hub: out += HTTPPercent.encodeSegment(hub)
            case .event: out += HTTPPercent.encodeSegment(event)
            }
        }
        return out
    }

    /// The full URL for one event, as requested. It may carry a secret in its query (Azure
    /// Functions' `?code=…`): never log it or show it to a client; use `redactedURL` instead.
    public func url(hub: String, event: String) -> String {
        origin + target(hub: hub, event: event)
    }

    /// The URL for one event as logs and error messages show it: every query value is replaced
    /// by `***` (protocol-spec/security.md §2).
    public func redactedURL(hub: String, event: String) -> String {
        Self.redactingQuery(url(hub: hub, event: event))
    }

    /// The template as written, with every query value replaced by `***`.
    public var redactedDescription: String { Self.redactingQuery(description) }

    /// `url` with each query parameter's value replaced by `***`; a parameter without `=` is
    /// replaced whole, since it may be the secret itself. Names and the path stay readable.
    public static func redactingQuery(_ url: String) -> String {
        guard let question = url.firstIndex(of: "?") else { return url }
        let query = url[url.index(after: question)...]
        let parts = query.split(separator: "&", omittingEmptySubsequences: false).map { part -> String in
            if part.isEmpty { return "" }
            guard let equals = part.firstIndex(of: "=") else { return "***" }
            return String(part[..<equals]) + "=***"
        }
        return String(url[...question]) + parts.joined(separator: "&")
    }
}
