#!/usr/bin/env python3
"""Compare two suites of scripts/bench, run on the same machine in one sitting: the medians
of the figures that matter per workload, and their ratio (after / before).

usage: bench_compare.py BEFORE.json AFTER.json   (prints a Markdown table)
"""
import json
import statistics
import sys


def load(path):
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def server(run, key):
    return (run.get("server") or {}).get(key)


def p99_ms(run):
    value = (run.get("latencyMicros") or {}).get("p99")
    return value / 1000 if value is not None else None


def rss_kib(run):
    value = (run.get("memory") or {}).get("rssPerConnectionBytes")
    return value / 1024 if value is not None else None


# (label, what, how to read it from one run, unit)
FIGURES = [
    ("fanout-json-sat", "fan-out saturation, json: server CPU", lambda r: server(r, "cpuSecondsPerMillionDeliveries"), "CPU-s/M"),
    ("fanout-reliable-sat", "fan-out saturation, reliable: server CPU", lambda r: server(r, "cpuSecondsPerMillionDeliveries"), "CPU-s/M"),
    ("fanout-json-rate100", "100 publishes/s: server CPU", lambda r: server(r, "cpuSecondsPerMillionDeliveries"), "CPU-s/M"),
    ("fanout-json-rate100", "100 publishes/s: p99", p99_ms, "ms"),
    ("fanout-reliable-rate100", "100 publishes/s, reliable: p99", p99_ms, "ms"),
    ("fanout-json-2k-deflate", "fan-out of 2 KB with deflate: server CPU", lambda r: server(r, "cpuSecondsPerMillionDeliveries"), "CPU-s/M"),
    ("chat-reliable", "chat, reliable: server CPU", lambda r: server(r, "cpuSecondsPerMillionDeliveries"), "CPU-s/M"),
    ("churn-json", "churn: server CPU per cycle", lambda r: r.get("serverCpuMicrosPerCycle"), "µs"),
    ("upstream-json", "upstream round trip: server CPU", lambda r: r.get("serverCpuMicrosPerRoundTrip"), "µs"),
    ("idle-json-10000", "idle 10,000: RSS per connection", rss_kib, "KiB"),
    ("idle-reliable-10000", "idle 10,000 reliable: RSS per connection", rss_kib, "KiB"),
]


def median_of(doc, label, read):
    values = [read(run) for run in doc["runs"] if run.get("label") == label]
    values = [value for value in values if value is not None]
    return (statistics.median(values), values) if values else (None, [])


def fmt(value):
    if value is None:
        return "—"
    return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"


def main():
    before, after = load(sys.argv[1]), load(sys.argv[2])
    print(f"| figure | before (`{before['commit']}`) | after (`{after['commit']}`) | after / before |")
    print("| --- | ---: | ---: | ---: |")
    for label, what, read, unit in FIGURES:
        old, old_runs = median_of(before, label, read)
        new, new_runs = median_of(after, label, read)
        ratio = f"{new / old:.2f}" if old and new is not None else "—"
        runs = lambda values: " [" + " / ".join(fmt(v) for v in values) + "]" if len(values) > 1 else ""
        print(f"| {what}, {unit} | {fmt(old)}{runs(old_runs)} | {fmt(new)}{runs(new_runs)} | {ratio} |")
    cb, ca = before.get("callgrind") or {}, after.get("callgrind") or {}
    old, new = cb.get("instructionsPerDelivery"), ca.get("instructionsPerDelivery")
    ratio = f"{new / old:.3f}" if old and new else "—"
    print(f"| callgrind, instructions per delivery (json fan-out) | {fmt(old)} | {fmt(new)} | {ratio} |")


if __name__ == "__main__":
    main()
