"""Upstream event handlers against a real CloudEvents handler (protocol-spec/upstream.md).

The handler is an HTTP server parsing binary-mode CloudEvents with the `cloudevents` package;
clients are the official Python client SDK and raw WebSocket clients.
"""

from __future__ import annotations

import base64
import json
import threading
import time

import pytest
from azure.messaging.webpubsubclient.models import SendMessageError, WebPubSubDataType, WebPubSubProtocolType

from sdkenv import (ACCESS_KEY, ALL_ROLES, HUB, JSON_PROTOCOL, RELIABLE_PROTOCOL, RawClient, assert_serving,
                    client_url, handshake_status, raw_clients, sdk_clients, service_client, wps_factory)  # noqa: F401
from upstreamenv import Reply, connect_response, event_handlers  # noqa: F401

HUB_LOWER = HUB.lower()


def start_with_handler(wps_factory, handler, *flags, path="/upstream/{hub}/{event}", threads=2):
    return wps_factory("--event-handler", handler.url_template(path), *flags, threads=threads)


def user_events(handler):
    return [e for e in handler.events if not e.is_system]


# ---- connect / connected / disconnected ------------------------------------------------------


def test_connect_accepts_and_system_events_carry_every_header(wps_factory, event_handlers, sdk_clients):
    handler = event_handlers(access_keys=[ACCESS_KEY])
    srv = start_with_handler(wps_factory, handler)
    client = sdk_clients(client_url(srv.port, user_id="alice", roles=ALL_ROLES), WebPubSubProtocolType.JSON)
    client.wait_for(lambda: client.connected, what="connected")
    cid = client.connected[0].connection_id
    [connect] = handler.wait_for(lambda e: e.event_name == "connect")
    [connected] = handler.wait_for(lambda e: e.event_name == "connected")
    for event, ce_type in ((connect, "azure.webpubsub.sys.connect"), (connected, "azure.webpubsub.sys.connected")):
        assert event.type == ce_type
        assert event.ce is not None, event.parse_error
        assert event.signature_ok, event.signature
        assert event.hub == HUB_LOWER
        assert event.connection_id == cid
        assert event.user_id == "alice"
        assert event.subprotocol == JSON_PROTOCOL
        assert event.headers["ce-awpsversion"] == "1.0"
        assert event.headers["ce-specversion"] == "1.0"
        assert event.headers["WebHook-Request-Origin"] == "127.0.0.1"
        assert event.headers["ce-source"] == f"/hubs/{HUB_LOWER}/client/{cid}"
        assert event.path == f"/upstream/{HUB_LOWER}/{event.event_name}"
        assert event.content_type.startswith("application/json")
    body = connect.json()
    assert body["claims"]["sub"] == ["alice"]
    assert "access_token" in body["query"] and body["query"] == body["queries"]
    assert JSON_PROTOCOL in body["subprotocols"]
    assert any(name.lower() == "sec-websocket-protocol" for name in body["headers"])
    assert body["clientCertificates"] == []
    assert connected.json() == {}
    # the preflight came first, once, with the origin and version headers
    [preflight] = handler.preflights
    assert preflight.path == f"/upstream/{HUB_LOWER}/validate"
    assert preflight.headers["WebHook-Request-Origin"] == "127.0.0.1"
    assert preflight.headers["ce-awpsversion"] == "1.0"
    client.close()
    [disconnected] = handler.wait_for(lambda e: e.event_name == "disconnected")
    assert disconnected.connection_id == cid and "reason" in disconnected.json()
    time.sleep(0.5)
    assert len(handler.events_of("disconnected")) == 1


@pytest.mark.parametrize("status,reason", [(401, "who are you"), (403, "not you")])
def test_connect_rejected_with_handler_status_and_reason(wps_factory, event_handlers, status, reason):
    handler = event_handlers(access_keys=[ACCESS_KEY])
    handler.on_event = lambda e: Reply.error(status, reason) if e.event_name == "connect" else None
    srv = start_with_handler(wps_factory, handler)
    got, body = handshake_status(client_url(srv.port, user_id="mallory"))
    assert got == status
    assert reason.encode() in body
    time.sleep(0.3)
    assert handler.events_of("connected") == [] and handler.events_of("disconnected") == []


def test_connect_answer_reshapes_user_groups_and_roles(wps_factory, event_handlers, raw_clients):
    handler = event_handlers(access_keys=[ACCESS_KEY])
    handler.on_event = lambda e: (connect_response(user_id="bob", groups=["room"], roles=["webpubsub.sendToGroup.room"])
                                  if e.event_name == "connect" else None)
    srv = start_with_handler(wps_factory, handler)
    c = raw_clients(client_url(srv.port, user_id="alice"))
    hello = c.recv_json()
    assert hello["event"] == "connected" and hello["userId"] == "bob"
    # joined "room" at connect, may send there, may not join elsewhere
    c.send_json({"type": "sendToGroup", "group": "room", "dataType": "text", "data": "hi", "ackId": 1})
    msg, before = c.recv_until(lambda m: m.get("type") == "message")
    assert msg["group"] == "room" and msg["fromUserId"] == "bob"
    assert [m.get("success") for m in before if m.get("type") == "ack" and m["ackId"] == 1] == [True]
    c.send_json({"type": "joinGroup", "group": "other", "ackId": 2})
    assert c.ack(2)["error"]["name"] == "Forbidden"
    [connected] = handler.wait_for(lambda e: e.event_name == "connected")
    assert connected.user_id == "bob"


def test_connect_handler_failure_refuses_with_500(wps_factory, event_handlers):
    handler = event_handlers(access_keys=[ACCESS_KEY])
    handler.on_event = lambda e: Reply.error(503, "down") if e.event_name == "connect" else None
    srv = start_with_handler(wps_factory, handler)
    got, _ = handshake_status(client_url(srv.port, user_id="u"))
    assert got == 500
    assert_serving_with_handler(srv, handler)


def assert_serving_with_handler(srv, handler):
    handler.on_event = lambda e: None
    assert srv.alive(), srv.stderr_tail()
    with RawClient.open(client_url(srv.port, user_id="probe"), JSON_PROTOCOL) as c:
        assert c.recv_json()["event"] == "connected"


# ---- user events -------------------------------------------------------------------------------


@pytest.mark.parametrize("data_type,content,wire_type,body", [
    (WebPubSubDataType.TEXT, "hello", "text/plain", b"hello"),
    (WebPubSubDataType.JSON, {"a": [1, 2]}, "application/json", None),
    (WebPubSubDataType.BINARY, memoryview(b"\x00\x01\xfe"), "application/octet-stream", b"\x00\x01\xfe"),
])
def test_send_event_reaches_handler_and_reply_comes_before_ack(
        wps_factory, event_handlers, sdk_clients, data_type, content, wire_type, body):
    handler = event_handlers(access_keys=[ACCESS_KEY])
    handler.on_event = lambda e: Reply.text("got it") if e.event_name == "submit" else None
    srv = start_with_handler(wps_factory, handler)
    client = sdk_clients(client_url(srv.port, user_id="alice"))
    client.client.send_event("submit", content, data_type)  # raises unless the ack succeeds
    [event] = handler.wait_for(lambda e: e.event_name == "submit")
    assert event.type == "azure.webpubsub.user.submit"
    assert event.content_type.split(";")[0] == wire_type
    assert event.signature_ok
    if body is None:
        assert json.loads(event.body) == content
    else:
        assert event.body == body
    client.wait_for(lambda: client.server_messages, what="the handler's reply")
    [reply] = client.server_messages
    assert reply.data_type == WebPubSubDataType.TEXT and reply.data == "got it"
    frames = [f for f in client.frames if f.get("type") in ("message", "ack")]
    assert [f["type"] for f in frames] == ["message", "ack"], frames
    assert frames[0]["from"] == "server" and "sequenceId" in frames[0]


def test_handler_error_gives_error_ack_and_connection_stays(wps_factory, event_handlers, raw_clients):
    handler = event_handlers(access_keys=[ACCESS_KEY])
    handler.on_event = lambda e: Reply.error(500, "boom") if e.event_name == "fail" else None
    srv = start_with_handler(wps_factory, handler)
    c = raw_clients(client_url(srv.port, user_id="alice"))
    c.recv_json()
    c.send_json({"type": "event", "event": "fail", "dataType": "text", "data": "x", "ackId": 7})
    ack = c.ack(7)
    assert ack["success"] is False and ack["error"]["name"] == "InternalServerError"
    assert "500" in ack["error"]["message"]
    c.send_json({"type": "event", "event": "ok", "dataType": "text", "data": "x", "ackId": 8})
    assert c.ack(8)["success"] is True


def test_dead_handler_gives_clean_error_acks(wps_factory, event_handlers, raw_clients):
    handler = event_handlers(access_keys=[ACCESS_KEY])
    srv = start_with_handler(wps_factory, handler)
    c = raw_clients(client_url(srv.port, user_id="alice"))
    c.recv_json()
    c.send_json({"type": "event", "event": "e", "dataType": "text", "data": "x", "ackId": 1})
    assert c.ack(1)["success"] is True
    handler.stop()
    for ack_id in (2, 3):
        c.send_json({"type": "event", "event": "e", "dataType": "text", "data": "x", "ackId": ack_id})
        ack = c.ack(ack_id, timeout=10)
        assert ack["success"] is False and ack["error"]["name"] == "InternalServerError", ack
    assert srv.alive()
    c.send_json({"type": "ping"})
    c.recv_until(lambda m: m.get("type") == "pong")


def test_no_handler_for_event_keeps_not_found(wps_factory, event_handlers, raw_clients):
    handler = event_handlers(access_keys=[ACCESS_KEY])
    srv = wps_factory("--event-handler", handler.url_template("/{event}"))
    srv2 = wps_factory()
    c = raw_clients(client_url(srv2.port, user_id="alice"))
    c.recv_json()
    c.send_json({"type": "event", "event": "e", "dataType": "text", "data": "x", "ackId": 1})
    assert c.ack(1)["error"]["name"] == "NotFound"
    assert srv.alive()


def test_events_from_one_connection_arrive_in_order(wps_factory, event_handlers, raw_clients):
    handler = event_handlers(access_keys=[ACCESS_KEY])
    srv = start_with_handler(wps_factory, handler)
    c = raw_clients(client_url(srv.port, user_id="alice"))
    c.recv_json()
    count = 1000
    for i in range(1, count + 1):
        c.send_json({"type": "event", "event": "seq", "dataType": "text", "data": str(i), "ackId": i})
    acks = []
    while len(acks) < count:
        m = c.recv_json(timeout=20)
        if m.get("type") == "ack":
            acks.append(m)
    assert [a["ackId"] for a in acks] == list(range(1, count + 1))
    assert all(a["success"] for a in acks)
    got = [int(e.body) for e in handler.events_of("seq")]
    assert got == list(range(1, count + 1))


def test_slow_handler_holds_only_its_connection(wps_factory, event_handlers, raw_clients):
    handler = event_handlers(access_keys=[ACCESS_KEY])
    handler.on_event = lambda e: Reply(delay=3.0) if e.event_name == "slow" else None
    srv = start_with_handler(wps_factory, handler, threads=1)
    slow = raw_clients(client_url(srv.port, user_id="slow", roles=ALL_ROLES))
    fast = raw_clients(client_url(srv.port, user_id="fast", roles=ALL_ROLES))
    slow.recv_json()
    fast.recv_json()
    slow.send_json({"type": "event", "event": "slow", "dataType": "text", "data": "x", "ackId": 1})
    slow.send_json({"type": "joinGroup", "group": "g", "ackId": 2})  # waits behind the event
    start = time.monotonic()
    for i in range(10, 15):
        fast.send_json({"type": "event", "event": "quick", "dataType": "text", "data": "x", "ackId": i})
        assert fast.ack(i)["success"] is True
    assert time.monotonic() - start < 2.0
    acks = [slow.ack(1, timeout=10), slow.ack(2, timeout=10)]
    assert all(a["success"] for a in acks)
    ordered = [m["ackId"] for m in slow.received if m.get("type") == "ack"]
    assert ordered == [1, 2]


def test_connection_state_round_trip(wps_factory, event_handlers, raw_clients):
    handler = event_handlers(access_keys=[ACCESS_KEY])

    def on_event(e):
        if e.event_name == "connect":
            return Reply(status=204, headers={"ce-connectionState": "step-1"})
        if e.event_name == "advance":
            return Reply(status=204, headers={"ce-connectionState": "step-2"})
        return None

    handler.on_event = on_event
    srv = start_with_handler(wps_factory, handler)
    c = raw_clients(client_url(srv.port, user_id="alice"))
    c.recv_json()
    [connected] = handler.wait_for(lambda e: e.event_name == "connected")
    assert connected.connection_state == "step-1"
    c.send_json({"type": "event", "event": "advance", "dataType": "text", "data": "x", "ackId": 1})
    c.ack(1)
    c.send_json({"type": "event", "event": "look", "dataType": "text", "data": "x", "ackId": 2})
    c.ack(2)
    [look] = handler.wait_for(lambda e: e.event_name == "look")
    assert look.connection_state == "step-2"


def test_raw_send_event_client(wps_factory, event_handlers):
    handler = event_handlers(access_keys=[ACCESS_KEY])
    handler.on_event = lambda e: (Reply.text("echo:" + e.text()) if e.event_name == "message" and e.content_type.startswith("text")
                                  else Reply.binary(e.body[::-1]) if e.event_name == "message" else None)
    srv = start_with_handler(wps_factory, handler)
    with RawClient.open(client_url(srv.port, user_id="dev"), None) as c:
        c.send_text("hello")
        op, data = c.recv_frame()
        assert data == b"echo:hello"
        c.send_binary(b"\x01\x02\x03")
        op, data = c.recv_frame()
        assert data == b"\x03\x02\x01"
    events = handler.events_of("message")
    assert [e.type for e in events] == ["azure.webpubsub.user.message"] * 2
    assert events[0].subprotocol is None and events[0].body == b"hello"
    assert events[1].content_type == "application/octet-stream"


@pytest.mark.parametrize("policy", [None, 401, "https://elsewhere.example"])
def test_abuse_protection_failure_blocks_the_handler(wps_factory, event_handlers, policy):
    handler = event_handlers(access_keys=[ACCESS_KEY], allowed_origin=policy)
    srv = start_with_handler(wps_factory, handler)
    status, body = handshake_status(client_url(srv.port, user_id="alice"), timeout=20)
    assert status == 500 and b"abuse protection" in body
    assert handler.events == []
    assert len(handler.preflights) >= 2  # retried before giving up
    time.sleep(0.3)
    # Logged once (the refused upgrade's own line quotes the reason the client got).
    lines = srv.stderr_tail(20000).splitlines()
    assert sum("abuse protection" in l and "event=connection.refused" not in l for l in lines) == 1, lines


def test_abuse_protection_echoed_origin_is_accepted(wps_factory, event_handlers, raw_clients):
    handler = event_handlers(access_keys=[ACCESS_KEY], allowed_origin="echo")
    srv = start_with_handler(wps_factory, handler, "--webhook-request-origin", "wps.example.com")
    c = raw_clients(client_url(srv.port, user_id="alice"))
    assert c.recv_json()["event"] == "connected"
    [connect] = handler.events_of("connect")
    assert connect.headers["WebHook-Request-Origin"] == "wps.example.com"


def test_waiting_messages_limit_at_its_edge(wps_factory, event_handlers, raw_clients):
    handler = event_handlers(access_keys=[ACCESS_KEY])
    release = threading.Event()
    handler.on_event = lambda e: (release.wait(10) and None) if e.event_name == "hold" else None
    srv = start_with_handler(wps_factory, handler, "--max-waiting-messages", "3")
    c = raw_clients(client_url(srv.port, user_id="alice", roles=ALL_ROLES))
    c.recv_json()
    c.send_json({"type": "event", "event": "hold", "dataType": "text", "data": "x", "ackId": 1})
    handler.wait_for(lambda e: e.event_name == "hold")
    for ack_id in (2, 3, 4):  # exactly the limit waits
        c.send_json({"type": "joinGroup", "group": "g", "ackId": ack_id})
    c.send_json({"type": "joinGroup", "group": "g", "ackId": 5})  # one over: refused at once
    refused = c.ack(5)
    assert refused["success"] is False and refused["error"]["name"] == "InternalServerError"
    assert "waiting for the event handler" in refused["error"]["message"]
    release.set()
    acks = [c.ack(i, timeout=10) for i in (1, 2, 3, 4)]
    assert [a["success"] for a in acks] == [True] * 4
    # one over without an ackId closes the connection with a reason
    release.clear()
    c.send_json({"type": "event", "event": "hold", "dataType": "text", "data": "x", "ackId": 6})
    handler.wait_for(lambda e: e.event_name == "hold", count=2)
    for _ in range(4):
        c.send_json({"type": "joinGroup", "group": "g"})
    closed, frames = c.expect_close(timeout=10)
    release.set()
    assert closed.code == 1008
    assert any(f.get("event") == "disconnected" and "waiting" in f.get("message", "") for f in frames)


def test_disconnected_once_across_resumed_drop(wps_factory, event_handlers):
    from sdkenv import recovery_url
    handler = event_handlers(access_keys=[ACCESS_KEY])
    srv = start_with_handler(wps_factory, handler)
    url = client_url(srv.port, user_id="alice")
    c = RawClient.open(url, RELIABLE_PROTOCOL)
    hello = c.recv_json()
    c.drop()
    time.sleep(0.3)
    c2 = RawClient.open(recovery_url(url, hello["connectionId"], hello["reconnectionToken"]), RELIABLE_PROTOCOL)
    c2.send_json({"type": "ping"})
    c2.recv_until(lambda m: m.get("type") == "pong")
    time.sleep(0.5)
    assert handler.events_of("disconnected") == []
    assert len(handler.events_of("connected")) == 1
    c2.close()
    handler.wait_for(lambda e: e.event_name == "disconnected")
    time.sleep(0.5)
    assert len(handler.events_of("disconnected")) == 1


# ---- https handlers ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def handler_pki():
    import shutil
    import tempfile
    from tlsenv import Pki
    root = tempfile.mkdtemp(prefix="wps-upstream-pki-")
    pki = Pki(root)
    ca = pki.ca("upstream-ca")
    other = pki.ca("other-ca")
    yield pki.leaf(ca, "handler"), other
    shutil.rmtree(root, ignore_errors=True)


def tls_handler(event_handlers, leaf):
    import ssl
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(leaf.cert, leaf.key)
    return event_handlers(access_keys=[ACCESS_KEY], tls=ctx)


def test_https_handler_with_trusted_ca(wps_factory, event_handlers, raw_clients, handler_pki):
    leaf, _ = handler_pki
    handler = tls_handler(event_handlers, leaf)
    handler.on_event = lambda e: Reply.text("over tls") if e.event_name == "e" else None
    assert handler.url_template().startswith("https://")
    srv = start_with_handler(wps_factory, handler, "--event-handler-ca-file", leaf.ca.cert)
    c = raw_clients(client_url(srv.port, user_id="alice"))
    assert c.recv_json()["event"] == "connected"
    c.send_json({"type": "event", "event": "e", "dataType": "text", "data": "x", "ackId": 1})
    msg, _ = c.recv_until(lambda m: m.get("type") == "message")
    assert msg["data"] == "over tls"
    assert c.ack(1)["success"] is True
    assert [e.event_name for e in handler.events][:3] == ["connect", "connected", "e"]


def test_https_handler_with_untrusted_certificate_is_refused(wps_factory, event_handlers, handler_pki):
    leaf, other = handler_pki
    handler = tls_handler(event_handlers, leaf)
    srv = start_with_handler(wps_factory, handler, "--event-handler-ca-file", other.cert)
    status, body = handshake_status(client_url(srv.port, user_id="alice"), timeout=20)
    assert status == 500 and b"abuse protection" in body
    assert handler.events == []
    assert srv.alive()


def test_unreadable_event_handler_ca_file_stops_start(tmp_path):
    from tlsenv import run_until_exit
    result = run_until_exit(["--event-handler", "https://127.0.0.1:9/{event}",
                             "--event-handler-ca-file", str(tmp_path / "missing.pem")])
    assert result.returncode != 0
    assert "missing.pem" in result.stderr


# ---- the configuration file ---------------------------------------------------------------------


def write_config(tmp_path, text):
    path = tmp_path / "wps.yaml"
    path.write_text(text)
    return str(path)


def test_config_file_routes_per_hub_with_first_match_and_extra_headers(wps_factory, event_handlers, raw_clients, tmp_path):
    first = event_handlers(access_keys=[ACCESS_KEY])
    second = event_handlers(access_keys=[ACCESS_KEY])
    first.on_event = lambda e: Reply.text("first") if not e.is_system else None
    second.on_event = lambda e: Reply.text("second") if not e.is_system else None
    config = write_config(tmp_path, f"""
hubs:
  {HUB}:
    eventHandlers:
      - urlTemplate: {first.url_template('/one/{hub}/{event}')}
        userEventPattern: "a, b"
        systemEvents: [connected]
        headers:
          x-functions-key: fk-123
      - urlTemplate: {second.url_template('/two/{event}')}
        userEventPattern: "*"
        systemEvents: [disconnected]
""")
    srv = wps_factory("--config", config)
    c = raw_clients(client_url(srv.port, user_id="alice"))
    c.recv_json()
    for ack_id, (event, expected) in enumerate([("a", "first"), ("c", "second"), ("B", "first")], start=1):
        c.send_json({"type": "event", "event": event, "dataType": "text", "data": "x", "ackId": ack_id})
        msg, _ = c.recv_until(lambda m: m.get("type") == "message")
        assert msg["data"] == expected, (event, msg)
    [connected] = first.wait_for(lambda e: e.event_name == "connected")
    assert connected.headers["x-functions-key"] == "fk-123"
    assert first.events_of("connect") == [] and second.events_of("connect") == []  # no connect handler
    c.close()
    second.wait_for(lambda e: e.event_name == "disconnected")
    assert first.events_of("disconnected") == []
    # another hub has no handlers in this file
    other = raw_clients(client_url(srv.port, hub="otherhub", user_id="bob"))
    other.recv_json()
    other.send_json({"type": "event", "event": "a", "dataType": "text", "data": "x", "ackId": 1})
    assert other.ack(1)["error"]["name"] == "NotFound"


def test_flags_override_the_file(wps_factory, event_handlers, raw_clients, tmp_path):
    handler = event_handlers(access_keys=[ACCESS_KEY])
    config = write_config(tmp_path, f"""
eventHandlerTimeoutSeconds: 30
eventHandlers:
  - urlTemplate: http://127.0.0.1:9/unreachable/{{event}}
    userEventPattern: "*"
""")
    handler.on_event = lambda e: Reply(delay=3.0) if e.event_name == "slow" else None
    srv = wps_factory("--config", config, "--event-handler", handler.url_template("/{event}"),
                      "--event-handler-timeout", "1")
    c = raw_clients(client_url(srv.port, user_id="alice"))
    c.recv_json()
    c.send_json({"type": "event", "event": "slow", "dataType": "text", "data": "x", "ackId": 1})
    ack = c.ack(1, timeout=10)
    assert ack["success"] is False and "in time" in ack["error"]["message"], ack


@pytest.mark.parametrize("text,line,needle", [
    ("port: 1\nhubz: {}\n", 2, "unknown key 'hubz'"),
    ("hubs:\n  chat:\n    eventHandlers:\n      - urlTemplate: http://a/{nope}\n", 4, "unknown placeholder"),
    ("hubs:\n  chat:\n    eventHandlers:\n      - urlTemplate: http://a/\n        systemEvents: [connekt]\n", 5, "connekt"),
])
def test_check_config_reports_file_line_and_reason(tmp_path, text, line, needle):
    import os
    import subprocess
    path = write_config(tmp_path, text)
    r = subprocess.run([os.environ["WPS_SERVER_BIN"], "--config", path, "--check-config"],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 2
    assert f"{path}:{line}:" in r.stderr and needle in r.stderr, r.stderr


def test_check_config_accepts_a_valid_file_without_starting(tmp_path):
    import os
    import subprocess
    path = write_config(tmp_path, "port: 1\nhubs:\n  chat:\n    eventHandlers:\n"
                                  "      - urlTemplate: http://127.0.0.1:9/{event}\n        userEventPattern: '*'\n")
    r = subprocess.run([os.environ["WPS_SERVER_BIN"], "--config", path, "--check-config", "--state-dir",
                        str(tmp_path / "state")], capture_output=True, text=True, timeout=20)
    assert r.returncode == 0, r.stderr
    assert "configuration OK" in r.stdout and "hub chat:" in r.stdout
    assert "listening" not in r.stdout
    assert not (tmp_path / "state").exists()


# ---- limits at their edges ------------------------------------------------------------------------


def test_connection_state_limit_at_its_edge(wps_factory, event_handlers, raw_clients):
    handler = event_handlers(access_keys=[ACCESS_KEY])
    limit = 64

    def on_event(e):
        if e.event_name == "set":
            return Reply(status=204, headers={"ce-connectionState": "s" * int(e.body)})
        return None

    handler.on_event = on_event
    srv = start_with_handler(wps_factory, handler, "--max-connection-state-bytes", str(limit))
    c = raw_clients(client_url(srv.port, user_id="alice"))
    c.recv_json()
    c.send_json({"type": "event", "event": "set", "dataType": "text", "data": str(limit), "ackId": 1})
    assert c.ack(1)["success"] is True
    c.send_json({"type": "event", "event": "set", "dataType": "text", "data": str(limit + 1), "ackId": 2})
    over = c.ack(2)
    assert over["success"] is False and str(limit) in over["error"]["message"]
    c.send_json({"type": "event", "event": "look", "dataType": "text", "data": "x", "ackId": 3})
    c.ack(3)
    [look] = handler.wait_for(lambda e: e.event_name == "look")
    assert look.connection_state == "s" * limit  # the refused state changed nothing


def test_response_body_limit_at_its_edge(wps_factory, event_handlers, raw_clients):
    handler = event_handlers(access_keys=[ACCESS_KEY])
    limit = 100
    handler.on_event = lambda e: Reply.text("r" * int(e.body)) if e.event_name == "reply" else None
    srv = start_with_handler(wps_factory, handler, "--event-handler-max-response-bytes", str(limit))
    c = raw_clients(client_url(srv.port, user_id="alice"))
    c.recv_json()
    c.send_json({"type": "event", "event": "reply", "dataType": "text", "data": str(limit), "ackId": 1})
    msg, _ = c.recv_until(lambda m: m.get("type") == "message")
    assert len(msg["data"]) == limit
    assert c.ack(1)["success"] is True
    c.send_json({"type": "event", "event": "reply", "dataType": "text", "data": str(limit + 1), "ackId": 2})
    over = c.ack(2)
    assert over["success"] is False and "limit" in over["error"]["message"], over


def test_connections_per_origin_limit_queues_requests(wps_factory, event_handlers, raw_clients):
    handler = event_handlers(access_keys=[ACCESS_KEY])
    handler.on_event = lambda e: Reply(delay=0.5) if e.event_name == "slow" else None
    srv = start_with_handler(wps_factory, handler, "--event-handler-max-connections", "1", threads=1)
    clients = [raw_clients(client_url(srv.port, user_id=f"u{i}")) for i in range(3)]
    for c in clients:
        c.recv_json()
    handler.clear()
    start = time.monotonic()
    for c in clients:
        c.send_json({"type": "event", "event": "slow", "dataType": "text", "data": "x", "ackId": 1})
    for c in clients:
        assert c.ack(1, timeout=10)["success"] is True
    # one connection: the three 0.5 s requests ran one after another, none was lost
    assert time.monotonic() - start >= 1.4
    slow = handler.events_of("slow")
    assert len(slow) == 3
    gaps = [b.received_at - a.received_at for a, b in zip(slow, slow[1:])]
    assert all(g >= 0.45 for g in gaps), gaps


def test_connected_comes_before_user_events_and_disconnected_after(wps_factory, event_handlers, raw_clients):
    handler = event_handlers(access_keys=[ACCESS_KEY])
    release = threading.Event()

    def on_event(e):
        if e.event_name == "connected":
            time.sleep(0.5)  # a slow connected must still come first
        if e.event_name == "last":
            release.wait(5)
        return None

    handler.on_event = on_event
    srv = start_with_handler(wps_factory, handler)
    c = raw_clients(client_url(srv.port, user_id="alice"))
    c.recv_json()
    c.send_json({"type": "event", "event": "first", "dataType": "text", "data": "x", "ackId": 1})
    c.ack(1)
    c.send_json({"type": "event", "event": "last", "dataType": "text", "data": "x", "ackId": 2})
    handler.wait_for(lambda e: e.event_name == "last")
    c.close()  # while "last" is still with the handler
    time.sleep(0.5)
    assert handler.events_of("disconnected") == []
    release.set()
    handler.wait_for(lambda e: e.event_name == "disconnected")
    names = [e.event_name for e in handler.events]
    assert names == ["connect", "connected", "first", "last", "disconnected"], names


# ---- invocations (invoke / invokeResponse / cancelInvocation) ----------------------------------


def invoke_json(invocation_id, event, data_type=None, data=None):
    frame = {"type": "invoke", "invocationId": invocation_id, "target": "event", "event": event}
    if data_type is not None:
        frame["dataType"] = data_type
        frame["data"] = data
    return frame


def invoke_response(client, invocation_id, timeout=5.0):
    msg, _ = client.recv_until(
        lambda m: m.get("type") == "invokeResponse" and m.get("invocationId") == invocation_id, timeout)
    return msg


def connected_raw(raw_clients, srv, protocol=JSON_PROTOCOL):
    c = raw_clients(client_url(srv.port, user_id="alice", roles=ALL_ROLES), protocol)
    assert c.recv_json()["event"] == "connected"
    return c


@pytest.mark.parametrize("data_type,data,wire_type,body,reply,expected", [
    ("text", "hello", "text/plain", b"hello", lambda e: Reply.text("echo:" + e.text()), ("text", "echo:hello")),
    ("json", {"a": [1, 2]}, "application/json", None, lambda e: Reply.json({"sum": sum(e.json()["a"])}),
     ("json", {"sum": 3})),
    ("binary", base64.b64encode(b"\x00\x01\xfe").decode(), "application/octet-stream", b"\x00\x01\xfe",
     lambda e: Reply.binary(e.body[::-1]), ("binary", base64.b64encode(b"\xfe\x01\x00").decode())),
])
def test_invoke_round_trips(wps_factory, event_handlers, raw_clients, data_type, data, wire_type, body, reply,
                            expected):
    handler = event_handlers(access_keys=[ACCESS_KEY])
    handler.on_event = lambda e: reply(e) if e.event_name == "ask" else None
    srv = start_with_handler(wps_factory, handler)
    c = connected_raw(raw_clients, srv)
    c.send_json(invoke_json("call-1", "ask", data_type, data))
    response = invoke_response(c, "call-1")
    assert response == {"type": "invokeResponse", "invocationId": "call-1", "success": True,
                        "dataType": expected[0], "data": expected[1]}
    [event] = handler.wait_for(lambda e: e.event_name == "ask")
    assert event.type == "azure.webpubsub.user.ask"
    assert event.ce is not None, event.parse_error
    assert event.signature_ok
    assert event.content_type.split(";")[0] == wire_type
    assert (json.loads(event.body) == data) if body is None else (event.body == body)
    # an invoke is neither acked nor echoed as a server message
    assert [m["type"] for m in c.received[1:]] == ["invokeResponse"]


def test_invoke_empty_reply_and_absent_data(wps_factory, event_handlers, raw_clients):
    handler = event_handlers(access_keys=[ACCESS_KEY])
    srv = start_with_handler(wps_factory, handler)  # user events get the default 204
    c = connected_raw(raw_clients, srv)
    c.send_json(invoke_json("e1", "ping-app"))
    assert invoke_response(c, "e1") == {"type": "invokeResponse", "invocationId": "e1", "success": True}
    [event] = handler.wait_for(lambda e: e.event_name == "ping-app")
    assert event.body == b"" and event.content_type.split(";")[0] == "text/plain"


def test_invoke_handler_error_and_bad_request(wps_factory, event_handlers, raw_clients):
    handler = event_handlers(access_keys=[ACCESS_KEY])
    handler.on_event = lambda e: Reply.error(500, "boom") if e.event_name == "fail" else None
    srv = start_with_handler(wps_factory, handler)
    c = connected_raw(raw_clients, srv)
    c.send_json(invoke_json("f1", "fail", "text", "x"))
    response = invoke_response(c, "f1")
    assert response["success"] is False and set(response) == {"type", "invocationId", "success", "error"}
    assert response["error"]["name"] == "InternalServerError" and "500" in response["error"]["message"]
    c.send_json({"type": "invoke", "invocationId": "b1", "target": "method", "event": "fail"})
    assert invoke_response(c, "b1")["error"]["name"] == "BadRequest"
    c.send_json({"type": "invoke", "target": "event", "event": "fail"})  # no id: ignored
    c.send_json({"type": "ping"})
    _, skipped = c.recv_until(lambda m: m.get("type") == "pong")
    assert skipped == []
    assert len(handler.events_of("fail")) == 1


def test_invoke_without_handler_is_not_found(wps_factory, raw_clients):
    srv = wps_factory()
    c = connected_raw(raw_clients, srv)
    c.send_json(invoke_json("n1", "nobody", "text", "x"))
    response = invoke_response(c, "n1")
    assert response["success"] is False and response["error"]["name"] == "NotFound"
    assert "nobody" in response["error"]["message"]


def test_cancel_of_a_waiting_invoke(wps_factory, event_handlers, raw_clients):
    handler = event_handlers(access_keys=[ACCESS_KEY])
    release = threading.Event()

    def on_event(e):
        if e.event_name == "hold":
            release.wait(10)
            return Reply.text("first")
        return None

    handler.on_event = on_event
    srv = start_with_handler(wps_factory, handler)
    c = connected_raw(raw_clients, srv)
    try:
        c.send_json(invoke_json("1", "hold", "text", "x"))
        handler.wait_for(lambda e: e.event_name == "hold")
        c.send_json(invoke_json("2", "second", "text", "y"))
        c.send_json({"type": "cancelInvocation", "invocationId": "2"})
        c.send_json({"type": "cancelInvocation", "invocationId": "unknown"})
        c.send_json({"type": "ping"})  # the cancel was handled at once, like this ping
        c.recv_until(lambda m: m.get("type") == "pong")
    finally:
        release.set()
    assert invoke_response(c, "1")["data"] == "first"
    c.send_json({"type": "ping"})
    _, skipped = c.recv_until(lambda m: m.get("type") == "pong")
    assert skipped == []
    time.sleep(0.3)
    assert handler.events_of("second") == []
    assert [m.get("invocationId") for m in c.received if m["type"] == "invokeResponse"] == ["1"]


def test_cancel_of_the_invoke_with_the_handler(wps_factory, event_handlers, raw_clients):
    handler = event_handlers(access_keys=[ACCESS_KEY])
    release = threading.Event()
    handler.on_event = lambda e: (release.wait(10) and Reply.text("late")) if e.event_name == "hold" else None
    srv = start_with_handler(wps_factory, handler)
    c = connected_raw(raw_clients, srv)
    try:
        c.send_json(invoke_json("a", "hold", "text", "x"))
        handler.wait_for(lambda e: e.event_name == "hold")
        c.send_json({"type": "cancelInvocation", "invocationId": "a"})
        c.send_json({"type": "joinGroup", "group": "g", "ackId": 1})  # waits behind the invocation
    finally:
        release.set()
    _, skipped = c.recv_until(lambda m: m.get("type") == "ack" and m.get("ackId") == 1, timeout=10)
    assert [m for m in skipped if m.get("type") == "invokeResponse"] == []
    c.send_json(invoke_json("a", "after", "text", "x"))  # the id is free again
    assert invoke_response(c, "a") == {"type": "invokeResponse", "invocationId": "a", "success": True}


def test_reliable_connection_gets_invoke_response_without_sequence_id(wps_factory, event_handlers, raw_clients):
    handler = event_handlers(access_keys=[ACCESS_KEY])
    handler.on_event = lambda e: Reply.text("hi") if not e.is_system else None
    srv = start_with_handler(wps_factory, handler)
    c = connected_raw(raw_clients, srv, RELIABLE_PROTOCOL)
    c.send_json(invoke_json("r1", "ask", "text", "x"))
    response = invoke_response(c, "r1")
    assert response["data"] == "hi" and "sequenceId" not in response
    # the next data message is still the first of the sequence
    c.send_json({"type": "event", "event": "ask", "dataType": "text", "data": "x", "ackId": 1})
    msg, _ = c.recv_until(lambda m: m.get("type") == "message")
    assert msg["sequenceId"] == 1 and msg["data"] == "hi"
    assert c.ack(1)["success"] is True
