"""Raw-socket helpers for the interop tests: HTTP/1.1 requests and RFC 6455 frames built by hand.

Everything here talks to 127.0.0.1 only and every blocking operation has a deadline.
"""

from __future__ import annotations

import base64
import errno
import hashlib
import os
import socket
import struct
import time
from dataclasses import dataclass, field

HOST = "127.0.0.1"
DEFAULT_TIMEOUT = 5.0
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONT, OP_TEXT, OP_BINARY = 0x0, 0x1, 0x2
OP_CLOSE, OP_PING, OP_PONG = 0x8, 0x9, 0xA
CONTROL_OPCODES = {OP_CLOSE, OP_PING, OP_PONG}

_RESET_ERRNOS = {errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED}


class PeerClosed(Exception):
    """The server closed the TCP connection (EOF or reset) while we were reading."""


class ReadTimeout(AssertionError):
    """Nothing (or not enough) arrived before the deadline."""


# --------------------------------------------------------------------------------------------
# Byte stream over a socket, with a read buffer and deadlines.
# --------------------------------------------------------------------------------------------


class Stream:
    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buf = bytearray()
        self.eof = False

    @classmethod
    def connect(cls, port: int, timeout: float = DEFAULT_TIMEOUT) -> "Stream":
        sock = socket.create_connection((HOST, port), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(sock)

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- writing -----------------------------------------------------------------------------

    def send(self, data: bytes, timeout: float = DEFAULT_TIMEOUT) -> bool:
        """sendall with a deadline. Returns False if the peer had already closed/reset."""
        self.sock.settimeout(timeout)
        try:
            self.sock.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            return False
        except OSError as e:
            if e.errno in _RESET_ERRNOS:
                return False
            raise

    # -- reading -----------------------------------------------------------------------------

    def _fill(self, deadline: float, what: str) -> None:
        if self.eof:
            raise PeerClosed(f"connection closed by server while waiting for {what}")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ReadTimeout(f"timed out waiting for {what}; buffered {bytes(self.buf[:200])!r}")
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(1 << 20)
        except socket.timeout:
            raise ReadTimeout(f"timed out waiting for {what}; buffered {bytes(self.buf[:200])!r}")
        except OSError as e:
            if e.errno in _RESET_ERRNOS:
                self.eof = True
                raise PeerClosed(f"connection reset by server while waiting for {what}")
            raise
        if not chunk:
            self.eof = True
            raise PeerClosed(f"connection closed by server while waiting for {what}; "
                             f"buffered {bytes(self.buf[:200])!r}")
        self.buf += chunk

    def read_exact(self, n: int, deadline: float, what: str = "data") -> bytes:
        while len(self.buf) < n:
            self._fill(deadline, what)
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def read_until(self, delim: bytes, deadline: float, limit: int = 1 << 20, what: str = "data") -> bytes:
        while True:
            i = self.buf.find(delim)
            if i >= 0:
                out = bytes(self.buf[: i + len(delim)])
                del self.buf[: i + len(delim)]
                return out
            if len(self.buf) > limit:
                raise AssertionError(f"no {delim!r} within {limit} bytes while reading {what}")
            self._fill(deadline, what)

    def read_all_until_close(self, timeout: float) -> bytes:
        """Read until EOF/reset; raises ReadTimeout if the peer keeps the connection open."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._fill(deadline, "TCP close")
            except PeerClosed:
                out = bytes(self.buf)
                self.buf.clear()
                return out

    def expect_tcp_close(self, timeout: float = 3.0, allow_data: bool = False) -> bytes:
        """Assert that the server closes the TCP connection (EOF or RST) within `timeout`."""
        t0 = time.monotonic()
        try:
            extra = self.read_all_until_close(timeout)
        except ReadTimeout:
            raise AssertionError(
                f"server did not close the TCP connection within {timeout}s "
                f"(buffered {bytes(self.buf[:100])!r})") from None
        if not allow_data:
            assert extra == b"", f"unexpected bytes before TCP close: {extra[:200]!r}"
        return extra

    def assert_open(self, quiet_for: float) -> None:
        """Assert that the connection stays open (no EOF, no data) for `quiet_for` seconds."""
        deadline = time.monotonic() + quiet_for
        try:
            self._fill(deadline, "silence")
        except ReadTimeout:
            return
        raise AssertionError(f"expected silence, got {bytes(self.buf[:200])!r}")


# --------------------------------------------------------------------------------------------
# HTTP/1.1
# --------------------------------------------------------------------------------------------


@dataclass
class Response:
    version: str
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes = b""
    raw_head: bytes = b""

    def header(self, name: str) -> str | None:
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None

    def header_all(self, name: str) -> list[str]:
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    def has_token(self, name: str, token: str) -> bool:
        toks = []
        for v in self.header_all(name):
            toks += [t.strip().lower() for t in v.split(",")]
        return token.lower() in toks

    def __repr__(self):
        return f"<Response {self.status} {self.reason!r} headers={self.headers} body={self.body[:80]!r}>"


def read_response(stream: Stream, timeout: float = DEFAULT_TIMEOUT, head_request: bool = False) -> Response:
    deadline = time.monotonic() + timeout
    raw = stream.read_until(b"\r\n\r\n", deadline, limit=1 << 16, what="response head")
    lines = raw[:-4].decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    assert len(parts) >= 2 and parts[0].startswith("HTTP/"), f"bad status line {lines[0]!r}"
    version, status = parts[0], int(parts[1])
    reason = parts[2] if len(parts) > 2 else ""
    headers = []
    for line in lines[1:]:
        k, sep, v = line.partition(":")
        assert sep, f"bad response header line {line!r}"
        assert k == k.strip() and k, f"bad response header name {k!r}"
        headers.append((k, v.strip()))
    resp = Response(version, status, reason, headers, raw_head=raw)
    cl = resp.header("content-length")
    if head_request or status in (204, 304) or 100 <= status < 200:
        return resp
    if cl is not None:
        resp.body = stream.read_exact(int(cl), deadline, what="response body")
    elif resp.has_token("transfer-encoding", "chunked"):
        body = bytearray()
        while True:
            size_line = stream.read_until(b"\r\n", deadline, what="chunk size")
            size = int(size_line.split(b";")[0].strip(), 16)
            if size == 0:
                stream.read_until(b"\r\n", deadline, what="chunk trailer")
                break
            body += stream.read_exact(size, deadline, what="chunk")
            stream.read_exact(2, deadline, what="chunk CRLF")
        resp.body = bytes(body)
    else:
        # Body delimited by close.
        resp.body = stream.read_all_until_close(max(0.1, deadline - time.monotonic()))
    return resp


def build_request(method: str = "GET", target: str = "/healthz", headers=None,
                  body: bytes = b"", version: str = "HTTP/1.1", host: str | None = "127.0.0.1") -> bytes:
    lines = [f"{method} {target} {version}"]
    if host is not None:
        lines.append(f"Host: {host}")
    for k, v in headers or []:
        lines.append(f"{k}: {v}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def http_exchange(port: int, data: bytes, timeout: float = DEFAULT_TIMEOUT, head_request: bool = False,
                  ) -> tuple[Response, Stream]:
    """Send raw bytes on a fresh connection and read one response. Caller closes the stream."""
    s = Stream.connect(port, timeout)
    s.send(data, timeout)
    try:
        return read_response(s, timeout, head_request=head_request), s
    except BaseException:
        s.close()
        raise


def expect_close_or_keepalive(s: Stream, resp: Response) -> None:
    """For routing errors (404/405) the contract's "error responses close" rule is ambiguous, so
    accept either behaviour but require it to be consistent: `Connection: close` followed by a TCP
    close, or no close token and the connection still answers a request."""
    if resp.has_token("connection", "close"):
        s.expect_tcp_close(3.0)
    else:
        s.send(build_request("GET", "/healthz"))
        nxt = read_response(s)
        assert (nxt.status, nxt.body) == (200, b"ok"), f"keep-alive broken after {resp.status}: {nxt!r}"


def http_get(port: int, target: str = "/healthz", timeout: float = DEFAULT_TIMEOUT) -> Response:
    resp, s = http_exchange(port, build_request("GET", target), timeout)
    s.close()
    return resp


# --------------------------------------------------------------------------------------------
# WebSocket frames
# --------------------------------------------------------------------------------------------


def ws_accept(key: str) -> str:
    return base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()


def new_key() -> str:
    return base64.b64encode(os.urandom(16)).decode()


def apply_mask(data: bytes, key: bytes) -> bytes:
    n = len(data)
    if n == 0:
        return b""
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(k, "big")).to_bytes(n, "big")


def build_frame(opcode: int, payload: bytes = b"", *, fin: bool = True, rsv: int = 0, mask: bool = True,
                mask_key: bytes | None = None, length_bits: int | None = None,
                declared_length: int | None = None) -> bytes:
    """Build one client frame. length_bits forces the 7/16/64-bit length encoding;
    declared_length lies about the length (payload bytes are still appended as given)."""
    n = len(payload) if declared_length is None else declared_length
    if length_bits is None:
        length_bits = 7 if n <= 125 else 16 if n <= 0xFFFF else 64
    b0 = (0x80 if fin else 0) | ((rsv & 0x7) << 4) | (opcode & 0xF)
    mbit = 0x80 if mask else 0
    if length_bits == 7:
        assert n <= 125
        head = bytes([b0, mbit | n])
    elif length_bits == 16:
        assert n <= 0xFFFF
        head = bytes([b0, mbit | 126]) + struct.pack("!H", n)
    elif length_bits == 64:
        head = bytes([b0, mbit | 127]) + struct.pack("!Q", n)
    else:
        raise ValueError(length_bits)
    if mask:
        key = mask_key if mask_key is not None else os.urandom(4)
        return head + key + apply_mask(payload, key)
    return head + payload


def close_payload(code: int | None = None, reason: bytes = b"") -> bytes:
    if code is None:
        return b""
    return struct.pack("!H", code) + reason


@dataclass
class Frame:
    fin: bool
    rsv: int
    opcode: int
    payload: bytes
    length_bits: int = 7

    @property
    def close_code(self) -> int | None:
        assert self.opcode == OP_CLOSE
        if len(self.payload) < 2:
            return None
        return struct.unpack("!H", self.payload[:2])[0]

    @property
    def close_reason(self) -> bytes:
        return self.payload[2:]

    def __repr__(self):
        return (f"<Frame op={self.opcode:#x} fin={self.fin} rsv={self.rsv} "
                f"len={len(self.payload)} payload={self.payload[:40]!r}>")


class UpgradeFailed(AssertionError):
    def __init__(self, response: Response):
        super().__init__(f"upgrade refused: {response!r}")
        self.response = response


def upgrade_headers(key: str | None = None, protocols: str | None = None) -> list[tuple[str, str]]:
    h = [("Upgrade", "websocket"), ("Connection", "Upgrade"),
         ("Sec-WebSocket-Key", key or new_key()), ("Sec-WebSocket-Version", "13")]
    if protocols is not None:
        h.append(("Sec-WebSocket-Protocol", protocols))
    return h


class RawWebSocket:
    """A hand-driven WebSocket client. Server frames are asserted to be unmasked."""

    def __init__(self, stream: Stream, response: Response):
        self.stream = stream
        self.response = response
        self.pings_seen: list[bytes] = []
        self.pongs_seen: list[bytes] = []

    @classmethod
    def connect(cls, port: int, path: str = "/echo", headers: list[tuple[str, str]] | None = None,
                timeout: float = DEFAULT_TIMEOUT) -> "RawWebSocket":
        key = new_key()
        hdrs = headers if headers is not None else upgrade_headers(key)
        key = next((v for k, v in hdrs if k.lower() == "sec-websocket-key"), key)
        s = Stream.connect(port, timeout)
        try:
            s.send(build_request("GET", path, hdrs, host=f"{HOST}:{port}"), timeout)
            resp = read_response(s, timeout, head_request=True)
            if resp.status != 101:
                raise UpgradeFailed(resp)
            assert resp.header("sec-websocket-accept") == ws_accept(key), resp
        except BaseException:
            s.close()
            raise
        return cls(s, resp)

    def close(self) -> None:
        self.stream.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- sending -----------------------------------------------------------------------------

    def send_raw(self, data: bytes, timeout: float = DEFAULT_TIMEOUT) -> bool:
        return self.stream.send(data, timeout)

    def send_frame(self, opcode: int, payload: bytes = b"", **kw) -> bool:
        return self.stream.send(build_frame(opcode, payload, **kw))

    def send_text(self, text: str | bytes, **kw) -> bool:
        return self.send_frame(OP_TEXT, text.encode() if isinstance(text, str) else text, **kw)

    def send_binary(self, data: bytes, **kw) -> bool:
        return self.send_frame(OP_BINARY, data, **kw)

    def send_close(self, code: int | None = 1000, reason: bytes = b"") -> bool:
        return self.send_frame(OP_CLOSE, close_payload(code, reason))

    # -- receiving ---------------------------------------------------------------------------

    def recv_frame(self, timeout: float = DEFAULT_TIMEOUT) -> Frame:
        deadline = time.monotonic() + timeout
        s = self.stream
        b0, b1 = s.read_exact(2, deadline, "frame header")
        masked = bool(b1 & 0x80)
        n = b1 & 0x7F
        bits = 7
        if n == 126:
            n = struct.unpack("!H", s.read_exact(2, deadline, "16-bit length"))[0]
            bits = 16
            assert n >= 126, f"server used non-minimal 16-bit length for {n} bytes"
        elif n == 127:
            n = struct.unpack("!Q", s.read_exact(8, deadline, "64-bit length"))[0]
            bits = 64
            assert n > 0xFFFF, f"server used non-minimal 64-bit length for {n} bytes"
            assert n < (1 << 63), "64-bit length has its most significant bit set"
        assert not masked, f"server frame is masked (opcode {b0 & 0xF:#x})"
        payload = s.read_exact(n, deadline, "frame payload")
        frame = Frame(bool(b0 & 0x80), (b0 >> 4) & 0x7, b0 & 0xF, payload, bits)
        assert frame.rsv == 0, f"server frame has RSV bits set: {frame!r}"
        assert frame.opcode in (OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG), frame
        if frame.opcode in CONTROL_OPCODES:
            assert frame.fin and len(payload) <= 125, f"bad server control frame {frame!r}"
        return frame

    def recv_message(self, timeout: float = DEFAULT_TIMEOUT, answer_pings: bool = True) -> tuple[int, bytes]:
        """Read one complete data message (reassembling fragments). Pings are recorded (and
        answered), pongs recorded. A close frame raises AssertionError carrying its code."""
        deadline = time.monotonic() + timeout
        opcode = None
        parts = []
        while True:
            f = self.recv_frame(max(0.0, deadline - time.monotonic()))
            if f.opcode == OP_PING:
                self.pings_seen.append(f.payload)
                if answer_pings:
                    self.send_frame(OP_PONG, f.payload)
                continue
            if f.opcode == OP_PONG:
                self.pongs_seen.append(f.payload)
                continue
            if f.opcode == OP_CLOSE:
                raise AssertionError(f"expected a data message, got close code={f.close_code} "
                                     f"reason={f.close_reason!r}")
            if opcode is None:
                assert f.opcode in (OP_TEXT, OP_BINARY), f"message starts with {f!r}"
                opcode = f.opcode
            else:
                assert f.opcode == OP_CONT, f"expected continuation, got {f!r}"
            parts.append(f.payload)
            if f.fin:
                return opcode, b"".join(parts)

    def recv_control(self, opcode: int, timeout: float = DEFAULT_TIMEOUT) -> Frame:
        """Wait for the next frame with the given control opcode; other pings are answered,
        data frames and unexpected closes fail."""
        deadline = time.monotonic() + timeout
        while True:
            f = self.recv_frame(max(0.0, deadline - time.monotonic()))
            if f.opcode == opcode:
                return f
            if f.opcode == OP_PING:
                self.pings_seen.append(f.payload)
                self.send_frame(OP_PONG, f.payload)
                continue
            if f.opcode == OP_PONG:
                self.pongs_seen.append(f.payload)
                continue
            raise AssertionError(f"waiting for opcode {opcode:#x}, got {f!r} "
                                 f"(close code {f.close_code if f.opcode == OP_CLOSE else None})")

    def expect_close(self, code: int | None, timeout: float = 3.0, reply: bool = True,
                     tcp_close_timeout: float = 3.0) -> Frame:
        """Expect the server's close frame with `code` (None: empty payload), optionally reply
        with a close, then expect the server to close TCP."""
        try:
            f = self.recv_control(OP_CLOSE, timeout)
        except PeerClosed as e:
            raise AssertionError(f"server closed TCP without sending a close frame "
                                 f"(expected code {code}): {e}") from None
        except ReadTimeout as e:
            raise AssertionError(f"no close frame (expected code {code}) within {timeout}s: {e}") from None
        if code is None:
            assert f.payload == b"", f"expected empty close payload, got {f.payload!r}"
        else:
            assert len(f.payload) >= 2, f"close frame without status code (expected {code}): {f!r}"
            assert f.close_code == code, f"close code {f.close_code} (reason {f.close_reason!r}), expected {code}"
            f.close_reason.decode("utf-8")  # the server's reason must be valid UTF-8
        if reply:
            self.send_frame(OP_CLOSE, f.payload[:2])
        self.stream.expect_tcp_close(tcp_close_timeout)
        return f

    def echo(self, opcode: int, payload: bytes, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.send_frame(opcode, payload)
        got_op, got = self.recv_message(timeout)
        assert got_op == opcode, f"echo opcode {got_op:#x}, sent {opcode:#x}"
        assert got == payload, f"echo payload differs (len {len(got)} vs {len(payload)})"
