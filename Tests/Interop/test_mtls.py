"""Mutual TLS: --tls-client-ca asks clients for a certificate, verifies it, and hands it to
the connect event handler as Azure does (tls.md, upstream.md §5)."""

from __future__ import annotations

import hashlib
import shutil
import ssl
import tempfile

import pytest
import websocket

from sdkenv import JSON_PROTOCOL, client_url
from tlsenv import ACCESS_KEY, Pki, TlsServer
from upstreamenv import event_handlers  # noqa: F401


@pytest.fixture(scope="module")
def pki():
    root = tempfile.mkdtemp(prefix="wps-mtls-pki-")
    p = Pki(root)
    p.server_ca = p.ca("serverCA")
    p.server = p.leaf(p.server_ca, "server")
    p.client_ca = p.ca("clientCA")
    p.client = p.leaf(p.client_ca, "alice", dns=("alice",), ips=(), usage="clientAuth")
    p.stranger_ca = p.ca("strangerCA")
    p.stranger = p.leaf(p.stranger_ca, "mallory", dns=("mallory",), ips=(), usage="clientAuth")
    yield p
    shutil.rmtree(root, ignore_errors=True)


def wss_url(port: int, **kw) -> str:
    return client_url(port, key=ACCESS_KEY, **kw).replace("http://", "ws://").replace("ws://", "wss://")


def connect(port: int, pki, cert=None):
    sslopt = {"ca_certs": pki.server_ca.cert, "cert_reqs": ssl.CERT_REQUIRED}
    if cert is not None:
        sslopt.update(certfile=cert.cert, keyfile=cert.key)
    ws = websocket.WebSocket(sslopt=sslopt)
    ws.connect(wss_url(port, user_id="alice"), subprotocols=[JSON_PROTOCOL], timeout=5, suppress_origin=True)
    return ws


def der_sha1(pem_path: str) -> str:
    with open(pem_path) as f:
        der = ssl.PEM_cert_to_DER_cert(f.read())
    return hashlib.sha1(der).hexdigest().upper()


def test_connect_handler_sees_the_client_certificate(pki, event_handlers):
    handler = event_handlers(access_keys=[ACCESS_KEY])
    srv = TlsServer(pki.server.cert, pki.server.key, "--tls-client-ca", pki.client_ca.cert,
                    "--event-handler", handler.url_template("/{event}"))
    try:
        ws = connect(srv.port, pki, pki.client)
        assert '"connected"' in ws.recv()
        [connect_event] = handler.wait_for(lambda e: e.event_name == "connect")
        [certificate] = connect_event.json()["clientCertificates"]
        assert certificate["thumbprint"] == der_sha1(pki.client.cert)
        with open(pki.client.cert) as f:
            assert ssl.PEM_cert_to_DER_cert(certificate["content"]) == ssl.PEM_cert_to_DER_cert(f.read())
        ws.close()
        # optional by default: without a certificate the client connects, the list is empty
        ws = connect(srv.port, pki)
        assert '"connected"' in ws.recv()
        events = handler.wait_for(lambda e: e.event_name == "connect", count=2)
        assert events[-1].json()["clientCertificates"] == []
        ws.close()
    finally:
        srv.stop()


def test_untrusted_client_certificate_fails_the_handshake(pki):
    srv = TlsServer(pki.server.cert, pki.server.key, "--tls-client-ca", pki.client_ca.cert)
    try:
        with pytest.raises((ssl.SSLError, ConnectionError, websocket.WebSocketException, OSError)):
            ws = connect(srv.port, pki, pki.stranger)
            ws.recv()  # TLS 1.3 reports the refusal on the first read
        ws = connect(srv.port, pki, pki.client)
        assert '"connected"' in ws.recv()
        ws.close()
    finally:
        srv.stop()


def test_required_client_certificate(pki):
    srv = TlsServer(pki.server.cert, pki.server.key, "--tls-client-ca", pki.client_ca.cert,
                    "--tls-require-client-cert")
    try:
        with pytest.raises((ssl.SSLError, ConnectionError, websocket.WebSocketException, OSError)):
            ws = connect(srv.port, pki)
            ws.recv()
        ws = connect(srv.port, pki, pki.client)
        assert '"connected"' in ws.recv()
        ws.close()
    finally:
        srv.stop()
