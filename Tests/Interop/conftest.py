"""Fixtures that start real wps-server processes on 127.0.0.1 with --port 0 and stop them by PID."""

from __future__ import annotations

import os
import signal

import pytest

from serverproc import REGISTRY, ServerProcess

PER_TEST_TIMEOUT = 90  # seconds; SIGALRM backstop so no test can hang the suite
# Sanitized servers run several times slower (scripts/sanitize); every deadline is scaled by this.
DEADLINE_SCALE = float(os.environ.get("WPS_TEST_DEADLINE_SCALE", "1"))


@pytest.fixture(scope="session")
def shared_server():
    """shared_server(*flags) -> a server with those flags, shared by every test asking for the same
    flags. A server found dead is replaced (the test that killed it fails via assert_alive)."""
    cache: dict[tuple, ServerProcess] = {}

    def _get(*args: str, echo: bool = True) -> ServerProcess:
        key = (args, echo)
        srv = cache.get(key)
        if srv is None or not srv.alive():
            if srv is not None:
                srv.stop()
            srv = ServerProcess(*args, echo=echo)
            cache[key] = srv
        return srv

    yield _get
    for srv in cache.values():
        srv.stop()


@pytest.fixture
def server(shared_server) -> ServerProcess:
    """The default server: default limits and timers, --enable-echo."""
    return shared_server()


@pytest.fixture
def start_server():
    """Factory for dedicated servers with custom flags; all are stopped by PID at teardown."""
    started: list[ServerProcess] = []

    def _start(*args: str, echo: bool = True) -> ServerProcess:
        srv = ServerProcess(*args, echo=echo)
        started.append(srv)
        return srv

    yield _start
    for srv in started:
        srv.stop()


class _TestTimeout(Exception):
    pass


@pytest.fixture(autouse=True)
def _per_test_deadline(request):
    limit = PER_TEST_TIMEOUT
    marker = request.node.get_closest_marker("deadline")
    if marker:
        limit = marker.args[0]
    limit = max(1, round(limit * DEADLINE_SCALE))

    def _alarm(signum, frame):
        raise _TestTimeout(f"test exceeded its {limit}s deadline")

    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(limit)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.fixture(scope="session", autouse=True)
def _cleanup_server_logs():
    yield
    for srv in REGISTRY:
        if srv.alive():
            srv.stop()
        srv.cleanup()


@pytest.fixture(autouse=True)
def _fail_on_server_crash():
    """Any server that died abnormally during a test is a failure of that test (ERROR at teardown),
    with the crash lines from its stderr."""
    yield
    crashes = []
    for srv in REGISTRY:
        if not srv.crash_reported:
            summary = srv.crash_summary()
            if summary:
                srv.crash_reported = True
                crashes.append(summary)
    if crashes:
        pytest.fail("server crashed during this test:\n" + "\n\n".join(crashes), pytrace=False)


@pytest.fixture(autouse=True)
def _fail_on_secret_in_log():
    """A server log line written during this test that holds an access key, a JWT or a
    reconnection token fails the test (ERROR at teardown). Stopped servers are scanned too."""
    yield
    leaks = []
    for srv in REGISTRY:
        leaks += [f"wps-server pid {srv.pid}: {leak}" for leak in srv.new_leaks()]
    if leaks:
        pytest.fail("credentials in the server log:\n" + "\n".join(leaks[:20]), pytrace=False)


def pytest_configure(config):
    config.addinivalue_line("markers", "deadline(seconds): per-test SIGALRM deadline")
