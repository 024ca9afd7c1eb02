#!/usr/bin/env python3
"""Turns wps-bench runs into Benchmarks/results/<date>.json, Benchmarks/REPORT.md and
Benchmarks/chart.svg. Standard library only.

usage:
  bench_report.py assemble RUNS.jsonl CALLGRIND.json|- OUT.json DATE COMMIT
  bench_report.py render RESULTS.json REPORT.md CHART.svg [CLUSTER.json]
  bench_report.py cluster RESULTS.json   (the cluster targets as JSON, on standard output)

render takes the cluster runs from RESULTS.json, or from CLUSTER.json when RESULTS.json has
none (a --cluster-only run added to the suite the report shows).
"""
import json
import math
import os
import platform
import sys

# Targets from the benchmark issue: (label, description, how to read the value, limit, unit).
TARGETS = [
    ("fanout-json-sat", "fan-out 1,000 subs, json, saturation: server CPU per million deliveries",
     lambda r: server(r, "cpuSecondsPerMillionDeliveries"), 0.25, "CPU-s/M"),
    ("fanout-reliable-sat", "fan-out 1,000 subs, reliable, saturation: server CPU per million deliveries",
     lambda r: server(r, "cpuSecondsPerMillionDeliveries"), 0.35, "CPU-s/M"),
    ("fanout-json-rate100", "fan-out 100 publishes/s to 1,000 subs: server CPU per million deliveries",
     lambda r: server(r, "cpuSecondsPerMillionDeliveries"), 7.0, "CPU-s/M"),
    ("fanout-json-rate100", "fan-out 100 publishes/s to 1,000 subs: p99 latency",
     lambda r: latency(r, "p99") / 1000 if latency(r, "p99") is not None else None, 5.0, "ms"),
    ("fanout-json-rate100", "fan-out 100 publishes/s to 1,000 subs: p99.9 latency",
     lambda r: latency(r, "p999") / 1000 if latency(r, "p999") is not None else None, 20.0, "ms"),
    ("idle-json-10000", "idle 10,000 connections: server RSS per connection",
     lambda r: (r.get("memory") or {}).get("rssPerConnectionBytes", 0) / 1024, 3.0, "KiB"),
    ("churn-json", "churn connect/join/leave/close: server CPU per cycle",
     lambda r: r.get("serverCpuMicrosPerCycle"), 60.0, "µs"),
]


# Targets on a pair of runs against the same server: (run, its twin, description, what to read
# from each, limit, kind). The measured value is run / twin; kind "min" means it must be at
# least the limit, "max" below it.
PAIR_TARGETS = [
    ("fanout-json-sat-tls", "fanout-json-sat-plain-pair",
     "TLS fan-out 1,000 subs, json, saturation: deliveries/s over plaintext's",
     lambda r: r.get("deliveriesPerSecond"), 0.60, "min"),
    ("fanout-json-2k-deflate", "fanout-json-2k-plain",
     "deflate fan-out 1,000 subs, 2 KiB text JSON: server CPU per million deliveries over uncompressed",
     lambda r: server(r, "cpuSecondsPerMillionDeliveries"), 2.0, "max"),
]


# Cluster runs (scripts/bench run_cluster): 1,000 subscribers on one server without Redis,
# and spread over 1, 2 and 3 nodes sharing one redis-server, the publisher on the first node.
CLUSTER_SINGLE_SAT = "cluster-single-sat"
CLUSTER_SINGLE_RATE = "cluster-single-rate100"
CLUSTER_SAT = [(1, "cluster-1node-sat"), (2, "cluster-2node-sat"), (3, "cluster-3node-sat")]
CLUSTER_RATE = "cluster-2node-rate100"
# Limits from the cluster issue: summed node CPU per delivery at most 1.3x the single
# server's; p99 at 100 publishes/s at most 1 ms above the single server's.
CLUSTER_CPU_RATIO_LIMIT = 1.3
CLUSTER_P99_EXTRA_LIMIT_MS = 1.0


def is_cluster(run):
    return str(run.get("label", "")).startswith("cluster-")


def pair_difference(groups, label, twin, read):
    """Median over repeats of run - twin (repeat i of one with repeat i of the other)."""
    values = []
    for run, other in zip(groups.get(label, []), groups.get(twin, [])):
        value, base = read(run), read(other)
        if value is not None and base is not None:
            values.append(value - base)
    return median(values)


def redis_figure(run, key):
    return (run.get("redis") or {}).get(key)


def p99_ms(run):
    value = latency(run, "p99")
    return value / 1000 if value is not None else None


def cluster_summary(runs):
    """The cluster targets from the cluster runs: ratios and differences over paired repeats."""
    groups = group_runs([r for r in runs if is_cluster(r)])
    cpu = lambda r: server(r, "cpuSecondsPerMillionDeliveries")
    two = CLUSTER_SAT[1][1]
    cpu_ratio = pair_ratio(groups, two, CLUSTER_SINGLE_SAT, cpu)
    p99_extra = pair_difference(groups, CLUSTER_RATE, CLUSTER_SINGLE_RATE, p99_ms)
    nodes = []
    for count, label in [(0, CLUSTER_SINGLE_SAT)] + CLUSTER_SAT:
        members = groups.get(label, [])
        if not members:
            continue
        nodes.append({
            "label": label, "nodes": count, "redis": count > 0,
            "deliveriesPerSecond": median([r.get("deliveriesPerSecond") for r in members]),
            "cpuSecondsPerMillionDeliveries": median([cpu(r) for r in members]),
            "cpuRatioToSingle": pair_ratio(groups, label, CLUSTER_SINGLE_SAT, cpu) if count else 1.0,
            "redisCpuMicrosPerPublish": median([redis_figure(r, "cpuMicrosPerPublish") for r in members]),
            "p99Ms": median([p99_ms(r) for r in members]),
            "ok": all(r.get("ok") for r in members),
            "runs": len(members),
        })
    return {
        "twoNodeCpuPerDeliveryRatio": cpu_ratio,
        "twoNodeCpuPerDeliveryRatioLimit": CLUSTER_CPU_RATIO_LIMIT,
        "twoNodeCpuPerDeliveryRatioRuns": [
            (cpu(a) / cpu(b)) if cpu(a) is not None and cpu(b) else None
            for a, b in zip(groups.get(two, []), groups.get(CLUSTER_SINGLE_SAT, []))],
        "twoNodeRedisCpuMicrosPerPublish": median([redis_figure(r, "cpuMicrosPerPublish")
                                                   for r in groups.get(two, [])]),
        "rate100P99ExtraMs": p99_extra,
        "rate100P99ExtraLimitMs": CLUSTER_P99_EXTRA_LIMIT_MS,
        "rate100P99Ms": {"single": [p99_ms(r) for r in groups.get(CLUSTER_SINGLE_RATE, [])],
                         "twoNodes": [p99_ms(r) for r in groups.get(CLUSTER_RATE, [])]},
        "bySize": nodes,
    }


def cluster_rows(runs):
    """The report's cluster section (empty without cluster runs)."""
    runs = [r for r in runs if is_cluster(r)]
    if not runs:
        return []
    summary = cluster_summary(runs)
    groups = group_runs(runs)
    by_label = median_runs(groups)
    ratio = summary["twoNodeCpuPerDeliveryRatio"]
    extra = summary["rate100P99ExtraMs"]
    ratio_runs = " / ".join(fmt(v) for v in summary["twoNodeCpuPerDeliveryRatioRuns"])
    p99 = summary["rate100P99Ms"]
    lines = ["", "## Cluster", "",
             "1,000 subscribers of one group, on one server without Redis (*single*) or spread in turn "
             "over 1, 2 and 3 nodes sharing one `redis-server` on loopback; the publisher is on the first "
             "node. Node CPU is summed over the nodes the run used; Redis CPU is redis-server's utime+stime "
             "from /proc over the same interval. Every process ran on the same two cores, so the nodes and "
             "Redis compete with each other and with the bench.", "",
             "| target | measured | limit | met |", "| --- | ---: | ---: | --- |"]
    if ratio is None:
        lines.append(f"| 2 nodes × 500 subscribers, saturation: summed node CPU per delivery over single's "
                     f"| – | ≤ {CLUSTER_CPU_RATIO_LIMIT:.1f}× | not measured |")
    else:
        lines.append(f"| 2 nodes × 500 subscribers, saturation: summed node CPU per delivery over single's "
                     f"| {ratio:.2f}× (runs: {ratio_runs}) | ≤ {CLUSTER_CPU_RATIO_LIMIT:.1f}× "
                     f"| {'yes' if ratio <= CLUSTER_CPU_RATIO_LIMIT else 'no'} |")
    redis = summary["twoNodeRedisCpuMicrosPerPublish"]
    lines.append(f"| the same runs: Redis CPU per published message | {fmt(redis)} µs | – | – |")
    if extra is None:
        lines.append(f"| 100 publishes/s over 2 nodes: p99 above single's | – "
                     f"| ≤ {CLUSTER_P99_EXTRA_LIMIT_MS:.1f} ms | not measured |")
    else:
        detail = ("single " + " / ".join(fmt(v) for v in p99["single"]) + ", 2 nodes "
                  + " / ".join(fmt(v) for v in p99["twoNodes"]) + " ms")
        lines.append(f"| 100 publishes/s over 2 nodes: p99 above single's | {extra:+.2f} ms ({detail}) "
                     f"| ≤ {CLUSTER_P99_EXTRA_LIMIT_MS:.1f} ms | {'yes' if extra <= CLUSTER_P99_EXTRA_LIMIT_MS else 'no'} |")
    lines += ["", "Median runs (ratios are medians of run i over single's run i):", "",
              "| run | nodes | deliveries/s | node CPU-s per M | × single | CPU per node, s | Redis CPU µs per publish "
              "| Redis CPU % | p50 ms | p99 ms | lost/dup/ooo | ok |",
              "| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | --- | --- |"]
    cpu = lambda r: server(r, "cpuSecondsPerMillionDeliveries")
    labels = [CLUSTER_SINGLE_SAT] + [label for _, label in CLUSTER_SAT] + [CLUSTER_SINGLE_RATE, CLUSTER_RATE]
    for label in labels:
        run = by_label.get(label)
        if not run:
            continue
        twin = CLUSTER_SINGLE_RATE if "rate100" in label else CLUSTER_SINGLE_SAT
        per_node = " / ".join(fmt((node or {}).get("cpuSeconds"))
                              for node in (run.get("nodeCpu") or {}).values()) or fmt(server(run, "cpuSeconds"))
        p50 = latency(run, "p50")
        nodes = run.get("subscriberNodes", 1) if label.startswith("cluster-") and "single" not in label else "1, no Redis"
        lines.append(f"| {label} | {nodes} | {fmt(run.get('deliveriesPerSecond'))} "
                     f"| {fmt(cpu(run), 3)} | {fmt(pair_ratio(groups, label, twin, cpu))} | {per_node} "
                     f"| {fmt(redis_figure(run, 'cpuMicrosPerPublish'))} "
                     f"| {fmt(100 * redis_figure(run, 'cpuUtilisation'), 1) if redis_figure(run, 'cpuUtilisation') is not None else '–'} "
                     f"| {fmt(p50 / 1000 if p50 is not None else None)} | {fmt(p99_ms(run))} "
                     f"| {run.get('lost', 0)}/{run.get('duplicated', 0)}/{run.get('outOfOrder', 0)} "
                     f"| {'yes' if run.get('ok') else 'NO'} |")
    return lines


def median(values):
    values = sorted(v for v in values if v is not None)
    if not values:
        return None
    middle = len(values) // 2
    return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2


def primary(run):
    """The figure a repeated run is ranked by when one run must stand for its repeats."""
    for value in (server(run, "cpuSecondsPerMillionDeliveries"), run.get("serverCpuMicrosPerCycle"),
                  run.get("serverCpuMicrosPerRoundTrip"),
                  (run.get("memory") or {}).get("rssPerConnectionBytes"), run.get("deliveriesPerSecond")):
        if value is not None:
            return value
    return 0


def group_runs(runs):
    """label -> its runs in order (targets are run several times: medians are quoted)."""
    groups = {}
    for run in runs:
        groups.setdefault(run.get("label"), []).append(run)
    return groups


def median_runs(groups):
    """label -> the run whose primary figure is the median of its repeats."""
    chosen = {}
    for label, members in groups.items():
        ranked = sorted(members, key=primary)
        chosen[label] = ranked[(len(ranked) - 1) // 2]
    return chosen


def pair_ratio(groups, label, twin, read):
    """Median over repeats of run / twin (repeat i of one with repeat i of the other), or
    None when no pair has both values."""
    ratios = []
    for run, other in zip(groups.get(label, []), groups.get(twin, [])):
        value, base = read(run), read(other)
        if value is not None and base:
            ratios.append(value / base)
    return median(ratios)


def spread(values, digits=2):
    """`a / b / c` for repeated measurements, empty for a single one."""
    values = [v for v in values if v is not None]
    return "" if len(values) < 2 else " (runs: " + " / ".join(f"{v:.{digits}f}" for v in values) + ")"


def transport(run):
    """How the bench connected: json/reliable plus tls, deflate and a non-default payload."""
    parts = ["reliable" if "reliable" in run.get("subprotocol", "") else "json"]
    if run.get("tls"):
        parts.append("tls")
    if run.get("deflate"):
        parts.append("deflate")
    if run.get("payloadStyle") == "text" or (run.get("payloadBytes") or 100) != 100:
        parts.append(f"{run.get('payloadBytes')} B {run.get('payloadStyle', 'x')}")
    return " · ".join(parts)


def server(run, key):
    return (run.get("server") or {}).get(key)


def latency(run, key):
    return (run.get("latencyMicros") or run.get("cycleLatencyMicros") or {}).get(key)


def machine():
    model = "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    load = None
    try:
        load = [float(x) for x in open("/proc/loadavg", encoding="utf-8").read().split()[:3]]
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpuModel": model, "kernel": platform.release(), "loadAverage": load}


def assemble(runs_path, callgrind_path, out_path, date, commit):
    runs = []
    with open(runs_path, encoding="utf-8") as handle:
        for line in handle:
            line = line.strip()
            if line:
                runs.append(json.loads(line))
    callgrind = None
    if callgrind_path != "-" and os.path.exists(callgrind_path) and os.path.getsize(callgrind_path) > 0:
        with open(callgrind_path, encoding="utf-8") as handle:
            callgrind = json.load(handle)
    document = {"date": date, "commit": commit, "machine": machine(), "runs": runs, "callgrind": callgrind}
    with open(out_path, "w", encoding="utf-8") as handle:
        json.dump(document, handle, indent=1)
        handle.write("\n")


def fmt(value, digits=2):
    if value is None:
        return "–"
    if isinstance(value, float):
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def percent(share):
    return "–" if share is None else f"{100 * share:.0f}"


def run_rows(runs):
    rows = ["| run | protocol | size | deliveries/s (churn: cycles/s, upstream: round trips/s) | p50 ms | p99 ms | p99.9 ms | lost/dup/ooo "
            "| server CPU-s per M | server CPU % | bench CPU % | ok |",
            "| --- | --- | --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | --- |"]
    totals = {}
    for run in runs:
        totals[run.get("label")] = totals.get(run.get("label"), 0) + 1
    seen = {}
    for run in runs:
        if run.get("workload") == "wakeup":
            continue  # quoted under Machine: no connections, no deliveries
        label = run.get("label", run.get("workload"))
        seen[label] = seen.get(label, 0) + 1
        if totals.get(label, 0) > 1:
            label = f"{label} #{seen[label]}"
        size = run.get("subscribers") or run.get("connections") or run.get("churners") or run.get("clients")
        if run.get("workload") == "chat":
            size = f"{run.get('groups')}×{run.get('membersPerGroup')}"
        elif run.get("workload") == "fanout" and run.get("window") is not None:
            size = f"{size}, window {run.get('window')}"
        elif run.get("workload") == "upstream":
            size = f"{size}×{run.get('inFlight')}"
        lat = run.get("latencyMicros") or run.get("cycleLatencyMicros") or {}
        ms = lambda key: (lat.get(key) / 1000) if lat.get(key) is not None else None
        counts = "/".join(str(run.get(key, "–")) for key in ("lost", "duplicated", "outOfOrder"))
        rate = run.get("deliveriesPerSecond") or run.get("cyclesPerSecond") or run.get("roundTripsPerSecond")
        protocol = transport(run)
        rows.append(
            f"| {label} | {protocol} | {size} | {fmt(rate)} | {fmt(ms('p50'))} "
            f"| {fmt(ms('p99'))} | {fmt(ms('p999'))} | {counts} | {fmt(server(run, 'cpuSecondsPerMillionDeliveries'))} "
            f"| {percent(server(run, 'cpuUtilisation'))} | {percent((run.get('bench') or {}).get('cpuUtilisation'))} "
            f"| {'yes' if run.get('ok') else 'NO'} |")
    return rows


def kernel_rows(by_label):
    """Server CPU split into kernel (stime) and user time for the CPU targets: on loopback
    the kernel part includes delivering each write into the receiving socket."""
    rows = []
    for label, unit in (("fanout-json-sat", "CPU-s/M"), ("fanout-json-sat-w64", "CPU-s/M"),
                        ("fanout-reliable-sat", "CPU-s/M"), ("fanout-reliable-sat-w64", "CPU-s/M"),
                        ("fanout-json-rate100", "CPU-s/M"), ("churn-json", "µs/cycle")):
        run = by_label.get(label)
        if not run:
            continue
        info = run.get("server") or {}
        total, system = info.get("cpuSeconds"), info.get("systemCpuSeconds")
        if total is None or system is None or total <= 0:
            continue
        if unit == "µs/cycle":
            cycles = run.get("cycles") or 0
            if not cycles:
                continue
            scale = 1e6 / cycles
        else:
            delivered = run.get("delivered") or 0
            if not delivered:
                continue
            scale = 1e6 / delivered
        rows.append(f"| {label} | {fmt(total * scale)} {unit} | {fmt(system * scale)} {unit} | "
                    f"{fmt((total - system) * scale)} {unit} | {system / total * 100:.0f} % "
                    f"| {fmt(info.get('deliveriesPerSegment'))} |")
    if not rows:
        return []
    return ["", "### Kernel and user time", "",
            "Server CPU split into kernel time (stime: system calls, and on loopback the TCP work of "
            "delivering into the bench's sockets) and the server's own user time.", "",
            "| run | total | kernel | user | kernel share | deliveries per segment |",
            "| --- | ---: | ---: | ---: | ---: | ---: |"] + rows


def per_million(run, key):
    """A server CPU figure scaled to seconds per million deliveries, or None."""
    value, delivered = server(run, key), run.get("delivered") or 0
    return value / delivered * 1e6 if value is not None and delivered else None


def floor_rows(by_label):
    """Fan-out runs next to their kernel-floor twins: the same frames written by a plain thread
    to the same number of loopback sockets, with no server logic."""
    rows = []
    for fanout, floor, with_latency in (("fanout-json-rate100", "floor-rate100", True),
                                        ("fanout-json-sat", "floor-sat", False)):
        pair = [(label, by_label.get(label)) for label in (fanout, floor)]
        if not all(run for _, run in pair):
            continue
        base = per_million(pair[1][1], "cpuSeconds")
        for label, run in pair:
            total, kernel = per_million(run, "cpuSeconds"), per_million(run, "systemCpuSeconds")
            user = total - kernel if total is not None and kernel is not None else None
            ratio = total / base if total is not None and base else None
            ms = lambda key: (latency(run, key) / 1000) if with_latency and latency(run, key) is not None else None
            rows.append(f"| {label} | {(run.get('server') or {}).get('serverIs', 'server process')} "
                        f"| {fmt(total)} | {fmt(kernel)} | {fmt(user)} | {fmt(ratio)} "
                        f"| {fmt(ms('p50'))} | {fmt(ms('p99'))} | {fmt(ms('p999'))} |")
    if not rows:
        return []
    return ["", "### Kernel floor", "",
            "The floor runs send the server's fan-out frames (same size, one write per socket per "
            "round: one frame at 100 rounds/s, 96 frames per write at saturation, about what the server's saturated writes carry) from a plain writer "
            "thread in the bench straight to 1,000 loopback sockets, with no server at all; their CPU "
            "is the writer thread's own (getrusage RUSAGE_THREAD). **The floor is the cost of the writes "
            "alone on this machine**: what a server run spends above it is its own work. At saturation the "
            "kernel cost per delivery falls with the frames that share one write (the *deliveries per "
            "segment* column above: TCP segments the subscribers' sockets received, one per server write of small frames), so compare the server's kernel share with the floor's at a similar "
            "count. Latency at saturation is "
            "queueing by design, so only the paced pair shows it.", "",
            "| run | CPU of | CPU-s/M total | kernel | user | × floor | p50 ms | p99 ms | p99.9 ms |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"] + rows


def round_bound_rows(groups, cores):
    """The earliest time a paced round can finish: every delivery needs the server's write and
    the bench's read, both measured, and only `cores` CPUs run them."""
    rows = []
    for run in groups.get("fanout-json-rate100", []):
        rounds = run.get("published") or 0
        server_cpu = (run.get("server") or {}).get("cpuSeconds")
        bench_cpu = (run.get("bench") or {}).get("cpuSeconds")
        p99 = latency(run, "p99")
        if not rounds or server_cpu is None or bench_cpu is None or p99 is None:
            continue
        server_ms, bench_ms = server_cpu / rounds * 1e3, bench_cpu / rounds * 1e3
        rows.append(f"| {fmt(server_ms)} | {fmt(bench_ms)} | {fmt((server_ms + bench_ms) / cores)} "
                    f"| {fmt(p99 / 1000)} |")
    if not rows or not cores:
        return []
    return ["", "### What one paced round needs", "",
            "At 100 publishes/s each publish is a round of 1,000 deliveries, and each delivery is a "
            "write in the server and a read in the bench, on the same "
            f"{cores} cores. The CPU one round takes, divided by the cores, is the earliest its last "
            "deliveries can arrive even with perfect parallelism; p99 is among those last ones.", "",
            "| server CPU ms per round | bench CPU ms per round | earliest end of a round ms | p99 ms |",
            "| ---: | ---: | ---: | ---: |"] + rows


def churn_rows(churn):
    """Churn runs with their kernel/user split, next to the churn floors: the same cycles
    answered by plain responder threads with the server's bytes and system calls, one thread
    or two (one listener each on a shared port, as the server's two loops). Each run is
    compared with the floors at its own number of churners."""
    bases = {(run.get("responders") or 1, run.get("churners")): run.get("serverCpuMicrosPerCycle")
             for run in churn if run.get("workload") == "churn-floor"}
    lines = ["", "## Churn", "",
             "Server CPU per connect, join, leave and close cycle (token checked on connect). "
             "`churn-floor` answers the same churners from a plain responder thread in the bench: "
             "the same accept, registration, reads, writes and close per cycle and the same bytes "
             "(since 38c0180 the server shuts its write side after the echoed close frame and closes "
             "only at the client's FIN, and the floor's responders do the same), "
             "with no token check, parsing or hub, so **its CPU is the cost of a cycle's system "
             "calls and TCP work alone on this machine**; its CPU is that thread's own. "
             "`churn-floor-2` runs two such threads, each with its own listener on one shared port "
             "as the server's two loops have, so it also pays for two threads that sleep and are "
             "woken. The `-64` runs keep 64 cycles in flight instead of 16: the server has work "
             "waiting more often, so it sleeps and is woken less per cycle. `churn-json-1loop` runs "
             "against a server started with `--threads 1` (the default is one loop per core); compare "
             "it with the one-thread floor.", "",
             "| run | CPU of | churners | cycles/s | µs per cycle | kernel µs | user µs | × floor "
             "| × floor-2 | cycle p50 ms | cycle p99 ms |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for run in churn:
        lat = run.get("cycleLatencyMicros") or {}
        info = run.get("server") or {}
        cycles = run.get("cycles") or 0
        total = run.get("serverCpuMicrosPerCycle")
        kernel = info.get("systemCpuSeconds") / cycles * 1e6 if cycles and info.get("systemCpuSeconds") is not None else None
        user = total - kernel if total is not None and kernel is not None else None
        ratios = []
        for responders in (1, 2):
            base = bases.get((responders, run.get("churners")))
            ratios.append(total / base if total is not None and base else None)
        lines.append(f"| {run.get('label')} | {run.get('serverIs', 'server process')} | {run.get('churners')} "
                     f"| {fmt(run.get('cyclesPerSecond'))} | {fmt(total)} | {fmt(kernel)} | {fmt(user)} "
                     f"| {fmt(ratios[0])} | {fmt(ratios[1])} "
                     f"| {fmt((lat.get('p50') or 0) / 1000)} | {fmt((lat.get('p99') or 0) / 1000)} |")
    return lines


# Azure Web PubSub's quoted capacity for event-handler round trips, per unit.
AZURE_UPSTREAM_ROUND_TRIPS_PER_UNIT = 500


def upstream_rows(groups):
    """User-event round trips through the event handler: each run, then the medians and how
    they compare with what Azure quotes per unit."""
    labels = [label for label, members in groups.items() if members and members[0].get("workload") == "upstream"]
    if not labels:
        return []
    lines = ["", "## Upstream event handler", "",
             "User-event round trips: each client keeps `event` requests with ack ids in flight (JSON "
             "subprotocol); the server POSTs each one as a CloudEvent to the bench's own event handler "
             "(`wps-bench upstream-handler`, a separate process with one loop thread, answering 204 No "
             "Content, or for the `-reply` run 200 with a 16-byte text body that the server sends to the "
             "client before the ack) and acks once the handler answered. Latency is from the send to the "
             "ack. Server CPU per round trip covers the client's frame, the HTTP request and its answer "
             "over the server's keep-alive pool, and the ack; the handler's CPU is its own process's.", "",
             "| run | clients × in flight | round trips/s | server CPU µs per round trip | kernel µs "
             "| handler CPU µs | p50 ms | p99 ms | p99.9 ms | ok |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for label in labels:
        members = groups[label]
        for number, run in enumerate(members, 1):
            name = f"{label} #{number}" if len(members) > 1 else label
            ms = lambda key: (latency(run, key) / 1000) if latency(run, key) is not None else None
            lines.append(f"| {name} | {run.get('clients')}×{run.get('inFlight')} | {fmt(run.get('roundTripsPerSecond'))} "
                         f"| {fmt(run.get('serverCpuMicrosPerRoundTrip'))} "
                         f"| {fmt(run.get('serverSystemCpuMicrosPerRoundTrip'))} "
                         f"| {fmt((run.get('handler') or {}).get('cpuMicrosPerRoundTrip'))} "
                         f"| {fmt(ms('p50'))} | {fmt(ms('p99'))} | {fmt(ms('p999'))} "
                         f"| {'yes' if run.get('ok') else 'NO'} |")
    lines.append("")
    for label in labels:
        members = groups[label]
        rate = median([r.get("roundTripsPerSecond") for r in members])
        cpu = median([r.get("serverCpuMicrosPerRoundTrip") for r in members])
        p99 = median([latency(r, "p99") for r in members])
        p999 = median([latency(r, "p999") for r in members])
        if rate is None:
            continue
        text = (f"- **{label}**: {fmt(float(rate))} round trips/s{spread([r.get('roundTripsPerSecond') for r in members], 0)}, "
                f"{fmt(cpu)} µs of server CPU per round trip{spread([r.get('serverCpuMicrosPerRoundTrip') for r in members])}, "
                f"p99 {fmt(p99 / 1000 if p99 is not None else None)} ms, "
                f"p99.9 {fmt(p999 / 1000 if p999 is not None else None)} ms (medians).")
        lines.append(text)
    first = groups[labels[0]]
    rate = median([r.get("roundTripsPerSecond") for r in first])
    cpu = median([r.get("serverCpuMicrosPerRoundTrip") for r in first])
    if rate:
        per_core = f"; at {fmt(cpu)} µs per round trip one core of server CPU carries about " \
                   f"{fmt(1e6 / cpu)} round trips/s" if cpu else ""
        lines.append(f"- Azure Web PubSub quotes {AZURE_UPSTREAM_ROUND_TRIPS_PER_UNIT} upstream round trips per second "
                     f"per unit: {labels[0]} ran {rate / AZURE_UPSTREAM_ROUND_TRIPS_PER_UNIT:.0f}× that on these two "
                     f"shared cores (server, bench and handler together){per_core}.")
    return lines


def wakeup_lines(runs):
    """The machine's price for a sleep and a wake-up, from the `wakeup` run."""
    run = next((r for r in runs if r.get("workload") == "wakeup"), None)
    if not run:
        return []
    return [f"- a sleep and a wake-up (`wakeup`: two threads passing a byte through pipes, "
            f"{run.get('roundTrips'):,} round trips): {fmt(run.get('acrossCoresCpuMicrosPerRoundTrip'))} µs "
            f"of the measuring thread's CPU per round trip with the threads on two cores "
            f"({fmt(run.get('acrossCoresWallMicrosPerRoundTrip'))} µs wall), "
            f"{fmt(run.get('oneCoreCpuMicrosPerRoundTrip'))} µs on one core "
            f"({fmt(run.get('oneCoreWallMicrosPerRoundTrip'))} µs wall)"]


def render(results_path, report_path, chart_path, cluster_path=None):
    with open(results_path, encoding="utf-8") as handle:
        doc = json.load(handle)
    runs = doc["runs"]
    cluster_note = []
    if cluster_path and not any(is_cluster(r) for r in runs):
        with open(cluster_path, encoding="utf-8") as handle:
            cluster_doc = json.load(handle)
        runs = runs + [r for r in cluster_doc["runs"] if is_cluster(r)]
        cluster_note = [f"The cluster runs were added at {cluster_doc['date']}, commit `{cluster_doc['commit']}` "
                        f"(`scripts/bench --cluster-only`, raw numbers in "
                        f"`results/{os.path.basename(cluster_path)}`)."]
    groups = group_runs(runs)
    by_label = median_runs(groups)
    # One run per label (the median of its repeats), in the order the suite ran them.
    unique = [by_label[label] for label in groups]
    lines = [f"# wps-server benchmarks", "",
             f"Run {doc['date']} at commit `{doc['commit']}` by `scripts/bench`; raw numbers in "
             f"`results/{os.path.basename(results_path)}`."] + cluster_note + ["",
             "## Machine", "",
             f"- CPUs: {doc['machine']['nproc']} × {doc['machine']['cpuModel']}",
             f"- kernel: {doc['machine']['kernel']}",
             f"- load average at the end: {doc['machine']['loadAverage']}",
             "- server and load generator share these cores (loopback) on a virtual machine with "
             "neighbours, so every number is noisy and CPU figures are upper bounds; compare runs "
             "of one report with each other rather than across reports."] + wakeup_lines(runs) + ["",
             "## Method", "",
             "- `wps-bench` drives the server over loopback from its own epoll loops (2 threads), with the "
             "project's WebSocket codecs; payloads are 100-byte JSON objects carrying the send time "
             "(CLOCK_MONOTONIC), a publisher slot and a sequence number, padded with `x` (the 2 KiB "
             "deflate pair pads with words instead, which compress about 3.8x like JSON text).",
             "- TLS runs connect with TLS to a self-signed certificate (no verification); deflate runs "
             "offer permessage-deflate and inflate every compressed delivery; their publisher sends "
             "uncompressed frames (RFC 7692 lets each message choose).",
             "- Latency is receive time minus send time in the same process, so it includes the bench's "
             "own scheduling; at saturation the publisher keeps a window of un-acked sends (256 for the "
             "saturation targets, 64 for the runs labelled `-w64` and the sweeps) and at most 384 (256) "
             "publishes not yet delivered to every subscriber, so latency there is queueing by design. "
             "Reliable subscribers acknowledge every 300 messages, as Azure's JavaScript client does.",
             "- Server CPU is utime+stime of the server process from /proc over the measured interval "
             "(first publish until every delivery arrived); RSS per connection is (RSS with C idle "
             "connections − RSS of a fresh server) / C.",
             "- Lost / duplicated / out-of-order are counted per subscriber and publisher from the "
             "sequence numbers; every run must show 0/0/0.",
             "- The target workloads run several times; the targets table quotes the median (each "
             "run's value in brackets), and the other tables show the median run.", "",
             "## Targets", "",
             "| target | measured | limit | measured / limit | met |",
             "| --- | ---: | ---: | ---: | --- |"]
    for label, text, read, limit, unit in TARGETS:
        values = [read(run) for run in groups.get(label, [])]
        value = median(values)
        if value is None:
            lines.append(f"| {text} | – | {limit} {unit} | – | not measured |")
            continue
        ratio = value / limit
        lines.append(f"| {text} | {fmt(float(value))} {unit}{spread(values)} | {limit} {unit} | {ratio:.2f} "
                     f"| {'yes' if ratio <= 1 else 'no'} |")
    for label, twin, text, read, limit, kind in PAIR_TARGETS:
        value = pair_ratio(groups, label, twin, read)
        bound = f"≥ {limit:.2f}×" if kind == "min" else f"< {limit:.2f}×"
        if value is None:
            lines.append(f"| {text} | – | {bound} | – | not measured |")
            continue
        met = value >= limit if kind == "min" else value < limit
        lines.append(f"| {text} | {value:.2f}× | {bound} | {value / limit:.2f} | {'yes' if met else 'no'} |")
    lines += kernel_rows(by_label)
    lines += floor_rows(by_label)
    lines += round_bound_rows(groups, doc["machine"].get("nproc") or 0)
    notes = os.path.join(os.path.dirname(report_path) or ".", "NOTES.md")
    if os.path.exists(notes):
        with open(notes, encoding="utf-8") as handle:
            lines += ["", handle.read().strip()]
    lines += ["", "## Runs", ""] + run_rows(runs)
    paired = [(target, by_label.get(target[0]), by_label.get(target[1])) for target in PAIR_TARGETS]
    paired = [entry for entry in paired if entry[1] and entry[2]]
    if paired:
        lines += ["", "## TLS and deflate against plaintext", "",
                  "Each pair ran back to back on one server process, which listened with TLS and in "
                  "plaintext and had permessage-deflate on; only what the bench offered differed.", "",
                  "| run | transport | deliveries/s | × plaintext | server CPU-s per M | × plaintext | server CPU % "
                  "| bench CPU % | p99 ms | ok |",
                  "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
        rate = lambda r: r.get("deliveriesPerSecond")
        cpu = lambda r: server(r, "cpuSecondsPerMillionDeliveries")
        for (label, twin, *_), run, other in paired:
            for entry in (other, run):
                p99 = latency(entry, "p99")
                rate_ratio = pair_ratio(groups, entry.get("label"), twin, rate)
                cpu_ratio = pair_ratio(groups, entry.get("label"), twin, cpu)
                lines.append(f"| {entry.get('label')} | {transport(entry)} | {fmt(rate(entry))} | {fmt(rate_ratio)} "
                             f"| {fmt(cpu(entry))} | {fmt(cpu_ratio)} "
                             f"| {percent(server(entry, 'cpuUtilisation'))} "
                             f"| {percent((entry.get('bench') or {}).get('cpuUtilisation'))} "
                             f"| {fmt(p99 / 1000 if p99 is not None else None)} | {'yes' if entry.get('ok') else 'NO'} |")
    idle = [r for r in unique if r.get("workload") == "idle"]
    if idle:
        lines += ["", "## Idle connections", "",
                  "| run | transport | connections | connects/s | baseline RSS MiB | loaded RSS MiB | bytes per connection |",
                  "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
        for run in idle:
            memory = run.get("memory") or {}
            mib = lambda key: memory.get(key, 0) / 1048576
            lines.append(f"| {run.get('label')} | {transport(run)} | {run.get('connectionsOpened')} "
                         f"| {fmt(run.get('connectsPerSecond'))} "
                         f"| {fmt(mib('baselineRssBytes'))} | {fmt(mib('loadedRssBytes'))} "
                         f"| {fmt(memory.get('rssPerConnectionBytes'))} |")
    churn = [r for r in unique if r.get("workload") in ("churn", "churn-floor")]
    if churn:
        lines += churn_rows(churn)
    lines += upstream_rows(groups)
    lines += cluster_rows(runs)
    callgrind = doc.get("callgrind")
    if callgrind:
        lines += ["", "## Instructions per delivery (callgrind)", "",
                  f"{callgrind.get('setup', 'fan-out')}: {callgrind['instructions']:,} instructions (Ir) for "
                  f"{callgrind['deliveries']:,} deliveries = **{callgrind['instructionsPerDelivery']:,} "
                  "instructions per delivered message** (counters zeroed after the subscribers connected; "
                  "includes parsing the publishes, acks and the final closes).", "",
                  "| function (self cost) | Ir | % | main callers |", "| --- | ---: | ---: | --- |"]
        for entry in callgrind.get("topSelfCost", []):
            name = entry["function"].replace("|", "\\|")
            callers = "; ".join(f"`{c[:90]}`".replace("|", "\\|") for c in entry.get("calledFrom", []))
            lines.append(f"| `{name[:100]}` | {entry['instructions']:,} | {entry['percent']} | {callers} |")
    lines += ["", "## Chart", "", "![deliveries/s and p99 against subscribers; memory against connections; "
              "deliveries/s and CPU per delivery against cluster nodes](chart.svg)", ""]
    with open(report_path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines))
    with open(chart_path, "w", encoding="utf-8") as handle:
        handle.write(chart(unique))


def axis_max(values, headroom=0.95):
    """A round top for an axis: the next 1, 2, 2.5 or 5 times a power of ten above the largest value."""
    top = max([v for v in values if v is not None] or [1])
    if top <= 0:
        return 1
    scale = 10 ** math.floor(math.log10(top))
    for step in (1, 2, 2.5, 5, 10):
        if top <= step * scale * headroom:
            return step * scale
    return 10 * scale


def tick_label(value, unit):
    if value == 0:
        return "0"
    if unit == "/s":
        return f"{value / 1e6:g}M/s" if value >= 1e6 else f"{value / 1e3:g}k/s"
    return f"{value:g} {unit}"


def chart(runs):
    """Two panels: deliveries/s (bars) and p99 (line) per subscriber count; RSS per connection count."""
    cluster = [r for r in runs if is_cluster(r) and "-sat" in str(r.get("label", ""))]
    width, height = 1000, (780 if cluster else 400)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>']
    sweep = sorted([r for r in runs if str(r.get("label", "")).startswith("sweep-")],
                   key=lambda r: ("reliable" in r.get("subprotocol", ""), r.get("subscribers", 0)))
    out += panel_fanout(sweep, 70, 50, 400, 280)
    idle = sorted([r for r in runs if r.get("workload") == "idle" and not r.get("tls") and not r.get("deflate")],
                  key=lambda r: ("reliable" in r.get("subprotocol", ""), r.get("connectionsOpened", 0)))
    out += panel_memory(idle, 600, 50, 350, 280)
    if cluster:
        out += panel_cluster(cluster, 70, 440, 400, 260)
    out.append("</svg>")
    return "\n".join(out) + "\n"


def frame(x, y, w, h, title):
    return [f'<text x="{x + w / 2}" y="{y - 24}" text-anchor="middle" font-size="14">{title}</text>',
            f'<line x1="{x}" y1="{y + h}" x2="{x + w}" y2="{y + h}" stroke="black"/>',
            f'<line x1="{x}" y1="{y}" x2="{x}" y2="{y + h}" stroke="black"/>']


def ticks(x, y, h, top, unit, side="left", color="black", grid_w=0):
    """Four ticks from 0 to top on one side of a panel, with faint grid lines across it."""
    out = []
    for i in range(5):
        value = top * i / 4
        ty = y + h - h * i / 4
        if grid_w and i:
            out.append(f'<line x1="{x}" y1="{ty:.1f}" x2="{x + grid_w}" y2="{ty:.1f}" stroke="#e4e4e4"/>')
        if side == "left":
            out.append(f'<text x="{x - 6}" y="{ty + 4:.1f}" text-anchor="end" font-size="10" fill="{color}">'
                       f'{tick_label(value, unit)}</text>')
        else:
            out.append(f'<text x="{x + 6}" y="{ty + 4:.1f}" text-anchor="start" font-size="10" fill="{color}">'
                       f'{tick_label(value, unit)}</text>')
    return out


def panel_fanout(sweep, x, y, w, h):
    out = frame(x, y, w, h, "fan-out at saturation (window 64): deliveries/s and p99 latency")
    if not sweep:
        return out + [f'<text x="{x + 20}" y="{y + 40}">no sweep runs</text>']
    rates = [r.get("deliveriesPerSecond") or 0 for r in sweep]
    p99s = [((r.get("latencyMicros") or {}).get("p99") or 0) / 1000 for r in sweep]
    rate_max, p99_max = axis_max(rates), axis_max(p99s)
    out += ticks(x, y, h, rate_max, "/s", grid_w=w)
    out.append(f'<line x1="{x + w}" y1="{y}" x2="{x + w}" y2="{y + h}" stroke="#c0392b"/>')
    out += ticks(x + w, y, h, p99_max, "ms", side="right", color="#c0392b")
    slot = w / len(sweep)
    points = []
    for i, run in enumerate(sweep):
        reliable = "reliable" in run.get("subprotocol", "")
        bar_h = h * rates[i] / rate_max
        bx = x + i * slot + slot * 0.15
        color = "#e8a869" if reliable else "#7fa6e8"
        out.append(f'<rect x="{bx:.1f}" y="{y + h - bar_h:.1f}" width="{slot * 0.7:.1f}" height="{bar_h:.1f}" fill="{color}"/>')
        out.append(f'<text x="{bx + slot * 0.35:.1f}" y="{y + h - 6:.1f}" text-anchor="middle" font-size="10">'
                   f'{rates[i] / 1e6:.2f}M</text>')
        out.append(f'<text x="{bx + slot * 0.35:.1f}" y="{y + h + 14}" text-anchor="middle" font-size="10">'
                   f'{run.get("subscribers")}</text>')
        points.append((bx + slot * 0.35, y + h - h * p99s[i] / p99_max, p99s[i]))
    for reliable in (False, True):
        line = [(px, py) for (px, py, _), run in zip(points, sweep) if ("reliable" in run.get("subprotocol", "")) == reliable]
        if len(line) > 1:
            out.append('<polyline fill="none" stroke="#c0392b" stroke-width="2" points="'
                       + " ".join(f"{px:.1f},{py:.1f}" for px, py in line) + '"/>')
    for px, py, value in points:
        out.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3.5" fill="#c0392b"/>')
        out.append(f'<text x="{px:.1f}" y="{py - 8:.1f}" text-anchor="middle" fill="#c0392b" font-size="10" '
                   f'stroke="white" stroke-width="3" paint-order="stroke">{value:.1f} ms</text>')
    json_count = sum(1 for r in sweep if "reliable" not in r.get("subprotocol", ""))
    for label, first, count in (("json", 0, json_count), ("reliable", json_count, len(sweep) - json_count)):
        if count:
            out.append(f'<text x="{x + slot * (first + count / 2):.1f}" y="{y + h + 28}" text-anchor="middle" '
                       f'font-size="11">{label}</text>')
    out.append(f'<text x="{x + w / 2}" y="{y + h + 46}" text-anchor="middle">subscribers in one group '
               f'(bars: deliveries/s, left axis; red: p99, right axis)</text>')
    return out


def panel_cluster(runs, x, y, w, h):
    """Deliveries/s (bars) and summed node CPU per million deliveries (line) for one server
    without Redis and for 1, 2 and 3 cluster nodes, at saturation."""
    out = frame(x, y, w, h, "cluster, 1,000 subscribers at saturation: deliveries/s and CPU per delivery")
    by_label = {r.get("label"): r for r in runs}
    order = [(CLUSTER_SINGLE_SAT, "single")] + [(label, f"{n} node{'s' if n > 1 else ''}") for n, label in CLUSTER_SAT]
    series = [(by_label[label], name) for label, name in order if label in by_label]
    if not series:
        return out + [f'<text x="{x + 20}" y="{y + 40}">no cluster runs</text>']
    rates = [r.get("deliveriesPerSecond") or 0 for r, _ in series]
    cpus = [server(r, "cpuSecondsPerMillionDeliveries") or 0 for r, _ in series]
    rate_max, cpu_max = axis_max(rates), axis_max(cpus)
    out += ticks(x, y, h, rate_max, "/s", grid_w=w)
    out.append(f'<line x1="{x + w}" y1="{y}" x2="{x + w}" y2="{y + h}" stroke="#2e8b57"/>')
    out += ticks(x + w, y, h, cpu_max, "CPU-s/M", side="right", color="#2e8b57")
    slot = w / len(series)
    points = []
    for i, (run, name) in enumerate(series):
        bar_h = h * rates[i] / rate_max
        bx = x + i * slot + slot * 0.15
        color = "#b0b0b0" if i == 0 else "#7fa6e8"
        out.append(f'<rect x="{bx:.1f}" y="{y + h - bar_h:.1f}" width="{slot * 0.7:.1f}" height="{bar_h:.1f}" fill="{color}"/>')
        out.append(f'<text x="{bx + slot * 0.35:.1f}" y="{y + h - 6:.1f}" text-anchor="middle" font-size="10">'
                   f'{rates[i] / 1e6:.2f}M</text>')
        out.append(f'<text x="{bx + slot * 0.35:.1f}" y="{y + h + 14}" text-anchor="middle" font-size="10">{name}</text>')
        points.append((bx + slot * 0.35, y + h - h * cpus[i] / cpu_max, cpus[i]))
    out.append('<polyline fill="none" stroke="#2e8b57" stroke-width="2" points="'
               + " ".join(f"{px:.1f},{py:.1f}" for px, py, _ in points) + '"/>')
    for px, py, value in points:
        out.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3.5" fill="#2e8b57"/>')
        out.append(f'<text x="{px:.1f}" y="{py - 8:.1f}" text-anchor="middle" fill="#2e8b57" font-size="10" '
                   f'stroke="white" stroke-width="3" paint-order="stroke">{value:.3f}</text>')
    out.append(f'<text x="{x + w / 2}" y="{y + h + 32}" text-anchor="middle">single server without Redis, '
               f'then nodes sharing one Redis</text>')
    out.append(f'<text x="{x + w / 2}" y="{y + h + 48}" text-anchor="middle">(bars: deliveries/s, left; '
               f'green: CPU-s per million, all nodes, right)</text>')
    return out


def panel_memory(idle, x, y, w, h):
    out = frame(x, y, w, h, "server RSS above a fresh server's, idle connections")
    if not idle:
        return out + [f'<text x="{x + 20}" y="{y + 40}">no idle runs</text>']

    def above(run):
        memory = run.get("memory") or {}
        return max(memory.get("loadedRssBytes", 0) - memory.get("baselineRssBytes", 0), 0) / 1048576

    xs = [r.get("connectionsOpened", 0) for r in idle]
    x_max, y_max = axis_max(xs, headroom=1.0), axis_max([above(r) for r in idle])
    out += ticks(x, y, h, y_max, "MiB", grid_w=w)
    for i in range(5):
        cx = x_max * i / 4
        out.append(f'<text x="{x + w * i / 4:.1f}" y="{y + h + 14}" text-anchor="middle" font-size="10">{cx:,.0f}</text>')
    for reliable, color in ((False, "#2b6cd9"), (True, "#d9822b")):
        series = [r for r in idle if ("reliable" in r.get("subprotocol", "")) == reliable]
        pts = [(x + w * r.get("connectionsOpened", 0) / x_max, y + h - h * above(r) / y_max, r) for r in series]
        if len(pts) > 1:
            out.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="'
                       + " ".join(f"{px:.1f},{py:.1f}" for px, py, _ in pts) + '"/>')
        for px, py, run in pts:
            per = (run.get("memory") or {}).get("rssPerConnectionBytes") or 0
            if px - x < w / 4:
                anchor, dx, dy = "start", 8, 16
            else:
                anchor, dx, dy = ("end", -8, -8) if reliable else ("end", -8, 18)
            out.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3.5" fill="{color}"/>')
            out.append(f'<text x="{px + dx:.1f}" y="{py + dy:.1f}" text-anchor="{anchor}" font-size="10" fill="{color}">'
                       f'{above(run):.1f} MiB, {per / 1024:.2f} KiB each</text>')
    out.append(f'<text x="{x + w / 2}" y="{y + h + 32}" text-anchor="middle">idle connections '
               f'(blue json, orange reliable)</text>')
    return out


def main():
    if len(sys.argv) >= 7 and sys.argv[1] == "assemble":
        assemble(*sys.argv[2:7])
    elif len(sys.argv) >= 5 and sys.argv[1] == "render":
        render(*sys.argv[2:6])
    elif len(sys.argv) >= 3 and sys.argv[1] == "cluster":
        with open(sys.argv[2], encoding="utf-8") as handle:
            print(json.dumps(cluster_summary(json.load(handle)["runs"]), indent=1))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
