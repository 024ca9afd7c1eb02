"""Service REST API (protocol-spec/rest-api.md §2) driven through the official Python service SDK
(azure-messaging-webpubsubservice 1.3.0), with the effects observed on real client connections:
official client SDK connections (both JSON subprotocols) and raw WebSocket clients.

Every test works in a fresh hub of one shared server, so sends to all and closes of all never
reach another test's clients. Negative observations ("X did not receive") use a sentinel sent
to each connection afterwards: REST calls from one caller reach a connection in order, so
whatever was not received before the sentinel was not delivered.
"""

from __future__ import annotations

import base64
import io
import time
import urllib.parse

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.core.rest import HttpRequest
from azure.messaging.webpubsubclient.models import SendMessageError, WebPubSubDataType

import restenv
from restenv import (API_VERSION, HubEnv, JSON_PROTOCOL, RELIABLE_PROTOCOL, assert_rest_serving,
                     hub_path, jwt_claims, rest, start_rest_server, unique)
from sdkenv import RawClient, handshake_status, recovery_url


@pytest.fixture(scope="module")
def srv():
    s = start_rest_server()
    yield s
    s.stop()


@pytest.fixture
def env(srv):
    e = HubEnv(srv)
    yield e
    e.close()


# --------------------------------------------------------------------------------------------
# health
# --------------------------------------------------------------------------------------------


def test_health_get_and_head(srv):
    for method in ("GET", "HEAD"):
        r = rest(srv.port, method, "/api/health")
        assert r.status == 200, r
        r = rest(srv.port, method, "/api/health", api_version=None, key=None)
        assert r.status == 200, r


# --------------------------------------------------------------------------------------------
# sends: content types, targets, both JSON subprotocols (official client SDK)
# --------------------------------------------------------------------------------------------

JSON_BODY = {"k": [1, "x", None], "nested": {"ü": True}}
TEXT_BODY = "héllo wörld ✓"
BIN_BODY = bytes([0, 1, 2, 0xFE, 0xFF]) + b"binary"


def _send_all_types(send, tag: str) -> None:
    send({"tag": tag, **JSON_BODY}, content_type="application/json")
    send(f"{tag}:{TEXT_BODY}", content_type="text/plain")
    send(io.BytesIO(tag.encode() + b":" + BIN_BODY), content_type="application/octet-stream")


def _expected(tag: str) -> list[tuple[str, object]]:
    return [("json", {"tag": tag, **JSON_BODY}), ("text", f"{tag}:{TEXT_BODY}"),
            ("binary", base64.b64encode(tag.encode() + b":" + BIN_BODY).decode())]


def _data_frames(c, from_: str) -> list[dict]:
    with c.lock:
        return [f for f in c.frames if f.get("type") == "message" and f.get("from") == from_]


def test_sends_with_each_content_type_reach_sdk_clients(env):
    """send_to_all / user / connection arrive as server messages, send_to_group as group
    messages, with dataType json/text/binary and the right data, on both JSON subprotocols."""
    g = unique("g")
    plain = env.sdk("alice", groups=[g], reliable=False)
    reliable = env.sdk("alice", groups=[g], reliable=True)
    other = env.sdk("bob", reliable=True)  # not in g, other user
    svc = env.svc

    _send_all_types(lambda m, **kw: svc.send_to_all(m, **kw), "all")
    _send_all_types(lambda m, **kw: svc.send_to_user("alice", m, **kw), "user")
    _send_all_types(lambda m, **kw: svc.send_to_connection(plain.connection_id, m, **kw), "conn-plain")
    _send_all_types(lambda m, **kw: svc.send_to_connection(reliable.connection_id, m, **kw), "conn-rel")
    _send_all_types(lambda m, **kw: svc.send_to_group(g, m, **kw), "group")

    def server_expected(conn_tag):
        return _expected("all") + _expected("user") + _expected(conn_tag)

    for c, conn_tag in ((plain, "conn-plain"), (reliable, "conn-rel")):
        c.wait_for(lambda: len(_data_frames(c, "server")) >= 9 and len(_data_frames(c, "group")) >= 3,
                   10, "9 server and 3 group messages")
        time.sleep(0.2)
        server = _data_frames(c, "server")
        got = sorted(((f["dataType"], f["data"]) for f in server), key=repr)
        assert got == sorted(server_expected(conn_tag), key=repr), server
        group = _data_frames(c, "group")
        assert sorted(((f["dataType"], f["data"]) for f in group), key=repr) == sorted(_expected("group"), key=repr)
        for f in group:
            assert f["group"] == g and f["fromUserId"] is None, f
        for f in server + group:
            if c is reliable:
                assert isinstance(f.get("sequenceId"), int) and f["sequenceId"] >= 1, f
            else:
                assert "sequenceId" not in f, f
        assert not c.schema_errors, c.schema_errors
        # the SDK's own view of the same messages
        c.wait_for(lambda: len(c.server_messages) >= 9 and len(c.group_messages) >= 3, 5, "SDK callbacks")
        with c.lock:
            kinds = sorted(str(m.data_type.value if hasattr(m.data_type, "value") else m.data_type)
                           for m in c.server_messages)
            texts = {m.data for m in c.server_messages if m.data_type == WebPubSubDataType.TEXT}
            jsons = [m.data for m in c.server_messages if m.data_type == WebPubSubDataType.JSON]
            bins = [bytes(m.data) for m in c.server_messages if m.data_type == WebPubSubDataType.BINARY]
            groups = {(m.group, m.from_user_id) for m in c.group_messages}
        assert kinds == ["binary"] * 3 + ["json"] * 3 + ["text"] * 3, kinds
        assert texts == {f"all:{TEXT_BODY}", f"user:{TEXT_BODY}", f"{conn_tag}:{TEXT_BODY}"}
        assert {"tag": "all", **JSON_BODY} in jsons
        assert (conn_tag.encode() + b":" + BIN_BODY) in bins
        assert groups == {(g, None)}

    # bob: only the sends to all
    other.wait_for(lambda: len(_data_frames(other, "server")) >= 3, 10, "bob's 3 broadcast messages")
    time.sleep(0.3)
    assert sorted(((f["dataType"], f["data"]) for f in _data_frames(other, "server")), key=repr) == \
        sorted(_expected("all"), key=repr)
    assert _data_frames(other, "group") == []


def test_send_with_message_ttl_is_accepted_and_delivered(env):
    c = env.raw("u1")
    env.svc.send_to_all("ttl", content_type="text/plain", params={"messageTtlSeconds": 30})
    env.svc.send_to_connection(c.conn_id, "ttl0", content_type="text/plain", params={"messageTtlSeconds": 0})
    msgs = env.data_messages(c)
    assert [(m["dataType"], m["data"]) for m in msgs] == [("text", "ttl"), ("text", "ttl0")], msgs


def test_raw_client_receives_bare_frames(env):
    """A client without a subprotocol (token groups=[g]) gets text frames for text/plain and
    application/json, binary frames for application/octet-stream, no envelopes."""
    g = unique("g")
    # client-protocol.md §1: a raw client without a mode is closed 1011 (no event handler), so
    # it connects in sendToGroup mode (needs the send role) and joins g from the token.
    raw = RawClient.open(env.url("rawuser", groups=[g], roles=["webpubsub.sendToGroup." + g])
                         + "&webpubsub_mode=sendToGroup&group=" + g, None)
    env.raws.append(raw)
    assert raw.subprotocol is None
    marker = env.raw("marker", groups=[g])  # JSON member, tells us when the group sends are done
    env.svc.send_to_group(g, "plain text ✓", content_type="text/plain")
    env.svc.send_to_group(g, io.BytesIO(b"\x00\xffbin"), content_type="application/octet-stream")
    env.svc.send_to_group(g, {"a": [1, 2]}, content_type="application/json")
    env.svc.send_to_all("to-all", content_type="text/plain")
    env.svc.send_to_user("rawuser", io.BytesIO(b"user-bin"), content_type="application/octet-stream")
    env.svc.send_to_group(g, "quoted", content_type="application/json")  # SDK sends "quoted"
    frames = [raw.recv_frame(5) for _ in range(6)]
    assert frames[0] == (1, "plain text ✓".encode())
    assert frames[1] == (2, b"\x00\xffbin")
    assert frames[2][0] == 1 and frames[2][1].replace(b" ", b"") == b'{"a":[1,2]}', frames[2]
    assert frames[3] == (1, b"to-all")
    assert frames[4] == (2, b"user-bin")
    assert frames[5] == (1, b'"quoted"'), frames[5]
    raw.expect_silence(0.3)
    assert len(env.group_payloads(marker, g)) == 4


def test_send_excluded(env):
    g = unique("g")
    a, b, c = env.raw("ua", groups=[g]), env.raw("ub", groups=[g]), env.raw("uc")
    clients = {"a": a, "b": b, "c": c}
    env.svc.send_to_all("x-all", content_type="text/plain", excluded=[a.conn_id, c.conn_id])
    assert env.who_got(clients, "x-all", from_="server") == {"b"}
    env.svc.send_to_group(g, "x-group", content_type="text/plain", excluded=[b.conn_id])
    assert env.who_got(clients, "x-group", group=g, from_="group") == {"a"}
    env.svc.send_to_group(g, "x-none", content_type="text/plain", excluded=[a.conn_id, b.conn_id])
    assert env.who_got(clients, "x-none") == set()


def test_send_filter(env):
    g1, g2 = "g1", "g2"
    clients = {
        "alice": env.raw("alice", groups=[g1]),
        "bob": env.raw("bob", groups=[g1, g2]),
        "anna": env.raw("anna"),
        "carl": env.raw("carl", groups=[g2]),
        "anon": env.raw(None, groups=[g2]),
    }
    svc = env.svc
    svc.send_to_all("f1", content_type="text/plain", filter="'g1' in groups")
    assert env.who_got(clients, "f1") == {"alice", "bob"}
    svc.send_to_all("f2", content_type="text/plain", filter="startswith(userId, 'a')")
    assert env.who_got(clients, "f2") == {"alice", "anna"}
    svc.send_to_all("f3", content_type="text/plain",
                    filter="not('g1' in groups) and (userId ne 'carl' or userId eq null)")
    assert env.who_got(clients, "f3") == {"anna", "anon"}
    svc.send_to_group(g2, "f4", content_type="text/plain", filter="userId eq 'bob' or userId eq null")
    assert env.who_got(clients, "f4", group=g2) == {"bob", "anon"}
    svc.send_to_all("f5", content_type="text/plain",
                    filter=f"connectionId eq '{clients['carl'].conn_id}'")
    assert env.who_got(clients, "f5") == {"carl"}
    svc.send_to_all("f6", content_type="text/plain", filter="startswith(userId, 'a')",
                    excluded=[clients["anna"].conn_id])
    assert env.who_got(clients, "f6") == {"alice"}
    # send_to_user with a filter: alice has a second connection outside g1
    alice2 = env.raw("alice")
    clients["alice2"] = alice2
    svc.send_to_user("alice", "f7", content_type="text/plain", filter="'g1' in groups")
    assert env.who_got(clients, "f7") == {"alice"}
    svc.send_to_user("alice", "f8", content_type="text/plain")
    assert env.who_got(clients, "f8") == {"alice", "alice2"}


def test_sends_to_missing_targets_are_accepted(env):
    env.svc.send_to_user("nobody", "x", content_type="text/plain")
    env.svc.send_to_group("empty-group", "x", content_type="text/plain")
    env.svc.send_to_connection("0" * 32, "x", content_type="text/plain")


# --------------------------------------------------------------------------------------------
# closing
# --------------------------------------------------------------------------------------------


def _close(env: HubEnv, scope: str, target_group: str, target: dict, reason: str, excluded=None):
    svc = env.svc
    kw = {"reason": reason}
    if scope == "all":
        svc.close_all_connections(excluded=excluded, **kw)
    elif scope == "group":
        svc.close_group_connections(target_group, excluded=excluded, **kw)
    elif scope == "user":
        svc.close_user_connections("victim", excluded=excluded, **kw)
    elif scope == "connection":
        svc.close_connection(target["conn_id"], **kw)


@pytest.mark.parametrize("scope", ["all", "group", "user", "connection"])
def test_close_with_reason(env, scope):
    """The victims get system/disconnected with the reason and close 1008; a reliable SDK client
    does not recover onto the closed connection id; the bystander stays connected."""
    g = unique("g")
    reason = f"closed by test ({scope}) ✓"
    raw_victim = env.raw("victim", groups=[g])
    rel_victim = env.raw("victim", groups=[g], protocol=RELIABLE_PROTOCOL)
    sdk_victim = env.sdk("victim", groups=[g], reliable=True)
    bystander = env.raw("bystander")
    old_id = sdk_victim.connection_id
    assert old_id
    if scope == "connection":
        # close the three victims one by one
        for cid in (raw_victim.conn_id, rel_victim.conn_id, old_id):
            env.svc.close_connection(cid, reason=reason)
    else:
        _close(env, scope, g, {}, reason, excluded=None)
    for c in (raw_victim, rel_victim):
        closed, before = c.expect_close(5)
        assert closed.code == 1008, closed
        assert before and before[-1] == {"type": "system", "event": "disconnected", "message": reason}, before
    sdk_victim.wait_for(lambda: bool(sdk_victim.disconnected), 10, "the disconnected event")
    with sdk_victim.lock:
        assert sdk_victim.disconnected[0].message == reason
    assert not env.svc.connection_exists(raw_victim.conn_id)
    assert not env.svc.connection_exists(rel_victim.conn_id)
    # the closed reliable session cannot be recovered
    status, _ = handshake_status(recovery_url(env.url("victim"), rel_victim.conn_id,
                                              rel_victim.reconnection_token), RELIABLE_PROTOCOL)
    if status == 101:
        c = RawClient.open(recovery_url(env.url("victim"), rel_victim.conn_id,
                                        rel_victim.reconnection_token), RELIABLE_PROTOCOL)
        env.raws.append(c)
        closed, before = c.expect_close(5)
        assert closed.code == 1008, (closed, before)
        assert not any(m.get("event") == "connected" and m.get("connectionId") == rel_victim.conn_id
                       for m in before), before
    # the SDK client may reconnect (auto_reconnect) but never onto the old connection id
    time.sleep(1.0)
    with sdk_victim.lock:
        later_ids = [e.connection_id for e in sdk_victim.connected[1:]]
    assert old_id not in later_ids, later_ids
    assert not env.svc.connection_exists(old_id)
    # the bystander is untouched (close all with excluded is checked separately)
    if scope != "all":
        assert env.svc.connection_exists(bystander.conn_id)
        assert env.data_messages(bystander) == []


def test_close_default_reason_and_excluded(env):
    g = unique("g")
    keep = env.raw("victim", groups=[g])
    gone = env.raw("victim", groups=[g])
    other = env.raw("other", groups=[g])
    env.svc.close_user_connections("victim", excluded=[keep.conn_id])
    closed, before = gone.expect_close(5)
    assert closed.code == 1008
    assert before[-1] == {"type": "system", "event": "disconnected", "message": "Closed by app server"}
    assert env.svc.connection_exists(keep.conn_id) and env.svc.connection_exists(other.conn_id)
    env.svc.close_group_connections(g, excluded=[other.conn_id], reason="r2")
    closed, before = keep.expect_close(5)
    assert closed.code == 1008 and before[-1]["message"] == "r2"
    assert env.svc.connection_exists(other.conn_id)
    env.svc.close_all_connections(excluded=[other.conn_id])
    assert env.svc.connection_exists(other.conn_id)
    assert env.data_messages(other) == []
    env.svc.close_all_connections()
    closed, _ = other.expect_close(5)
    assert closed.code == 1008
    # closing again (nothing left) is still fine
    env.svc.close_all_connections(reason="nothing")
    env.svc.close_connection("0" * 32, reason="nothing")
    env.svc.close_user_connections("victim")
    env.svc.close_group_connections(g)


# --------------------------------------------------------------------------------------------
# exists
# --------------------------------------------------------------------------------------------


def test_exists_checks(env):
    g = unique("g")
    assert env.svc.user_exists("ex-user") is False
    assert env.svc.group_exists(g) is False
    assert env.svc.connection_exists("0" * 32) is False
    c = env.raw("ex-user", groups=[g])
    assert env.svc.connection_exists(c.conn_id) is True
    assert env.svc.user_exists("ex-user") is True
    assert env.svc.group_exists(g) is True
    assert env.svc.user_exists("EX-USER") is False  # user ids are case-sensitive
    env.svc.remove_connection_from_group(g, c.conn_id)
    assert env.svc.group_exists(g) is False
    env.svc.close_connection(c.conn_id)
    assert env.svc.connection_exists(c.conn_id) is False
    assert env.svc.user_exists("ex-user") is False
    # another hub does not see this hub's connections
    other = restenv.service_client(env.port, unique("Other"))
    c2 = env.raw("ex-user2")
    assert other.connection_exists(c2.conn_id) is False
    assert other.user_exists("ex-user2") is False


# --------------------------------------------------------------------------------------------
# group membership
# --------------------------------------------------------------------------------------------


def test_add_remove_connection_to_group(env):
    g, h = unique("g"), unique("h")
    a, b = env.raw("ua"), env.raw("ub")
    clients = {"a": a, "b": b}
    env.svc.add_connection_to_group(g, a.conn_id)
    env.svc.add_connection_to_group(h, a.conn_id)
    env.svc.add_connection_to_group(h, b.conn_id)
    env.svc.send_to_group(g, "m1", content_type="text/plain")
    assert env.who_got(clients, "m1", group=g) == {"a"}
    env.svc.send_to_group(h, "m2", content_type="text/plain")
    assert env.who_got(clients, "m2", group=h) == {"a", "b"}
    env.svc.remove_connection_from_group(g, a.conn_id)
    env.svc.remove_connection_from_group(g, a.conn_id)  # idempotent
    env.svc.remove_connection_from_group(g, "0" * 32)
    env.svc.send_to_group(g, "m3", content_type="text/plain")
    assert env.who_got(clients, "m3") == set()
    env.svc.send_to_group(h, "m4", content_type="text/plain")
    assert env.who_got(clients, "m4", group=h) == {"a", "b"}
    env.svc.add_connection_to_group(g, a.conn_id)
    env.svc.remove_connection_from_all_groups(a.conn_id)
    env.svc.send_to_group(g, "m5", content_type="text/plain")
    env.svc.send_to_group(h, "m6", content_type="text/plain")
    assert env.who_got(clients, "m5") == set()
    assert env.who_got(clients, "m6", group=h) == {"b"}
    with pytest.raises(ResourceNotFoundError):
        env.svc.add_connection_to_group(g, "0" * 32)


def test_add_remove_user_to_group(env):
    g, h = unique("g"), unique("h")
    u1a, u1b, u2 = env.raw("user1"), env.raw("user1"), env.raw("user2")
    clients = {"u1a": u1a, "u1b": u1b, "u2": u2}
    env.svc.add_user_to_group(g, "user1")
    env.svc.add_user_to_group(h, "user1")
    env.svc.add_user_to_group(h, "user2")
    env.svc.send_to_group(g, "m1", content_type="text/plain")
    assert env.who_got(clients, "m1", group=g) == {"u1a", "u1b"}
    # only the user's current connections were added
    late = env.raw("user1")
    clients["late"] = late
    env.svc.send_to_group(g, "m2", content_type="text/plain")
    assert env.who_got(clients, "m2", group=g) == {"u1a", "u1b"}
    env.svc.remove_user_from_group(g, "user1")
    env.svc.remove_user_from_group(g, "user1")  # idempotent
    env.svc.send_to_group(g, "m3", content_type="text/plain")
    assert env.who_got(clients, "m3") == set()
    env.svc.send_to_group(h, "m4", content_type="text/plain")
    assert env.who_got(clients, "m4", group=h) == {"u1a", "u1b", "u2"}
    env.svc.add_user_to_group(g, "user1")  # now all three user1 connections
    env.svc.remove_user_from_all_groups("user1")
    env.svc.send_to_group(g, "m5", content_type="text/plain")
    env.svc.send_to_group(h, "m6", content_type="text/plain")
    assert env.who_got(clients, "m5") == set()
    assert env.who_got(clients, "m6", group=h) == {"u2"}
    with pytest.raises(ResourceNotFoundError):
        env.svc.add_user_to_group(g, "no-such-user")
    env.svc.remove_user_from_group(g, "no-such-user")
    env.svc.remove_user_from_all_groups("no-such-user")


def _batch(env: HubEnv, op: str, groups: list[str], filter_: str | None) -> int:
    body: dict = {"groups": groups}
    if filter_ is not None:
        body["filter"] = filter_
    req = HttpRequest("POST", f"/api/hubs/{env.hub}/:{op}", params={"api-version": API_VERSION}, json=body)
    resp = env.svc.send_request(req)
    return resp.status_code


def test_add_remove_connections_to_groups_with_filter(env):
    g1, g2 = unique("g"), unique("g")
    clients = {
        "listener-1": env.raw("listener-1"),
        "listener-2": env.raw("listener-2"),
        "talker": env.raw("talker", groups=["old"]),
        "anon": env.raw(None, groups=["old"]),
    }
    assert _batch(env, "addToGroups", [g1, g2], "startswith(userId, 'listener-')") == 200
    env.svc.send_to_group(g1, "b1", content_type="text/plain")
    env.svc.send_to_group(g2, "b2", content_type="text/plain")
    assert env.who_got(clients, "b1", group=g1) == {"listener-1", "listener-2"}
    assert env.who_got(clients, "b2", group=g2) == {"listener-1", "listener-2"}
    assert _batch(env, "addToGroups", [g1], "'old' in groups and userId eq null") == 200
    env.svc.send_to_group(g1, "b3", content_type="text/plain")
    assert env.who_got(clients, "b3", group=g1) == {"listener-1", "listener-2", "anon"}
    assert _batch(env, "removeFromGroups", [g1], "userId eq 'listener-1' or userId eq null") == 200
    env.svc.send_to_group(g1, "b4", content_type="text/plain")
    env.svc.send_to_group(g2, "b5", content_type="text/plain")
    assert env.who_got(clients, "b4", group=g1) == {"listener-2"}
    assert env.who_got(clients, "b5", group=g2) == {"listener-1", "listener-2"}
    # without a filter: every connection of the hub
    assert _batch(env, "removeFromGroups", [g1, g2, "old"], None) == 200
    env.svc.send_to_group(g1, "b6", content_type="text/plain")
    env.svc.send_to_group(g2, "b7", content_type="text/plain")
    env.svc.send_to_group("old", "b8", content_type="text/plain")
    for p in ("b6", "b7", "b8"):
        assert env.who_got(clients, p) == set()
    assert _batch(env, "addToGroups", [g2], None) == 200
    env.svc.send_to_group(g2, "b9", content_type="text/plain")
    assert env.who_got(clients, "b9", group=g2) == set(clients)


# --------------------------------------------------------------------------------------------
# permissions
# --------------------------------------------------------------------------------------------

_ack_ids = iter(range(1, 10**9))


def _try(c: RawClient, kind: str, group: str) -> str:
    """joinGroup or sendToGroup over the raw JSON client; returns "ok" or the error name."""
    ack_id = next(_ack_ids)
    if kind == "send":
        c.send_json({"type": "sendToGroup", "group": group, "ackId": ack_id, "dataType": "text",
                     "data": "perm-probe"})
    else:
        c.send_json({"type": "joinGroup", "group": group, "ackId": ack_id})
    ack = c.ack(ack_id)
    return "ok" if ack["success"] else ack["error"]["name"]


def test_send_to_group_permission(env):
    c = env.raw("perm")  # no roles
    cid = c.conn_id
    svc = env.svc
    assert _try(c, "send", "ga") == "Forbidden"
    assert svc.has_permission("sendToGroup", cid, target_name="ga") is False
    svc.grant_permission("sendToGroup", cid, target_name="ga")
    assert svc.has_permission("sendToGroup", cid, target_name="ga") is True
    assert svc.has_permission("sendToGroup", cid, target_name="gb") is False
    assert svc.has_permission("sendToGroup", cid) is False
    assert svc.has_permission("joinLeaveGroup", cid, target_name="ga") is False
    assert _try(c, "send", "ga") == "ok"
    assert _try(c, "send", "gb") == "Forbidden"
    assert _try(c, "join", "ga") == "Forbidden"
    # grant for every group
    svc.grant_permission("sendToGroup", cid)
    assert svc.has_permission("sendToGroup", cid) is True
    assert svc.has_permission("sendToGroup", cid, target_name="anything") is True
    assert _try(c, "send", "gb") == "ok"
    # revoke one group while the any-group grant stays
    svc.revoke_permission("sendToGroup", cid, target_name="gb")
    assert svc.has_permission("sendToGroup", cid, target_name="gb") is False
    assert svc.has_permission("sendToGroup", cid) is False
    assert _try(c, "send", "gb") == "Forbidden"
    assert _try(c, "send", "gc") == "ok"
    # revoke everything
    svc.revoke_permission("sendToGroup", cid)
    assert _try(c, "send", "ga") == "Forbidden"
    assert _try(c, "send", "gc") == "Forbidden"
    assert svc.has_permission("sendToGroup", cid, target_name="ga") is False
    # grant/revoke/has on an unknown connection
    with pytest.raises(ResourceNotFoundError):
        svc.grant_permission("sendToGroup", "0" * 32, target_name="ga")
    assert svc.has_permission("sendToGroup", "0" * 32) is False
    svc.revoke_permission("sendToGroup", "0" * 32)


def test_join_leave_group_permission_and_delivery(env):
    member = env.raw("member")
    c = env.raw("joiner")
    svc = env.svc
    cid = c.conn_id
    assert _try(c, "join", "jg") == "Forbidden"
    svc.grant_permission("joinLeaveGroup", cid, target_name="jg")
    assert svc.has_permission("joinLeaveGroup", cid, target_name="jg") is True
    assert svc.has_permission("joinLeaveGroup", cid) is False
    assert _try(c, "join", "jg") == "ok"
    assert _try(c, "join", "other") == "Forbidden"
    svc.send_to_group("jg", "after-join", content_type="text/plain")
    assert env.who_got({"c": c, "member": member}, "after-join", group="jg") == {"c"}
    svc.revoke_permission("joinLeaveGroup", cid, target_name="jg")
    assert svc.has_permission("joinLeaveGroup", cid, target_name="jg") is False
    c.send_json({"type": "leaveGroup", "group": "jg", "ackId": 999})
    ack = c.ack(999)
    assert ack["success"] is False and ack["error"]["name"] == "Forbidden", ack
    svc.grant_permission("joinLeaveGroup", cid)
    assert svc.has_permission("joinLeaveGroup", cid) is True
    assert _try(c, "join", "other") == "ok"
    # a role from the token counts, and revoking for all groups removes it
    r = env.raw("roled", roles=["webpubsub.joinLeaveGroup"])
    assert svc.has_permission("joinLeaveGroup", r.conn_id) is True
    assert _try(r, "join", "x1") == "ok"
    svc.revoke_permission("joinLeaveGroup", r.conn_id)
    assert svc.has_permission("joinLeaveGroup", r.conn_id, target_name="x2") is False
    assert _try(r, "join", "x2") == "Forbidden"


def test_permission_granted_to_sdk_client(env):
    """The official client SDK sees Forbidden, then success once granted over REST."""
    g = unique("g")
    listener = env.raw("listener", groups=[g])
    c = env.sdk("sdk-sender", reliable=True, message_retry_total=0)
    with pytest.raises(SendMessageError) as ei:
        c.client.send_to_group(g, "denied", WebPubSubDataType.TEXT)
    assert ei.value.error_detail is not None and ei.value.error_detail.name == "Forbidden", ei.value
    env.svc.grant_permission("sendToGroup", c.connection_id, target_name=g)
    c.client.send_to_group(g, "allowed", WebPubSubDataType.TEXT)
    msgs = [m for m in env.data_messages(listener) if m.get("from") == "group"]
    assert [(m["data"], m["fromUserId"]) for m in msgs] == [("allowed", "sdk-sender")], msgs
    with pytest.raises(SendMessageError) as ei:
        c.client.join_group(g)
    assert ei.value.error_detail.name == "Forbidden"
    env.svc.grant_permission("joinLeaveGroup", c.connection_id, target_name=g)
    c.client.join_group(g)
    env.svc.send_to_group(g, "to-sdk", content_type="text/plain")
    c.wait_for(lambda: any(m.data == "to-sdk" for m in c.group_messages), 10, "the group message")


# --------------------------------------------------------------------------------------------
# tokens
# --------------------------------------------------------------------------------------------


def test_get_client_access_token_url_connects(env):
    g = unique("g")
    tok = env.svc.get_client_access_token(user_id="tok-user", roles=["webpubsub.sendToGroup." + g],
                                          groups=[g], minutes_to_expire=5)
    assert tok["url"].startswith(f"ws://127.0.0.1:{env.port}/client/hubs/")
    c = env.sdk(url=tok["url"], reliable=False)
    with c.lock:
        assert c.connected[0].user_id == "tok-user"
    listener = env.raw("listener", groups=[g])
    c.client.send_to_group(g, "hi from token", WebPubSubDataType.TEXT)
    msgs = [m for m in env.data_messages(listener) if m.get("from") == "group"]
    assert [(m["data"], m["fromUserId"]) for m in msgs] == [("hi from token", "tok-user")]
    env.svc.send_to_group(g, "to-token-client", content_type="text/plain")
    c.wait_for(lambda: any(m.data == "to-token-client" for m in c.group_messages), 10, "auto-joined group")


def test_generate_token_rest(env):
    g = unique("g")
    r = rest(env.port, "POST", hub_path(env.hub, "/:generateToken"),
             params=[("userId", "gen-user"), ("role", "webpubsub.sendToGroup." + g),
                     ("role", "webpubsub.joinLeaveGroup"), ("group", g), ("minutesToExpire", "5")])
    assert r.status == 200, r
    body = r.json()
    assert set(body) == {"token"}, body
    claims = jwt_claims(body["token"])
    assert claims["sub"] == "gen-user"
    assert claims["exp"] - claims["iat"] == 300, claims
    assert sorted(claims["role"]) == sorted(["webpubsub.sendToGroup." + g, "webpubsub.joinLeaveGroup"])
    assert claims["webpubsub.group"] == [g]
    assert claims["aud"].lower() == f"http://127.0.0.1:{env.port}/client/hubs/{env.hub}".lower()
    url = f"ws://127.0.0.1:{env.port}/client/hubs/{env.hub}?access_token={body['token']}"
    c = RawClient.open(url, JSON_PROTOCOL)
    env.raws.append(c)
    hello = c.recv_json()
    assert hello["event"] == "connected" and hello["userId"] == "gen-user", hello
    c.conn_id = hello["connectionId"]
    assert env.group_payloads(c) == []
    env.svc.send_to_group(g, "gen-group", content_type="text/plain")
    assert env.group_payloads(c, g) == ["gen-group"]
    assert _try(c, "send", g) == "ok"
    assert _try(c, "join", "any-group") == "ok"
    # default lifetime 60 minutes
    r = rest(env.port, "POST", hub_path(env.hub, "/:generateToken"), params={"userId": "u2"})
    assert r.status == 200, r
    claims = jwt_claims(r.json()["token"])
    assert claims["exp"] - claims["iat"] == 3600, claims


# --------------------------------------------------------------------------------------------
# listing group members
# --------------------------------------------------------------------------------------------


@pytest.mark.deadline(150)
def test_list_connections_paging(env):
    g = unique("big")
    members = {}
    for i in range(250):
        c = env.raw(f"user-{i:03d}", groups=[g], timeout=10)
        members[c.conn_id] = c.user
    outsider = env.raw("outsider")
    assert outsider.conn_id not in members

    listed = [(m.connection_id, m.user_id) for m in env.svc.list_connections(group=g)]
    assert sorted(listed) == sorted(members.items())
    assert len(listed) == len(set(listed)) == 250

    for page_size in (1, 7, 100, 200):
        pages = list(env.svc.list_connections(group=g, maxpagesize=page_size).by_page())
        ids = [m.connection_id for p in pages for m in p]
        assert len(ids) == 250 and set(ids) == set(members), (page_size, len(ids))
        assert all(len(p) <= page_size for p in pages)
        assert len([p for p in pages if p]) == -(-250 // page_size), (page_size, [len(p) for p in pages])
        assert ids == sorted(ids), "members are listed in connection-id order"

    top = [m.connection_id for m in env.svc.list_connections(group=g, top=10, maxpagesize=3)]
    assert len(top) == 10 and top == sorted(members)[:10], top

    # the raw shape: absolute nextLink carrying continuationToken, null on the last page
    r = rest(env.port, "GET", hub_path(env.hub, f"/groups/{g}/connections"), params={"maxpagesize": "200"})
    assert r.status == 200, r
    page = r.json()
    assert len(page["value"]) == 200 and set(page["value"][0]) == {"connectionId", "userId"}
    nxt = page["nextLink"]
    assert nxt.startswith(f"http://127.0.0.1:{env.port}/api/hubs/"), nxt
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(nxt).query)
    assert q["continuationToken"] == [page["value"][-1]["connectionId"]], nxt
    split = urllib.parse.urlsplit(nxt)
    r2 = rest(env.port, "GET", split.path, params=[(k, v) for k, vs in q.items() for v in vs
                                                   if k != "api-version"])
    assert r2.status == 200, r2
    page2 = r2.json()
    assert len(page2["value"]) == 50 and page2["nextLink"] is None, page2["nextLink"]
    assert {m["connectionId"] for m in page["value"] + page2["value"]} == set(members)

    empty = rest(env.port, "GET", hub_path(env.hub, "/groups/no-members/connections"))
    assert empty.status == 200 and empty.json() == {"value": [], "nextLink": None}, empty
    for c in env.raws:
        c.close()
    env.raws.clear()
    assert_rest_serving(env.port)


# --------------------------------------------------------------------------------------------
# names: hub case, percent-encoded path segments
# --------------------------------------------------------------------------------------------


def test_hub_names_are_case_insensitive(env):
    c = env.raw("case-user")
    other_case = restenv.service_client(env.port, env.hub.upper())
    assert other_case.connection_exists(c.conn_id) is True
    other_case.send_to_user("case-user", "via upper-case hub", content_type="text/plain")
    assert [m["data"] for m in env.data_messages(c)] == ["via upper-case hub"]


def test_encoded_user_and_group_names(env):
    """The SDK percent-encodes path segments; an encoded '/' stays inside the name."""
    user, group = "team/a b%c", "room/1 ü?#"
    c = env.raw(user)
    other = env.raw("team")
    assert env.svc.user_exists(user) is True
    assert env.svc.user_exists("team") is True and env.svc.user_exists("team/a") is False
    env.svc.add_user_to_group(group, user)
    assert env.svc.group_exists(group) is True
    assert env.svc.group_exists("room") is False
    env.svc.send_to_group(group, "enc-group", content_type="text/plain")
    env.svc.send_to_user(user, "enc-user", content_type="text/plain")
    assert env.who_got({"c": c, "other": other}, "enc-group", group=group) == {"c"}
    assert env.who_got({"c": c, "other": other}, "enc-user", from_="server") == {"c"}
    members = [(m.connection_id, m.user_id) for m in env.svc.list_connections(group=group)]
    assert members == [(c.conn_id, user)]
    env.svc.remove_user_from_group(group, user)
    assert env.svc.group_exists(group) is False
