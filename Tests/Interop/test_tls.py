"""TLS on the real wps-server (protocol-spec/tls.md §11): wss:// and https:// with a test CA,
TLS versions and ALPN, the official client and service SDKs over TLS (including reliable recovery
through a TCP proxy that cuts the raw TLS stream), plaintext and garbage on the TLS port,
--plain-port, SIGHUP certificate reload, start-up errors and a handshake burst."""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import shutil
import socket
import ssl
import tempfile
import threading
import time

import pytest
import websocket  # websocket-client
from websockets.asyncio.client import connect as _ws_connect
from azure.messaging.webpubsubclient.models import WebPubSubDataType, WebPubSubProtocolType
from azure.messaging.webpubsubservice import WebPubSubServiceClient

import wire
from sdkenv import SdkClient, flood_then_drain
from tcpproxy import TcpProxy
from tlsenv import (ACCESS_KEY, HUB, Pki, TlsServer, client_context, https_get, install, parse_http,
                    recv_until_close, run_until_exit, tls_connect)

ALL_ROLES = ("webpubsub.joinLeaveGroup", "webpubsub.sendToGroup")
JSON_PROTOCOL = "json.webpubsub.azure.v1"
NEGOTIATE_KEY = "tls-negotiate-key-abcdefghijklmnop"
ONE_MIB = 1 << 20

pytestmark = pytest.mark.deadline(90)


# --------------------------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pki():
    root = tempfile.mkdtemp(prefix="wps-tls-pki-")
    p = Pki(root)
    p.ca_a = p.ca("caA")
    p.leaf_a = p.leaf(p.ca_a, "leafA")
    p.ca_b = p.ca("caB")
    p.leaf_b = p.leaf(p.ca_b, "leafB")
    p.leaf_rsa = p.leaf(p.ca_a, "leafRSA", rsa=True)
    yield p
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def tls_srv(pki):
    """One TLS server (CA A) shared by the module's read-mostly tests."""
    srv = TlsServer(pki.leaf_a.cert, pki.leaf_a.key, "--negotiate-key", NEGOTIATE_KEY)
    yield srv
    srv.stop()


@pytest.fixture
def tls_factory():
    made: list[TlsServer] = []

    def _make(cert, key, *extra, **kw) -> TlsServer:
        s = TlsServer(cert, key, *extra, **kw)
        made.append(s)
        return s

    yield _make
    for s in made:
        s.stop()


@pytest.fixture
def ca_env(monkeypatch, pki):
    """Trust CA A in this test process for the SDKs: websocket-client reads
    WEBSOCKET_CLIENT_CA_BUNDLE, requests reads REQUESTS_CA_BUNDLE; SSL_CERT_FILE covers OpenSSL's
    default verify paths (ssl.create_default_context)."""
    monkeypatch.setenv("WEBSOCKET_CLIENT_CA_BUNDLE", pki.ca_a.cert)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", pki.ca_a.cert)
    monkeypatch.setenv("SSL_CERT_FILE", pki.ca_a.cert)
    return pki.ca_a.cert


@pytest.fixture
def sdk_clients():
    made: list[SdkClient] = []

    def _make(url, protocol=WebPubSubProtocolType.JSON_RELIABLE, **kw) -> SdkClient:
        c = SdkClient(url, protocol, **kw)
        made.append(c)
        c.open()
        return c

    yield _make
    for c in made:
        c.close()


def ws_connect(uri: str, **kw):
    """websockets' connect without permessage-deflate: these tests are about the TLS layer, and
    deflate (work in progress) has its own tests."""
    kw.setdefault("compression", None)
    return _ws_connect(uri, **kw)


def run(coro, timeout: float = 60):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def conn_string(port: int) -> str:
    return f"Endpoint=https://localhost;Port={port};AccessKey={ACCESS_KEY};Version=1.0;"


def service(port: int, hub: str = HUB) -> WebPubSubServiceClient:
    return WebPubSubServiceClient.from_connection_string(conn_string(port), hub=hub)


def assert_wss_echo(port: int, cafile: str, payload: str = "tls still alive") -> None:
    async def go():
        async with ws_connect(f"wss://localhost:{port}/echo", ssl=client_context(cafile),
                              open_timeout=5, close_timeout=2) as ws:
            await ws.send(payload)
            assert await asyncio.wait_for(ws.recv(), 5) == payload
    run(go(), 15)


class WssRaw:
    """A websocket-client connection over wss with an explicit CA (for publishers/probes)."""

    def __init__(self, url: str, cafile: str, protocol: str | None = JSON_PROTOCOL):
        self.ws = websocket.WebSocket(sslopt={"ca_certs": cafile, "cert_reqs": ssl.CERT_REQUIRED})
        self.ws.connect(url, subprotocols=[protocol] if protocol else None, timeout=5, suppress_origin=True)
        self.ws.settimeout(5)

    def send_json(self, obj) -> None:
        self.ws.send(json.dumps(obj))

    def recv_json(self) -> dict:
        while True:
            op, frame = self.ws.recv_data_frame(True)
            if op == websocket.ABNF.OPCODE_TEXT:
                return json.loads(frame.data)
            if op == websocket.ABNF.OPCODE_CLOSE:
                raise AssertionError(f"closed: {frame.data!r}")

    def recv_until(self, pred, timeout: float = 5.0) -> dict:
        deadline = time.monotonic() + timeout
        seen = []
        while time.monotonic() < deadline:
            m = self.recv_json()
            if pred(m):
                return m
            seen.append(m)
        raise AssertionError(f"no matching message; saw {seen!r}")

    def close(self) -> None:
        try:
            self.ws.close(timeout=1)
        except Exception:
            pass
        try:
            self.ws.shutdown()
        except Exception:
            pass


# --------------------------------------------------------------------------------------------
# 1. wss echo with Python ssl + websockets
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_wss_echo_text_binary_large_fragmented(tls_srv, pki, version):
    ctx = client_context(pki.ca_a.cert, min_version=version, max_version=version)

    async def go():
        async with ws_connect(f"wss://localhost:{tls_srv.port}/echo", ssl=ctx, max_size=None,
                              open_timeout=5, close_timeout=2) as ws:
            sslobj = ws.transport.get_extra_info("ssl_object")
            assert sslobj.version() == f"TLSv{version}"
            assert sslobj.selected_alpn_protocol() == "http/1.1"
            cert = sslobj.getpeercert()
            assert ("DNS", "localhost") in cert["subjectAltName"]

            await ws.send("hello over tls ✓")
            assert await asyncio.wait_for(ws.recv(), 5) == "hello over tls ✓"
            blob = bytes(range(256)) * 64
            await ws.send(blob)
            assert await asyncio.wait_for(ws.recv(), 5) == blob
            big = os.urandom(ONE_MIB)  # 64 TLS records each way
            await ws.send(big)
            got = await asyncio.wait_for(ws.recv(), 20)
            assert len(got) == ONE_MIB and got == big
            big_text = ("0123456789abcdef" * (ONE_MIB // 16))
            await ws.send(big_text)
            assert await asyncio.wait_for(ws.recv(), 20) == big_text
            # fragmented messages (an iterable is sent as continuation frames)
            parts = ["frag-", "ment", "ed ✓", "x" * 40000]
            await ws.send(parts)
            assert await asyncio.wait_for(ws.recv(), 5) == "".join(parts)
            bparts = [os.urandom(n) for n in (1, 17000, 3, 70000)]
            await ws.send(bparts)
            assert await asyncio.wait_for(ws.recv(), 5) == b"".join(bparts)
            # interleaved ping
            pong = await ws.ping(b"tls-ping")
            await asyncio.wait_for(pong, 5)
            await ws.close(1000)
            assert ws.close_code == 1000

    run(go(), 60)
    assert tls_srv.alive()


def test_alpn_and_versions_on_raw_tls_socket(tls_srv, pki):
    # http/1.1 offered among others is selected
    ctx = client_context(pki.ca_a.cert, alpn=("h2", "http/1.1"))
    with tls_connect(tls_srv.port, ctx) as s:
        assert s.selected_alpn_protocol() == "http/1.1"
        assert s.version() == "TLSv1.3"  # the server's maximum is TLS 1.3
    # no ALPN in common: not refused, none selected, still serves HTTP/1.1
    ctx = client_context(pki.ca_a.cert, alpn=("h2",))
    with tls_connect(tls_srv.port, ctx) as s:
        assert s.selected_alpn_protocol() is None
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        status, _, body = parse_http(recv_until_close(s, 5)[0])
        assert (status, body) == (200, b"ok")
    # no ALPN extension at all
    ctx = client_context(pki.ca_a.cert, alpn=())
    with tls_connect(tls_srv.port, ctx) as s:
        assert s.selected_alpn_protocol() is None
    # the certificate also verifies for the IP literal
    ctx = client_context(pki.ca_a.cert)
    with tls_connect(tls_srv.port, ctx, host="127.0.0.1") as s:
        assert s.version() in ("TLSv1.2", "TLSv1.3")
    # and not against an unrelated CA
    with pytest.raises(ssl.SSLCertVerificationError):
        tls_connect(tls_srv.port, client_context(pki.ca_b.cert)).close()
    status, _, body = https_get(tls_srv.port, "/healthz", pki.ca_a.cert)
    assert (status, body) == (200, b"ok")


def test_min_version_13_rejects_tls12_client(tls_factory, pki):
    srv = tls_factory(pki.leaf_a.cert, pki.leaf_a.key, "--tls-min-version", "1.3")
    ctx12 = client_context(pki.ca_a.cert, min_version="1.2", max_version="1.2")
    t0 = time.monotonic()
    with pytest.raises(ssl.SSLError) as ei:
        tls_connect(srv.port, ctx12).close()
    assert time.monotonic() - t0 < 5
    assert not isinstance(ei.value, ssl.SSLCertVerificationError), ei.value
    rejection = str(ei.value)
    # TLS 1.3 clients still connect and echo
    ctx13 = client_context(pki.ca_a.cert, min_version="1.3")
    with tls_connect(srv.port, ctx13) as s:
        assert s.version() == "TLSv1.3"

    async def go():
        async with ws_connect(f"wss://localhost:{srv.port}/echo", ssl=ctx13, open_timeout=5) as ws:
            await ws.send(b"\x00\x01")
            assert await asyncio.wait_for(ws.recv(), 5) == b"\x00\x01"
    run(go(), 15)
    assert srv.alive()
    # tls.md §1: the client gets a protocol_version alert (not a bare TCP close)
    assert "version" in rejection.lower(), f"expected a protocol_version alert, got: {rejection}"


def test_default_min_version_12_accepts_12_only_client_rsa_cert(tls_factory, pki):
    srv = tls_factory(pki.leaf_rsa.cert, pki.leaf_rsa.key)
    ctx12 = client_context(pki.ca_a.cert, min_version="1.2", max_version="1.2")
    with tls_connect(srv.port, ctx12) as s:
        assert s.version() == "TLSv1.2"
        assert s.selected_alpn_protocol() == "http/1.1"
    assert_wss_echo(srv.port, pki.ca_a.cert)


# --------------------------------------------------------------------------------------------
# 2. Official client SDK over wss
# --------------------------------------------------------------------------------------------

PROTOCOLS = [pytest.param(WebPubSubProtocolType.JSON, id="json"),
             pytest.param(WebPubSubProtocolType.JSON_RELIABLE, id="reliable")]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_client_sdk_over_wss_group_send_receive(tls_srv, ca_env, sdk_clients, protocol):
    svc = service(tls_srv.port)
    url_a = svc.get_client_access_token(user_id="alice", roles=list(ALL_ROLES))["url"]
    url_b = svc.get_client_access_token(user_id="bob", roles=list(ALL_ROLES))["url"]
    assert url_a.startswith(f"wss://localhost:{tls_srv.port}/client/hubs/{HUB}?access_token="), url_a
    pub = sdk_clients(url_a, protocol)
    sub = sdk_clients(url_b, protocol)
    g = f"tls-{protocol.value if hasattr(protocol, 'value') else protocol}-g"
    pub.client.join_group(g)
    sub.client.join_group(g)
    assert pub.client.is_connected() and sub.client.is_connected()
    pub.client.send_to_group(g, "hello tls", WebPubSubDataType.TEXT)
    pub.client.send_to_group(g, {"k": [1, 2]}, WebPubSubDataType.JSON)
    pub.client.send_to_group(g, memoryview(bytes(range(256))), WebPubSubDataType.BINARY)
    sub.wait_for(lambda: len(sub.messages(g)) >= 3, 10, "3 group messages at bob")
    got = [(m.data_type, m.data if not isinstance(m.data, (bytes, memoryview)) else bytes(m.data))
           for m in sub.messages(g)]
    assert got[0] == (WebPubSubDataType.TEXT, "hello tls")
    assert got[1] == (WebPubSubDataType.JSON, {"k": [1, 2]})
    assert got[2][0] == WebPubSubDataType.BINARY and got[2][1] == bytes(range(256))
    assert all(m.from_user_id == "alice" for m in sub.messages(g))
    # the publisher gets its own messages too (no_echo defaults to False)
    pub.wait_for(lambda: len(pub.messages(g)) >= 3, 10, "own messages at alice")
    # service -> client over https as well
    svc.send_to_user("bob", "from-service", content_type="text/plain")
    sub.wait_for(lambda: any(m.data == "from-service" for m in sub.server_messages), 10, "server message")
    assert sub.schema_errors == [] and pub.schema_errors == []
    assert sub.disconnected == [] and len(sub.connected) == 1
    if protocol == WebPubSubProtocolType.JSON_RELIABLE:
        assert sub.connected_frames()[0].get("reconnectionToken")


@pytest.mark.deadline(90)
def test_client_sdk_reliable_recovery_through_cut_tls_stream(tls_factory, pki, ca_env, sdk_clients):
    srv = tls_factory(pki.leaf_a.cert, pki.leaf_a.key)
    with TcpProxy(srv.port) as proxy:
        # the client dials the proxy; its token's aud names the proxy's port; the proxy forwards
        # raw TLS bytes, and the certificate is for localhost, so verification still holds
        sub_url = service(proxy.port).get_client_access_token(user_id="sub", roles=list(ALL_ROLES))["url"]
        assert sub_url.startswith(f"wss://localhost:{proxy.port}/")
        sub = sdk_clients(sub_url, WebPubSubProtocolType.JSON_RELIABLE)
        sub.client.join_group("g")
        first_id = sub.connection_id
        assert first_id
        pub_url = service(srv.port).get_client_access_token(user_id="pub", roles=list(ALL_ROLES))["url"]
        pub = WssRaw(pub_url, pki.ca_a.cert)
        try:
            assert pub.recv_json()["event"] == "connected"
            n, cut_at, cuts = 120, {30, 70}, 0
            for i in range(n):
                pub.send_json({"type": "sendToGroup", "group": "g", "dataType": "json", "data": {"i": i},
                               "noEcho": True})
                if i in cut_at:
                    cuts += proxy.cut()
                time.sleep(0.01)
            pub.send_json({"type": "ping"})
            assert pub.recv_until(lambda m: m.get("type") == "pong") == {"type": "pong"}
        finally:
            pub.close()
        assert cuts == 2, f"the proxy cut {cuts} connections, expected one per cut"
        sub.wait_for(lambda: len(sub.messages("g")) >= n, 40, f"{n} messages after recovery over TLS")
        time.sleep(0.3)
        got = sub.messages("g")
        seqs = [m.sequence_id for m in got]
        assert len(seqs) == len(set(seqs)) == n, f"{len(got)} messages, {len(set(seqs))} distinct"
        assert [m.data["i"] for m in sorted(got, key=lambda m: m.sequence_id)] == list(range(n))
        assert len(sub.connected) == 1, "recovery must keep the session (one CONNECTED callback)"
        assert sub.disconnected == []
        connected = sub.connected_frames()
        assert len(connected) >= 3, f"expected a connected frame per recovery, got {len(connected)}"
        assert {f["connectionId"] for f in connected} == {first_id}
        assert sub.connection_id == first_id
        assert proxy.accepted >= 3
        assert sub.schema_errors == []
    assert srv.alive()
    assert_wss_echo(srv.port, pki.ca_a.cert)


# --------------------------------------------------------------------------------------------
# 3. Official service SDK over https, /negotiate over https
# --------------------------------------------------------------------------------------------


def test_service_sdk_over_https(tls_srv, pki, ca_env):
    hub = "TlsRestHub"
    svc = service(tls_srv.port, hub)
    url = svc.get_client_access_token(user_id="rest-user", roles=list(ALL_ROLES))["url"]
    c = WssRaw(url, pki.ca_a.cert)
    try:
        hello = c.recv_json()
        assert hello["event"] == "connected"
        conn_id = hello["connectionId"]
        assert svc.connection_exists(conn_id) is True
        assert svc.user_exists("rest-user") is True
        assert svc.user_exists("nobody-here") is False
        assert svc.group_exists("tls-g") is False
        svc.add_connection_to_group("tls-g", conn_id)
        assert svc.group_exists("tls-g") is True
        svc.send_to_all("to-all", content_type="text/plain")
        m = c.recv_until(lambda m: m.get("type") == "message")
        assert (m["from"], m["dataType"], m["data"]) == ("server", "text", "to-all")
        svc.send_to_group("tls-g", {"x": 1}, content_type="application/json")
        m = c.recv_until(lambda m: m.get("type") == "message")
        assert (m["from"], m.get("group"), m["dataType"], m["data"]) == ("group", "tls-g", "json", {"x": 1})
        svc.send_to_connection(conn_id, "direct", content_type="text/plain")
        assert c.recv_until(lambda m: m.get("type") == "message")["data"] == "direct"
        svc.remove_connection_from_group("tls-g", conn_id)
        assert svc.group_exists("tls-g") is False
        svc.close_connection(conn_id, reason="bye over tls")
        deadline = time.monotonic() + 5
        while svc.connection_exists(conn_id) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert svc.connection_exists(conn_id) is False
    finally:
        c.close()


def test_service_sdk_rejects_untrusted_cert(tls_srv, monkeypatch, pki):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", pki.ca_b.cert)
    monkeypatch.setenv("SSL_CERT_FILE", pki.ca_b.cert)
    from azure.core.exceptions import ServiceRequestError
    with pytest.raises(ServiceRequestError) as ei:
        service(tls_srv.port).group_exists("x")
    assert "certificate" in str(ei.value).lower() or "ssl" in str(ei.value).lower(), ei.value


def test_negotiate_over_https_returns_wss(tls_srv, pki):
    status, headers, body = https_get(tls_srv.port, "/negotiate?userId=neg-user&group=ng", pki.ca_a.cert,
                                      headers={"x-api-key": NEGOTIATE_KEY})
    assert status == 200, body
    doc = json.loads(body)
    base = f"wss://localhost:{tls_srv.port}/client/hubs/hub"
    assert doc["baseUrl"] == base, doc
    assert doc["url"].startswith(base + "?access_token="), doc
    c = WssRaw(doc["url"], pki.ca_a.cert)
    try:
        hello = c.recv_json()
        assert hello["event"] == "connected" and hello["userId"] == "neg-user"
    finally:
        c.close()
    status, _, _ = https_get(tls_srv.port, "/negotiate?userId=u", pki.ca_a.cert, headers={"x-api-key": "wrong"})
    assert status == 401


# --------------------------------------------------------------------------------------------
# 4. Plaintext and garbage on the TLS port; --plain-port
# --------------------------------------------------------------------------------------------


def _raw(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=5)


def test_plaintext_http_on_tls_port_gets_400(tls_srv, pki):
    for req in (b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n",
                b"GET /echo HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
                [b"G", b"E", b"T /healthz HTTP/1.1\r\nHost: x\r\n\r\n"]):  # typed byte by byte
        with _raw(tls_srv.port) as s:
            for chunk in (req if isinstance(req, list) else [req]):
                s.sendall(chunk)
                time.sleep(0.2 if isinstance(req, list) else 0)
            data, how = recv_until_close(s, 5)
        assert how in ("eof", "reset"), f"connection not closed after the 400 ({how}): {data!r}"
        status, headers, body = parse_http(data)
        assert status == 400, data
        assert headers.get("connection", "").lower() == "close", headers
        assert b"TLS" in body and (b"https://" in body or b"wss://" in body), body
    assert_wss_echo(tls_srv.port, pki.ca_a.cert)


def _garbage_payloads():
    rnd = random.Random(1234)
    body = bytes(rnd.getrandbits(8) for _ in range(600))
    yield "record-header+random", b"\x16\x03\x01\x02\x00" + body[:512]
    yield "short-record", b"\x16\x03\x01\x00\x05" + body[:5]
    yield "huge-length", b"\x16\x03\x01\xff\xff" + body
    yield "bad-handshake-type", b"\x16\x03\x03\x00\x30\xee\x00\x00\x2c" + body[:44]
    yield "random-after-prefix", b"\x16\x03\x04" + body


@pytest.mark.parametrize("name,payload", list(_garbage_payloads()), ids=[n for n, _ in _garbage_payloads()])
def test_tls_garbage_closes_connection_server_survives(tls_srv, pki, name, payload):
    with _raw(tls_srv.port) as s:
        if name == "record-header+random":
            for i in range(0, len(payload), 7):  # split at many offsets
                s.sendall(payload[i:i + 7])
        else:
            s.sendall(payload)
        if name == "huge-length":
            # an incomplete record keeps the server waiting: the handshake timeout ends it at the latest
            data, how = recv_until_close(s, 14)
        else:
            data, how = recv_until_close(s, 5)
    assert how in ("eof", "reset"), f"{name}: connection not closed ({how}), got {data[:100]!r}"
    assert not data.startswith(b"HTTP/"), f"{name}: TLS-looking garbage must not get the plaintext 400: {data!r}"
    if data:
        assert data[0] == 0x15, f"{name}: only a TLS alert may be sent back, got {data[:20]!r}"
    assert tls_srv.alive()
    assert_wss_echo(tls_srv.port, pki.ca_a.cert)


@pytest.mark.parametrize("splits", [[1], [2], [1, 1], [3], [5, 1]], ids=lambda s: "-".join(map(str, s)))
def test_client_hello_split_into_tiny_segments_still_handshakes(tls_srv, pki, splits):
    """tls.md §5/§6: input split at any offset is fine; the first bytes of a TLS ClientHello may
    arrive in separate TCP segments and must never be mistaken for plaintext HTTP."""
    ctx = client_context(pki.ca_a.cert)
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="localhost")
    with _raw(tls_srv.port) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with pytest.raises(ssl.SSLWantReadError):
            obj.do_handshake()
        hello, pos = out.read(), 0
        for n in splits:
            s.sendall(hello[pos:pos + n])
            pos += n
            time.sleep(0.2)  # separate reads on the server
        s.sendall(hello[pos:])
        deadline = time.monotonic() + 5
        while True:
            try:
                obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                pending = out.read()
                if pending:
                    s.sendall(pending)
                assert time.monotonic() < deadline, "handshake did not complete within 5 s"
                chunk = s.recv(65536)
                assert not chunk.startswith(b"HTTP/"), \
                    f"ClientHello split {splits} was answered as plaintext HTTP: {chunk[:60]!r}"
                assert chunk, f"server closed during the handshake (split {splits})"
                inc.write(chunk)
        s.sendall(out.read())
        assert obj.selected_alpn_protocol() == "http/1.1"
        obj.write(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        s.sendall(out.read())
        data = b""
        while b"\r\n\r\nok" not in data and time.monotonic() < deadline:
            chunk = s.recv(65536)
            if not chunk:
                break
            inc.write(chunk)
            try:
                while True:
                    piece = obj.read(65536)
                    if not piece:
                        break
                    data += piece
            except (ssl.SSLWantReadError, ssl.SSLZeroReturnError):
                pass
        assert parse_http(data)[0] == 200, data


def test_plain_port_serves_beside_tls(tls_factory, pki):
    srv = tls_factory(pki.leaf_a.cert, pki.leaf_a.key, "--plain-port", "0")
    assert srv.plain_port and srv.plain_port != srv.port
    resp = wire.http_get(srv.plain_port, "/healthz", timeout=5)
    assert (resp.status, resp.body) == (200, b"ok")
    status, _, body = https_get(srv.port, "/healthz", pki.ca_a.cert)
    assert (status, body) == (200, b"ok")

    async def go():
        ctx = client_context(pki.ca_a.cert)
        async with ws_connect(f"wss://localhost:{srv.port}/echo", ssl=ctx, open_timeout=5) as tls_ws, \
                ws_connect(f"ws://127.0.0.1:{srv.plain_port}/echo", open_timeout=5, max_size=None) as plain_ws:
            for i in range(20):
                await tls_ws.send(f"tls-{i}")
                await plain_ws.send(f"plain-{i}")
                assert await asyncio.wait_for(tls_ws.recv(), 5) == f"tls-{i}"
                assert await asyncio.wait_for(plain_ws.recv(), 5) == f"plain-{i}"
            big = os.urandom(ONE_MIB)
            await plain_ws.send(big)
            assert await asyncio.wait_for(plain_ws.recv(), 20) == big
    run(go(), 40)
    with wire.RawWebSocket.connect(srv.plain_port) as ws:
        ws.echo(wire.OP_TEXT, b"raw plain echo")
    # TLS on the plaintext port is not spoken
    with pytest.raises((ssl.SSLError, ConnectionError, socket.timeout, OSError)):
        tls_connect(srv.plain_port, client_context(pki.ca_a.cert), timeout=3).close()
    # and plaintext on the TLS port still gets the 400
    with _raw(srv.port) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        status, _, _ = parse_http(recv_until_close(s, 5)[0])
    assert status == 400
    assert srv.alive()


# --------------------------------------------------------------------------------------------
# 5. SIGHUP certificate reload
# --------------------------------------------------------------------------------------------


def _reload_server(tls_factory, pki, *extra) -> tuple[TlsServer, str, str]:
    d = tempfile.mkdtemp(prefix="wps-tls-live-")
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    install(pki.leaf_a, cert, key)
    srv = tls_factory(cert, key, *extra)
    srv.extra_dirs = [d]
    return srv, cert, key


async def _expect_verifies(port: int, cafile: str, timeout: float = 5.0) -> None:
    """A new connection verifying against `cafile` succeeds (retried briefly: SIGHUP is async)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            async with ws_connect(f"wss://localhost:{port}/echo", ssl=client_context(cafile), open_timeout=5) as ws:
                await ws.send("new-conn")
                assert await asyncio.wait_for(ws.recv(), 5) == "new-conn"
                return
        except ssl.SSLCertVerificationError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


@pytest.mark.deadline(90)
def test_sighup_swaps_certificate_live_connections_survive(tls_factory, pki):
    srv, cert, key = _reload_server(tls_factory, pki)
    n = 100

    async def go():
        ctx_a = client_context(pki.ca_a.cert)
        conns = await asyncio.gather(*[ws_connect(f"wss://localhost:{srv.port}/echo", ssl=ctx_a, open_timeout=15)
                                       for _ in range(n)])
        try:
            for i, ws in enumerate(conns):
                await ws.send(f"before-{i}")
            for i, ws in enumerate(conns):
                assert await asyncio.wait_for(ws.recv(), 10) == f"before-{i}"
            install(pki.leaf_b, cert, key)
            srv.sighup()
            await _expect_verifies(srv.port, pki.ca_b.cert, 5)
            # all 100 old connections are still up and still use certificate A
            for i, ws in enumerate(conns):
                await ws.send(f"after-{i}")
            for i, ws in enumerate(conns):
                assert await asyncio.wait_for(ws.recv(), 10) == f"after-{i}", f"connection {i}"
                issuer = dict(x[0] for x in ws.transport.get_extra_info("ssl_object").getpeercert()["issuer"])
                assert issuer["commonName"] == "wps test caA"
            # a new connection no longer verifies against CA A
            with pytest.raises(ssl.SSLCertVerificationError):
                async with ws_connect(f"wss://localhost:{srv.port}/echo", ssl=ctx_a, open_timeout=5):
                    pass
            assert all(ws.close_code is None for ws in conns), "a live connection was dropped by the reload"
        finally:
            await asyncio.gather(*[ws.close() for ws in conns], return_exceptions=True)

    run(go(), 75)
    # https too: the new certificate
    with pytest.raises(ssl.SSLCertVerificationError):
        https_get(srv.port, "/healthz", pki.ca_a.cert)
    assert https_get(srv.port, "/healthz", pki.ca_b.cert)[0] == 200
    assert srv.alive()


def test_failed_sighup_reload_keeps_old_certificate(tls_factory, pki):
    srv, cert, key = _reload_server(tls_factory, pki)
    assert_wss_echo(srv.port, pki.ca_a.cert)
    # mismatched key: new cert B with the old key A
    shutil.copyfile(pki.leaf_b.cert, cert)
    srv.sighup()
    time.sleep(1.0)
    assert srv.alive()
    assert_wss_echo(srv.port, pki.ca_a.cert)
    # missing files
    os.unlink(cert)
    srv.sighup()
    time.sleep(1.0)
    assert srv.alive()
    assert_wss_echo(srv.port, pki.ca_a.cert)
    with pytest.raises(ssl.SSLCertVerificationError):
        tls_connect(srv.port, client_context(pki.ca_b.cert)).close()
    log = srv.stderr_tail(200_000) + "".join(srv.stdout_lines)
    assert re.search(r"(?i)reload", log), f"a failed reload must be logged; log tail: {log[-1500:]}"
    # a good reload afterwards works
    install(pki.leaf_b, cert, key)
    srv.sighup()
    run(_expect_verifies(srv.port, pki.ca_b.cert, 5), 15)


# --------------------------------------------------------------------------------------------
# 6. Start-up errors
# --------------------------------------------------------------------------------------------


def _assert_one_tls_error_line(res, *must_mention: str) -> str:
    assert res.returncode is not None, f"server still running after 5 s; stdout={res.stdout!r} stderr={res.stderr!r}"
    assert res.returncode == 1, f"exit status {res.returncode}, expected 1; stderr={res.stderr!r}"
    assert res.elapsed < 5
    lines = [l for l in res.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, f"expected exactly one stderr line, got {lines!r}"
    assert lines[0].startswith("wps-server: TLS:"), lines[0]
    for s in must_mention:
        assert s in lines[0], f"{s!r} not named in {lines[0]!r}"
    assert "listening on" not in res.stdout
    return lines[0]


def test_startup_missing_cert_file(pki):
    missing = os.path.join(pki.root, "no-such-cert.pem")
    res = run_until_exit(["--tls-cert", missing, "--tls-key", pki.leaf_a.key])
    _assert_one_tls_error_line(res, missing)


def test_startup_missing_key_file(pki):
    missing = os.path.join(pki.root, "no-such-key.pem")
    res = run_until_exit(["--tls-cert", pki.leaf_a.cert, "--tls-key", missing])
    _assert_one_tls_error_line(res, missing)


def test_startup_key_does_not_match_cert(pki):
    other = pki.lone_key("mismatch")
    res = run_until_exit(["--tls-cert", pki.leaf_a.cert, "--tls-key", other])
    _assert_one_tls_error_line(res, pki.leaf_a.cert, other)


def test_startup_not_pem(pki):
    junk = os.path.join(pki.root, "junk.pem")
    with open(junk, "w") as f:
        f.write("this is not a certificate\n")
    res = run_until_exit(["--tls-cert", junk, "--tls-key", pki.leaf_a.key])
    _assert_one_tls_error_line(res, junk)


# --------------------------------------------------------------------------------------------
# 7. Handshake burst
# --------------------------------------------------------------------------------------------


@pytest.mark.deadline(90)
def test_handshake_burst_with_small_per_turn_budget(tls_factory, pki):
    # RSA 2048 makes each server handshake step costly; 2 loops, 4 handshake steps per turn
    srv = tls_factory(pki.leaf_rsa.cert, pki.leaf_rsa.key, "--tls-handshakes-per-turn", "4")
    n = 200

    # an established connection echoes from its own thread (independent of the client's asyncio load)
    live = websocket.WebSocket(sslopt={"ca_certs": pki.ca_a.cert, "cert_reqs": ssl.CERT_REQUIRED})
    live.connect(f"wss://localhost:{srv.port}/echo", timeout=5, suppress_origin=True)
    stop = threading.Event()
    samples: list[tuple[float, float]] = []   # (completion time, latency)
    live_errors: list[BaseException] = []

    def pinger():
        k = 0
        try:
            while not stop.is_set():
                t0 = time.monotonic()
                live.send(f"live-{k}")
                assert live.recv() == f"live-{k}"
                samples.append((time.monotonic(), time.monotonic() - t0))
                k += 1
                time.sleep(0.005)
        except BaseException as e:  # noqa: BLE001 - reported below
            live_errors.append(e)

    async def one(ctx):
        reader, writer = await asyncio.open_connection("127.0.0.1", srv.port, ssl=ctx, server_hostname="localhost",
                                                       ssl_handshake_timeout=30)
        try:
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            await writer.drain()
            data = await asyncio.wait_for(reader.read(), 30)
            return parse_http(data)[0]
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except (ssl.SSLError, ConnectionError):
                pass

    async def burst():
        ctx = client_context(pki.ca_a.cert, max_version="1.2")  # TLS 1.2: two round trips each
        return await asyncio.gather(*[one(ctx) for _ in range(n)], return_exceptions=True)

    t = threading.Thread(target=pinger, daemon=True)
    t.start()
    try:
        time.sleep(0.1)
        t0 = time.monotonic()
        results = run(burst(), 60)
        t1 = time.monotonic()
    finally:
        stop.set()
        t.join(15)
        try:
            live.close(timeout=1)
        except Exception:
            pass
    errors = [r for r in results if not isinstance(r, int)]
    assert not errors, f"{len(errors)} of {n} TLS handshakes failed, e.g. {errors[:3]!r}"
    assert results == [200] * n
    assert not live_errors, f"the live connection failed during the burst: {live_errors[0]!r}"
    during = [lat for (when, lat) in samples if t0 <= when <= t1]
    worst = max((lat for _, lat in samples), default=0.0)
    print(f"burst of {n} handshakes in {t1 - t0:.2f}s; {len(during)} live echoes during it, "
          f"worst latency {worst * 1000:.0f} ms")
    assert len(during) >= 1 or t1 - t0 < 0.2, "the live connection echoed nothing during the burst"
    assert worst < 2.0, f"live echo stalled {worst:.2f}s during the burst"
    assert srv.alive()
    assert_wss_echo(srv.port, pki.ca_a.cert)


# --------------------------------------------------------------------------------------------
# Extra: handshake timeout, broadcast over TLS
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stage", ["silent", "partial-hello", "no-http-head"])
def test_handshake_timeout_covers_tls_and_request_head(tls_factory, pki, stage):
    srv = tls_factory(pki.leaf_a.cert, pki.leaf_a.key, "--handshake-timeout", "1")
    t0 = time.monotonic()
    if stage == "no-http-head":
        s = tls_connect(srv.port, client_context(pki.ca_a.cert))
    else:
        s = _raw(srv.port)
        if stage == "partial-hello":
            s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01")
    with s:
        data, how = recv_until_close(s, 6)
    elapsed = time.monotonic() - t0
    assert how in ("eof", "reset") or how.startswith("ssl:"), f"{stage}: not closed ({how})"
    assert 0.5 <= elapsed < 4, f"{stage}: closed after {elapsed:.2f}s with --handshake-timeout 1"
    assert not data.startswith(b"HTTP/"), data
    assert_wss_echo(srv.port, pki.ca_a.cert)


def test_broadcast_to_many_tls_clients(tls_srv, pki, ca_env):
    hub = "TlsFanout"
    svc = service(tls_srv.port, hub)
    n = 60
    payload = "fan-out over tls " + "x" * 100_000

    async def go():
        ctx = client_context(pki.ca_a.cert)
        urls = [svc.get_client_access_token(user_id=f"u{i}")["url"] for i in range(n)]
        conns = await asyncio.gather(*[ws_connect(u, ssl=ctx, subprotocols=[JSON_PROTOCOL], open_timeout=10,
                                                  max_size=None) for u in urls])
        try:
            for ws in conns:
                assert json.loads(await asyncio.wait_for(ws.recv(), 5))["event"] == "connected"
            await asyncio.to_thread(svc.send_to_all, payload, content_type="text/plain")
            for i, ws in enumerate(conns):
                msg = json.loads(await asyncio.wait_for(ws.recv(), 10))
                assert (msg["type"], msg["from"], msg["data"]) == ("message", "server", payload), f"client {i}"
        finally:
            await asyncio.gather(*[ws.close() for ws in conns], return_exceptions=True)

    run(go(), 60)


def test_slow_tls_reader_gets_every_small_message_in_order(tls_srv, pki, ca_env):
    """Many small frames to a client that stops reading: they are batched into records and
    the ciphertext the kernel does not take at once is queued; after the reader resumes
    every message arrives, whole and in order."""
    hub = "TlsSlowReader"
    svc = service(tls_srv.port, hub)
    # About 12 MB: more than loopback's socket buffers hold, so the server must queue
    # ciphertext (partial writes included), and less than its 16 MiB slow-consumer limit.
    count, size = 30000, 400

    async def go():
        ctx = client_context(pki.ca_a.cert)
        reader_url = svc.get_client_access_token(user_id="reader", groups=["g"])["url"]
        writer_url = svc.get_client_access_token(
            user_id="writer", roles=["webpubsub.sendToGroup.g"])["url"]
        reader = await ws_connect(reader_url, ssl=ctx, subprotocols=[JSON_PROTOCOL], open_timeout=10,
                                  max_size=None, max_queue=4)
        writer = await ws_connect(writer_url, ssl=ctx, subprotocols=[JSON_PROTOCOL], open_timeout=10)
        try:
            await flood_then_drain(reader, writer, count, size, pad="y")
        finally:
            await asyncio.gather(reader.close(), writer.close(), return_exceptions=True)

    run(go(), 90)
    assert tls_srv.alive()
