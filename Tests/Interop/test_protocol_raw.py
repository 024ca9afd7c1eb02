"""The JSON subprotocols and simple (raw) WebSocket clients on the wire, without an SDK.
Every server->client JSON message read here is validated against protocol-spec/schemas."""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import subprocess
import tempfile
import time

import pytest

import schemas
from sdkenv import (ACCESS_KEY, ALL_ROLES, CONN_ID_RE, JSON_PROTOCOL, OP_BINARY, OP_TEXT,  # noqa: F401
                    RELIABLE_PROTOCOL, RawClient, assert_serving, client_url, handshake_status, raw_clients,
                    wps)
from serverproc import SERVER_BIN

pytestmark = pytest.mark.deadline(60)
PROTOCOLS = [JSON_PROTOCOL, RELIABLE_PROTOCOL]


def _connected(c: RawClient) -> dict:
    msg = c.recv_json()
    assert msg["type"] == "system" and msg["event"] == "connected", msg
    return msg


def _text(c: RawClient, timeout: float = 5.0) -> str:
    opcode, data = c.recv_frame(timeout)
    assert opcode == OP_TEXT, (opcode, data)
    msg = json.loads(data)
    schemas.check_strict(msg)
    return data.decode("utf-8")


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_connected_message_shape(wps, raw_clients, protocol):
    c = raw_clients(client_url(wps.port, user_id="alice", roles=ALL_ROLES), protocol)
    assert c.subprotocol == protocol
    raw = _text(c)
    msg = json.loads(raw)
    if protocol == RELIABLE_PROTOCOL:
        assert list(msg) == ["type", "event", "userId", "connectionId", "reconnectionToken"]
        assert msg["reconnectionToken"]
    else:
        assert raw == f'{{"type":"system","event":"connected","userId":"alice","connectionId":"{msg["connectionId"]}"}}'
    assert re.fullmatch(CONN_ID_RE, msg["connectionId"])
    anon = raw_clients(client_url(wps.port, roles=ALL_ROLES), protocol)
    amsg = _connected(anon)
    assert amsg["userId"] is None and amsg["connectionId"] != msg["connectionId"]


def test_subprotocol_name_case_insensitive(wps, raw_clients):
    c = raw_clients(client_url(wps.port, user_id="u"), "JSON.WebPubSub.Azure.V1")
    # client-protocol.md §1: "the 101 response echoes the canonical lower-case name";
    # websocket.md §2 says "echoes it as the client spelled it". Spec conflict: accept both here,
    # the JSON protocol must have been selected either way.
    assert c.ws.getheaders().get("sec-websocket-protocol", "").lower() == JSON_PROTOCOL
    assert "reconnectionToken" not in _connected(c)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_ack_and_group_message_exact_bytes(wps, raw_clients, protocol):
    c = raw_clients(client_url(wps.port, user_id="alice", roles=ALL_ROLES), protocol)
    _connected(c)
    c.send_text('{"type":"joinGroup","group":"g1","ackId":1}')
    assert _text(c) == '{"type":"ack","ackId":1,"success":true}'
    # data forwarded byte for byte, whitespace inside the value included
    c.send_text('{"type":"sendToGroup","group":"g1","ackId":2,"dataType":"json","data":{ "a" :  [1, 2.50] },"noEcho":false}')
    got = sorted([_text(c), _text(c)])
    seq = ',"sequenceId":1' if protocol == RELIABLE_PROTOCOL else ""
    assert got == sorted(['{"type":"ack","ackId":2,"success":true}',
                          '{"type":"message","from":"group","group":"g1","dataType":"json","data":{ "a" :  [1, 2.50] },'
                          f'"fromUserId":"alice"{seq}}}'])
    c.send_text('{"type":"ping"}')
    assert _text(c) == '{"type":"pong"}'
    c.send_text('{"type":"PING","ackId":9}')  # type ignores case; ping is never acked
    assert _text(c) == '{"type":"pong"}'
    c.expect_silence(0.3)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_duplicate_ack_id(wps, raw_clients, protocol):
    c = raw_clients(client_url(wps.port, user_id="u", roles=ALL_ROLES), protocol)
    _connected(c)
    c.send_json({"type": "joinGroup", "group": "g", "ackId": 5})
    assert c.ack(5) == {"type": "ack", "ackId": 5, "success": True}
    c.send_json({"type": "joinGroup", "group": "g", "ackId": 5})
    dup = c.ack(5)
    assert dup["success"] is False and dup["error"]["name"] == "Duplicate", dup
    assert dup["error"]["message"] == "Message with ack-id: 5 has been processed"
    # a Duplicate sendToGroup is not executed again
    c.send_json({"type": "sendToGroup", "group": "g", "ackId": 6, "dataType": "text", "data": "once"})
    c.send_json({"type": "sendToGroup", "group": "g", "ackId": 6, "dataType": "text", "data": "once"})
    msgs = [c.recv_json() for _ in range(3)]
    c.expect_silence(0.3)
    data = [m for m in msgs if m["type"] == "message"]
    acks = [m for m in msgs if m["type"] == "ack"]
    assert [m["data"] for m in data] == ["once"]
    assert [a["success"] for a in acks] == [True, False] and acks[1]["error"]["name"] == "Duplicate"
    # a failed ackId is not remembered: Forbidden then retry... (no role change possible here),
    # so check BadRequest then a valid retry with the same ackId succeeds
    c.send_json({"type": "joinGroup", "group": "", "ackId": 7})
    assert c.ack(7)["error"]["name"] == "BadRequest"
    c.send_json({"type": "joinGroup", "group": "h", "ackId": 7})
    assert c.ack(7) == {"type": "ack", "ackId": 7, "success": True}


@pytest.mark.parametrize("request_obj,field", [
    ({"type": "sendToGroup", "group": "g", "dataType": "text", "data": "x", "noEcho": "yes"}, "noEcho"),
    ({"type": "sendToGroup", "group": "g", "dataType": "xml", "data": "x"}, "dataType"),
    ({"type": "sendToGroup", "group": "g", "dataType": "text"}, "data"),
    ({"type": "sendToGroup", "group": "g", "dataType": "text", "data": 5}, "data"),
    ({"type": "sendToGroup", "group": "g", "dataType": "binary", "data": "not base64!"}, "data"),
    ({"type": "sendToGroup", "group": "g", "dataType": "json", "data": None}, "data"),
    ({"type": "joinGroup", "group": ""}, "group"),
    ({"type": "joinGroup", "group": "   "}, "group"),
    ({"type": "joinGroup", "group": "x" * 1025}, "group"),
    ({"type": "joinGroup"}, "group"),
    ({"type": "leaveGroup", "group": 3}, "group"),
    ({"type": "event", "event": "1bad", "dataType": "text", "data": "x"}, "event"),
])
def test_bad_request_ack_keeps_connection(wps, raw_clients, request_obj, field):
    c = raw_clients(client_url(wps.port, user_id="u", roles=ALL_ROLES), JSON_PROTOCOL)
    _connected(c)
    c.send_json(dict(request_obj, ackId=11))
    ack = c.ack(11)
    assert ack["success"] is False and ack["error"]["name"] == "BadRequest", ack
    assert field.lower() in ack["error"]["message"].lower(), ack
    # without an ackId the same request is ignored silently
    c.send_json(request_obj)
    c.send_json({"type": "ping"})
    assert c.recv_json() == {"type": "pong"}
    # and the connection still serves requests
    c.send_json({"type": "joinGroup", "group": "ok", "ackId": 12})
    assert c.ack(12)["success"] is True


def test_invalid_ack_id_is_bad_request_without_ack(wps, raw_clients):
    c = raw_clients(client_url(wps.port, user_id="u", roles=ALL_ROLES), JSON_PROTOCOL)
    _connected(c)
    for bad in ('-1', '1.5', '1e3', '"7"', '18446744073709551616'):
        c.send_text('{"type":"joinGroup","group":"g","ackId":%s}' % bad)
    c.send_json({"type": "ping"})
    assert c.recv_json() == {"type": "pong"}, "invalid ackIds must get no ack"
    c.send_text('{"type":"joinGroup","group":"g","ackId":18446744073709551615}')
    assert _text(c) == '{"type":"ack","ackId":18446744073709551615,"success":true}'


def test_pascal_case_data_type_accepted(wps, raw_clients):
    member = raw_clients(client_url(wps.port, user_id="m", groups=["g"]), JSON_PROTOCOL)
    _connected(member)
    pub = raw_clients(client_url(wps.port, user_id="dotnet", roles=ALL_ROLES), JSON_PROTOCOL)
    _connected(pub)
    pub.send_text('{"type":"sendToGroup","group":"g","ackId":1,"dataType":"Text","data":"hi","noEcho":false}')
    assert pub.ack(1)["success"] is True
    pub.send_text('{"type":"SendToGroup","group":"g","dataType":"BINARY","data":"AAE="}')
    m1, m2 = member.recv_json(), member.recv_json()
    assert (m1["dataType"], m1["data"]) == ("text", "hi")
    assert (m2["dataType"], m2["data"]) == ("binary", "AAE=")


def test_event_gets_error_ack_and_connection_stays(wps, raw_clients):
    c = raw_clients(client_url(wps.port, user_id="u"), JSON_PROTOCOL)  # no roles: events are allowed
    _connected(c)
    c.send_json({"type": "event", "event": "ev", "ackId": 4, "dataType": "text", "data": "x"})
    ack = c.ack(4)
    assert ack["success"] is False and ack["error"]["name"] == "NotFound", ack
    c.send_json({"type": "event", "event": "ev", "dataType": "json", "data": None})  # no ack, no close
    c.send_json({"type": "ping"})
    assert c.recv_json() == {"type": "pong"}


def test_forbidden_acks(wps, raw_clients):
    c = raw_clients(client_url(wps.port, user_id="u"), JSON_PROTOCOL)
    _connected(c)
    c.send_json({"type": "joinGroup", "group": "g", "ackId": 1})
    c.send_json({"type": "leaveGroup", "group": "g", "ackId": 2})
    c.send_json({"type": "sendToGroup", "group": "g", "ackId": 3, "dataType": "text", "data": "x"})
    for i in (1, 2, 3):
        ack = c.ack(i)
        assert ack["success"] is False and ack["error"]["name"] == "Forbidden", ack


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("case,code,reason_re", [
    ("syntax", 1007, r"Invalid message: .* at offset \d+"),
    ("not_object", 1007, r"Invalid message: .* at offset \d+"),
    # Caught by the WebSocket layer before JSON parsing (client-protocol.md §5, last row).
    ("bad_utf8", 1007, r"Invalid UTF-8.*"),
    ("too_deep", 1007, r"Invalid message: .* at offset \d+"),
    ("missing_type", 1007, r"Invalid message: missing type"),
    ("unknown_type", 1007, r"Invalid message: unknown type 'subscribe'"),
    ("binary_frame", 1003, r"Invalid message: binary frames are not supported by the JSON subprotocol"),
])
def test_invalid_frames_disconnect(wps, raw_clients, protocol, case, code, reason_re):
    c = raw_clients(client_url(wps.port, user_id="u", roles=ALL_ROLES), protocol)
    _connected(c)
    if case == "syntax":
        c.send_text('{"type":"joinGroup",')
    elif case == "not_object":
        c.send_text('["joinGroup"]')
    elif case == "bad_utf8":
        c.ws.send(b'{"type":"ping","x":"\xff"}', opcode=OP_TEXT)  # invalid UTF-8 in a text frame
    elif case == "too_deep":
        c.send_text('{"type":"sendToGroup","group":"g","data":' + "[" * 64 + "]" * 64 + "}")
    elif case == "missing_type":
        c.send_text('{"group":"g"}')
    elif case == "unknown_type":
        c.send_text('{"type":"subscribe","group":"g"}')
    else:
        c.send_binary(b"\x01\x02")
    closed, before = c.expect_close(5)
    assert closed.code == code, (closed.code, closed.reason, before)
    assert len(before) == 1, f"expected exactly one system/disconnected before the close, got {before!r}"
    disc = before[0]
    assert disc["type"] == "system" and disc["event"] == "disconnected", disc
    assert re.fullmatch(reason_re, disc["message"]), disc
    assert_serving(wps)


def test_nesting_at_limit_is_accepted(wps, raw_clients):
    c = raw_clients(client_url(wps.port, user_id="u", roles=ALL_ROLES), JSON_PROTOCOL)
    _connected(c)
    c.send_text('{"type":"sendToGroup","group":"g","ackId":1,"data":' + "[" * 63 + "]" * 63 + "}")
    assert c.ack(1)["success"] is True


# --------------------------------------------------------------------------------------------
# Simple (raw) WebSocket clients
# --------------------------------------------------------------------------------------------


def test_raw_send_to_group_mode_publishes_frames(wps, raw_clients):
    member = raw_clients(client_url(wps.port, user_id="m", groups=["g"]), JSON_PROTOCOL)
    _connected(member)
    url = client_url(wps.port, user_id="rawpub", roles=["webpubsub.sendToGroup.g"]) + "&webpubsub_mode=sendToGroup&group=g"
    pub = raw_clients(url, None)
    assert pub.subprotocol is None
    pub.send_text("hello raw")
    pub.send_binary(b"\x00\x01\xfe\xff")
    pub.send_text('{"json":"stays text"}')
    m = [member.recv_json() for _ in range(3)]
    assert [(x["dataType"], x["data"]) for x in m] == [
        ("text", "hello raw"), ("binary", base64.b64encode(b"\x00\x01\xfe\xff").decode()), ("text", '{"json":"stays text"}')]
    assert all(x["group"] == "g" and x["fromUserId"] == "rawpub" for x in m)
    pub.expect_silence(0.3)  # raw publishers get no acks or envelopes


def test_raw_send_to_group_mode_requires_role(wps, raw_clients):
    member = raw_clients(client_url(wps.port, user_id="m", groups=["g"]), JSON_PROTOCOL)
    _connected(member)
    url = client_url(wps.port, user_id="rawpub", roles=["webpubsub.sendToGroup.other"]) + "&webpubsub_mode=sendToGroup&group=g"
    status, body = handshake_status(url, None)
    if status == 101:  # accepted: then nothing it sends may reach the group
        pub = raw_clients(url, None)
        try:
            pub.send_text("must not arrive")
        except Exception:
            pass
    else:
        assert status == 403, (status, body)
    member.expect_silence(0.5)


def test_raw_member_gets_bare_frames(wps, raw_clients):
    raw = raw_clients(client_url(wps.port, user_id="r", groups=["g"], roles=["webpubsub.sendToGroup.g"])
                      + "&webpubsub_mode=sendToGroup&group=g", None)
    pub = raw_clients(client_url(wps.port, user_id="p", roles=ALL_ROLES), JSON_PROTOCOL)
    _connected(pub)
    pub.send_json({"type": "sendToGroup", "group": "g", "dataType": "text", "data": "plain \u00e9"})
    pub.send_json({"type": "sendToGroup", "group": "g", "dataType": "json", "data": "a json string"})
    pub.send_text('{"type":"sendToGroup","group":"g","dataType":"json","data":{"k": [1,2]}}')
    pub.send_json({"type": "sendToGroup", "group": "g", "dataType": "binary", "data": base64.b64encode(b"\x00bin\xff").decode()})
    frames = [raw.recv_frame() for _ in range(4)]
    assert frames == [(OP_TEXT, "plain \u00e9".encode()), (OP_TEXT, b'"a json string"'),
                      (OP_TEXT, b'{"k": [1,2]}'), (OP_BINARY, b"\x00bin\xff")]


def test_raw_client_without_mode_is_closed_1011(wps, raw_clients):
    c = raw_clients(client_url(wps.port, user_id="u", roles=ALL_ROLES), None)
    assert c.handshake_status == 101
    c.send_text("hello")
    closed, before = c.expect_close(5)
    assert before == [], "raw clients get no envelopes"
    assert closed.code == 1011 and closed.reason, (closed.code, closed.reason)
    assert_serving(wps)


def test_unknown_subprotocol_is_raw_client(wps):
    """protobuf (not implemented) and unknown names make a raw client: 101 without a selected
    subprotocol, and no JSON connected message."""
    url = (client_url(wps.port, user_id="r", groups=["g"], roles=["webpubsub.sendToGroup.g"])
           + "&webpubsub_mode=sendToGroup&group=g")
    target = url[len(f"ws://127.0.0.1:{wps.port}"):]
    for offered in ("protobuf.webpubsub.azure.v1", "foo.bar"):
        with socket.create_connection(("127.0.0.1", wps.port), timeout=5) as s:
            s.sendall((f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{wps.port}\r\nUpgrade: websocket\r\n"
                       "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                       f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: {offered}\r\n\r\n").encode())
            head = b""
            deadline = time.monotonic() + 5
            while b"\r\n\r\n" not in head and time.monotonic() < deadline:
                chunk = s.recv(4096)
                if not chunk:
                    break
                head += chunk
            status_line, *headers = head.split(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
            assert status_line.startswith("HTTP/1.1 101"), head
            assert not [h for h in headers if h.lower().startswith("sec-websocket-protocol:")], head
            rest = head.split(b"\r\n\r\n", 1)[1]
            s.settimeout(0.3)
            try:
                rest += s.recv(4096)
            except socket.timeout:
                pass
            assert rest == b"", f"a raw client must get no connected message: {rest!r}"


# --------------------------------------------------------------------------------------------
# The token subcommand and websocat
# --------------------------------------------------------------------------------------------


def _cli_token_url(port: int, *extra: str) -> str:
    out = subprocess.run([SERVER_BIN, "token", "--endpoint", f"http://127.0.0.1:{port}", "--access-key", ACCESS_KEY,
                          "--hub", "h", "--user", "u", "--role", "webpubsub.joinLeaveGroup",
                          "--role", "webpubsub.sendToGroup", *extra],
                         capture_output=True, text=True, timeout=10, cwd="/tmp", stdin=subprocess.DEVNULL)
    assert out.returncode == 0, out
    url = out.stdout.strip().splitlines()[-1]
    assert url.startswith(f"ws://127.0.0.1:{port}/client/hubs/h?access_token="), out.stdout
    return url


def test_token_subcommand_url_connects(wps, raw_clients):
    url = _cli_token_url(wps.port)
    c = raw_clients(url, JSON_PROTOCOL)
    msg = _connected(c)
    assert msg["userId"] == "u"
    c.send_json({"type": "joinGroup", "group": "g", "ackId": 1})
    assert c.ack(1)["success"] is True
    c.send_json({"type": "sendToGroup", "group": "g", "ackId": 2, "dataType": "text", "data": "cli"})
    got, _ = c.recv_until(lambda m: m["type"] == "message")
    assert got["data"] == "cli" and got["fromUserId"] == "u"


def test_websocat_with_token_url(wps):
    websocat = os.path.join(os.path.dirname(os.path.realpath(__file__)), "..", "..", ".venv", "bin", "websocat")
    if not os.path.exists(websocat):
        pytest.fail(f"{websocat} missing (scripts/requirements.txt pins websocat)")
    url = _cli_token_url(wps.port)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        p = subprocess.Popen([websocat, "--protocol", JSON_PROTOCOL, url], stdin=subprocess.PIPE,
                             stdout=out, stderr=err, cwd="/tmp")
        try:
            p.stdin.write(b'{"type":"joinGroup","group":"g","ackId":1}\n')
            p.stdin.write(b'{"type":"sendToGroup","group":"g","ackId":2,"dataType":"text","data":"via websocat"}\n')
            p.stdin.flush()
            time.sleep(0.7)
            p.stdin.close()  # EOF: websocat sends a close frame and exits
            p.wait(5)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait(5)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    assert p.returncode == 0, (p.returncode, stderr)
    lines = [json.loads(l) for l in stdout.decode().splitlines() if l.strip()]
    for m in lines:
        schemas.check_strict(m)
    assert lines[0]["type"] == "system" and lines[0]["event"] == "connected" and lines[0]["userId"] == "u"
    assert {"type": "ack", "ackId": 1, "success": True} in lines
    assert {"type": "ack", "ackId": 2, "success": True} in lines
    assert any(m["type"] == "message" and m["data"] == "via websocat" for m in lines), lines
