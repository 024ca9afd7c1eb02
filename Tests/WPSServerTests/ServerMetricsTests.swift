import Testing

@testable import WPSServer

@Suite struct ServerMetricsTests {
    static func snapshot(connects: Int, closes: Int, open: Int) -> MetricsSnapshot {
        var snapshot = MetricsSnapshot()
        snapshot.count("wps_connects_total", connects)
        snapshot.count("wps_closes_total", ["code", "1000"], closes)
        if open > 0 { snapshot.gauge("wps_connections_open", ["hub", "chat", "protocol", "json"], open) }
        return snapshot
    }

    static func text(_ metrics: ServerMetrics) -> String {
        String(decoding: metrics.render(), as: UTF8.self)
    }

    @Test func countersAddWhatEachLoopAddedAndGaugesSumOverLoops() {
        let metrics = ServerMetrics()
        metrics.absorb([
            (0, Self.snapshot(connects: 2, closes: 0, open: 2)), (1, Self.snapshot(connects: 3, closes: 1, open: 2)),
        ])
        var text = Self.text(metrics)
        #expect(text.contains("wps_connects_total 5\n"))
        #expect(text.contains("wps_closes_total{code=\"1000\"} 1\n"))
        #expect(text.contains("wps_connections_open{hub=\"chat\",protocol=\"json\"} 4.0\n"))

        metrics.absorb([
            (0, Self.snapshot(connects: 4, closes: 2, open: 0)), (1, Self.snapshot(connects: 3, closes: 1, open: 0)),
        ])
        text = Self.text(metrics)
        #expect(text.contains("wps_connects_total 7\n"))
        #expect(text.contains("wps_closes_total{code=\"1000\"} 3\n"))
        // The hub's last client left: its series stays, at 0.
        #expect(text.contains("wps_connections_open{hub=\"chat\",protocol=\"json\"} 0.0\n"))
    }

    @Test func anOlderAnswerOfAnOverlappingScrapeCountsNothingTwice() {
        let metrics = ServerMetrics()
        metrics.absorb([(0, Self.snapshot(connects: 5, closes: 0, open: 0))])
        metrics.absorb([(0, Self.snapshot(connects: 4, closes: 0, open: 0))])
        metrics.absorb([(0, Self.snapshot(connects: 6, closes: 0, open: 0))])
        #expect(Self.text(metrics).contains("wps_connects_total 6\n"))
    }

    @Test func countersAtZeroAreListed() {
        let metrics = ServerMetrics()
        metrics.absorb([(0, Self.snapshot(connects: 0, closes: 0, open: 0))])
        #expect(Self.text(metrics).contains("wps_connects_total 0\n"))
    }
}
