"""Helpers for the service REST API, /negotiate and state-directory interop tests.

Servers are real wps-server processes on 127.0.0.1, started with an explicit --state-dir (a
temporary directory) so nothing is ever written into the working directory, and stopped by PID.
REST calls are made either through the official service SDK or as raw HTTP with an HS256 JWT
built here with the standard library (aud = the full request URL, as the SDKs sign it).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse
import uuid
from typing import Any, Callable, Iterable

import pytest

import serverproc
from serverproc import SERVER_BIN, ServerProcess
from sdkenv import JSON_PROTOCOL, RELIABLE_PROTOCOL, Closed, RawClient, SdkClient

from azure.messaging.webpubsubservice import WebPubSubServiceClient

ACCESS_KEY = "rest-interop-key-0123456789ABCDEFGHIJKLMNOPQRSTU="
NEGOTIATE_KEY = "rest-interop-negotiate-key-0123456789"
API_VERSION = "2024-12-01"
SUPPORTED_API_VERSIONS = ("2021-10-01", "2022-11-01", "2023-07-01", "2024-01-01", "2024-12-01")
ALL_ROLES = ("webpubsub.joinLeaveGroup", "webpubsub.sendToGroup")
_KEY_ENV = ("WPS_ACCESS_KEY", "WPS_NEGOTIATE_KEY")


# --------------------------------------------------------------------------------------------
# Server processes
# --------------------------------------------------------------------------------------------


class WpsProc(ServerProcess):
    """ServerProcess with full control over --port and the environment (WPS_ACCESS_KEY and
    WPS_NEGOTIATE_KEY are removed so only flags or the state directory decide the keys).
    Registered in serverproc.REGISTRY, so conftest's crash check and log clean-up apply."""

    def __init__(self, *args: str, port: int = 0, state_dir: str | None = None,
                 env: dict | None = None, startup_timeout: float = serverproc.STARTUP_TIMEOUT):
        if not os.path.exists(SERVER_BIN):
            pytest.fail(f"server binary {SERVER_BIN} does not exist (set WPS_SERVER_BIN)")
        self._own_tmp = None
        if state_dir is None:
            self._own_tmp = tempfile.mkdtemp(prefix="wps-rest-state-")
            state_dir = os.path.join(self._own_tmp, "state")
        self.state_dir = state_dir
        self.args = [SERVER_BIN, "--host", "127.0.0.1", "--port", str(port), "--state-dir", state_dir,
                     *args]
        self.stderr_file = tempfile.NamedTemporaryFile(prefix="wps-server-", suffix=".log", delete=False)
        self.stdout_lines: list[str] = []
        self.port = None
        self.threads = None
        self._listening = threading.Event()
        self.crash_reported = False
        serverproc.REGISTRY.append(self)
        penv = {k: v for k, v in os.environ.items() if k not in _KEY_ENV}
        if env:
            penv.update(env)
        self.env = penv
        self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=self.stderr_file, text=True, bufsize=1, env=penv)
        self._reader = threading.Thread(target=self._drain_stdout, daemon=True)
        self._reader.start()
        if not self._listening.wait(startup_timeout):
            self.stop()
            raise StartupFailed(f"server did not print its listening line within {startup_timeout}s; "
                                f"args={self.args} stdout={self.stdout_lines} stderr={self.stderr_tail()}")

    def stdout_text(self, settle: float = 0.0) -> str:
        if settle:
            time.sleep(settle)
        return "".join(self.stdout_lines)

    def wait_stdout(self, pred: Callable[[str], bool], timeout: float = 5.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = "".join(self.stdout_lines)
            if pred(text):
                return text
            time.sleep(0.02)
        raise AssertionError(f"stdout never satisfied the condition: {self.stdout_lines!r}")

    def connection_string_line(self, timeout: float = 5.0) -> str:
        text = self.wait_stdout(lambda t: "connection string:" in t, timeout)
        line = [l for l in text.splitlines() if "connection string:" in l][0]
        return line.split("connection string:", 1)[1].strip()

    def cleanup(self) -> None:
        super().cleanup()
        if self._own_tmp:
            shutil.rmtree(self._own_tmp, ignore_errors=True)


class StartupFailed(AssertionError):
    pass


def start_rest_server(*extra: str, **kw) -> WpsProc:
    """A server with fixed access and negotiate keys (flags) and a private state directory."""
    return WpsProc("--access-key", ACCESS_KEY, "--negotiate-key", NEGOTIATE_KEY, "--threads", "2",
                   *extra, **kw)


def free_port() -> int:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def unique(prefix: str = "H") -> str:
    """A fresh name (valid as hub, group or user id)."""
    return prefix + uuid.uuid4().hex[:10]


# --------------------------------------------------------------------------------------------
# JWT and raw HTTP
# --------------------------------------------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def make_jwt(claims: dict, key: str = ACCESS_KEY, header: dict | None = None) -> str:
    header = header or {"alg": "HS256", "typ": "JWT"}
    signing_input = (b64url(json.dumps(header, separators=(",", ":")).encode()) + "."
                     + b64url(json.dumps(claims, separators=(",", ":")).encode()))
    sig = hmac.new(key.encode("utf-8"), signing_input.encode("ascii"), hashlib.sha256).digest()
    return signing_input + "." + b64url(sig)


def jwt_claims(token: str) -> dict:
    return json.loads(b64url_decode(token.split(".")[1]))


def jwt_header(token: str) -> dict:
    return json.loads(b64url_decode(token.split(".")[0]))


def rest_token(url: str, key: str = ACCESS_KEY, exp_in: int = 60, **overrides) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {"aud": url, "iat": now, "exp": now + exp_in}
    claims.update(overrides)
    return make_jwt({k: v for k, v in claims.items() if v is not None}, key)


class HttpResult:
    def __init__(self, status: int, headers: list[tuple[str, str]], body: bytes):
        self.status = status
        self.headers = headers
        self.body = body

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<HTTP {self.status} {self.headers!r} {self.body[:300]!r}>"


def query_string(params: Iterable[tuple[str, str]] | dict | None) -> str:
    if not params:
        return ""
    items = params.items() if isinstance(params, dict) else params
    return urllib.parse.urlencode(list(items), quote_via=urllib.parse.quote)


def http_request(port: int, method: str, target: str, body: bytes | None = None,
                 headers: dict | None = None, timeout: float = 10.0) -> HttpResult:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        hdrs = dict(headers or {})
        conn.putrequest(method, target, skip_accept_encoding=True,
                        skip_host=any(k.lower() == "host" for k in hdrs))
        if body is not None:
            hdrs.setdefault("Content-Length", str(len(body)))
        elif method in ("POST", "PUT"):
            hdrs.setdefault("Content-Length", "0")
        for k, v in hdrs.items():
            conn.putheader(k, v)
        conn.endheaders()
        if body:
            try:
                conn.send(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server may answer (e.g. 413) before reading everything
        resp = conn.getresponse()
        data = b"" if method == "HEAD" else resp.read()
        return HttpResult(resp.status, resp.getheaders(), data)
    finally:
        conn.close()


def rest(port: int, method: str, path: str, params=None, body: bytes | str | None = None,
         content_type: str | None = None, key: str | None = ACCESS_KEY, token: str | None = None,
         api_version: str | None = API_VERSION, headers: dict | None = None,
         aud: str | None = None, timeout: float = 10.0) -> HttpResult:
    """A REST call as the SDKs make it: api-version last... (order does not matter to the server;
    aud is the full URL as sent unless `aud` overrides it). key=None sends no Authorization."""
    items = list(params.items()) if isinstance(params, dict) else list(params or [])
    if api_version is not None:
        items.append(("api-version", api_version))
    qs = query_string(items)
    target = path + ("?" + qs if qs else "")
    url = f"http://127.0.0.1:{port}{target}"
    hdrs = {"Accept": "application/json"}
    if token is not None:
        hdrs["Authorization"] = "Bearer " + token
    elif key is not None:
        hdrs["Authorization"] = "Bearer " + rest_token(aud or url, key)
    if content_type is not None:
        hdrs["Content-Type"] = content_type
    hdrs.update(headers or {})
    if isinstance(body, str):
        body = body.encode("utf-8")
    return http_request(port, method, target, body, hdrs, timeout)


def assert_error(resp: HttpResult, status: int, code: str | None = None) -> dict:
    """The spec's error shape: JSON body {code, message}, x-ms-error-code = code."""
    assert resp.status == status, f"expected {status}, got {resp!r}"
    ctype = resp.header("content-type") or ""
    assert ctype.lower().startswith("application/json"), f"error without JSON content type: {resp!r}"
    body = resp.json()
    assert isinstance(body, dict) and isinstance(body.get("code"), str) and body["code"], resp
    assert isinstance(body.get("message"), str) and body["message"], resp
    assert resp.header("x-ms-error-code") == body["code"], f"x-ms-error-code != code: {resp!r}"
    if code is not None:
        assert body["code"] == code, f"expected code {code}: {resp!r}"
    return body


def hub_path(hub: str, rest_of_path: str = "") -> str:
    return f"/api/hubs/{urllib.parse.quote(hub, safe='')}{rest_of_path}"


# --------------------------------------------------------------------------------------------
# Service SDK and clients
# --------------------------------------------------------------------------------------------


def connection_string(port: int, key: str = ACCESS_KEY) -> str:
    return f"Endpoint=http://127.0.0.1;Port={port};AccessKey={key};Version=1.0;"


def service_client(port: int, hub: str, key: str = ACCESS_KEY) -> WebPubSubServiceClient:
    return WebPubSubServiceClient.from_connection_string(connection_string(port, key), hub=hub)


def token_options(user: str | None, groups, roles, minutes: int) -> dict[str, Any]:
    """The service SDK's get_client_access_token arguments for a client token."""
    kw: dict[str, Any] = {"minutes_to_expire": minutes}
    if user is not None:
        kw["user_id"] = user
    if roles:
        kw["roles"] = list(roles)
    if groups:
        kw["groups"] = list(groups)
    return kw


class HubEnv:
    """One fresh hub on a shared server, with its service client and the clients a test opens
    (all closed at teardown)."""

    def __init__(self, srv: WpsProc, hub: str | None = None):
        self.srv = srv
        self.port = srv.port
        self.hub = hub or unique("Hub")
        self.svc = service_client(self.port, self.hub)
        self.raws: list[RawClient] = []
        self.sdks: list[SdkClient] = []

    # -- URLs ---------------------------------------------------------------------------------
    def url(self, user: str | None = None, groups=(), roles=(), minutes: int = 60) -> str:
        return self.svc.get_client_access_token(**token_options(user, groups, roles, minutes))["url"]

    # -- raw JSON / raw clients -------------------------------------------------------------
    def raw(self, user: str | None = None, groups=(), roles=(), protocol: str | None = JSON_PROTOCOL,
            timeout: float = 5.0) -> RawClient:
        """An open raw WebSocket client. For a JSON subprotocol, its `connected` message has been
        read: .conn_id, .user_id and (reliable) .reconnection_token are set."""
        c = RawClient.open(self.url(user, groups, roles), protocol, timeout=timeout)
        self.raws.append(c)
        c.user = user
        c.conn_id = None
        c.reconnection_token = None
        if protocol:
            msg = c.recv_json(timeout)
            assert msg["type"] == "system" and msg["event"] == "connected", msg
            c.conn_id = msg["connectionId"]
            c.reconnection_token = msg.get("reconnectionToken")
            assert msg["userId"] == user, msg
        return c

    def collect(self, c: RawClient, timeout: float = 5.0) -> list[dict]:
        """Every JSON message `c` receives before a fresh sentinel sent to its connection over
        REST (sends from one caller reach a connection in order): what it got so far."""
        sentinel = "sentinel-" + uuid.uuid4().hex
        self.svc.send_to_connection(c.conn_id, sentinel, content_type="text/plain")
        _, before = c.recv_until(lambda m: m.get("type") == "message" and m.get("data") == sentinel,
                                 timeout)
        if not hasattr(c, "inbox"):
            c.inbox = []
        c.inbox.extend(before)
        return before

    def data_messages(self, c: RawClient, timeout: float = 5.0) -> list[dict]:
        return [m for m in self.collect(c, timeout) if m.get("type") == "message"]

    def group_payloads(self, c: RawClient, group: str | None = None) -> list:
        return [m["data"] for m in self.data_messages(c)
                if m.get("from") == "group" and (group is None or m.get("group") == group)]

    def who_got(self, clients: dict[str, RawClient], payload, group: str | None = None,
                from_: str | None = None) -> set[str]:
        """Names of the clients that received (so far, sentinel-checked) a data message with
        data == payload. Payloads are unique within a test."""
        got = set()
        for name, c in clients.items():
            self.collect(c)
            for m in c.inbox:
                if m.get("type") != "message":
                    continue
                if m.get("data") == payload and (from_ is None or m.get("from") == from_) \
                        and (group is None or m.get("group") == group):
                    got.add(name)
        return got

    # -- official SDK clients -----------------------------------------------------------------
    def sdk(self, user: str | None = None, groups=(), roles=(), reliable: bool = True,
            url: str | None = None, **kw) -> SdkClient:
        from azure.messaging.webpubsubclient.models import WebPubSubProtocolType
        proto = WebPubSubProtocolType.JSON_RELIABLE if reliable else WebPubSubProtocolType.JSON
        u = url or self.url(user, groups, roles)
        c = SdkClient(lambda: u, proto, **kw)
        self.sdks.append(c)
        c.open()
        c.wait_for(lambda: bool(c.connected), 10, "the SDK client's connected event")
        return c

    def close(self) -> None:
        for c in self.raws:
            c.close()
        threads = [threading.Thread(target=c.close, daemon=True) for c in self.sdks]
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)


def expect_close_after_disconnected(c: RawClient, timeout: float = 5.0) -> tuple[Closed, list[dict]]:
    """Read to the close frame; returns it and the messages before it."""
    return c.expect_close(timeout)


def assert_rest_serving(port: int) -> None:
    """The server still answers REST calls and accepts a client."""
    r = rest(port, "GET", "/api/health")
    assert r.status == 200, f"server stopped serving REST: {r!r}"
    r = rest(port, "HEAD", hub_path("AliveProbe", "/groups/nobody-here"))
    assert r.status == 404, f"server stopped serving REST: {r!r}"
    url = service_client(port, "AliveProbe").get_client_access_token(user_id="probe")["url"]
    with RawClient.open(url, JSON_PROTOCOL) as c:
        msg = c.recv_json()
        assert msg["type"] == "system" and msg["event"] == "connected", msg


__all__ = [name for name in dir() if not name.startswith("_")] + ["JSON_PROTOCOL", "RELIABLE_PROTOCOL"]
