"""Connection and session events in the server's log (`--log-format json`), and `/readyz`.

Every line the server writes must be one JSON object with the stable keys; each event of a
connection's life is one line with its `event` name and its reason (server.md, Logs).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import socket
import time

import pytest
import websocket

import wire
from sdkenv import (ACCESS_KEY, ALL_ROLES, HUB, JSON_PROTOCOL, RELIABLE_PROTOCOL, RawClient,  # noqa: F401
                    b64url, client_url, handshake_status, make_jwt, raw_clients, recovery_url, start_wps, token_claims,
                    url_with_token, wps_factory)
from serverproc import ServerProcess, find_secrets
from upstreamenv import event_handlers  # noqa: F401

TIME_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
CID_RE = re.compile(r"[0-9a-f]{32}")


def log_lines(srv: ServerProcess) -> list[dict]:
    """Every complete line of the server's stderr, each parsed as JSON (a line that is not
    one object fails the test)."""
    with open(srv.stderr_file.name, "rb") as f:
        data = f.read().decode("utf-8")
    lines = data.split("\n")
    records = []
    for line in lines[:-1]:  # the last piece is empty or still being written
        record = json.loads(line)
        assert isinstance(record, dict), line
        keys = list(record)
        assert keys[:2] == ["time", "level"], line
        assert TIME_RE.fullmatch(record["time"]), line
        assert "message" in record and record["label"] == "wps-server", line
        if "event" in record:
            assert keys[2] == "event", line
        records.append(record)
    return records


def wait_event(srv: ServerProcess, event: str, timeout: float = 5.0, **fields) -> dict:
    """The first line with this event name and these fields, waiting for it."""
    deadline = time.monotonic() + timeout
    while True:
        records = log_lines(srv)
        for r in records:
            if r.get("event") == event and all(r.get(k) == v for k, v in fields.items()):
                return r
        if time.monotonic() > deadline:
            seen = [r for r in records if "event" in r]
            raise AssertionError(f"no {event} {fields} in the log; events: {json.dumps(seen, indent=1)}")
        time.sleep(0.05)


def reconnection_token(connection_id: str, key: str = ACCESS_KEY) -> str:
    """A reconnection token as the server issues them (auth.md §6)."""
    body = b64url(f"{int(time.time()) + 3600}:{connection_id}".encode())
    mac = hmac.new(key.encode(), b"wps-reconnection-token-v1\n" + body.encode(), hashlib.sha256).digest()
    return body + "." + b64url(mac)


def reliable_member(srv: ServerProcess, raw_clients, user: str) -> tuple[str, RawClient, dict]:
    url = client_url(srv.port, user_id=user, roles=ALL_ROLES)
    c = raw_clients(url, RELIABLE_PROTOCOL)
    hello = c.recv_json()
    assert hello["event"] == "connected", hello
    c.send_json({"type": "joinGroup", "group": "g", "ackId": 1})
    assert c.ack(1)["success"] is True
    return url, c, hello


def publish(pub: RawClient, count: int, size: int = 10) -> None:
    for i in range(count):
        pub.send_json({"type": "sendToGroup", "group": "g", "dataType": "text", "data": "x" * size,
                       "noEcho": True})
    pub.send_json({"type": "ping"})
    pub.recv_until(lambda m: m.get("type") == "pong", timeout=10)


@pytest.mark.deadline(60)
def test_connection_life_in_json_log(wps_factory, raw_clients):
    srv = wps_factory("--log-format", "json", "--log-level", "debug", "--reliable-max-bytes", "4096",
                      "--resume-window", "30")
    pub = raw_clients(client_url(srv.port, user_id="pub", roles=ALL_ROLES), JSON_PROTOCOL)
    pub.recv_json()

    # Accepted, with who and how.
    url, sub, hello = reliable_member(srv, raw_clients, "sub")
    cid = hello["connectionId"]
    accepted = wait_event(srv, "connection.accepted", connectionId=cid)
    assert accepted["level"] == "debug"
    assert (accepted["hub"], accepted["user"], accepted["protocol"]) == (HUB.lower(), "sub", RELIABLE_PROTOCOL) \
        or (accepted["hub"], accepted["user"], accepted["protocol"]) == (HUB, "sub", RELIABLE_PROTOCOL)
    assert isinstance(accepted["loop"], int) and 0 <= accepted["loop"] < 2

    # Dropped: the socket closes without a close frame and the session waits.
    sub.drop()
    closed = wait_event(srv, "connection.closed", connectionId=cid)
    assert closed["closedBy"] == "dropped" and "code" not in closed, closed
    detached = wait_event(srv, "session.detached", connectionId=cid)
    assert (detached["level"], detached["cause"]) == ("info", "dropped"), detached

    # A recovery with a forged token is refused before the hub sees it.
    forged = hello["reconnectionToken"][:-1] + ("A" if hello["reconnectionToken"][-1] != "A" else "B")
    bad = raw_clients(recovery_url(url, cid, forged), RELIABLE_PROTOCOL)
    assert bad.expect_close()[0].code == 1008
    refused = wait_event(srv, "session.recovery_refused", connectionId=cid)
    assert (refused["level"], refused["reason"]) == ("info", "badToken"), refused

    # Resumed, with what was replayed.
    publish(pub, 2)
    again = raw_clients(recovery_url(url, cid, hello["reconnectionToken"]), RELIABLE_PROTOCOL)
    hello2 = again.recv_json()
    assert hello2["connectionId"] == cid
    resumed = wait_event(srv, "session.resumed", connectionId=cid)
    assert (resumed["level"], resumed["replayed"], resumed["user"]) == ("info", 2, "sub"), resumed

    # Never acknowledged: past --reliable-max-bytes the session ends for good, 1008.
    publish(pub, 8, size=1000)
    assert again.expect_close(10)[0].code == 1008
    ended = wait_event(srv, "session.ended", connectionId=cid)
    assert (ended["level"], ended["cause"], ended["code"]) == ("info", "bufferOverflow", 1008), ended
    assert ended["reason"], ended
    by_server = wait_event(srv, "connection.closed", connectionId=cid, closedBy="server")
    assert by_server["code"] == 1008, by_server

    # Its recovery is refused with the reason the session ended.
    late = raw_clients(recovery_url(url, cid, hello2.get("reconnectionToken") or hello["reconnectionToken"]),
                       RELIABLE_PROTOCOL)
    assert late.expect_close()[0].code == 1008
    wait_event(srv, "session.recovery_refused", connectionId=cid, reason="overflowed")

    # A client that closes with 1000 ends its session; recovering it later is refused as ended.
    url3, third, hello3 = reliable_member(srv, raw_clients, "third")
    third.close(1000)
    done = wait_event(srv, "session.ended", connectionId=hello3["connectionId"])
    assert (done["level"], done["cause"]) == ("debug", "clientClosed"), done
    by_client = wait_event(srv, "connection.closed", connectionId=hello3["connectionId"])
    assert (by_client["closedBy"], by_client["code"]) == ("client", 1000), by_client
    after = raw_clients(recovery_url(url3, hello3["connectionId"], hello3["reconnectionToken"]), RELIABLE_PROTOCOL)
    assert after.expect_close()[0].code == 1008
    wait_event(srv, "session.recovery_refused", connectionId=hello3["connectionId"], reason="ended")

    # A well-signed token for a session this server does not have.
    stranger = cid[:-1] + ("0" if cid[-1] != "0" else "1")
    unknown = raw_clients(recovery_url(url, stranger, reconnection_token(stranger)), RELIABLE_PROTOCOL)
    assert unknown.expect_close()[0].code == 1008
    wait_event(srv, "session.recovery_refused", connectionId=stranger, reason="unknown")

    # A refused upgrade names its status and reason, never the token.
    token = make_jwt(token_claims(srv.port), key="not-the-server-key-0123456789")
    status, _ = handshake_status(url_with_token(srv.port, token), JSON_PROTOCOL)
    assert status == 401
    refused_upgrade = wait_event(srv, "connection.refused", status=401)
    assert refused_upgrade["hub"] in (HUB, HUB.lower()) and refused_upgrade["reason"], refused_upgrade

    pub.close(1000)
    srv.stop()
    records = log_lines(srv)
    assert any(r.get("message") == "stopped" for r in records)
    assert all(not find_secrets(json.dumps(r), [ACCESS_KEY]) for r in records)


@pytest.mark.deadline(60)
def test_slow_consumer_in_json_log(wps_factory, raw_clients):
    srv = wps_factory("--log-format", "json", "--max-outbound-bytes", "65536")
    # A JSON client that never reads, with a small receive buffer so the kernel holds little.
    ws = websocket.WebSocket(sockopt=((socket.SOL_SOCKET, socket.SO_RCVBUF, 4096),))
    ws.settimeout(5)
    ws.connect(client_url(srv.port, user_id="slow", roles=ALL_ROLES), subprotocols=[JSON_PROTOCOL],
               suppress_origin=True)
    slow = RawClient(ws, JSON_PROTOCOL)
    try:
        hello = slow.recv_json()
        slow.send_json({"type": "joinGroup", "group": "g", "ackId": 1})
        slow.ack(1)
        pub = raw_clients(client_url(srv.port, user_id="pub", roles=ALL_ROLES), JSON_PROTOCOL)
        pub.recv_json()
        deadline = time.monotonic() + 30
        record = None
        while record is None and time.monotonic() < deadline:
            publish(pub, 20, size=100_000)
            record = next((r for r in log_lines(srv) if r.get("event") == "connection.slow_consumer"), None)
        assert record is not None, "the slow client was never cut"
        assert record["connectionId"] == hello["connectionId"] and record["user"] == "slow"
        assert record["limitBytes"] == 65536 and record["queuedBytes"] > 65536, record
        ended = wait_event(srv, "session.ended", connectionId=hello["connectionId"])
        assert (ended["cause"], ended["code"]) == ("slowConsumer", 1008), ended
    finally:
        slow.drop()


def test_text_format_is_the_default(wps_factory):
    srv = wps_factory()
    status, _ = handshake_status(url_with_token(srv.port, "not-a-token"), JSON_PROTOCOL)
    assert status == 401
    deadline = time.monotonic() + 5
    while "connection.refused" not in srv.stderr_tail():
        assert time.monotonic() < deadline, srv.stderr_tail()
        time.sleep(0.05)
    line = next(l for l in srv.stderr_tail().splitlines() if "connection.refused" in l)
    assert not line.startswith("{") and "status=401" in line, line


def test_log_format_from_environment_and_bad_value(tmp_path):
    import os
    import subprocess
    from serverproc import SERVER_BIN
    env = dict(os.environ, WPS_LOG_FORMAT="json")
    out = subprocess.run([SERVER_BIN, "--check-config", "--state-dir", str(tmp_path)], env=env,
                         capture_output=True, text=True, timeout=20)
    assert out.returncode == 0 and "log format: json" in out.stdout, out
    out = subprocess.run([SERVER_BIN, "--check-config", "--state-dir", str(tmp_path), "--log-format", "text"],
                         env=env, capture_output=True, text=True, timeout=20)
    assert out.returncode == 0 and "log format: text" in out.stdout, out
    env["WPS_LOG_FORMAT"] = "xml"
    out = subprocess.run([SERVER_BIN, "--check-config", "--state-dir", str(tmp_path)], env=env,
                         capture_output=True, text=True, timeout=20)
    assert out.returncode == 2 and "WPS_LOG_FORMAT" in out.stderr and "text or json" in out.stderr, out


def test_secret_scanner_finds_tokens_and_keys():
    jwt = make_jwt({"sub": "u"})
    assert find_secrets(f"GET /client?access_token={jwt}", [])
    assert find_secrets(f"key {ACCESS_KEY}", [ACCESS_KEY])
    import base64
    body = base64.urlsafe_b64encode(b"1796689189:" + b"a" * 32).rstrip(b"=").decode()
    assert find_secrets(f"token={body}.{'B' * 43}", [])
    assert not find_secrets('{"event":"session.resumed","connectionId":"' + "a" * 32 + '"}', [ACCESS_KEY])


# ------------------------------------------------------------------------------------------
# /readyz
# ------------------------------------------------------------------------------------------


def test_readyz_without_event_handlers(wps_factory):
    srv = wps_factory()
    resp = wire.http_get(srv.port, "/readyz")
    assert (resp.status, resp.body) == (200, b"ready"), resp
    head, stream = wire.http_exchange(srv.port, wire.build_request("HEAD", "/readyz"), head_request=True)
    stream.close()
    assert head.status == 200 and head.body == b""
    post, stream = wire.http_exchange(srv.port, wire.build_request("POST", "/readyz"))
    stream.close()
    assert post.status == 405 and post.header("Allow") == "GET, HEAD"


@pytest.mark.deadline(60)
def test_readyz_waits_for_event_handler_validation(event_handlers):
    handler = event_handlers(access_keys=[ACCESS_KEY], allowed_origin=403)
    template = handler.url_template("/upstream/{hub}/{event}?code=secret-function-key")
    srv = start_wps("--event-handler", template)
    try:
        resp = wire.http_get(srv.port, "/readyz")  # starts the preflight
        assert resp.status == 503, resp
        handler.wait_preflights(1)
        time.sleep(0.2)
        resp = wire.http_get(srv.port, "/readyz")
        assert resp.status == 503, resp
        body = resp.body.decode()
        assert body.startswith("not ready: event handler") and "secret-function-key" not in body, body
        handler.allowed_origin = "*"
        deadline = time.monotonic() + 30  # a failed preflight is tried again after 10 s
        while True:
            resp = wire.http_get(srv.port, "/readyz")
            if resp.status == 200:
                break
            assert resp.status == 503 and time.monotonic() < deadline, resp
            time.sleep(0.5)
        assert resp.body == b"ready"
        assert "secret-function-key" not in srv.stderr_tail(100_000)
    finally:
        srv.stop()
