"""examples/receipts end to end: wps-server with --event-handler pointing at the example's
app.py (a subprocess on a free port), and the example's client.py (a subprocess).

Every process is started here and stopped by PID. protocol-spec/upstream.md.
"""

from __future__ import annotations

import os
import pathlib
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request

import pytest

from sdkenv import client_url, connection_string, handshake_status
from serverproc import ServerProcess
from upstreamenv import signature_for

EXAMPLE = pathlib.Path(__file__).resolve().parents[2] / "examples" / "receipts"
ACCESS_KEY = "example-test-access-key-0123456789abcdef="
NEGOTIATE_KEY = "example-test-negotiate-key"
HUB = "chat"
STARTUP_TIMEOUT = 10.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AppProcess:
    """examples/receipts/app.py, with its stdout collected line by line."""

    def __init__(self, port: int, server_port: int):
        self.port = port
        env = dict(os.environ, WEBPUBSUB_CONNECTION_STRING=connection_string(server_port, ACCESS_KEY))
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._ready = threading.Event()
        self.proc = subprocess.Popen([sys.executable, str(EXAMPLE / "app.py"), "--hub", HUB, "--port", str(port)],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, bufsize=1, env=env)
        threading.Thread(target=self._drain, daemon=True).start()
        if not self._ready.wait(STARTUP_TIMEOUT):
            self.stop()
            pytest.fail(f"app.py did not start: {self.output()}")

    def _drain(self) -> None:
        for line in self.proc.stdout:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()
            if "event handler listening" in line:
                self._ready.set()

    def wait_logged(self, text: str, timeout: float = 5.0) -> None:
        """app.py logged a line containing `text` (it may log just after it answers)."""
        with self._changed:
            if not self._changed.wait_for(lambda: any(text in line for line in self.lines), timeout):
                raise AssertionError(f"app.py did not log {text!r}:\n{self.output()}")

    def output(self) -> str:
        return "".join(self.lines)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)


@pytest.fixture(scope="module")
def example():
    """(wps-server, app.py) wired together as scripts/example does."""
    app_port = free_port()
    # The server checks the handler (abuse protection) only before its first event, so the
    # app may start after it, once the server's port (for the connection string) is known.
    srv = ServerProcess("--access-key", ACCESS_KEY, "--negotiate-key", NEGOTIATE_KEY, "--threads", "2",
                        "--event-handler", f"http://127.0.0.1:{app_port}/eventhandler/{{event}}", echo=False)
    app = None
    try:
        app = AppProcess(app_port, srv.port)
        yield srv, app
    finally:
        if app is not None:
            app.stop()
        srv.stop()


@pytest.mark.deadline(30)
def test_read_receipt_round_trip(example):
    srv, app = example
    env = dict(os.environ, WPS_NEGOTIATE_KEY=NEGOTIATE_KEY)
    done = subprocess.run([sys.executable, str(EXAMPLE / "client.py"), "--server", f"http://127.0.0.1:{srv.port}",
                           "--hub", HUB, "--timeout", "15"],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env, timeout=25)
    report = (f"client exit {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}\n"
              f"app:\n{app.output()}\nserver:\n{srv.stderr_tail()}")
    assert done.returncode == 0, report
    out = done.stdout
    assert "[alice] connected as alice" in out and "[bob] connected as bob" in out, report
    assert "[bob] got chat #" in out and "from alice: 'lunch at noon?'" in out, report
    assert "'status': 'forwarded'" in out, report  # the handler's answer reached the sender
    assert "[alice] receipt: #" in out and "read by bob" in out, report
    assert out.rstrip().endswith("OK: the read receipt arrived"), report
    for line in ("connect alice: accepted", "connect bob: accepted", "alice -> bob: forwarded",
                 "by bob: receipt sent to alice"):
        app.wait_logged(line)


@pytest.mark.deadline(30)
def test_connect_without_a_user_is_refused_with_the_apps_reason(example):
    srv, app = example
    status, body = handshake_status(client_url(srv.port, hub=HUB, key=ACCESS_KEY))  # a token without sub
    assert status == 401, (status, body, app.output())
    assert b"a user id is required" in body
    # ?user= is the other way in (the app sets the connection's userId)
    url = client_url(srv.port, hub=HUB, key=ACCESS_KEY) + "&user=carol"
    status, _ = handshake_status(url)
    assert status == 101, app.output()
    app.wait_logged("connect carol: accepted")


@pytest.mark.deadline(30)
def test_app_refuses_unsigned_events_and_foreign_origins(example):
    _, app = example
    base = f"http://127.0.0.1:{app.port}/eventhandler"
    headers = {"ce-specversion": "1.0", "ce-type": "azure.webpubsub.user.chat", "ce-source": "/hubs/chat/client/c1",
               "ce-id": "1", "ce-connectionId": "c1", "ce-hub": "chat", "ce-userId": "mallory",
               "ce-eventName": "chat", "ce-awpsversion": "1.0", "WebHook-Request-Origin": "127.0.0.1",
               "ce-signature": signature_for("not-the-key", "c1"), "Content-Type": "application/json"}
    status, body, _ = http(base + "/chat", "POST", headers, b'{"to":"bob","text":"x","id":"1"}')
    assert (status, body) == (401, b"invalid ce-signature")
    status, _, allowed = http(base + "/validate", "OPTIONS", {"WebHook-Request-Origin": "127.0.0.1"})
    assert (status, allowed) == (200, "127.0.0.1")
    status, _, allowed = http(base + "/validate", "OPTIONS", {"WebHook-Request-Origin": "evil.example"})
    assert (status, allowed) == (400, None)


def http(url: str, method: str, headers: dict[str, str], body: bytes | None = None) -> tuple[int, bytes, str | None]:
    """(status, body, WebHook-Allowed-Origin) of one request."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as r:
            return r.status, r.read(), r.headers.get("WebHook-Allowed-Origin")
    except urllib.error.HTTPError as e:
        return e.code, e.read(), e.headers.get("WebHook-Allowed-Origin")
