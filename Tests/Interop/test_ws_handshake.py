"""WebSocket opening handshake on /echo (RFC 6455 section 4)."""

from __future__ import annotations

import base64

import pytest

import wire
from wire import RawWebSocket, expect_close_or_keepalive, build_request, http_exchange, upgrade_headers


def handshake(port: int, headers, method: str = "GET", path: str = "/echo") -> tuple[wire.Response, wire.Stream]:
    return http_exchange(port, build_request(method, path, headers, host=f"127.0.0.1:{port}"),
                         head_request=False)


def replace_header(headers, name, value):
    """Replace (value str), or drop (value None), a header by name."""
    out = [(k, v) for k, v in headers if k.lower() != name.lower()]
    if value is not None:
        out.append((name, value))
    return out


def test_upgrade_succeeds_with_correct_accept(server):
    key = wire.new_key()
    resp, s = http_exchange(server.port, build_request("GET", "/echo", upgrade_headers(key)), head_request=True)
    try:
        assert resp.status == 101, resp
        assert resp.header("sec-websocket-accept") == wire.ws_accept(key), resp
        assert resp.has_token("upgrade", "websocket"), resp
        assert resp.has_token("connection", "upgrade"), resp
        assert resp.header("sec-websocket-protocol") is None, resp
        assert resp.header("sec-websocket-extensions") is None, resp
        ws = RawWebSocket(s, resp)
        ws.echo(wire.OP_TEXT, b"hi")
    finally:
        s.close()


def test_accept_for_rfc_sample_key(server):
    # RFC 6455 section 1.3 sample.
    key = "dGhlIHNhbXBsZSBub25jZQ=="
    resp, s = http_exchange(server.port, build_request("GET", "/echo", upgrade_headers(key)), head_request=True)
    s.close()
    assert resp.status == 101, resp
    assert resp.header("sec-websocket-accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


@pytest.mark.parametrize("upgrade,connection", [
    ("WebSocket", "Upgrade"),
    ("websocket", "upgrade"),
    ("WEBSOCKET", "keep-alive, Upgrade"),
    ("websocket", "Upgrade, keep-alive"),
    ("websocket", "keep-alive,upgrade"),
])
def test_upgrade_tokens_case_insensitive_and_lists(server, upgrade, connection):
    h = replace_header(replace_header(upgrade_headers(), "Upgrade", upgrade), "Connection", connection)
    with RawWebSocket.connect(server.port, headers=h) as ws:
        ws.echo(wire.OP_BINARY, b"\x00\x01\x02")


@pytest.mark.parametrize("offer,expected", [
    ("chat", "chat"),
    ("chat, superchat", "chat"),
    ("superchat,chat", "superchat"),
])
def test_subprotocol_first_offer_is_echoed(server, offer, expected):
    resp, s = http_exchange(server.port, build_request("GET", "/echo", upgrade_headers(protocols=offer)),
                            head_request=True)
    s.close()
    assert resp.status == 101, resp
    assert resp.header_all("sec-websocket-protocol") == [expected], resp


def test_no_subprotocol_offered_no_header(server):
    resp, s = http_exchange(server.port, build_request("GET", "/echo", upgrade_headers()), head_request=True)
    s.close()
    assert resp.status == 101, resp
    assert resp.header("sec-websocket-protocol") is None, resp


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "HEAD"])
def test_upgrade_with_other_method_is_405(server, method):
    data = build_request(method, "/echo", upgrade_headers() + [("Content-Length", "0")],
                         host=f"127.0.0.1:{server.port}")
    resp, s = http_exchange(server.port, data, head_request=(method == "HEAD"))
    try:
        assert resp.status == 405, resp
        assert resp.header("sec-websocket-accept") is None
    finally:
        s.close()
    server.assert_alive()


def test_plain_get_on_echo_is_400(server):
    resp, s = handshake(server.port, [])
    try:
        assert resp.status == 400, resp
        expect_close_or_keepalive(s, resp)
    finally:
        s.close()
    server.assert_alive()


def _key_of(n: int) -> str:
    return base64.b64encode(b"k" * n).decode()


BAD_400 = [
    ("missing-upgrade", "Upgrade", None),
    ("upgrade-h2c", "Upgrade", "h2c"),
    ("upgrade-empty", "Upgrade", ""),
    ("missing-connection", "Connection", None),
    ("connection-keepalive", "Connection", "keep-alive"),
    ("connection-close", "Connection", "close"),
    ("missing-key", "Sec-WebSocket-Key", None),
    ("key-not-base64", "Sec-WebSocket-Key", "not base64 at all!!"),
    ("key-15-bytes", "Sec-WebSocket-Key", _key_of(15)),
    ("key-17-bytes", "Sec-WebSocket-Key", _key_of(17)),
    ("key-empty", "Sec-WebSocket-Key", ""),
]


@pytest.mark.parametrize("name,value", [b[1:] for b in BAD_400], ids=[b[0] for b in BAD_400])
def test_invalid_upgrade_is_400(server, name, value):
    resp, s = handshake(server.port, replace_header(upgrade_headers(), name, value))
    try:
        assert resp.status == 400, resp
        assert resp.header("sec-websocket-accept") is None, resp
        expect_close_or_keepalive(s, resp)
    finally:
        s.close()
    server.assert_alive()


@pytest.mark.parametrize("version", [None, "12", "8", "14", ""])
def test_bad_version_is_426(server, version):
    resp, s = handshake(server.port, replace_header(upgrade_headers(), "Sec-WebSocket-Version", version))
    try:
        assert resp.status == 426, resp
        assert resp.header("sec-websocket-version") == "13", resp
        assert resp.header("sec-websocket-accept") is None, resp
        expect_close_or_keepalive(s, resp)
    finally:
        s.close()
    server.assert_alive()


def test_frames_pipelined_with_handshake(server):
    """A client that sends its first frame in the same write as the upgrade request is served."""
    key = wire.new_key()
    data = (build_request("GET", "/echo", upgrade_headers(key))
            + wire.build_frame(wire.OP_TEXT, b"early bird"))
    with wire.Stream.connect(server.port) as s:
        s.send(data)
        resp = wire.read_response(s, head_request=True)
        assert resp.status == 101, resp
        ws = RawWebSocket(s, resp)
        op, payload = ws.recv_message()
        assert (op, payload) == (wire.OP_TEXT, b"early bird")
