"""The job scenario end to end: real wps-server (only --negotiate-key), real job-solver and
job-scheduler processes, 127.0.0.1; protocol-spec/jobs.md."""

from __future__ import annotations

import json
import signal
import threading
import time
import uuid

import pytest

from jobsenv import (DISPATCH_GROUP, Scheduler, Solver, apps, job_group, jobs_server,  # noqa: F401
                     negotiate_url, run_intervals)
from tcpproxy import TcpProxy


def cid() -> str:
    return uuid.uuid4().hex[:16]


def assert_each_once_in_order(sched: Scheduler) -> None:
    assert sched.updates() == sched.expected_complete(), sched.describe()


def assert_no_overlap(spans: dict) -> None:
    for job, runs in spans.items():
        runs = sorted(runs)
        for (s1, e1, n1), (s2, e2, n2) in zip(runs, runs[1:]):
            assert s2 >= e1, f"job {job} ran on {n1} and {n2} at the same time: {runs}"


def test_job_completes_every_step_once_in_order(jobs_server, apps):
    solver = apps(Solver, jobs_server.port, "s1")
    sched = apps(Scheduler, jobs_server.port, cid())
    assert sched.wait_exit(20) == 0, sched.describe()
    assert_each_once_in_order(sched)
    assert sched.result()["outcome"] == "done"
    events = [e["event"] for e in solver.events() if e["cid"] == sched.correlation_id and e["event"] != "connected"]
    assert events[:2] == ["claim", "start"] and events[-1] == "done", solver.describe()


def test_cancel_stops_within_one_step_and_is_confirmed(jobs_server, apps):
    step = 0.5
    solver = apps(Solver, jobs_server.port, "s1", 1, step)
    steps = "one,two,three,four,five,six"
    sched = apps(Scheduler, jobs_server.port, cid(), "Job C", steps, "--cancel-after", "1.2")
    assert sched.wait_exit(20) == 2, sched.describe()
    ups = sched.updates()
    assert ups[-1][1] == "Cancelled", ups
    assert ("Done", "Completed") not in ups
    completed = [s for s, st in ups if st == "Completed"]
    # cancel sent 1.2 s after start: steps are 0.5 s, so at most two (plus one racing) completed
    assert len(completed) <= 3, ups
    assert sched.result()["outcome"] == "cancelled"
    ev = [e for e in solver.events() if e["cid"] == sched.correlation_id]
    names = [e["event"] for e in ev]
    assert "cancelled" in names, solver.describe()
    after = names[names.index("cancelled") + 1:]
    assert "step" not in after and "done" not in after, solver.describe()
    # the solver stopped mid-step: the cancel came within one step of the last step start
    last_step = max(e["t"] for e in ev if e["event"] == "step")
    cancelled_at = next(e["t"] for e in ev if e["event"] == "cancelled")
    assert cancelled_at - last_step < step + 0.05, solver.describe()


def test_killed_solver_job_is_reoffered_and_completes_elsewhere(jobs_server, apps):
    a = apps(Solver, jobs_server.port, "a", 1, 0.4)
    b = apps(Solver, jobs_server.port, "b", 1, 0.4)
    steps = "s1,s2,s3,s4,s5"
    sched = apps(Scheduler, jobs_server.port, cid(), "Job K", steps)
    # whoever starts the job gets killed after its first step completes
    line = sched.wait_for(lambda l: '"Completed"' in l, 10, "the first completed step")
    runner = a if any(e["event"] == "start" for e in a.events()) else b
    other = b if runner is a else a
    assert any(e["event"] == "start" for e in runner.events()), (line, a.describe(), b.describe())
    runner.kill9()
    assert sched.wait_exit(30) == 0, sched.describe()
    assert_each_once_in_order(sched)
    done = [r for r in sched.records() if r.get("type") == "update" and r["step"] == "Done"]
    assert done[0]["claimId"].startswith(other.name + "."), sched.describe()
    starts = [e for e in other.events() if e["event"] == "start" and e["cid"] == sched.correlation_id]
    assert starts and "from step 1" not in starts[0]["detail"], other.describe()


def test_scheduler_connection_cut_mid_job_recovers_without_loss(jobs_server, apps):
    apps(Solver, jobs_server.port, "s1", 1, 0.3)
    with TcpProxy(jobs_server.port) as proxy:
        steps = "p1,p2,p3,p4,p5,p6"
        sched = apps(Scheduler, proxy.port, cid(), "Job P", steps, "--heartbeat-timeout", "5")
        sched.wait_for(lambda l: '"p2"' in l, 10, "step 2")
        assert proxy.cut() >= 2  # both of the scheduler's connections
        sched.wait_for(lambda l: '"p4"' in l, 10, "step 4 after the cut")
        assert proxy.cut() >= 2
        assert sched.wait_exit(30) == 0, sched.describe()
    assert_each_once_in_order(sched)
    assert proxy.accepted >= 4  # it really reconnected


def test_job_waits_until_a_solver_starts(jobs_server, apps):
    sched = apps(Scheduler, jobs_server.port, cid())
    time.sleep(2.5)  # two claim timeouts pass with nobody to claim
    assert sched.alive(), sched.describe()
    assert sched.updates() == []
    apps(Solver, jobs_server.port, "late")
    assert sched.wait_exit(20) == 0, sched.describe()
    assert_each_once_in_order(sched)


@pytest.mark.deadline(120)
def test_ten_schedulers_two_solvers_concurrency_three(jobs_server, apps):
    solvers = [apps(Solver, jobs_server.port, n, 3, 0.2) for n in ("x", "y")]
    scheds = [apps(Scheduler, jobs_server.port, cid(), f"Job {i}", "a,b,c") for i in range(10)]
    for s in scheds:
        assert s.wait_exit(60) == 0, s.describe()
        assert_each_once_in_order(s)
    spans = run_intervals(solvers)
    assert set(spans) >= {s.correlation_id for s in scheds}
    assert_no_overlap(spans)
    for solver in solvers:  # never more than --concurrency jobs at once on one solver
        edges = sorted([(t0, 1) for runs in spans.values() for t0, _, n in runs if n == solver.name]
                       + [(t1, -1) for runs in spans.values() for _, t1, n in runs if n == solver.name])
        level = peak = 0
        for _, d in sorted(edges, key=lambda e: (e[0], e[1])):
            level += d
            peak = max(peak, level)
        assert peak <= 3, solver.describe()


def test_job_from_python_sdk_is_run_by_job_solver(jobs_server, apps):
    """A scheduler written with the official Python client SDK, following protocol-spec/jobs.md."""
    from azure.messaging.webpubsubclient.models import WebPubSubDataType, WebPubSubProtocolType
    from sdkenv import SdkClient

    apps(Solver, jobs_server.port, "s1")
    job_id = cid()
    port = jobs_server.port
    job_client = SdkClient(lambda: negotiate_url(port, "py-scheduler", job_group(job_id)),
                           WebPubSubProtocolType.JSON_RELIABLE).open()
    dispatch = SdkClient(lambda: negotiate_url(port, "py-scheduler", DISPATCH_GROUP),
                         WebPubSubProtocolType.JSON_RELIABLE).open()
    try:
        steps = ["load", "crunch"]
        dispatch.client.send_to_group(DISPATCH_GROUP, {"type": "job", "name": "Py job", "correlationId": job_id,
                                                       "steps": steps}, WebPubSubDataType.JSON, no_echo=True)

        def messages():
            out = []
            for m in job_client.messages(job_group(job_id)):
                data = m.data if isinstance(m.data, dict) else json.loads(m.data)
                out.append(data)
            return out

        job_client.wait_for(lambda: any(m.get("type") == "claim" for m in messages()), 10, "a claim")
        claim = next(m for m in messages() if m.get("type") == "claim")
        job_client.client.send_to_group(job_group(job_id), {
            "type": "assign", "correlationId": job_id, "solver": claim["solver"], "claimId": claim["claimId"],
            "attempt": 1, "resumeFrom": 0, "leaseMs": 10000}, WebPubSubDataType.JSON, no_echo=True)
        job_client.wait_for(lambda: any(m.get("step") == "Done" for m in messages()), 15, "Done")
        ups = [(m["step"], m["status"]) for m in messages() if m.get("type") == "update"]
        assert ups == [("load", "In Progress"), ("load", "Completed"), ("crunch", "In Progress"),
                       ("crunch", "Completed"), ("Done", "Completed")]
    finally:
        job_client.close()
        dispatch.close()


def test_solver_sigterm_releases_its_job_which_is_reoffered(jobs_server, apps):
    a = apps(Solver, jobs_server.port, "a", 1, 0.4)
    b = apps(Solver, jobs_server.port, "b", 1, 0.4)
    # a long heartbeat timeout: only the release can get the job re-offered in time
    sched = apps(Scheduler, jobs_server.port, cid(), "Job T", "t1,t2,t3,t4", "--heartbeat-timeout", "60")
    sched.wait_for(lambda l: '"Completed"' in l, 10, "the first completed step")
    runner = a if any(e["event"] == "start" for e in a.events()) else b
    other = b if runner is a else a
    runner.signal(signal.SIGTERM)
    assert runner.wait_exit(10) == 0, runner.describe()
    assert any(e["event"] == "release" and e["cid"] == sched.correlation_id for e in runner.events())
    assert sched.wait_exit(15) == 0, sched.describe()
    assert_each_once_in_order(sched)
    assert any(e["event"] == "done" and e["cid"] == sched.correlation_id for e in other.events())
    assert_no_overlap(run_intervals([a, b]))


def test_scheduler_fails_with_one_line_reason(jobs_server, apps):
    import socket
    bad = apps(Scheduler, jobs_server.port, cid(), "Job F", "x", "--negotiate-key", "wrong-key")
    assert bad.wait_exit(15) == 1, bad.describe()
    assert bad.result()["outcome"] == "failed" and "401" in bad.result()["reason"], bad.describe()
    lines = [l for l in bad.stderr().splitlines() if l.strip()]
    assert len(lines) == 1 and "401" in lines[0], lines

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]
    down = apps(Scheduler, dead_port, cid(), "Job G", "x")
    assert down.wait_exit(15) == 1, down.describe()
    assert down.result()["outcome"] == "failed", down.describe()


def test_ctrl_c_on_a_terminal_asks_then_cancels(jobs_server, apps):
    """On a TTY: progress bar, Ctrl-C asks "Cancel the job? (y/n)"; `n` goes on, `y` cancels (exit 2)."""
    import os
    import pty
    import select

    from jobsenv import NEGOTIATE_KEY, SCHEDULER_BIN

    apps(Solver, jobs_server.port, "s1", 1, 0.5)
    pid, fd = pty.fork()
    if pid == 0:  # child: the scheduler on the pty's terminal
        os.execv(SCHEDULER_BIN, [SCHEDULER_BIN, "--server", f"http://127.0.0.1:{jobs_server.port}",
                                 "--negotiate-key", NEGOTIATE_KEY, "--steps", "a,b,c,d,e,f,g,h"])
    out = bytearray()

    def read_until(marker: bytes, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while marker not in out and time.monotonic() < deadline:
            r, _, _ = select.select([fd], [], [], 0.1)
            if r:
                try:
                    out.extend(os.read(fd, 4096))
                except OSError:
                    return
        assert marker in out, f"no {marker!r} within {timeout}s in {bytes(out)!r}"

    try:
        read_until(b"2/8", 10)  # the progress bar
        os.kill(pid, signal.SIGINT)
        read_until(b"Cancel the job? (y/n)", 5)
        os.write(fd, b"n\n")
        read_until(b"4/8", 10)  # still running
        del out[:]
        os.kill(pid, signal.SIGINT)
        read_until(b"Cancel the job? (y/n)", 5)
        os.write(fd, b"y\n")
        read_until(b"cancelled", 10)
        deadline = time.monotonic() + 10
        code = None
        while code is None and time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                code = os.waitstatus_to_exitcode(status)
            time.sleep(0.05)
        assert code == 2, (code, bytes(out))
        assert b"Cancelled" in out, bytes(out)
        pid = 0
    finally:
        if pid:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(fd)


def test_solver_connections_cut_mid_job_lose_no_update(jobs_server, apps):
    with TcpProxy(jobs_server.port) as proxy:
        solver = apps(Solver, proxy.port, "s1", 1, 0.3)
        sched = apps(Scheduler, jobs_server.port, cid(), "Job Q", "q1,q2,q3,q4,q5,q6", "--heartbeat-timeout", "5")
        sched.wait_for(lambda l: '"q2"' in l, 10, "step 2")
        assert proxy.cut() >= 2  # the solver's dispatch and job connections
        sched.wait_for(lambda l: '"q4"' in l, 10, "step 4 after the cut")
        assert proxy.cut() >= 2
        assert sched.wait_exit(30) == 0, sched.describe()
    assert_each_once_in_order(sched)
    starts = [e for e in solver.events() if e["event"] == "start" and e["cid"] == sched.correlation_id]
    assert len(starts) == 1, solver.describe()  # the same run carried on, never re-offered
