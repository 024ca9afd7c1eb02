#!/usr/bin/env python3
"""Reads the sanitizer report files of one scripts/sanitize run and prints what they found.

usage: sanitize_report.py SUPPRESSIONS_FILE... -- LOG_DIR...

Each LOG_DIR holds the `log_path` files (`<prefix>.<pid>`) the sanitized processes wrote.
Reports are grouped by kind and first frame: the frame the sanitizer names in its SUMMARY
line (it skips its own interceptors), else the first one (for leaks: the first outside the
allocator). Suppressions that matched are listed with the reason written above them in the
suppressions file. Exit status 1 when any report was not suppressed, else 0.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections import Counter, defaultdict

START = re.compile(r"^(?:==\d+==)?(?:WARNING|ERROR): (ThreadSanitizer|AddressSanitizer|LeakSanitizer): (.*?)(?: \(pid=\d+\))?\s*$")
FRAME = re.compile(r"^\s*#(\d+) (?:0x[0-9a-f]+ in )?(\S+)(?: (.*?))?(?: \(([^)]*)\))?\s*$")
LEAK = re.compile(r"^(Direct|Indirect) leak of (\d+) byte\(s\) in (\d+) object\(s\)")
TSAN_MATCHED = re.compile(r"^ThreadSanitizer: Matched \d+ suppressions")
SUMMARY = re.compile(r"^SUMMARY: (?:ThreadSanitizer|AddressSanitizer): .*? (\S+) in (\S+)\s*$")
# TSan prints "count kind:pattern"; LSan "count bytes pattern" (its kind is always leak).
SUPP_LINE = re.compile(r"^\s*(\d+)(?:\s+\d+)?\s+(?:(\w+):)?(\S+)\s*$")
# Frames that say where memory came from, not who took it.
ALLOCATORS = re.compile(
    r"^(malloc|calloc|realloc|posix_memalign|aligned_alloc|memalign|operator new.*|_Znwm|_Znam|"
    r"swift_slowAlloc|swift_allocObject|swift_allocBox|swift_coroFrameAlloc|CRYPTO_malloc|CRYPTO_zalloc|"
    r"CRYPTO_realloc|strdup|__interceptor_\w+|___interceptor_\w+)$")
# Standard-library frames between the allocator and the code that asked for the memory.
STDLIB = re.compile(r"libswiftCore\.so|\bSwift\.o\b|libswift_Concurrency\.so")


def demangle(names: set[str]) -> dict[str, str]:
    tool = shutil.which("swift-demangle")
    swift_names = sorted(n for n in names if n.startswith(("$s", "_$s", "$S")))
    if not tool or not swift_names:
        return {}
    try:
        out = subprocess.run([tool, "--simplified", "--compact"], input="\n".join(swift_names),
                             capture_output=True, text=True, timeout=60).stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        return {}
    return dict(zip(swift_names, out)) if len(out) == len(swift_names) else {}


def short_location(location: str | None) -> str:
    if not location:
        return ""
    root = os.getcwd() + "/"
    return location.replace(root, "")


class Report:
    def __init__(self, tool: str, kind: str, origin: str):
        self.tool, self.kind, self.origin = tool, kind, origin
        self.frames: list[tuple[str, str]] = []  # of the first stack: (function, location)
        self.in_first_stack = True
        self.summary: tuple[str, str] | None = None  # the sanitizer's own pick of the frame

    def key_frame(self) -> tuple[str, str]:
        if self.summary:
            return self.summary
        for function, location in self.frames:
            if self.tool == "LeakSanitizer" and (ALLOCATORS.match(function) or STDLIB.search(location)):
                continue
            return function, location
        return ("<no frame>", "")


def parse(path: str, origin: str, reports: list[Report], matched: Counter) -> None:
    current: Report | None = None
    in_supp = False
    leak_kind = ""
    with open(path, errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if TSAN_MATCHED.match(line) or line.strip() == "Suppressions used:":
                in_supp = True
                current = None
                continue
            if in_supp:
                m = SUPP_LINE.match(line)
                if m:
                    matched[(m.group(2) or "leak", m.group(3))] += int(m.group(1))
                    continue
                if line.strip().startswith("count") or not line.strip() or line.startswith("-----"):
                    continue
                in_supp = False
            m = START.match(line)
            if m:
                tool, kind = m.group(1), m.group(2)
                if tool == "LeakSanitizer":
                    current = None  # each leak below is one report
                    leak_kind = "leak"
                    continue
                kind = re.sub(r" on (unknown )?address.*| at pc .*|\s+\(.*$", "", kind)
                current = Report(tool, kind, origin)
                reports.append(current)
                continue
            m = LEAK.match(line)
            if m:
                current = Report("LeakSanitizer", f"{m.group(1).lower()} {leak_kind}", origin)
                reports.append(current)
                continue
            if current is None:
                continue
            if line.startswith("SUMMARY:") or line.startswith("=================="):
                m = SUMMARY.match(line)
                if m and current.tool != "LeakSanitizer":
                    current.summary = (m.group(2), m.group(1))
                current.in_first_stack = False
                continue
            m = FRAME.match(line)
            if m and current.in_first_stack:
                if m.group(1) == "0" and current.frames:
                    current.in_first_stack = False  # second stack of the report
                    continue
                current.frames.append((m.group(2), m.group(3) or m.group(4) or ""))
            elif current.frames and not m and line.strip():
                current.in_first_stack = False


def read_reasons(paths: list[str]) -> dict[tuple[str, str], str]:
    reasons: dict[tuple[str, str], str] = {}
    for path in paths:
        if not os.path.exists(path):
            continue
        # A comment block gives the reason of every pattern right below it.
        comment: list[str] = []
        after_pattern = False
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line.startswith("#"):
                    if after_pattern:
                        comment, after_pattern = [], False
                    comment.append(line.lstrip("# ").strip())
                elif ":" in line:
                    kind, pattern = line.split(":", 1)
                    reasons[(kind, pattern)] = " ".join(comment) or "(no reason written)"
                    after_pattern = True
                else:
                    comment, after_pattern = [], False
    return reasons


def main(argv: list[str]) -> int:
    sep = argv.index("--")
    supp_files, dirs = argv[:sep], argv[sep + 1:]
    reports: list[Report] = []
    matched: Counter = Counter()
    files = 0
    for d in dirs:
        if not os.path.isdir(d):
            continue
        for name in sorted(os.listdir(d)):
            files += 1
            parse(os.path.join(d, name), os.path.basename(d), reports, matched)

    names = {r.key_frame()[0] for r in reports}
    pretty = demangle(names)
    groups: dict[tuple[str, str, str], list[Report]] = defaultdict(list)
    for r in reports:
        function, location = r.key_frame()
        groups[(r.kind, pretty.get(function, function), short_location(location))].append(r)

    print(f"  report files: {files}; reports not suppressed: {len(reports)}"
          + (f" in {len(groups)} group(s) (kind, first frame):" if groups else ""))
    for (kind, function, location), members in sorted(groups.items(), key=lambda g: -len(g[1])):
        origins = ", ".join(sorted({m.origin for m in members}))
        print(f"    {len(members):4d}x {kind}: {function}")
        print(f"          at {location or '?'} [{origins}]")
    reasons = read_reasons(supp_files)
    if matched:
        print(f"  known false positives suppressed: {sum(matched.values())} match(es)")
        for (kind, pattern), count in matched.most_common():
            reason = reasons.get((kind, pattern), "(pattern not found in the suppressions files)")
            print(f"    {count:4d}x {kind}:{pattern}\n          reason: {reason}")
    else:
        print("  known false positives suppressed: none matched")
    return 1 if reports else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
