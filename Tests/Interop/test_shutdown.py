"""SIGTERM: stop accepting, close open WebSockets with 1001, exit 0 within 5 s."""

from __future__ import annotations

import os
import signal
import socket
import time

import wire
from wire import OP_BINARY, OP_TEXT, RawWebSocket

EXIT_DEADLINE = 5.0


def _new_connection_refused_or_unserved(port: int) -> tuple[bool, str]:
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=2)
    except (ConnectionRefusedError, socket.timeout) as e:
        return True, repr(e)
    stream = wire.Stream(s)
    try:
        stream.send(wire.build_request("GET", "/healthz"), 2)
        resp = wire.read_response(stream, timeout=2)
        return False, f"new connection was served after SIGTERM: {resp!r}"
    except (wire.PeerClosed, wire.ReadTimeout) as e:
        return True, repr(e)
    finally:
        stream.close()


def test_sigterm_closes_websockets_1001_and_exits_0(start_server):
    srv = start_server()
    a = RawWebSocket.connect(srv.port)
    b = RawWebSocket.connect(srv.port)
    c = RawWebSocket.connect(srv.port)  # never answers the server's close
    try:
        a.echo(OP_TEXT, b"a")
        b.echo(OP_BINARY, b"b")
        c.echo(OP_TEXT, b"c")
        b.send_frame(OP_TEXT, b"half a message", fin=False)  # one connection mid-message

        t0 = time.monotonic()
        os.kill(srv.pid, signal.SIGTERM)

        fa = a.recv_control(wire.OP_CLOSE, timeout=EXIT_DEADLINE)
        assert fa.close_code == 1001, f"close code {fa.close_code} on SIGTERM"
        refused, detail = _new_connection_refused_or_unserved(srv.port)
        assert refused, detail
        a.send_close(1001)
        a.stream.expect_tcp_close(EXIT_DEADLINE)

        b.expect_close(1001, timeout=EXIT_DEADLINE, reply=True, tcp_close_timeout=EXIT_DEADLINE)

        fc = c.recv_control(wire.OP_CLOSE, timeout=EXIT_DEADLINE)
        assert fc.close_code == 1001
        remaining = max(0.1, t0 + EXIT_DEADLINE + 0.5 - time.monotonic())
        c.stream.expect_tcp_close(remaining)

        code = srv.proc.wait(timeout=max(0.1, t0 + EXIT_DEADLINE + 0.5 - time.monotonic()))
        elapsed = time.monotonic() - t0
        assert code == 0, f"exit status {code}; stderr: {srv.stderr_tail()}"
        assert elapsed <= EXIT_DEADLINE + 0.5, f"exited after {elapsed:.2f}s"
    finally:
        for ws in (a, b, c):
            ws.close()

    try:
        socket.create_connection(("127.0.0.1", srv.port), timeout=2).close()
        raise AssertionError("port still accepts connections after exit")
    except ConnectionRefusedError:
        pass


def test_sigterm_idle_server_exits_0_quickly(start_server):
    srv = start_server()
    assert wire.http_get(srv.port).status == 200
    t0 = time.monotonic()
    os.kill(srv.pid, signal.SIGTERM)
    code = srv.proc.wait(timeout=EXIT_DEADLINE)
    assert code == 0, f"exit status {code}; stderr: {srv.stderr_tail()}"
    assert time.monotonic() - t0 <= EXIT_DEADLINE


def test_sigterm_with_open_http_keepalive_connection(start_server):
    """An idle keep-alive HTTP connection does not hold up shutdown."""
    srv = start_server()
    with wire.Stream.connect(srv.port) as s:
        s.send(wire.build_request("GET", "/healthz"))
        assert wire.read_response(s).status == 200
        t0 = time.monotonic()
        os.kill(srv.pid, signal.SIGTERM)
        code = srv.proc.wait(timeout=EXIT_DEADLINE + 1)
        assert code == 0, f"exit status {code}"
        assert time.monotonic() - t0 <= EXIT_DEADLINE
        s.expect_tcp_close(2.0)
