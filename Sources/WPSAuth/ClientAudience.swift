/// The lenient `aud` check for client WebSocket connections (protocol-spec/auth.md §3.3).
public enum ClientAudience {
    static let hubsPath = Array("/client/hubs/".utf8)

    /// Whether `audience` denotes `<endpoint>/client/hubs/<hub>` for this request.
    ///
    /// Scheme is any of http, https, ws, wss; host and path compare ignoring ASCII case; an
    /// omitted port matches 80 or 443; one trailing slash is ignored; the hub segment may be
    /// percent-encoded and compares ignoring case, since hub names are case-insensitive.
    /// `requestHost` is the request's Host header (may carry a port). `isTLS` is accepted for
    /// symmetry with callers but not compared, so a TLS-terminating proxy may sit in front.
    public static func matches(audience: String, requestHost: String, isTLS: Bool, hub: String) -> Bool {
        var audience = audience
        return audience.withUTF8 { matches(audience: $0, requestHost: requestHost, isTLS: isTLS, hub: hub) }
    }

    /// The same check for an audience given as its UTF-8 bytes.
    public static func matches(audience: UnsafeBufferPointer<UInt8>, requestHost: String, isTLS: Bool, hub: String)
        -> Bool
    {
        var requestHost = requestHost
        return requestHost.withUTF8 { matches(audience: audience, requestHost: $0, isTLS: isTLS, hub: hub) }
    }

    /// The same check with the audience and the Host header given as their bytes.
    public static func matches(
        audience: UnsafeBufferPointer<UInt8>, requestHost: UnsafeBufferPointer<UInt8>, isTLS: Bool, hub: String
    ) -> Bool {
        var hub = hub
        return hub.withUTF8 { hub in
            AudienceURL(audience[...]).map { url in
                guard url.query == nil, url.sameOrigin(requestHost: requestHost) else { return false }
                var path = url.path
                if path.last == UInt8(ascii: "/") { path = path.dropLast() }
                guard path.count > hubsPath.count,
                    hubsPath.withUnsafeBufferPointer({
                        ASCII.equalsIgnoringCase(UnsafeBufferPointer(rebasing: path.prefix($0.count)), $0)
                    })
                else { return false }
                let audienceHub = UnsafeBufferPointer(rebasing: path.dropFirst(hubsPath.count))
                guard !audienceHub.contains(UInt8(ascii: "/")) else { return false }
                // Contiguous bytes compared first; the percent-decoded forms only on a miss.
                return ASCII.equalsIgnoringCase(audienceHub, hub) || ASCII.equalsLeniently(audienceHub, hub)
            } ?? false
        }
    }
}
