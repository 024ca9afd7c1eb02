#!/usr/bin/env python3
"""Summarise a callgrind output file: total instructions (Ir) and the functions with the most
self cost, as JSON. Standard library only; Swift names are demangled with `swift demangle`
when the toolchain is on PATH.

usage: bench_callgrind.py CALLGRIND_OUT DELIVERIES [TOP]
"""
import collections
import json
import re
import shutil
import subprocess
import sys


def self_costs(path):
    """Self Ir per function name (calls= lines carry inclusive costs of callees: those go to
    `edges`, keyed (caller, callee), instead)."""
    names = {}
    cost = collections.Counter()
    edges = collections.Counter()
    current = None
    callee = None
    after_calls = False
    total = None
    with open(path, encoding="utf-8", errors="replace") as handle:
        for raw in handle:
            line = raw.rstrip("\n")
            if line.startswith("totals:") or line.startswith("summary:"):
                total = int(line.split()[1])
                continue
            match = re.match(r"^(c?fn)=\((\d+)\)(?: (.*))?$", line)
            if match:
                if match.group(3):
                    names[match.group(2)] = match.group(3)
                if match.group(1) == "fn":
                    current = names.get(match.group(2), match.group(2))
                    after_calls = False
                else:
                    callee = names.get(match.group(2), match.group(2))
                continue
            if line.startswith("calls="):
                after_calls = True
                continue
            if current and line and (line[0].isdigit() or line[0] in "+-*"):
                parts = line.split()
                if len(parts) >= 2:
                    if after_calls:
                        after_calls = False
                        edges[(current, callee)] += int(parts[1])
                        continue
                    cost[current] += int(parts[1])
    return cost, edges, total


def demangle(names):
    tool = shutil.which("swift")
    if not tool or not names:
        return names
    try:
        out = subprocess.run(
            [tool, "demangle", "--simplified"], input="\n".join(names), capture_output=True, text=True, timeout=60
        ).stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        return names
    return out if len(out) == len(names) else names


def main():
    path, deliveries = sys.argv[1], int(sys.argv[2])
    top = int(sys.argv[3]) if len(sys.argv) > 3 else 15
    cost, edges, total = self_costs(path)
    total = total or sum(cost.values())
    common = cost.most_common(top)
    # For each hot function, the two callers that spend the most (inclusive) in it.
    callers = []
    for name, _ in common:
        ranked = sorted(((value, caller) for (caller, callee), value in edges.items()
                         if callee == name and caller != name), reverse=True)[:2]
        callers.append([caller for _, caller in ranked])
    flat = [name for name, _ in common] + [caller for group in callers for caller in group]
    readable = demangle(flat)
    lookup = dict(zip(flat, readable))
    print(json.dumps({
        "instructions": total,
        "deliveries": deliveries,
        "instructionsPerDelivery": round(total / deliveries, 1) if deliveries else None,
        "topSelfCost": [
            {"function": lookup[name][:200], "instructions": value, "percent": round(100.0 * value / total, 2),
             "calledFrom": [lookup[caller][:160] for caller in group]}
            for (name, value), group in zip(common, callers)
        ],
    }))


if __name__ == "__main__":
    main()
