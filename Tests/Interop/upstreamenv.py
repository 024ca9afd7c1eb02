"""A configurable upstream event handler (the "app server") for the upstream interop tests.

    with EventHandlerServer(access_keys=[KEY]) as handler:      # 127.0.0.1, a free port
        template = handler.url_template("/upstream/{hub}/{event}")
        handler.on_event = lambda e: connect_response(user_id="u1") if e.event_name == "connect" else None
        ...
        [connected] = handler.wait_for(lambda e: e.event_name == "connected")
        assert connected.signature_ok

POSTs are parsed as binary-mode CloudEvents with the `cloudevents` package (data kept as raw
bytes) and recorded as Event objects; OPTIONS (abuse protection) are recorded as Request objects
and answered per `allowed_origin`. Every reply comes from `on_event(event) -> Reply` (None means
the default reply). Protocol: wps-protocol.md §6.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import ssl
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterable

import pytest

try:  # cloudevents >= 2 keeps the 1.x HTTP API under cloudevents.v1
    from cloudevents.v1.http import CloudEvent, from_http
except ImportError:  # cloudevents 1.x
    from cloudevents.http import CloudEvent, from_http

HOST = "127.0.0.1"
SYS_PREFIX = "azure.webpubsub.sys."
USER_PREFIX = "azure.webpubsub.user."
JSON_TYPE = "application/json; charset=utf-8"
TEXT_TYPE = "text/plain; charset=utf-8"
BINARY_TYPE = "application/octet-stream"
IDLE_TIMEOUT = 30.0  # seconds a kept-alive connection may stay idle before the handler closes it

OriginPolicy = str | int | None  # "*", "echo", a literal origin, None (no header) or a status code


def signature_for(key: str, connection_id: str) -> str:
    """One `ce-signature` entry: sha256=hex(HMAC-SHA256(key, connectionId)), lowercase.

    >>> signature_for("7aab239577fd4f24bc919802fb629f5f", "0f9c97a2f0bf4706afe87a14e0797b11")
    'sha256=7767effcb3946f3e1de039df4b986ef02c110b1469d02c0a06f41b3b727ab561'
    """
    digest = hmac.new(key.encode("utf-8"), connection_id.encode("utf-8"), hashlib.sha256).hexdigest()
    return "sha256=" + digest


def signature_valid(header: str | None, access_keys: Iterable[str], connection_id: str | None) -> bool:
    """The comma-separated `ce-signature` header holds the entry of every key (true if no keys)."""
    keys = list(access_keys)
    if not keys:
        return True
    if header is None or connection_id is None:
        return False
    entries = {part.strip() for part in header.split(",")}
    return all(signature_for(k, connection_id) in entries for k in keys)


class Headers(dict):
    """Request headers keyed by lower-cased name; repeated headers are joined with ", "."""

    def __init__(self, items: Iterable[tuple[str, str]] = ()):
        super().__init__()
        for name, value in items:
            name = name.lower()
            super().__setitem__(name, f"{super().__getitem__(name)}, {value}" if name in self else value)

    def __getitem__(self, name: str) -> str:
        return super().__getitem__(name.lower())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and super().__contains__(name.lower())

    def get(self, name: str, default: Any = None) -> Any:
        return super().get(name.lower(), default)


# --------------------------------------------------------------------------------------------
# Records and replies
# --------------------------------------------------------------------------------------------


@dataclass
class Request:
    """A non-POST request (the OPTIONS abuse-protection preflight, or anything unexpected)."""

    method: str
    path: str
    headers: Headers
    received_at: float


@dataclass
class Event:
    """One POSTed CloudEvent. Attribute values come from the raw headers, exactly as sent."""

    type: str | None               # ce-type
    event_name: str | None         # ce-eventName
    hub: str | None
    connection_id: str | None
    user_id: str | None            # None when ce-userId is absent
    subprotocol: str | None
    connection_state: str | None
    signature: str | None
    signature_ok: bool
    content_type: str | None
    body: bytes
    headers: Headers
    raw_headers: list[tuple[str, str]]  # as received, names in their original case, repeats kept
    path: str
    ce: CloudEvent | None          # None if cloudevents rejected the request (see parse_error)
    parse_error: str | None
    received_at: float

    def json(self) -> Any:
        return json.loads(self.body)

    def text(self) -> str:
        return self.body.decode("utf-8")

    @property
    def is_system(self) -> bool:
        return (self.type or "").startswith(SYS_PREFIX)


@dataclass
class Reply:
    """The handler's answer. body: bytes, str, or a dict/list sent as JSON."""

    status: int = 200
    body: bytes | str | dict | list = b""
    content_type: str | None = None  # None: inferred from the body type (none for an empty body)
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0               # seconds to wait before answering (other requests go on)
    close: bool = False              # drop the TCP connection without answering

    @classmethod
    def json(cls, obj: Any, status: int = 200) -> "Reply":
        return cls(status, json.dumps(obj).encode("utf-8"), JSON_TYPE)

    @classmethod
    def text(cls, s: str, status: int = 200) -> "Reply":
        return cls(status, s.encode("utf-8"), TEXT_TYPE)

    @classmethod
    def binary(cls, b: bytes, status: int = 200) -> "Reply":
        return cls(status, bytes(b), BINARY_TYPE)

    @classmethod
    def no_content(cls) -> "Reply":
        return cls(204)

    @classmethod
    def error(cls, status: int, text: str = "") -> "Reply":
        return cls(status, text.encode("utf-8"), TEXT_TYPE if text else None)

    def encoded(self) -> tuple[bytes, str | None]:
        """(body bytes, Content-Type or None)."""
        body, ctype = self.body, self.content_type
        if isinstance(body, (dict, list)):
            return json.dumps(body).encode("utf-8"), ctype or JSON_TYPE
        if isinstance(body, str):
            return body.encode("utf-8"), ctype or (TEXT_TYPE if body else None)
        return bytes(body), ctype or (BINARY_TYPE if body else None)


def connect_response(user_id: str | None = None, groups: list[str] | None = None,
                     roles: list[str] | None = None, subprotocol: str | None = None) -> Reply:
    """A 200 `connect` reply whose JSON body holds only the keys given (empty lists included)."""
    fields = {"userId": user_id, "groups": groups, "roles": roles, "subprotocol": subprotocol}
    return Reply.json({k: v for k, v in fields.items() if v is not None})


def default_reply(event: Event) -> Reply:
    """connect -> 204; connected/disconnected -> 200 empty; user events -> 204."""
    if event.type == SYS_PREFIX + "connect":
        return Reply.no_content()
    if event.is_system:
        return Reply()
    return Reply.no_content()


# --------------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------------


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True  # a delayed reply never blocks shutdown or other connections

    def __init__(self, owner: "EventHandlerServer"):
        self.owner = owner
        super().__init__((HOST, 0), _Handler)

    def handle_error(self, request, client_address) -> None:
        exc = sys.exc_info()[1]
        if not isinstance(exc, (ConnectionError, TimeoutError)):  # peers hanging up are expected
            self.owner._record_error(f"{client_address}: {exc!r}")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive; every reply is delimited (Content-Length or 204)
    timeout = IDLE_TIMEOUT
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        self.server.owner._track(self.connection, True)

    def finish(self) -> None:
        self.server.owner._track(self.connection, False)
        try:
            super().finish()
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_OPTIONS(self) -> None:
        body = self._read_body()
        owner = self.server.owner
        req = Request("OPTIONS", self.path, Headers(self.headers.items()), time.monotonic())
        owner._record_request(req)
        if body:
            owner._record_error(f"OPTIONS {self.path} carried a body of {len(body)} bytes")
        self._send(owner._preflight_reply(req))

    def do_POST(self) -> None:
        body = self._read_body()
        owner = self.server.owner
        event = owner._make_event(self.path, list(self.headers.items()), body)
        owner._record_event(event)
        try:
            reply = owner.on_event(event) or default_reply(event)
        except Exception as e:  # noqa: BLE001 - a test's callback bug: recorded, answered 500
            owner._record_error(f"on_event raised for {event.type}: {e!r}")
            reply = Reply.error(500, f"on_event raised {e!r}")
        if reply.delay and owner._stopping.wait(reply.delay):
            reply = Reply(close=True)  # stopped meanwhile
        self._send(reply)

    def _unexpected(self) -> None:
        self._read_body()
        self.server.owner._record_unexpected(
            Request(self.command, self.path, Headers(self.headers.items()), time.monotonic()))
        self._send(Reply.error(405, "method not allowed"))

    do_GET = do_PUT = do_DELETE = do_PATCH = do_HEAD = _unexpected

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, reply: Reply) -> None:
        if reply.close:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        body, ctype = reply.encoded()
        self.send_response(reply.status)
        if ctype:
            self.send_header("Content-Type", ctype)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if reply.status == 204 or reply.status < 200 or self.command == "HEAD":
            body = b""  # no Content-Length allowed on 204; these replies never carry a body
        else:
            self.send_header("Content-Length", str(len(body)))
        if self.close_connection:  # the request asked for Connection: close (or was HTTP/1.0)
            self.send_header("Connection", "close")
        self.end_headers()
        if body:
            self.wfile.write(body)


class EventHandlerServer:
    """An HTTP/1.1 event handler on 127.0.0.1 (free port), served from a daemon thread.

    Settable at any time: `on_event` (Event -> Reply | None) and `allowed_origin` ("*", "echo",
    a literal origin, None for 200 without WebHook-Allowed-Origin, or an int status).
    """

    def __init__(self, access_keys: Iterable[str] = (), on_event: Callable[[Event], Reply | None] | None = None,
                 allowed_origin: OriginPolicy = "*", tls: "ssl.SSLContext | None" = None):
        self.access_keys = list(access_keys)
        self.on_event: Callable[[Event], Reply | None] = on_event or default_reply
        self.allowed_origin: OriginPolicy = allowed_origin
        self._cond = threading.Condition()
        self._events: list[Event] = []
        self._preflights: list[Request] = []
        self._unexpected: list[Request] = []
        self._errors: list[str] = []
        self._connections: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._httpd = _HTTPServer(self)
        self.scheme = "https" if tls else "http"
        if tls:  # every accepted connection does the TLS handshake on its own thread
            self._httpd.socket = tls.wrap_socket(self._httpd.socket, server_side=True,
                                                 do_handshake_on_connect=False)
        self.port: int = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"event-handler-{self.port}", daemon=True)
        self._thread.start()

    def url_template(self, path: str = "/upstream/{event}") -> str:
        """e.g. http://127.0.0.1:PORT/upstream/{hub}/{event}, placeholders kept literally."""
        return f"{self.scheme}://{HOST}:{self.port}{path}"

    # ---- records (snapshots; safe to call from any thread) -----------------------------------

    @property
    def events(self) -> list[Event]:
        with self._cond:
            return list(self._events)

    @property
    def preflights(self) -> list[Request]:
        """OPTIONS requests, in arrival order."""
        with self._cond:
            return list(self._preflights)

    @property
    def unexpected(self) -> list[Request]:
        """Requests other than POST and OPTIONS (answered 405)."""
        with self._cond:
            return list(self._unexpected)

    @property
    def errors(self) -> list[str]:
        """on_event exceptions and server-side errors other than peers hanging up."""
        with self._cond:
            return list(self._errors)

    def options_count(self, path: str | None = None) -> int:
        """OPTIONS requests received for `path` (all paths if None)."""
        with self._cond:
            return sum(1 for r in self._preflights if path is None or r.path == path)

    def options_counts(self) -> dict[str, int]:
        with self._cond:
            counts: dict[str, int] = {}
            for r in self._preflights:
                counts[r.path] = counts.get(r.path, 0) + 1
            return counts

    def events_of(self, event_name: str) -> list[Event]:
        with self._cond:
            return [e for e in self._events if e.event_name == event_name]

    def clear(self) -> None:
        with self._cond:
            self._events.clear()
            self._preflights.clear()
            self._unexpected.clear()
            self._errors.clear()

    # ---- waiting ------------------------------------------------------------------------------

    def wait_for(self, predicate: Callable[[Event], bool], count: int = 1, timeout: float = 10.0) -> list[Event]:
        """Wait until at least `count` recorded events match; returns all that match."""
        def matching() -> list[Event]:
            return [e for e in self._events if predicate(e)]

        with self._cond:
            if self._cond.wait_for(lambda: len(matching()) >= count, timeout):
                return matching()
            seen = [(e.type, e.connection_id) for e in self._events][-20:]
        raise AssertionError(f"timed out after {timeout}s waiting for {count} matching event(s); "
                             f"received (type, connectionId), last 20: {seen}")

    def wait_events(self, n: int, type_prefix: str | None = None, timeout: float = 10.0) -> list[Event]:
        """Wait for `n` events whose ce-type starts with `type_prefix` (any type if None)."""
        return self.wait_for(lambda e: type_prefix is None or (e.type or "").startswith(type_prefix), n, timeout)

    def wait_preflights(self, n: int = 1, path: str | None = None, timeout: float = 10.0) -> list[Request]:
        """Wait for `n` OPTIONS requests (for `path` if given); returns them."""
        def matching() -> list[Request]:
            return [r for r in self._preflights if path is None or r.path == path]

        with self._cond:
            if self._cond.wait_for(lambda: len(matching()) >= n, timeout):
                return matching()
            seen = [r.path for r in self._preflights]
        raise AssertionError(f"timed out after {timeout}s waiting for {n} OPTIONS on {path}; got {seen}")

    # ---- lifecycle ----------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop serving, close every open connection (delayed replies are dropped), join."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        with self._cond:
            conns = list(self._connections)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._thread.join(5)

    def __enter__(self) -> "EventHandlerServer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # ---- called by the request handler threads ------------------------------------------------

    def _make_event(self, path: str, raw_headers: list[tuple[str, str]], body: bytes) -> Event:
        headers = Headers(raw_headers)
        ce, error = None, None
        try:
            ce = from_http(dict(headers), body, data_unmarshaller=lambda b: b)
        except Exception as e:  # noqa: BLE001 - recorded; the request is still answered
            error = f"{type(e).__name__}: {e}"
        conn_id = headers.get("ce-connectionId")
        sig = headers.get("ce-signature")
        return Event(type=headers.get("ce-type"), event_name=headers.get("ce-eventName"),
                     hub=headers.get("ce-hub"), connection_id=conn_id, user_id=headers.get("ce-userId"),
                     subprotocol=headers.get("ce-subprotocol"),
                     connection_state=headers.get("ce-connectionState"), signature=sig,
                     signature_ok=signature_valid(sig, self.access_keys, conn_id),
                     content_type=headers.get("Content-Type"), body=body, headers=headers,
                     raw_headers=raw_headers, path=path, ce=ce, parse_error=error,
                     received_at=time.monotonic())

    def _preflight_reply(self, req: Request) -> Reply:
        policy = self.allowed_origin
        if isinstance(policy, int):
            return Reply.error(policy)
        if policy is None:
            return Reply()
        origin = req.headers.get("WebHook-Request-Origin") if policy == "echo" else policy
        return Reply(headers={"WebHook-Allowed-Origin": origin} if origin is not None else {})

    def _record_event(self, event: Event) -> None:
        with self._cond:
            self._events.append(event)
            self._cond.notify_all()

    def _record_request(self, req: Request) -> None:
        with self._cond:
            self._preflights.append(req)
            self._cond.notify_all()

    def _record_unexpected(self, req: Request) -> None:
        with self._cond:
            self._unexpected.append(req)

    def _record_error(self, text: str) -> None:
        with self._cond:
            self._errors.append(text)

    def _track(self, conn: socket.socket, open_: bool) -> None:
        with self._cond:
            if open_:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)


@pytest.fixture
def event_handlers():
    """event_handlers(**kw) -> a running EventHandlerServer; all are stopped at teardown."""
    made: list[EventHandlerServer] = []

    def _make(**kw: Any) -> EventHandlerServer:
        h = EventHandlerServer(**kw)
        made.append(h)
        return h

    yield _make
    for h in made:
        h.stop()
