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
        AudienceURL.parse(audience) { url in
            guard let url, url.sameOrigin(requestHost: requestHost) else { return false }
            return matches(url, rawTarget: rawTarget)
        }
    }

    private static func matches(_ url: AudienceURL, rawTarget: String) -> Bool {
        let target = Array(rawTarget.utf8)
        guard target.first == UInt8(ascii: "/") else { return false }
        let question = target.firstIndex(of: UInt8(ascii: "?"))
        let requestPath = target[..<(question ?? target.endIndex)]
        let requestQuery = question.map { target[($0 + 1)...] } ?? []
        let pathMatches =
            url.path.isEmpty
            ? ASCII.equalsLeniently([UInt8(ascii: "/")], requestPath) : ASCII.equalsLeniently(url.path, requestPath)
        guard pathMatches else { return false }
        guard let audienceQuery = url.query else { return true }
        return ASCII.equalsLeniently(audienceQuery, requestQuery)
    }
}
