"""permessage-deflate (RFC 7692) against the real server: negotiation, compressed echo and
group messages, the inflated-size cap, corrupt data, and --no-deflate (protocol-spec/deflate.md)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import struct
import time
import zlib

import pytest
import websockets

import wire
from serverproc import ServerProcess

KEY = "deflate-test-key"


@pytest.fixture(scope="module")
def srv():
    server = ServerProcess("--access-key", KEY, "--threads", "2", "--max-message-bytes", "65536")
    yield server
    server.stop()


def client_url(port: int, user: str, groups=(), roles=("webpubsub.joinLeaveGroup", "webpubsub.sendToGroup")) -> str:
    args = ["token", "--access-key", KEY, "--endpoint", f"http://127.0.0.1:{port}", "--user", user]
    for group in groups:
        args += ["--group", group]
    for role in roles:
        args += ["--role", role]
    import subprocess
    from serverproc import SERVER_BIN
    return subprocess.run([SERVER_BIN, *args], check=True, capture_output=True, text=True, timeout=10).stdout.strip()


def deflate_raw(data: bytes) -> bytes:
    """RFC 7692 §7.2.1: raw DEFLATE, sync flush, trailing 00 00 FF FF removed."""
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


class RawDeflateSocket:
    """A hand-driven client that negotiates permessage-deflate and reads frames with RSV1."""

    def __init__(self, port: int, path: str = "/echo", protocol: str | None = None, offer: str = "permessage-deflate"):
        self.stream = wire.Stream.connect(port)
        key = wire.new_key()
        headers = wire.upgrade_headers(key, protocol)
        if offer:
            headers.append(("Sec-WebSocket-Extensions", offer))
        self.stream.send(wire.build_request("GET", path, headers, host=f"127.0.0.1:{port}"))
        self.response = wire.read_response(self.stream, head_request=True)
        assert self.response.status == 101, self.response
        self.inflater = zlib.decompressobj(-15)

    def send(self, payload: bytes, opcode: int = wire.OP_TEXT, compress: bool = True) -> None:
        data = deflate_raw(payload) if compress else payload
        self.stream.send(wire.build_frame(opcode, data, rsv=4 if compress else 0))

    def recv(self, timeout: float = 5.0) -> tuple[int, int, bytes]:
        """(opcode, rsv, payload inflated when RSV1)"""
        deadline = time.monotonic() + timeout
        b0, b1 = self.stream.read_exact(2, deadline, "header")
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self.stream.read_exact(2, deadline, "len16"))[0]
        elif n == 127:
            n = struct.unpack("!Q", self.stream.read_exact(8, deadline, "len64"))[0]
        assert not b1 & 0x80, "server frames are never masked"
        payload = self.stream.read_exact(n, deadline, "payload")
        rsv = (b0 >> 4) & 7
        if rsv & 4:
            payload = zlib.decompressobj(-15).decompress(payload + b"\x00\x00\xff\xff")
        return b0 & 0xF, rsv, payload

    def close(self):
        self.stream.close()


def test_negotiation_answers_server_no_context_takeover(srv):
    raw = RawDeflateSocket(srv.port, offer="permessage-deflate; client_max_window_bits")
    try:
        ext = raw.response.header("sec-websocket-extensions")
        assert ext is not None and ext.startswith("permessage-deflate"), raw.response
        assert "server_no_context_takeover" in ext
    finally:
        raw.close()


@pytest.mark.parametrize("offer", ["x-webkit-deflate-frame", "permessage-deflate; server_max_window_bits=7",
                                   "permessage-deflate; bogus=1", "permessage-deflate; client_no_context_takeover=1"])
def test_unacceptable_offers_are_declined_not_fatal(srv, offer):
    raw = RawDeflateSocket(srv.port, offer=offer)
    try:
        assert raw.response.header("sec-websocket-extensions") is None, raw.response
        raw.send(b"plain", compress=False)
        assert raw.recv() == (wire.OP_TEXT, 0, b"plain")
    finally:
        raw.close()


def test_large_compressible_messages_round_trip_compressed(srv):
    async def run():
        async with websockets.connect(f"ws://127.0.0.1:{srv.port}/echo", compression="deflate",
                                      max_size=1 << 20) as ws:
            assert any(type(e).__name__ == "PerMessageDeflate" for e in ws.protocol.extensions)
            for size in (300, 4096, 60000):
                text = json.dumps({"k": "v" * size})[: size]
                await ws.send(text)
                assert await asyncio.wait_for(ws.recv(), 5) == text
            data = bytes(50000)
            await ws.send(data)
            assert await asyncio.wait_for(ws.recv(), 5) == data
    asyncio.run(run())


def test_server_compresses_only_above_the_threshold(srv):
    raw = RawDeflateSocket(srv.port)
    try:
        raw.send(b"y" * 1000)
        op, rsv, payload = raw.recv()
        assert (op, rsv & 4, payload) == (wire.OP_TEXT, 4, b"y" * 1000)
        raw.send(b"short")
        assert raw.recv() == (wire.OP_TEXT, 0, b"short")
    finally:
        raw.close()


def test_small_payload_inflating_past_the_limit_is_1009(srv):
    bomb = deflate_raw(b"a" * (1 << 20))  # about 1 KiB on the wire, 1 MiB inflated; limit 64 KiB
    assert len(bomb) < 2048
    raw = RawDeflateSocket(srv.port)
    try:
        raw.stream.send(wire.build_frame(wire.OP_TEXT, bomb, rsv=4))
        op, _, payload = raw.recv()
        assert op == wire.OP_CLOSE and struct.unpack("!H", payload[:2])[0] == 1009, payload
    finally:
        raw.close()
    assert wire.http_get(srv.port).status == 200


def test_exactly_at_the_limit_inflated_is_accepted(srv):
    raw = RawDeflateSocket(srv.port)
    try:
        raw.send(b"b" * 65536)
        op, _, payload = raw.recv()
        assert (op, len(payload)) == (wire.OP_TEXT, 65536)
        raw.send(b"b" * 65537)
        op, _, payload = raw.recv()
        assert op == wire.OP_CLOSE and struct.unpack("!H", payload[:2])[0] == 1009
    finally:
        raw.close()


def test_corrupt_compressed_data_is_1007(srv):
    raw = RawDeflateSocket(srv.port)
    try:
        raw.stream.send(wire.build_frame(wire.OP_TEXT, b"\xff\xff\xff\xff\x00garbage", rsv=4))
        op, _, payload = raw.recv()
        assert op == wire.OP_CLOSE and struct.unpack("!H", payload[:2])[0] == 1007, payload
    finally:
        raw.close()
    assert wire.http_get(srv.port).status == 200


def test_compressed_invalid_utf8_text_is_1007(srv):
    raw = RawDeflateSocket(srv.port)
    try:
        raw.send(b"\xc3\x28 not utf-8")
        op, _, payload = raw.recv()
        assert op == wire.OP_CLOSE and struct.unpack("!H", payload[:2])[0] == 1007
    finally:
        raw.close()


@pytest.mark.parametrize("protocol", ["json.webpubsub.azure.v1", "json.reliable.webpubsub.azure.v1"])
def test_group_messages_reach_deflate_and_plain_members(srv, protocol):
    port = srv.port
    group = f"g-{protocol[:4]}-{os.getpid()}"
    url = client_url(port, "u", groups=[group])
    path = url[url.index("/client/"):]
    compressed = RawDeflateSocket(port, path=path, protocol=protocol)
    plain = RawDeflateSocket(port, path=path, protocol=protocol, offer="")
    try:
        for sock in (compressed, plain):
            assert json.loads(sock.recv()[2])["event"] == "connected"
        big = "z" * 2000
        compressed.send(json.dumps({"type": "sendToGroup", "group": group, "dataType": "text", "data": big}).encode())
        compressed.send(json.dumps({"type": "sendToGroup", "group": group, "dataType": "text", "data": "hi"}).encode(),
                        compress=False)
        # The short message stays under --deflate-min-bytes (256) and goes out uncompressed.
        for sock, expect_rsv in ((compressed, [4, 0]), (plain, [0, 0])):
            seen = []
            for _ in range(2):
                op, rsv, payload = sock.recv()
                message = json.loads(payload)
                assert message["type"] == "message", message
                seen.append((rsv & 4, message["data"], message.get("sequenceId")))
            assert [s[0] for s in seen] == expect_rsv
            assert [s[1] for s in seen] == [big, "hi"]
            if "reliable" in protocol:
                assert [s[2] for s in seen] == [1, 2]
    finally:
        compressed.close()
        plain.close()


def test_no_deflate_flag_turns_it_off():
    server = ServerProcess("--access-key", KEY, "--no-deflate")
    try:
        raw = RawDeflateSocket(server.port)
        try:
            assert raw.response.header("sec-websocket-extensions") is None
            raw.send(b"x" * 500, compress=False)
            assert raw.recv() == (wire.OP_TEXT, 0, b"x" * 500)
        finally:
            raw.close()
    finally:
        server.stop()


WINDOW_15 = (1 << 15) + 7 * 1024  # one 15-bit inflate window as the server reserves it


def context_socket(port: int) -> RawDeflateSocket:
    return RawDeflateSocket(port, offer="permessage-deflate; client_max_window_bits")


def asks_no_context(raw: RawDeflateSocket) -> bool:
    ext = raw.response.header("sec-websocket-extensions")
    assert ext is not None and ext.startswith("permessage-deflate"), raw.response
    return "client_no_context_takeover" in ext


def send_with_context(raw: RawDeflateSocket, compressor, payload: bytes) -> None:
    data = compressor.compress(payload) + compressor.flush(zlib.Z_SYNC_FLUSH)
    raw.stream.send(wire.build_frame(wire.OP_TEXT, data[:-4], rsv=4))


@pytest.mark.parametrize("limit,own_windows", [(2 * WINDOW_15 - 1, 1), (2 * WINDOW_15, 2), (2 * WINDOW_15 + 1, 2)])
def test_window_memory_limit_asks_later_clients_to_reset_context(limit, own_windows):
    server = ServerProcess("--access-key", KEY, "--deflate-window-memory-bytes", str(limit))
    sockets = []
    try:
        sockets = [context_socket(server.port) for _ in range(3)]
        flags = [asks_no_context(raw) for raw in sockets]
        assert flags == [False] * own_windows + [True] * (3 - own_windows)
        # Clients with their own window may refer to earlier messages; the others share the
        # loop's inflater, message by message, interleaved.
        text = b'{"job":"solve","progress":[1,2,3,4,5,6,7,8,9,10]}' * 12
        compressors = [zlib.compressobj(6, zlib.DEFLATED, -15) for _ in sockets]
        for round_ in range(3):
            for index, raw in enumerate(sockets):
                if flags[index]:
                    raw.send(text + bytes([48 + round_]))
                else:
                    send_with_context(raw, compressors[index], text + bytes([48 + round_]))
            for raw in sockets:
                op, _, payload = raw.recv()
                assert (op, payload) == (wire.OP_TEXT, text + bytes([48 + round_]))
        # A closed connection gives its window back to the next client.
        sockets.pop(0).close()
        deadline = time.monotonic() + 5
        while True:
            fresh = context_socket(server.port)
            if not asks_no_context(fresh) or time.monotonic() > deadline:
                break
            fresh.close()
            time.sleep(0.05)
        sockets.append(fresh)
        assert not asks_no_context(fresh)
        # Running out is reported once (rate-limited), with what is reserved and held.
        log = server.stderr_tail(200_000)
        reports = log.count("deflate window budget reached")
        assert reports == 1, log[-2000:]
    finally:
        for raw in sockets:
            raw.close()
        server.stop()


def test_offer_with_client_no_context_takeover_reserves_nothing():
    server = ServerProcess("--access-key", KEY, "--deflate-window-memory-bytes", "0")
    try:
        raw = RawDeflateSocket(server.port, offer="permessage-deflate; client_no_context_takeover")
        try:
            assert asks_no_context(raw)
            raw.send(b"z" * 900)
            assert raw.recv() == (wire.OP_TEXT, 4, b"z" * 900)
        finally:
            raw.close()
    finally:
        server.stop()
