"""Fixtures and helpers for the SDK / raw-protocol / reliability / fan-out interop tests.

Servers are real wps-server processes on 127.0.0.1 (--port 0) with a fixed --access-key,
started through serverproc.ServerProcess and stopped by PID in fixture finalizers.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import queue
import socket
import struct
import threading
import time
import urllib.parse
from typing import Any, Callable

import pytest
import websocket  # websocket-client (what the Python client SDK uses underneath)

from azure.messaging.webpubsubclient import WebPubSubClient, WebPubSubClientCredential
from azure.messaging.webpubsubclient.models import CallbackType, WebPubSubProtocolType
from azure.messaging.webpubsubservice import WebPubSubServiceClient

import schemas
from serverproc import ServerProcess

ACCESS_KEY = "wps-interop-test-key-0123456789abcdefghijklmnopqrs="
HUB = "MyHub"
JSON_PROTOCOL = "json.webpubsub.azure.v1"
RELIABLE_PROTOCOL = "json.reliable.webpubsub.azure.v1"
CONN_ID_RE = r"[0-9a-f]{32}"
ALL_ROLES = ("webpubsub.joinLeaveGroup", "webpubsub.sendToGroup")


# --------------------------------------------------------------------------------------------
# Servers
# --------------------------------------------------------------------------------------------


def start_wps(*extra: str, threads: int = 2) -> ServerProcess:
    return ServerProcess("--access-key", ACCESS_KEY, "--threads", str(threads), *extra, echo=False)


@pytest.fixture(scope="module")
def wps():
    """One server per test module (default limits, 2 threads)."""
    srv = start_wps()
    yield srv
    srv.stop()


@pytest.fixture
def wps_factory():
    """wps_factory(*flags) -> a dedicated server, stopped by PID at teardown."""
    started: list[ServerProcess] = []

    def _start(*flags: str, threads: int = 2) -> ServerProcess:
        srv = start_wps(*flags, threads=threads)
        started.append(srv)
        return srv

    yield _start
    for srv in started:
        srv.stop()


def assert_serving(srv: ServerProcess, hub: str = HUB) -> None:
    """The server process is alive and a fresh JSON client gets its connected message."""
    assert srv.alive(), f"server exited with {srv.proc.returncode}: {srv.stderr_tail()}"
    with RawClient.open(client_url(srv.port, hub=hub, user_id="probe"), JSON_PROTOCOL) as c:
        msg = c.recv_json()
        assert msg["type"] == "system" and msg["event"] == "connected", msg


# --------------------------------------------------------------------------------------------
# Tokens
# --------------------------------------------------------------------------------------------


def connection_string(port: int, key: str = ACCESS_KEY) -> str:
    return f"Endpoint=http://127.0.0.1;Port={port};AccessKey={key};Version=1.0;"


def service_client(port: int, hub: str = HUB, key: str = ACCESS_KEY) -> WebPubSubServiceClient:
    return WebPubSubServiceClient.from_connection_string(connection_string(port, key), hub=hub)


def client_url(port: int, hub: str = HUB, user_id: str | None = None, roles=(), groups=(),
               minutes: int = 60, key: str = ACCESS_KEY) -> str:
    """A client URL with a token minted locally by the official service SDK."""
    kw: dict[str, Any] = {"minutes_to_expire": minutes}
    if user_id is not None:
        kw["user_id"] = user_id
    if roles:
        kw["roles"] = list(roles)
    if groups:
        kw["groups"] = list(groups)
    return service_client(port, hub, key).get_client_access_token(**kw)["url"]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def make_jwt(claims: dict, key: str = ACCESS_KEY, header: dict | None = None) -> str:
    """A compact HS256 JWS built with the standard library only."""
    header = header or {"alg": "HS256", "typ": "JWT"}
    signing_input = (b64url(json.dumps(header, separators=(",", ":")).encode()) + "."
                     + b64url(json.dumps(claims, separators=(",", ":")).encode()))
    sig = hmac.new(key.encode("utf-8"), signing_input.encode("ascii"), hashlib.sha256).digest()
    return signing_input + "." + b64url(sig)


def token_claims(port: int, hub: str = HUB, **overrides) -> dict:
    now = int(time.time())
    claims = {"aud": f"http://127.0.0.1:{port}/client/hubs/{hub}", "iat": now, "exp": now + 3600,
              "sub": "jwt-user", "role": list(ALL_ROLES)}
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def url_with_token(port: int, token: str, hub: str = HUB, extra_query: str = "") -> str:
    return f"ws://127.0.0.1:{port}/client/hubs/{hub}?access_token={token}{extra_query}"


def recovery_url(url: str, connection_id: str, reconnection_token: str) -> str:
    return (url + "&awps_connection_id=" + urllib.parse.quote(connection_id, safe="")
            + "&awps_reconnection_token=" + urllib.parse.quote(reconnection_token, safe=""))


# --------------------------------------------------------------------------------------------
# Raw WebSocket client (websocket-client, single-threaded, every read with a deadline)
# --------------------------------------------------------------------------------------------

OP_TEXT = websocket.ABNF.OPCODE_TEXT
OP_BINARY = websocket.ABNF.OPCODE_BINARY
OP_CLOSE = websocket.ABNF.OPCODE_CLOSE


class Closed(Exception):
    def __init__(self, code: int | None, reason: str):
        super().__init__(f"closed {code} {reason!r}")
        self.code = code
        self.reason = reason


class RawClient:
    """A WebSocket client that validates every JSON message it reads against the schemas."""

    def __init__(self, ws: websocket.WebSocket, protocol: str | None):
        self.ws = ws
        self.protocol = protocol
        self.received: list[dict] = []   # every JSON message read, in order
        self.closed: Closed | None = None

    @classmethod
    def open(cls, url: str, protocol: str | None = None, timeout: float = 5.0,
             validate: bool = True) -> "RawClient":
        assert url.startswith("ws://127.0.0.1:"), url
        ws = websocket.WebSocket(skip_utf8_validation=False)
        ws.settimeout(timeout)
        ws.connect(url, subprotocols=[protocol] if protocol else None, timeout=timeout,
                   suppress_origin=True)
        c = cls(ws, protocol)
        c.validate = validate
        return c

    @property
    def handshake_status(self) -> int:
        return self.ws.getstatus()

    @property
    def subprotocol(self) -> str | None:
        return self.ws.getsubprotocol()

    def send_json(self, obj) -> None:
        self.ws.send(json.dumps(obj))

    def send_json_burst(self, objs) -> None:
        """Sends every message in one write, so the server reads them in one turn (at one
        clock reading): for limits measured in time."""
        frames = [websocket.ABNF.create_frame(json.dumps(o), websocket.ABNF.OPCODE_TEXT).format() for o in objs]
        self.ws.sock.sendall(b"".join(frames))

    def send_text(self, text: str | bytes) -> None:
        if isinstance(text, bytes):
            self.ws.send(text, opcode=OP_TEXT)  # bytes as-is (may be invalid UTF-8)
        else:
            self.ws.send(text)

    def send_binary(self, data: bytes) -> None:
        self.ws.send_binary(data)

    def recv_frame(self, timeout: float = 5.0) -> tuple[int, bytes]:
        """Next data message as (opcode, payload). Raises Closed on a close frame."""
        if self.closed:
            raise self.closed
        self.ws.settimeout(timeout)
        try:
            opcode, frame = self.ws.recv_data_frame(True)
        except websocket.WebSocketTimeoutException:
            raise AssertionError(f"nothing received within {timeout}s") from None
        except (websocket.WebSocketConnectionClosedException, ConnectionError) as e:
            self.closed = Closed(None, f"connection lost: {e}")
            raise self.closed from None
        if opcode == OP_CLOSE:
            data = frame.data or b""
            code = struct.unpack("!H", data[:2])[0] if len(data) >= 2 else None
            self.closed = Closed(code, data[2:].decode("utf-8", "replace"))
            raise self.closed
        if opcode in (websocket.ABNF.OPCODE_PING, websocket.ABNF.OPCODE_PONG):
            return self.recv_frame(timeout)
        return opcode, frame.data

    def recv_json(self, timeout: float = 5.0) -> dict:
        opcode, data = self.recv_frame(timeout)
        assert opcode == OP_TEXT, f"expected a text frame, got opcode {opcode}: {data!r}"
        msg = json.loads(data)
        if getattr(self, "validate", True):
            schemas.check_strict(msg)
        self.received.append(msg)
        return msg

    def recv_until(self, pred: Callable[[dict], bool], timeout: float = 5.0) -> tuple[dict, list[dict]]:
        """Read JSON messages until pred(msg); returns (match, messages skipped before it)."""
        deadline = time.monotonic() + timeout
        skipped = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no matching message within {timeout}s; got {skipped!r}")
            msg = self.recv_json(left)
            if pred(msg):
                return msg, skipped
            skipped.append(msg)

    def expect_close(self, timeout: float = 5.0) -> tuple[Closed, list[dict]]:
        """Read until the server's close frame; returns it and the JSON messages before it."""
        deadline = time.monotonic() + timeout
        before = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no close within {timeout}s; got {before!r}")
            try:
                opcode, data = self.recv_frame(left)
            except Closed as c:
                return c, before
            if opcode == OP_TEXT:
                msg = json.loads(data)
                if getattr(self, "validate", True) and self.protocol:
                    schemas.check_strict(msg)
                before.append(msg)
            else:
                before.append({"<binary>": data})

    def expect_silence(self, seconds: float) -> None:
        """Nothing (no data, no close) arrives for `seconds`."""
        try:
            opcode, data = self.recv_frame(seconds)
        except AssertionError:
            return
        raise AssertionError(f"unexpected frame {opcode}: {data!r}")

    def ack(self, ack_id: int, timeout: float = 5.0) -> dict:
        msg, _ = self.recv_until(lambda m: m.get("type") == "ack" and m.get("ackId") == ack_id, timeout)
        return msg

    def drop(self) -> None:
        """Abort the TCP connection with a RST (SO_LINGER 0): no close frame."""
        sock = self.ws.sock
        if sock is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
        try:
            self.ws.shutdown()
        except Exception:
            pass

    def close(self, code: int = 1000) -> None:
        try:
            if self.ws.connected:
                self.ws.close(status=code, timeout=2)
        except Exception:
            pass
        finally:
            try:
                self.ws.shutdown()
            except Exception:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def handshake_status(url: str, protocol: str | None = JSON_PROTOCOL, timeout: float = 5.0) -> tuple[int, bytes]:
    """Attempt an upgrade; returns (HTTP status, body). 101 means it was accepted."""
    ws = websocket.WebSocket()
    try:
        ws.connect(url, subprotocols=[protocol] if protocol else None, timeout=timeout,
                   suppress_origin=True)
        status = ws.getstatus()
        ws.close(timeout=1)
        return status, b""
    except websocket.WebSocketBadStatusException as e:
        return e.status_code, e.resp_body or b""
    finally:
        try:
            ws.shutdown()
        except Exception:
            pass


# --------------------------------------------------------------------------------------------
# Official client SDK wrapper
# --------------------------------------------------------------------------------------------


class SdkClient:
    """WebPubSubClient plus recorders for its callbacks and (via the protocol parser) the frames
    it receives. Callbacks run on fresh threads in the SDK, so order is taken from sequenceIds
    or from the frame log, which the SDK's listener thread fills in arrival order."""

    def __init__(self, url_provider: Callable[[], str] | str, protocol: WebPubSubProtocolType, **kw):
        provider = url_provider if callable(url_provider) else (lambda: url_provider)
        # SDK 1.1.0 race: it sends, then waits on a condition variable that the listener thread may
        # already have notified (a local server acks within microseconds), so an acked call can
        # sit out the whole ack_timeout. A short timeout keeps tests fast without hiding failures:
        # without an ack the placeholder "Timeout while waiting for ack" error stays and raises.
        kw.setdefault("ack_timeout", 2.0)
        # Same race in open(): on_open may notify before open() waits, so open() can take the
        # whole start_timeout although the connection is up (is_connected() is checked after).
        kw.setdefault("start_timeout", 3.0)
        kw.setdefault("message_retry_total", 1)
        kw.setdefault("message_retry_backoff_factor", 0.2)
        kw.setdefault("reconnect_retry_backoff_factor", 0.2)
        self.client = WebPubSubClient(credential=WebPubSubClientCredential(provider), protocol_type=protocol, **kw)
        self.lock = threading.RLock()
        self.connected: list = []
        self.disconnected: list = []
        self.stopped = 0
        self.group_messages: list = []
        self.server_messages: list = []
        self.frames: list[dict] = []       # every frame the SDK parsed, in arrival order
        self.schema_errors: list[str] = []
        self.events: "queue.Queue[tuple[str, Any]]" = queue.Queue()
        self.client.subscribe(CallbackType.CONNECTED, lambda e: self._record("connected", e))
        self.client.subscribe(CallbackType.DISCONNECTED, lambda e: self._record("disconnected", e))
        self.client.subscribe(CallbackType.STOPPED, lambda *a: self._record("stopped", None))
        self.client.subscribe(CallbackType.GROUP_MESSAGE, lambda e: self._record("group", e))
        self.client.subscribe(CallbackType.SERVER_MESSAGE, lambda e: self._record("server", e))
        protocol_obj = self.client._protocol  # wrap the parser to log raw frames (test-only tap)
        original = protocol_obj.parse_messages

        def tap(data):
            try:
                msg = json.loads(data)
                with self.lock:
                    self.frames.append(msg)
                errs = schemas.errors(msg)
                if errs:
                    with self.lock:
                        self.schema_errors.append(f"{msg!r}: {errs}")
            except Exception as e:  # noqa: BLE001 - recorded, asserted by tests
                with self.lock:
                    self.schema_errors.append(f"unparseable frame {data!r}: {e}")
            return original(data)

        protocol_obj.parse_messages = tap

    def _record(self, kind: str, e) -> None:
        with self.lock:
            if kind == "connected":
                self.connected.append(e)
            elif kind == "disconnected":
                self.disconnected.append(e)
            elif kind == "stopped":
                self.stopped += 1
            elif kind == "group":
                self.group_messages.append(e)
            elif kind == "server":
                self.server_messages.append(e)
        self.events.put((kind, e))

    def open(self) -> "SdkClient":
        self.client.open()
        return self

    def close(self) -> None:
        t = threading.Thread(target=self._close_quietly, daemon=True)
        t.start()
        t.join(15)

    def _close_quietly(self):
        try:
            self.client.close()
        except Exception:
            pass

    @property
    def connection_id(self) -> str | None:
        return self.client._connection_id

    def wait_for(self, pred: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if pred():
                    return
            time.sleep(0.02)
        with self.lock:
            state = (f"connected={self.connected!r} disconnected={self.disconnected!r} "
                     f"group={[(m.group, m.data_type, m.data) for m in self.group_messages][-10:]!r}")
        raise AssertionError(f"timed out after {timeout}s waiting for {what}; {state}")

    def messages(self, group: str | None = None) -> list:
        with self.lock:
            return [m for m in self.group_messages if group is None or m.group == group]

    def connected_frames(self) -> list[dict]:
        with self.lock:
            return [f for f in self.frames if f.get("type") == "system" and f.get("event") == "connected"]


@pytest.fixture
def sdk_clients():
    """sdk_clients(url_or_provider, protocol, **kw) -> an opened SdkClient; all closed at teardown."""
    made: list[SdkClient] = []

    def _make(url, protocol=WebPubSubProtocolType.JSON_RELIABLE, open_=True, **kw) -> SdkClient:
        c = SdkClient(url, protocol, **kw)
        made.append(c)
        if open_:
            c.open()
        return c

    yield _make
    threads = [threading.Thread(target=c.close, daemon=True) for c in made]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)


@pytest.fixture
def raw_clients():
    """raw_clients(url, protocol) -> an open RawClient; all closed at teardown."""
    made: list[RawClient] = []

    def _make(url, protocol=JSON_PROTOCOL, **kw) -> RawClient:
        c = RawClient.open(url, protocol, **kw)
        made.append(c)
        return c

    yield _make
    for c in made:
        c.close()


async def flood_then_drain(reader, writer, count: int, size: int, *, pad: str = "z", reliable: bool = False) -> None:
    """Publishes `count` messages of `size` characters to group "g" through `writer` while
    `reader` (a member of "g") does not read, so the server must queue what the socket
    buffers cannot hold; then reads them all and checks each arrives whole and in order
    (numbered from 1 when `reliable`). Both sockets are websockets clients that have just
    connected."""
    assert json.loads(await asyncio.wait_for(reader.recv(), 5))["event"] == "connected"
    assert json.loads(await asyncio.wait_for(writer.recv(), 5))["event"] == "connected"
    for n in range(count):
        text = f"{n:06d}" + pad * (size - 6)
        await writer.send(json.dumps({"type": "sendToGroup", "group": "g", "dataType": "text", "data": text}))
    # The reader has not read yet: its queue filled and the server backed up.
    await asyncio.sleep(0.5)
    for n in range(count):
        msg = json.loads(await asyncio.wait_for(reader.recv(), 10))
        assert msg["type"] == "message" and msg["data"] == f"{n:06d}" + pad * (size - 6), n
        if reliable:
            assert msg["sequenceId"] == n + 1
