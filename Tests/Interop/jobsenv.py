"""Helpers for the job scenario tests: a wps-server with only --negotiate-key, and job-solver /
job-scheduler processes (real binaries, 127.0.0.1, stopped by PID).

Binaries: WPS_SERVER_BIN, JOB_SCHEDULER_BIN, JOB_SOLVER_BIN; defaults are the debug builds of the
repository this file lives in.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

import serverproc

REPO = Path(__file__).resolve().parents[2]
if "WPS_SERVER_BIN" not in os.environ:
    serverproc.SERVER_BIN = str(REPO / ".build" / "debug" / "wps-server")
SCHEDULER_BIN = os.environ.get("JOB_SCHEDULER_BIN", str(REPO / ".build" / "debug" / "job-scheduler"))
SOLVER_BIN = os.environ.get("JOB_SOLVER_BIN", str(REPO / ".build" / "debug" / "job-solver"))
NEGOTIATE_KEY = "jobs-interop-negotiate-key"
HUB = "jobs"
DISPATCH_GROUP = "jobs.dispatch"


def job_group(correlation_id: str) -> str:
    return "jobs.job." + correlation_id


def start_server() -> serverproc.ServerProcess:
    """A server with nothing but --negotiate-key (and a scratch --state-dir)."""
    return serverproc.ServerProcess("--negotiate-key", NEGOTIATE_KEY, echo=False)


def negotiate_url(port: int, user_id: str, group: str, hub: str = HUB) -> str:
    q = urllib.parse.urlencode({"userId": user_id, "group": group, "hub": hub})
    req = urllib.request.Request(f"http://127.0.0.1:{port}/negotiate?{q}", headers={"x-api-key": NEGOTIATE_KEY})
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.loads(resp.read())["url"]


REGISTRY: list["AppProcess"] = []  # every app process started in this session


class AppProcess:
    """One job-solver or job-scheduler process; stdout lines are collected with arrival times."""

    def __init__(self, args: list[str], label: str):
        for binary in (args[0],):
            if not os.path.exists(binary):
                pytest.fail(f"{binary} does not exist (build with `swift build` or set the *_BIN variables)")
        self.args = args
        self.label = label
        self.stderr_file = tempfile.NamedTemporaryFile(prefix=f"{label}-", suffix=".log", delete=False)
        self.lines: list[tuple[float, str]] = []
        self.lock = threading.Lock()
        self.started = time.monotonic()
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=self.stderr_file, text=True, bufsize=1)
        REGISTRY.append(self)
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self):
        for line in self.proc.stdout:
            with self.lock:
                self.lines.append((time.monotonic(), line.rstrip("\n")))

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stdout_lines(self) -> list[str]:
        with self.lock:
            return [l for _, l in self.lines]

    def stderr(self) -> str:
        try:
            with open(self.stderr_file.name, "rb") as f:
                return f.read()[-4000:].decode("utf-8", "replace")
        except OSError:
            return ""

    def describe(self) -> str:
        return (f"{self.label} pid {self.pid} rc={self.proc.poll()}\n  stdout: "
                + "\n  ".join(self.stdout_lines()[-40:]) + f"\n  stderr: {self.stderr()}")

    def wait_for(self, pred, timeout: float, what: str):
        """Waits until pred(line) holds for some stdout line; returns that line."""
        deadline = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < deadline:
            lines = self.stdout_lines()
            for line in lines[seen:]:
                if pred(line):
                    return line
            seen = len(lines)
            time.sleep(0.02)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}; {self.describe()}")

    def wait_exit(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{self.label} did not exit within {timeout}s; {self.describe()}") from None

    def signal(self, sig: int) -> None:
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, sig)
            except ProcessLookupError:
                pass

    def kill9(self) -> None:
        self.signal(signal.SIGKILL)
        self.proc.wait(5)

    def stop(self, timeout: float = 8.0) -> int | None:
        """SIGTERM by PID, then SIGKILL by PID."""
        if self.proc.poll() is None:
            self.signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.proc.wait(5)
        self._reader.join(2)
        return self.proc.returncode

    def cleanup(self) -> None:
        try:
            os.unlink(self.stderr_file.name)
        except OSError:
            pass


class Solver(AppProcess):
    def __init__(self, port: int, name: str, concurrency: int = 1, step_seconds: float = 0.2, *extra: str):
        args = [SOLVER_BIN, "--server", f"http://127.0.0.1:{port}", "--negotiate-key", NEGOTIATE_KEY,
                "--name", name, "--concurrency", str(concurrency), "--step-seconds", str(step_seconds),
                "--claim-timeout", "2", "--heartbeat-seconds", "0.2", *extra]
        super().__init__(args, f"solver-{name}")
        self.name = name
        self.wait_for(lambda l: " ready " in l, 10, f"solver {name} to be ready")

    def events(self) -> list[dict]:
        """Parsed log lines: `<monotonic seconds> <name> <event> <correlationId> <detail>`."""
        out = []
        for line in self.stdout_lines():
            parts = line.split(" ", 4)
            if len(parts) >= 4:
                out.append({"t": float(parts[0]), "solver": parts[1], "event": parts[2], "cid": parts[3],
                            "detail": parts[4] if len(parts) > 4 else ""})
        return out


class Scheduler(AppProcess):
    def __init__(self, port: int, correlation_id: str, name: str = "Job 1",
                 steps: str = "Read all the data,Build in-memory model,Train the model", *extra: str):
        args = [SCHEDULER_BIN, "--server", f"http://127.0.0.1:{port}", "--negotiate-key", NEGOTIATE_KEY,
                "--name", name, "--steps", steps, "--correlation-id", correlation_id, "--json",
                "--claim-timeout", "1", "--heartbeat-timeout", "2", "--cancel-timeout", "5", *extra]
        super().__init__(args, f"scheduler-{correlation_id}")
        self.correlation_id = correlation_id
        self.steps = steps.split(",")

    def records(self) -> list[dict]:
        out = []
        for line in self.stdout_lines():
            try:
                out.append(json.loads(line))
            except ValueError:
                raise AssertionError(f"scheduler printed a non-JSON line with --json: {line!r}") from None
        return out

    def updates(self) -> list[tuple[str, str]]:
        return [(r["step"], r["status"]) for r in self.records() if r.get("type") == "update"]

    def result(self) -> dict | None:
        results = [r for r in self.records() if r.get("type") == "result"]
        return results[-1] if results else None

    def expected_complete(self) -> list[tuple[str, str]]:
        out = []
        for s in self.steps:
            out += [(s, "In Progress"), (s, "Completed")]
        return out + [("Done", "Completed")]


def run_intervals(solvers: list[Solver]) -> dict[str, list[tuple[float, float, str]]]:
    """Per correlation id, the (start, end, solver) spans in which a solver ran the job, from the
    solvers' monotonic timestamps. A span ends at done / cancelled / stop / abandon / release, or
    at the process's end (kill -9)."""
    spans: dict[str, list[tuple[float, float, str]]] = {}
    for s in solvers:
        open_at: dict[str, float] = {}
        for e in s.events():
            if e["event"] == "start":
                open_at[e["cid"]] = e["t"]
            elif e["event"] in ("done", "cancelled", "stop", "abandon", "release") and e["cid"] in open_at:
                spans.setdefault(e["cid"], []).append((open_at.pop(e["cid"]), e["t"], s.name))
        for cid, t in open_at.items():
            spans.setdefault(cid, []).append((t, float("inf"), s.name))
    return spans


@pytest.fixture
def apps():
    """apps(cls, *args) -> a started Solver/Scheduler; all are stopped by PID at teardown."""
    first = len(REGISTRY)

    def _start(cls, *args, **kw):
        return cls(*args, **kw)

    yield _start
    for app in REGISTRY[first:]:
        app.stop()
        app.cleanup()


@pytest.fixture
def jobs_server():
    srv = start_server()
    yield srv
    srv.stop()
