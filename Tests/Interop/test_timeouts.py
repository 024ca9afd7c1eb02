"""Handshake timeout, server pings and idle close, with dedicated servers and short timers."""

from __future__ import annotations

import socket
import time

import pytest

import wire
from wire import OP_PING, OP_PONG, OP_TEXT, RawWebSocket, Stream, read_response

HANDSHAKE_TIMEOUT = 0.5
PING_INTERVAL = 0.3
IDLE_TIMEOUT = 1.0


@pytest.fixture
def hs_server(shared_server):
    return shared_server("--handshake-timeout", str(HANDSHAKE_TIMEOUT))


@pytest.fixture
def ping_server(shared_server):
    return shared_server("--ping-interval", str(PING_INTERVAL), "--idle-timeout", str(IDLE_TIMEOUT))


# -- handshake timeout ------------------------------------------------------------------------------


def test_partial_head_then_stall_gets_408(hs_server):
    with Stream.connect(hs_server.port) as s:
        t0 = time.monotonic()
        s.send(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        resp = read_response(s, timeout=5.0)
        elapsed = time.monotonic() - t0
        assert resp.status == 408, resp
        assert resp.has_token("connection", "close"), resp
        assert HANDSHAKE_TIMEOUT * 0.6 <= elapsed <= HANDSHAKE_TIMEOUT + 2.0, f"408 after {elapsed:.2f}s"
        s.expect_tcp_close(3.0)
    hs_server.assert_alive()


def test_partial_request_line_then_stall_gets_408(hs_server):
    with Stream.connect(hs_server.port) as s:
        s.send(b"GE")
        resp = read_response(s, timeout=5.0)
        assert resp.status == 408, resp
        s.expect_tcp_close(3.0)
    hs_server.assert_alive()


def test_silent_peer_is_closed_without_response(hs_server):
    with Stream.connect(hs_server.port) as s:
        t0 = time.monotonic()
        extra = s.expect_tcp_close(HANDSHAKE_TIMEOUT + 3.0, allow_data=True)
        elapsed = time.monotonic() - t0
        assert extra == b"", f"silent peer got bytes: {extra[:200]!r}"
        assert elapsed >= HANDSHAKE_TIMEOUT * 0.6, f"closed after only {elapsed:.2f}s"
    hs_server.assert_alive()


def test_trickled_head_still_times_out(hs_server):
    """The handshake timeout bounds the whole head: a slowloris that keeps sending one byte at a
    time is cut off too (408), it does not reset the timer."""
    data = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"s" * 200
    with Stream.connect(hs_server.port) as s:
        t0 = time.monotonic()
        got_response = False
        for i in range(len(data)):
            if not s.send(data[i:i + 1]):
                break
            time.sleep(0.05)
            if time.monotonic() - t0 > HANDSHAKE_TIMEOUT + 3.0:
                break
            s.sock.setblocking(False)
            try:
                if s.sock.recv(1, socket.MSG_PEEK):
                    got_response = True
                    break
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                break
            finally:
                s.sock.setblocking(True)
        elapsed = time.monotonic() - t0
        assert got_response, f"no response while trickling for {elapsed:.2f}s"
        resp = read_response(s, timeout=3.0)
        assert resp.status == 408, resp
        assert elapsed <= HANDSHAKE_TIMEOUT + 2.0, f"cut off only after {elapsed:.2f}s"
        s.expect_tcp_close(3.0)
    hs_server.assert_alive()


def test_fast_request_is_not_affected(hs_server):
    resp = wire.http_get(hs_server.port)
    assert (resp.status, resp.body) == (200, b"ok")


def test_upgraded_websocket_outlives_handshake_timeout(hs_server):
    with RawWebSocket.connect(hs_server.port) as ws:
        ws.echo(OP_TEXT, b"before")
        time.sleep(HANDSHAKE_TIMEOUT * 3)
        ws.echo(OP_TEXT, b"after")  # fails if the handshake timer was left armed
        ws.send_close(1000)
        ws.expect_close(1000, reply=False)


# -- server pings and idle timeout ------------------------------------------------------------------


def test_server_sends_ping_within_two_intervals(ping_server):
    with RawWebSocket.connect(ping_server.port) as ws:
        t0 = time.monotonic()
        f = ws.recv_frame(timeout=PING_INTERVAL * 2 + 0.4)
        elapsed = time.monotonic() - t0
        assert f.opcode == OP_PING, f"expected a server ping, got {f!r}"
        assert elapsed <= PING_INTERVAL * 2 + 0.4, elapsed


def test_silent_websocket_is_closed_1001_after_idle_timeout(ping_server):
    with RawWebSocket.connect(ping_server.port) as ws:
        t0 = time.monotonic()
        pings = 0
        while True:
            f = ws.recv_frame(timeout=IDLE_TIMEOUT + 3.0)  # pings are NOT answered: we stay silent
            if f.opcode == OP_PING:
                pings += 1
                continue
            break
        elapsed = time.monotonic() - t0
        assert f.opcode == wire.OP_CLOSE, f"expected close, got {f!r}"
        assert f.close_code == 1001, f"idle close code {f.close_code}, reason {f.close_reason!r}"
        assert IDLE_TIMEOUT * 0.7 <= elapsed <= IDLE_TIMEOUT + 2.0, f"idle close after {elapsed:.2f}s"
        assert pings >= 1, "no ping before the idle close"
        # The peer is silent (it will never answer the close): the server must drop TCP itself.
        ws.stream.expect_tcp_close(5.0)
    ping_server.assert_alive()


def test_peer_answering_pings_stays_open(ping_server):
    with RawWebSocket.connect(ping_server.port) as ws:
        t0 = time.monotonic()
        duration = IDLE_TIMEOUT * 2.5
        while time.monotonic() - t0 < duration:
            try:
                f = ws.recv_frame(timeout=0.2)
            except wire.ReadTimeout:
                continue
            assert f.opcode == OP_PING, f"unexpected frame from server: {f!r} " \
                f"(close code {f.close_code if f.opcode == wire.OP_CLOSE else None})"
            ws.pings_seen.append(f.payload)
            ws.send_frame(OP_PONG, f.payload)
        assert len(ws.pings_seen) >= 3, f"only {len(ws.pings_seen)} pings in {duration}s"
        ws.echo(OP_TEXT, b"still here")
        ws.send_close(1000)
        ws.expect_close(1000, reply=False)


def test_peer_sending_messages_stays_open(ping_server):
    """Data from the peer counts as activity even if it never answers pings."""
    with RawWebSocket.connect(ping_server.port) as ws:
        t0 = time.monotonic()
        i = 0
        while time.monotonic() - t0 < IDLE_TIMEOUT * 2.5:
            ws.send_frame(OP_TEXT, f"tick {i}".encode())
            op, payload = ws.recv_message(timeout=2.0, answer_pings=False)
            assert (op, payload) == (OP_TEXT, f"tick {i}".encode())
            i += 1
            time.sleep(0.25)
        ws.send_close(1000)
        ws.expect_close(1000, reply=False)
