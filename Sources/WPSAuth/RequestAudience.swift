/// The lenient `aud` check for data-plane REST requests, whose `aud` is the full request URL
/// (protocol-spec/auth.md §5).
public enum RequestAudience {
    /// Whether `audience` denotes this request.
    ///
    /// Host and port follow the client rules (scheme ignored, omitted port = 80 or 443); path
    /// and query compare ignoring ASCII case, either as written or both percent-decoded, since
    /// SDKs escape differently; an `aud` without a query matches any query. `rawTarget` is
    /// the request-target as sent (origin form, `path?query`).
    public static func matches(audience: String, requestHost: String, isTLS: Bool, rawTarget: String) -> Bool {
        guard let url = AudienceURL(audience),
            AudienceURL.sameOrigin(host: url.host, port: url.port, requestHost: requestHost)
        else { return false }
        let target = Array(rawTarget.utf8)
        guard target.first == UInt8(ascii: "/") else { return false }
        let question = target.firstIndex(of: UInt8(ascii: "?"))
        let requestPath = target[..<(question ?? target.endIndex)]
        let requestQuery = question.map { target[($0 + 1)...] } ?? []
        let audiencePath = url.path.isEmpty ? [UInt8(ascii: "/")][...] : url.path
        guard ASCII.equalsLeniently(audiencePath, requestPath) else { return false }
        guard let audienceQuery = url.query else { return true }
        return ASCII.equalsLeniently(audienceQuery, requestQuery)
    }
}
