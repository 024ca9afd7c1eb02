"""The admin routes and the live trace (protocol-spec/admin.md) against a real server."""

from __future__ import annotations

import json
import socket
import time
import urllib.parse

import pytest
import websocket

from restenv import http_request, make_jwt
from sdkenv import (ACCESS_KEY, ALL_ROLES, JSON_PROTOCOL, RELIABLE_PROTOCOL, Closed, RawClient,
                    assert_serving, client_url, recovery_url, service_client, start_wps)

HUB = "adminhub"
WRONG_KEY = "not-the-access-key-0123456789abcdefghijklmnopq="


@pytest.fixture(scope="module")
def srv():
    server = start_wps("--trace-max-queued-bytes", "65536")
    yield server
    server.stop()


def admin_token(port: int, key: str = ACCESS_KEY, exp_in: int = 600, aud: str | None = None) -> str:
    now = int(time.time())
    return make_jwt({"aud": aud or f"http://127.0.0.1:{port}/admin", "iat": now, "exp": now + exp_in}, key)


def admin_get(port: int, target: str, token: str | None = None):
    token = token or admin_token(port)
    return http_request(port, "GET", target, headers={"Authorization": f"Bearer {token}"})


def poll(fn, pred, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if pred(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def connect(port: int, user: str, protocol: str = JSON_PROTOCOL, groups=(), **kw) -> tuple[RawClient, dict]:
    client = RawClient.open(client_url(port, hub=HUB, user_id=user, roles=ALL_ROLES, groups=groups), protocol, **kw)
    connected = client.recv_json()
    assert connected["event"] == "connected", connected
    return client, connected


def viewer(port: int, **query: str) -> RawClient:
    query["access_token"] = admin_token(port)
    v = RawClient.open(f"ws://127.0.0.1:{port}/admin/trace?{urllib.parse.urlencode(query)}", None,
                       validate=False)
    time.sleep(0.3)  # other loops learn of the viewer through their inboxes
    return v


def events(v: RawClient, until, timeout: float = 5.0) -> list[dict]:
    """Trace events read until `until(event)`, that one included."""
    seen = []
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        assert left > 0, f"no matching trace event within {timeout}s; got {seen!r}"
        opcode, data = v.recv_frame(left)
        seen.append(json.loads(data))
        if until(seen[-1]):
            return seen


# --------------------------------------------------------------------------------------------
# Authorisation
# --------------------------------------------------------------------------------------------

ROUTES = ["/admin/server", f"/admin/hubs/{HUB}", "/admin/connections/abc", "/admin/connections?slowest=3",
          "/admin/trace", "/admin/nosuch"]


def bad_credentials(port: int) -> dict[str, dict]:
    now = int(time.time())
    return {
        "missing": {},
        "not bearer": {"Authorization": "Basic " + admin_token(port)},
        "malformed": {"Authorization": "Bearer not.a.jwt"},
        "wrong key": {"Authorization": "Bearer " + admin_token(port, key=WRONG_KEY)},
        "expired": {"Authorization": "Bearer " + make_jwt(
            {"aud": f"http://127.0.0.1:{port}/admin", "iat": now - 7200, "exp": now - 3600})},
        "client token": {"Authorization": "Bearer " + admin_token(
            port, aud=f"http://127.0.0.1:{port}/client/hubs/{HUB}")},
        "REST token": {"Authorization": "Bearer " + admin_token(
            port, aud=f"http://127.0.0.1:{port}/api/hubs/{HUB}/:send")},
        "other host": {"Authorization": "Bearer " + admin_token(port, aud="http://example.com/admin")},
    }


@pytest.mark.parametrize("route", ROUTES)
def test_every_route_refuses_bad_tokens(srv, route):
    for name, headers in bad_credentials(srv.port).items():
        result = http_request(srv.port, "GET", route, headers=headers)
        assert result.status == 401, (name, result)
        assert result.json()["code"] == "Unauthorized", (name, result)
    ok = admin_get(srv.port, route)
    assert ok.status != 401, ok


def test_trace_takes_the_token_as_query_parameter_only(srv):
    port = srv.port
    for name, headers in bad_credentials(port).items():
        if name == "not bearer":
            continue
        token = headers.get("Authorization", "Bearer ").split(" ", 1)[1]
        status = websocket_status(f"ws://127.0.0.1:{port}/admin/trace?access_token={token}")
        assert status == 401, name
    # Other routes do not read the query.
    assert http_request(port, "GET", f"/admin/server?access_token={admin_token(port)}").status == 401
    assert websocket_status(f"ws://127.0.0.1:{port}/admin/trace?access_token={admin_token(port)}") == 101


def websocket_status(url: str) -> int:
    try:
        ws = websocket.create_connection(url, timeout=5, suppress_origin=True)
    except websocket.WebSocketBadStatusException as e:
        return e.status_code
    status = ws.getstatus()
    ws.close()
    return status


def test_token_command_mints_admin_tokens(srv):
    import subprocess
    from serverproc import SERVER_BIN
    token = subprocess.run([SERVER_BIN, "token", "--admin", "--access-key", ACCESS_KEY, "--endpoint",
                            f"http://127.0.0.1:{srv.port}"], capture_output=True, text=True, check=True).stdout.strip()
    assert admin_get(srv.port, "/admin/server", token).status == 200


# --------------------------------------------------------------------------------------------
# Introspection
# --------------------------------------------------------------------------------------------


def test_server_hub_and_connection(srv):
    port = srv.port
    alice, connected = connect(port, "alice", groups=("g1", "g2"))
    with alice:
        cid = connected["connectionId"]
        server = admin_get(port, "/admin/server").json()
        assert server["connections"] >= 1 and server["uptimeSeconds"] >= 0 and server["version"]
        assert len(server["loops"]) == 2
        assert sum(loop["connections"] for loop in server["loops"]) == server["connections"]
        assert any(h["hub"] == HUB and h["connections"] >= 1 for h in server["hubs"])

        hub = admin_get(port, f"/admin/hubs/{HUB}").json()
        groups = {g["group"]: g for g in hub["groups"]}
        assert groups["g1"]["connections"] >= 1 and len(groups["g1"]["loops"]) == 2

        detail = admin_get(port, f"/admin/connections/{cid}").json()
        assert detail["connectionId"] == cid and detail["userId"] == "alice" and detail["hub"] == HUB
        assert detail["protocol"] == JSON_PROTOCOL and detail["groups"] == ["g1", "g2"]
        assert detail["attached"] is True and detail["resumes"] == 0 and detail["ageMillis"] >= 0
        assert detail["loop"] == int(cid[-1], 16) % 2 or detail["loop"] in (0, 1)
    assert poll(lambda: admin_get(port, f"/admin/connections/{cid}").status, lambda s: s == 404) == 404
    assert admin_get(port, "/admin/connections?slowest=0").status == 400
    assert admin_get(port, "/admin/hubs/bad%20hub").status == 400
    assert admin_get(port, "/admin/hubs/NoOneHere").json()["connections"] == 0
    assert http_request(port, "POST", "/admin/server",
                        headers={"Authorization": f"Bearer {admin_token(port)}"}).status == 405


def test_queued_bytes_of_a_client_that_does_not_read(srv):
    port = srv.port
    url = client_url(port, hub=HUB, user_id="sleepy", groups=("flood",))
    ws = websocket.create_connection(url, subprotocols=[JSON_PROTOCOL], timeout=5, suppress_origin=True,
                                     sockopt=((socket.SOL_SOCKET, socket.SO_RCVBUF, 4096),))
    try:
        cid = json.loads(ws.recv())["connectionId"]
        service = service_client(port, hub=HUB)
        chunk = "x" * 65536
        for _ in range(120):
            service.send_to_group("flood", chunk, content_type="text/plain")
        detail = poll(lambda: admin_get(port, f"/admin/connections/{cid}").json(),
                      lambda d: d["queuedBytes"] > 0)
        assert detail["queuedBytes"] > 0, detail
        slowest = admin_get(port, "/admin/connections?slowest=1").json()["connections"]
        assert [c["connectionId"] for c in slowest] == [cid]
        assert slowest[0]["queuedBytes"] > 0
    finally:
        ws.close(timeout=1)


def test_unacked_and_last_sequence_ack_of_a_reliable_client(srv):
    port = srv.port
    client, connected = connect(port, "rel", RELIABLE_PROTOCOL)
    with client:
        cid = connected["connectionId"]
        service = service_client(port, hub=HUB)
        for i in range(5):
            service.send_to_connection(cid, f"m{i}", content_type="text/plain")
        for _ in range(5):
            client.recv_json()
        detail = poll(lambda: admin_get(port, f"/admin/connections/{cid}").json(),
                      lambda d: d["unackedMessages"] == 5)
        assert detail["unackedMessages"] == 5 and detail["lastSequenceAck"] is None
        client.send_json({"type": "sequenceAck", "sequenceId": 3})
        detail = poll(lambda: admin_get(port, f"/admin/connections/{cid}").json(),
                      lambda d: d["unackedMessages"] == 2)
        assert detail["unackedMessages"] == 2 and detail["lastSequenceAck"] == 3


def test_resumes_are_counted(srv):
    port = srv.port
    url = client_url(port, hub=HUB, user_id="phoenix", roles=ALL_ROLES)
    first = RawClient.open(url, RELIABLE_PROTOCOL)
    connected = first.recv_json()
    cid = connected["connectionId"]
    first.drop()
    time.sleep(0.2)
    second = RawClient.open(recovery_url(url, cid, connected["reconnectionToken"]), RELIABLE_PROTOCOL)
    with second:
        assert second.recv_json()["event"] == "connected"
        detail = poll(lambda: admin_get(port, f"/admin/connections/{cid}").json(), lambda d: d["resumes"] == 1)
        assert detail["resumes"] == 1 and detail["attached"] is True


# --------------------------------------------------------------------------------------------
# Live trace
# --------------------------------------------------------------------------------------------


def test_trace_shows_join_send_and_ack_without_payload(srv):
    port = srv.port
    v = viewer(port, hub=HUB)
    with v:
        alice, connected = connect(port, "tracer-alice")
        with alice:
            cid = connected["connectionId"]
            alice.send_json({"type": "joinGroup", "group": "room", "ackId": 1})
            alice.ack(1)
            alice.send_json({"type": "sendToGroup", "group": "room", "ackId": 2, "dataType": "text",
                             "data": "secret-payload"})
            alice.ack(2)
            seen = events(v, lambda e: e["type"] == "ack" and e.get("ackId") == 2)
        mine = [e for e in seen if e.get("connectionId") == cid]
        types = [e["type"] for e in mine]
        assert types[:5] == ["opened", "joinGroup", "ack", "sendToGroup", "ack"], mine
        join, send = mine[1], mine[3]
        assert join["group"] == "room" and join["ackId"] == 1 and join["userId"] == "tracer-alice"
        assert send["group"] == "room" and send["dataType"] == "text" and send["bytes"] == len('"secret-payload"')
        assert mine[4]["success"] is True
        assert all("data" not in e for e in seen)
        assert "secret-payload" not in json.dumps(seen)
        closing = events(v, lambda e: e["type"] == "ended" and e.get("connectionId") == cid)
        assert closing[-1]["cause"] == "clientClosed"


def test_trace_filters(srv):
    port = srv.port
    by_user = viewer(port, hub=HUB, user="bob")
    by_group = viewer(port, group="blue")
    with by_user, by_group:
        alice, _ = connect(port, "alice")
        bob, bob_connected = connect(port, "bob")
        with alice, bob:
            alice.send_json({"type": "joinGroup", "group": "blue", "ackId": 1})
            alice.ack(1)
            bob.send_json({"type": "joinGroup", "group": "red", "ackId": 1})
            bob.ack(1)
            bob.send_json({"type": "sendToGroup", "group": "red", "dataType": "text", "data": "hi"})
            service_client(port, hub=HUB).send_to_group("blue", "to blue", content_type="text/plain")
            bob_events = events(by_user, lambda e: e["type"] == "sendToGroup")
            blue_events = events(by_group, lambda e: e["type"] == "restSend")
        assert all(e.get("userId") == "bob" for e in bob_events), bob_events
        assert [e["type"] for e in bob_events] == ["opened", "joinGroup", "ack", "sendToGroup"]
        assert all(e.get("group") in (None, "blue") for e in blue_events), blue_events
        assert any(e["type"] == "joinGroup" and e["userId"] == "alice" for e in blue_events)
        assert not any(e.get("userId") == "bob" for e in blue_events)
        assert blue_events[-1]["target"] == "group" and blue_events[-1]["bytes"] == len('"to blue"')


def test_payloads_only_for_one_connection(srv):
    port = srv.port
    assert admin_get(port, "/admin/trace?payloads=true").status == 400
    alice, connected = connect(port, "payload-alice")
    with alice:
        cid = connected["connectionId"]
        v = viewer(port, connection=cid, payloads="true")
        with v:
            alice.send_json({"type": "sendToGroup", "group": "room", "ackId": 7, "dataType": "text",
                             "data": "visible-payload"})
            alice.ack(7)
            seen = events(v, lambda e: e["type"] == "sendToGroup")
            assert seen[-1]["data"] == "visible-payload"


def test_a_viewer_that_never_reads_is_dropped(srv):
    port = srv.port
    alice, connected = connect(port, "loud")
    with alice:
        cid = connected["connectionId"]
        url = (f"ws://127.0.0.1:{port}/admin/trace?connection={cid}&payloads=true"
               f"&access_token={admin_token(port)}")
        slow = websocket.create_connection(url, timeout=5, suppress_origin=True,
                                           sockopt=((socket.SOL_SOCKET, socket.SO_RCVBUF, 4096),))
        time.sleep(0.3)
        try:
            big = "y" * 60000
            for i in range(200):
                alice.send_json({"type": "sendToGroup", "group": "nobody", "dataType": "text", "data": big})
            alice.send_json({"type": "joinGroup", "group": "after", "ackId": 99})
            alice.ack(99, timeout=10)
            assert_serving(srv, hub=HUB)
            # Reading now: the backlog, then the close.
            slow.settimeout(10)
            code = None
            while True:
                try:
                    opcode, frame = slow.recv_data_frame(True)
                except (websocket.WebSocketConnectionClosedException, ConnectionError):
                    break
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    code = int.from_bytes(frame.data[:2], "big")
                    reason = frame.data[2:].decode()
                    break
            assert code == 1008 and "too slow" in reason
        finally:
            slow.shutdown()


def test_ping_round_trip_is_measured():
    server = start_wps("--ping-interval", "0.2")
    try:
        client, connected = connect(server.port, "pinged")
        with client:
            cid = connected["connectionId"]
            deadline = time.monotonic() + 5
            detail = {}
            while time.monotonic() < deadline:
                client.ws.settimeout(0.5)
                try:
                    client.ws.recv_data_frame(True)  # answers a ping with a pong
                except websocket.WebSocketTimeoutException:
                    pass
                detail = admin_get(server.port, f"/admin/connections/{cid}").json()
                if detail["pingRoundTripMicros"] is not None:
                    break
            assert isinstance(detail["pingRoundTripMicros"], int) and detail["pingRoundTripMicros"] >= 0, detail
    finally:
        server.stop()


def test_events_of_every_loop_reach_a_viewer(srv):
    """Connections spread over both loops; the viewer, on one of them, hears both."""
    port = srv.port
    v = viewer(port, hub=HUB, user="spread")
    with v:
        clients = [connect(port, "spread")[0] for _ in range(12)]
        try:
            seen = []
            deadline = time.monotonic() + 5
            while len([e for e in seen if e["type"] == "opened"]) < 12 and time.monotonic() < deadline:
                seen += events(v, lambda e: True, timeout=max(0.1, deadline - time.monotonic()))
            opened = [e for e in seen if e["type"] == "opened"]
            assert len(opened) == 12, seen
            assert {e["loop"] for e in opened} == {0, 1}, opened
        finally:
            for c in clients:
                c.close()
