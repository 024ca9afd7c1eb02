import WPSHTTP

extension Router {
    /// `GET /metrics`: every loop's counts in the Prometheus text format (protocol-spec/server.md
    /// §`/metrics`). `open` on the metrics listener; on the main port the caller needs a REST
    /// token, as the service API does.
    func routeMetrics(_ head: HTTPRequestHead, context: LoopContext, open: Bool) -> RouteDecision {
        guard head.method == "GET" || head.method == "HEAD" else {
            return .respond(.methodNotAllowed, body: "method not allowed\n", headers: ["Allow": "GET, HEAD"])
        }
        if !open, let refusal = authenticateREST(head) { return .answer(refusal) }
        let metrics = self.metrics
        let loop = context.loop
        return .deferred { complete in
            metrics.scrape(on: loop) { text in
                complete(HTTPAnswer(.ok, body: text, contentType: Self.metricsContentType))
            }
        }
    }

    static let metricsContentType = "text/plain; version=0.0.4; charset=utf-8"
}
