"""Cluster mode: three wps-server nodes on one Redis behind HAProxy behave as one service.

Each test runs against a real cluster (clusterenv): once on a single redis-server and once on a
three-shard Redis Cluster (--redis-cluster). Clients and REST calls go through HAProxy (round
robin), so consecutive connections and calls land on different nodes; tests check that they did
(connection ids name their node; HAProxy tags each answer with the node that served it). Where a
test needs a client on a given node it connects to that node's own port.

Negative observations ("X did not receive") use HubEnv.collect: a sentinel sent to the connection
afterwards by the same caller, which the cluster delivers after everything that caller sent before.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import threading
import time
import urllib.parse

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError  # noqa: F401
from azure.core.rest import HttpRequest
from azure.messaging.webpubsubclient.models import SendMessageError, WebPubSubDataType

import clusterenv
from clusterenv import (ACCESS_KEY, NEGOTIATE_KEY, NODE_HEADER, PROBE, Cluster, cluster, env,  # noqa: F401
                        fresh_cluster, wait_until)
from restenv import (API_VERSION, JSON_PROTOCOL, RELIABLE_PROTOCOL, hub_path, http_request, jwt_claims, rest,
                     unique)
from sdkenv import RawClient
from serverproc import SERVER_BIN

pytestmark = pytest.mark.deadline(90)

ALL_ROLES = ("webpubsub.joinLeaveGroup", "webpubsub.sendToGroup")


def one_per_node(env, make):
    """make(node) for every node, in node order."""
    return [make(n) for n in env.cluster.nodes]


def data_of(messages: list[dict]) -> list:
    return [m.get("data") for m in messages if m.get("type") == "message"]


def ack(c: RawClient, ack_id: int) -> dict:
    """The ack for `ack_id`; messages read before it are kept for received()."""
    msg, skipped = c.recv_until(lambda m: m.get("type") == "ack" and m.get("ackId") == ack_id)
    c.pending = getattr(c, "pending", []) + skipped
    return msg


def received(env, c: RawClient, groups=()) -> list:
    """Data of every message `c` got so far (sentinel-checked), including those read by ack();
    `groups`: groups `c` is in whose messages must be waited for (a Redis Cluster keeps order
    per channel only, so each needs a sentinel of its own)."""
    return data_of(env.collect(c, groups=groups))


def served_nodes(cluster: Cluster, calls) -> set[str]:
    """Runs calls() and returns the nodes that answered the REST calls it made through HAProxy."""
    mark = len(cluster.served)
    calls()
    nodes = cluster.served_since(mark)
    assert None not in nodes, f"an answer without {NODE_HEADER}: {nodes}"
    return set(nodes)


def all_node_ids(cluster: Cluster) -> set[str]:
    return {n.node_id for n in cluster.nodes}


# --------------------------------------------------------------------------------------------
# the cluster itself
# --------------------------------------------------------------------------------------------


def test_nodes_announce_their_ids_and_are_ready(cluster):
    for n in cluster.nodes:
        assert n.reported_node_id() == n.node_id
        assert n.status("/healthz") == 200
        assert n.status("/readyz") == 200
    seen = {cluster.proxy.served_by()[1] for _ in range(len(cluster.nodes) * 2)}
    assert seen == all_node_ids(cluster), seen


def test_connections_through_haproxy_land_on_every_node(env):
    clients = [env.raw(f"u{i}") for i in range(6)]
    nodes = [Cluster.node_of(c.conn_id) for c in clients]
    assert set(nodes) == all_node_ids(env.cluster), nodes
    for c in clients:
        assert c.conn_id.rsplit(".", 1)[1].isalnum() and len(c.conn_id.rsplit(".", 1)[1]) == 32, c.conn_id


def test_rest_calls_through_haproxy_land_on_every_node(env):
    c = env.raw("someone")
    nodes = served_nodes(env.cluster, lambda: [env.svc.connection_exists(c.conn_id) for _ in range(6)])
    assert nodes == all_node_ids(env.cluster)


# --------------------------------------------------------------------------------------------
# client SDK: connections on every node talk to each other
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("reliable", [False, True], ids=["json", "reliable"])
def test_sdk_clients_on_every_node_exchange_group_messages(env, reliable):
    g = unique("g")
    clients = [env.sdk(f"user{i}", roles=ALL_ROLES, reliable=reliable) for i in range(3)]
    assert {Cluster.node_of(c.connection_id) for c in clients} == all_node_ids(env.cluster)
    for c in clients:
        c.client.join_group(g)
    for c in clients:
        env.settle_sdk(c, [g])
    for i, c in enumerate(clients):
        c.client.send_to_group(g, f"from-{i}", WebPubSubDataType.TEXT)

    def data(c):
        return [m for m in c.messages(g) if not str(m.data).startswith(PROBE)]

    for c in clients:
        c.wait_for(lambda c=c: len(data(c)) >= 3, 10, "a message from every node")
    for c in clients:
        got = sorted((m.from_user_id, m.data) for m in data(c))
        assert got == [(f"user{i}", f"from-{i}") for i in range(3)], got
        assert c.schema_errors == []


def test_client_join_send_leave_across_nodes(env):
    """joinGroup / leaveGroup / sendToGroup from a client on each node reach members on the others."""
    g = unique("g")
    members = one_per_node(env, lambda n: env.raw_on(n, f"m-{n.node_id}", roles=ALL_ROLES))
    for i, c in enumerate(members):
        c.send_json({"type": "joinGroup", "group": g, "ackId": 1})
        assert ack(c, 1)["success"] is True
    for c in members:
        env.settle(c, [g])
    for i, c in enumerate(members):
        c.send_json({"type": "sendToGroup", "group": g, "dataType": "text", "data": f"hello-{i}", "ackId": 2})
        assert ack(c, 2)["success"] is True
    for c in members:
        got = received(env, c, [g])
        assert sorted(got) == [f"hello-{i}" for i in range(3)], got
    # the first node's member leaves; the others keep talking
    members[0].send_json({"type": "leaveGroup", "group": g, "ackId": 3})
    assert ack(members[0], 3)["success"] is True
    members[2].send_json({"type": "sendToGroup", "group": g, "dataType": "text", "data": "after-leave",
                          "ackId": 4, "noEcho": True})
    assert ack(members[2], 4)["success"] is True
    assert received(env, members[0]) == []
    assert received(env, members[1], [g]) == ["after-leave"]
    assert received(env, members[2], [g]) == []


def test_client_join_then_immediate_send_from_another_node(env):
    """Once joinGroup is acknowledged, a message sent right away by a client on another node
    reaches the new member."""
    n1, n2 = env.cluster.nodes[0], env.cluster.nodes[1]
    members = [env.raw_on(n1, "member", roles=ALL_ROLES) for _ in range(4)]  # on both loops of n1
    sender = env.raw_on(n2, "sender", roles=ALL_ROLES)
    missed = []
    for i in range(25):
        for m in members:
            g = unique("fresh")
            m.send_json({"type": "joinGroup", "group": g, "ackId": 100 + i})
            assert ack(m, 100 + i)["success"] is True
            sender.send_json({"type": "sendToGroup", "group": g, "dataType": "text", "data": f"first-{i}"})
            got = received(env, m, groups=[g])
            if got != [f"first-{i}"]:
                missed.append((m.conn_id, i, got))
    assert missed == [], f"messages lost right after joinGroup's ack (connection, round, received): {missed}"


def test_rest_join_then_immediate_send_from_another_node(env):
    """A REST group operation is answered once the subscriptions it caused are in effect, so a
    message sent right after the answer, by a client on another node, reaches the new member;
    after a removal it no longer does."""
    n1, n2, n3 = env.cluster.nodes
    member = env.raw_on(n3, "member")
    sender = env.raw_on(n2, "sender", roles=ALL_ROLES)
    missed = []
    for i in range(20):
        g = unique("fresh")
        env.node_svc(n1).add_connection_to_group(g, member.conn_id)
        sender.send_json({"type": "sendToGroup", "group": g, "dataType": "text", "data": f"first-{i}",
                          "ackId": 100 + i})
        assert ack(sender, 100 + i)["success"] is True
        env.node_svc(n1).remove_connection_from_group(g, member.conn_id)
        sender.send_json({"type": "sendToGroup", "group": g, "dataType": "text", "data": f"late-{i}",
                          "ackId": 200 + i})
        assert ack(sender, 200 + i)["success"] is True
        got = received(env, member)
        if got != [f"first-{i}"]:
            missed.append((i, got))
    assert missed == [], f"rounds where the member missed the first or got the late message: {missed}"


def test_rest_caller_order_kept_when_calls_land_on_different_nodes(env):
    """A caller that waits for each answer gets its order kept although consecutive calls are
    served by different nodes, the recipient's own among them (it delivers at once what the
    others publish through Redis). On a Redis Cluster order is kept per channel, so there all
    the calls go to one group."""
    nodes = env.cluster.nodes
    g = unique("g")
    rcpt = env.raw_on(nodes[0], "rcpt", groups=[g])
    svcs = [env.node_svc(n) for n in nodes]
    sharded = env.cluster.kind == "redis-cluster"
    count = 150
    for i in range(count):
        svc = svcs[i % len(svcs)]
        kind = "group" if sharded else ("group", "connection", "user", "all")[(i // 3) % 4]
        if kind == "group":
            svc.send_to_group(g, str(i), content_type="text/plain")
        elif kind == "connection":
            svc.send_to_connection(rcpt.conn_id, str(i), content_type="text/plain")
        elif kind == "user":
            svc.send_to_user("rcpt", str(i), content_type="text/plain")
        else:
            svc.send_to_all(str(i), content_type="text/plain")
    got = []
    deadline = time.monotonic() + 20
    while len(got) < count and time.monotonic() < deadline:
        m = rcpt.recv_json(max(0.1, deadline - time.monotonic()))
        if m.get("type") == "message":
            got.append(int(m["data"]))
    assert got == list(range(count)), [(i, x) for i, x in enumerate(got) if i != x][:10]
    assert received(env, rcpt) == []


# --------------------------------------------------------------------------------------------
# REST sends, whichever node takes the call
# --------------------------------------------------------------------------------------------


def test_send_to_all_group_user_connection(env):
    g = unique("g")
    clients = {f"c{i}": env.raw_on(n, "alice" if i == 0 else f"bob{i}", groups=[g])
               for i, n in enumerate(env.cluster.nodes)}
    clients["far-alice"] = env.raw_on(env.cluster.nodes[2], "alice")
    everyone = set(clients)

    def sends():
        for k in range(3):  # three calls: round robin puts one on each node
            env.svc.send_to_all(f"all-{k}", content_type="text/plain")
            env.svc.send_to_group(g, f"group-{k}", content_type="text/plain")
            env.svc.send_to_user("alice", f"user-{k}", content_type="text/plain")
            env.svc.send_to_connection(clients["c1"].conn_id, f"conn-{k}", content_type="text/plain")

    assert served_nodes(env.cluster, sends) == all_node_ids(env.cluster)
    for name, c in clients.items():
        got = data_of(env.collect(c))
        expected = [f"all-{k}" for k in range(3)]
        if name.startswith("c"):
            expected += [f"group-{k}" for k in range(3)]
        if name in ("c0", "far-alice"):
            expected += [f"user-{k}" for k in range(3)]
        if name == "c1":
            expected += [f"conn-{k}" for k in range(3)]
        assert sorted(got) == sorted(expected), (name, got)
        # each caller's calls arrive in the order they were made
        for prefix in ("all-", "group-", "user-", "conn-"):
            mine = [d for d in got if d.startswith(prefix)]
            assert mine == sorted(mine), (name, got)
    assert everyone


def test_send_with_excluded_and_filter(env):
    g = unique("g")
    nodes = env.cluster.nodes
    clients = {
        "anna": env.raw_on(nodes[0], "anna", groups=[g]),
        "bob": env.raw_on(nodes[1], "bob", groups=[g]),
        "carl": env.raw_on(nodes[2], "carl"),
        "adam": env.raw_on(nodes[2], "adam", groups=[g]),
    }
    svc = env.svc
    svc.send_to_all("x-all", content_type="text/plain", excluded=[clients["anna"].conn_id, clients["adam"].conn_id])
    svc.send_to_group(g, "x-group", content_type="text/plain", excluded=[clients["bob"].conn_id])
    svc.send_to_all("f-all", content_type="text/plain", filter="startswith(userId, 'a')")
    svc.send_to_group(g, "f-group", content_type="text/plain", filter="userId ne 'anna'")
    svc.send_to_all("f-conn", content_type="text/plain", filter=f"connectionId eq '{clients['bob'].conn_id}'")
    svc.send_to_all("f-both", content_type="text/plain", filter=f"'{g}' in groups",
                    excluded=[clients["adam"].conn_id])
    svc.send_to_user("carl", "f-user", content_type="text/plain", filter=f"'{g}' in groups")
    expected = {
        "anna": ["x-group", "f-all", "f-both"],
        "bob": ["x-all", "f-group", "f-conn", "f-both"],
        "carl": ["x-all"],
        "adam": ["x-group", "f-all", "f-group"],
    }
    for name, c in clients.items():
        assert data_of(env.collect(c)) == expected[name], name


def test_send_with_message_ttl(env):
    g = unique("g")
    c = one_per_node(env, lambda n: env.raw_on(n, "ttl-user", groups=[g]))
    for k in range(3):
        env.svc.send_to_all(f"ttl-{k}", content_type="text/plain", params={"messageTtlSeconds": 60})
        env.svc.send_to_user("ttl-user", f"ttl-user-{k}", content_type="text/plain", params={"messageTtlSeconds": 30})
        env.svc.send_to_group(g, f"ttl-group-{k}", content_type="text/plain", params={"messageTtlSeconds": 1})
        env.svc.send_to_connection(c[k].conn_id, f"ttl-conn-{k}", content_type="text/plain",
                                   params={"messageTtlSeconds": 0})
    for i, x in enumerate(c):
        got = data_of(env.collect(x))
        expected = [m for k in range(3) for m in (f"ttl-{k}", f"ttl-user-{k}", f"ttl-group-{k}")
                    + ((f"ttl-conn-{k}",) if k == i else ())]
        if env.cluster.kind == "redis-cluster":
            # order is kept per channel there (protocol-spec/cluster.md §8): per kind of target
            assert sorted(got) == sorted(expected), got
            for prefix in ("ttl-user-", "ttl-group-", "ttl-conn-"):
                assert [d for d in got if d.startswith(prefix)] == [d for d in expected if d.startswith(prefix)]
        else:
            assert got == expected, got
    r = rest(env.port, "POST", hub_path(env.hub, "/:send"), params={"messageTtlSeconds": "301"},
             body="x", content_type="text/plain", key=ACCESS_KEY)
    assert r.status == 400, r


def test_send_json_and_binary_across_nodes(env):
    clients = one_per_node(env, lambda n: env.raw_on(n, "p"))
    env.svc.send_to_all({"k": [1, "ü", None]})
    env.svc.send_to_all(b"\x00\x01\xff", content_type="application/octet-stream")
    for c in clients:
        got = [m for m in env.collect(c) if m.get("type") == "message"]
        assert [(m["dataType"], m["data"]) for m in got] == [("json", {"k": [1, "ü", None]}), ("binary", "AAH/")]


# --------------------------------------------------------------------------------------------
# REST group membership
# --------------------------------------------------------------------------------------------


def test_add_and_remove_connection_to_group(env):
    g = unique("g")
    clients = one_per_node(env, lambda n: env.raw_on(n, f"u-{n.node_id}"))
    for c in clients:
        env.svc.add_connection_to_group(g, c.conn_id)  # through HAProxy: any node
    env.svc.send_to_group(g, "one", content_type="text/plain")
    for c in clients:
        assert data_of(env.collect(c)) == ["one"]
    env.svc.remove_connection_from_group(g, clients[1].conn_id)
    env.svc.send_to_group(g, "two", content_type="text/plain")
    assert [data_of(env.collect(c)) for c in clients] == [["two"], [], ["two"]]
    env.svc.remove_connection_from_all_groups(clients[2].conn_id)
    env.svc.send_to_group(g, "three", content_type="text/plain")
    assert [data_of(env.collect(c)) for c in clients] == [["three"], [], []]
    with pytest.raises(ResourceNotFoundError):
        env.svc.add_connection_to_group(g, env.cluster.nodes[1].node_id + "." + "0" * 32)


def test_add_and_remove_user_to_group(env):
    g = unique("g")
    dana = one_per_node(env, lambda n: env.raw_on(n, "dana"))
    other = env.raw_on(env.cluster.nodes[0], "other")
    env.svc.add_user_to_group(g, "dana")
    env.svc.send_to_group(g, "to-dana", content_type="text/plain")
    for c in dana:
        assert data_of(env.collect(c)) == ["to-dana"]
    assert data_of(env.collect(other)) == []
    assert env.svc.group_exists(g)
    env.svc.remove_user_from_group(g, "dana")
    env.svc.send_to_group(g, "gone", content_type="text/plain")
    for c in dana:
        assert data_of(env.collect(c)) == []
    assert not env.svc.group_exists(g)
    env.svc.add_user_to_group(g, "dana")
    env.svc.add_user_to_group(g + "b", "dana")
    env.svc.remove_user_from_all_groups("dana")
    env.svc.send_to_group(g, "gone2", content_type="text/plain")
    env.svc.send_to_group(g + "b", "gone3", content_type="text/plain")
    for c in dana:
        assert data_of(env.collect(c)) == []


def _batch(env, op: str, groups: list[str], filter_: str | None) -> int:
    body: dict = {"groups": groups}
    if filter_ is not None:
        body["filter"] = filter_
    req = HttpRequest("POST", f"/api/hubs/{env.hub}/:{op}", params={"api-version": API_VERSION}, json=body)
    return env.svc.send_request(req).status_code


def test_add_to_groups_and_remove_from_groups_with_filter(env):
    g1, g2 = unique("g"), unique("g")
    nodes = env.cluster.nodes
    clients = {
        "listener-1": env.raw_on(nodes[0], "listener-1"),
        "listener-2": env.raw_on(nodes[1], "listener-2"),
        "anon": env.raw_on(nodes[2], None, groups=["old"]),
        "other": env.raw_on(nodes[2], "other"),
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
    assert _batch(env, "removeFromGroups", [g1, g2, "old"], None) == 200
    env.svc.send_to_group(g1, "b6", content_type="text/plain")
    env.svc.send_to_group(g2, "b7", content_type="text/plain")
    env.svc.send_to_group("old", "b8", content_type="text/plain")
    for p in ("b6", "b7", "b8"):
        assert env.who_got(clients, p) == set(), p


# --------------------------------------------------------------------------------------------
# existence and member lists
# --------------------------------------------------------------------------------------------


def test_existence_from_every_node(env):
    g = unique("g")
    nodes = env.cluster.nodes
    held = {n.node_id: env.raw_on(n, f"user-{n.node_id}", groups=[g]) for n in nodes}
    for entry in nodes:  # the node that answers
        svc = env.node_svc(entry)
        for holder in nodes:  # the node that holds the connection
            c = held[holder.node_id]
            assert svc.connection_exists(c.conn_id), (entry.node_id, holder.node_id)
            assert svc.user_exists(f"user-{holder.node_id}"), (entry.node_id, holder.node_id)
        assert svc.group_exists(g)
        assert not svc.group_exists(g + "-none")
        assert not svc.user_exists("nobody")
        assert not svc.connection_exists(nodes[1].node_id + "." + "0" * 32)
        assert not svc.connection_exists("0" * 32)
    # a group emptied on every node is gone everywhere
    env.svc.remove_connection_from_group(g, held[nodes[0].node_id].conn_id)
    assert env.svc.group_exists(g)
    for n in nodes[1:]:
        env.svc.remove_connection_from_group(g, held[n.node_id].conn_id)
    for entry in nodes:
        assert not env.node_svc(entry).group_exists(g), entry.node_id


def test_list_group_members_paged(env):
    g = unique("big")
    members = {}
    for i in range(45):  # through HAProxy: fifteen on each node
        c = env.raw(f"user-{i:03d}", groups=[g], timeout=10)
        members[c.conn_id] = c.user
    assert {Cluster.node_of(cid) for cid in members} == all_node_ids(env.cluster)
    env.raw("outsider")
    listed = [(m.connection_id, m.user_id) for m in env.svc.list_connections(group=g)]
    assert sorted(listed) == sorted(members.items())
    for page_size in (1, 7, 20):
        mark = len(env.cluster.served)
        pages = list(env.svc.list_connections(group=g, maxpagesize=page_size).by_page())
        ids = [m.connection_id for p in pages for m in p]
        assert len(ids) == 45 and set(ids) == set(members), (page_size, len(ids))
        assert all(len(p) <= page_size for p in pages)
        assert ids == sorted(ids), "members are listed in connection-id order"
        if len(pages) >= 3:  # the pages came from different nodes
            assert set(env.cluster.served_since(mark)) == all_node_ids(env.cluster)
    top = [m.connection_id for m in env.svc.list_connections(group=g, top=10, maxpagesize=3)]
    assert top == sorted(members)[:10], top
    r = rest(env.port, "GET", hub_path(env.hub, f"/groups/{g}/connections"), params={"maxpagesize": "20"},
             key=ACCESS_KEY)
    assert r.status == 200, r
    assert r.json()["nextLink"].startswith(f"http://127.0.0.1:{env.port}/api/hubs/"), r.json()


# --------------------------------------------------------------------------------------------
# closing
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("scope", ["all", "group", "user", "connection"])
def test_close_with_reason_on_every_node(env, scope):
    g = unique("g")
    reason = f"closed across the cluster ({scope})"
    victims = one_per_node(env, lambda n: env.raw_on(n, "victim", groups=[g]))
    sdk_victim = env.sdk("victim", groups=[g], reliable=True)
    bystander = env.raw_on(env.cluster.nodes[1], "bystander")
    if scope == "all":
        env.svc.close_all_connections(reason=reason, excluded=[bystander.conn_id])
    elif scope == "group":
        env.svc.close_group_connections(g, reason=reason)
    elif scope == "user":
        env.svc.close_user_connections("victim", reason=reason)
    else:
        for cid in [v.conn_id for v in victims] + [sdk_victim.connection_id]:
            env.svc.close_connection(cid, reason=reason)
    for v in victims:
        closed, before = v.expect_close(5)
        assert closed.code == 1008, closed
        assert before and before[-1] == {"type": "system", "event": "disconnected", "message": reason}, before
    sdk_victim.wait_for(lambda: bool(sdk_victim.disconnected), 10, "the disconnected event")
    with sdk_victim.lock:
        assert sdk_victim.disconnected[0].message == reason
    for v in victims:
        assert not env.svc.connection_exists(v.conn_id)
    assert env.svc.connection_exists(bystander.conn_id)
    assert data_of(env.collect(bystander)) == []


def test_close_with_excluded_across_nodes(env):
    g = unique("g")
    nodes = env.cluster.nodes
    keep = env.raw_on(nodes[0], "victim", groups=[g])
    gone = env.raw_on(nodes[1], "victim", groups=[g])
    other = env.raw_on(nodes[2], "other", groups=[g])
    env.svc.close_user_connections("victim", excluded=[keep.conn_id])
    closed, before = gone.expect_close(5)
    assert closed.code == 1008 and before[-1]["message"] == "Closed by app server", before
    env.svc.close_group_connections(g, excluded=[other.conn_id], reason="r2")
    closed, before = keep.expect_close(5)
    assert closed.code == 1008 and before[-1]["message"] == "r2"
    assert env.svc.connection_exists(other.conn_id)
    assert data_of(env.collect(other)) == []


# --------------------------------------------------------------------------------------------
# permissions
# --------------------------------------------------------------------------------------------


def test_grant_revoke_check_permission_across_nodes(env):
    g = unique("g")
    nodes = env.cluster.nodes
    member = env.raw_on(nodes[0], "member", groups=[g])
    sdk = env.sdk_on(nodes[1], "writer", reliable=False)
    cid = sdk.connection_id
    assert Cluster.node_of(cid) == nodes[1].node_id
    for entry in nodes:
        assert not env.node_svc(entry).has_permission("sendToGroup", cid, target_name=g)
    with pytest.raises(SendMessageError):
        sdk.client.send_to_group(g, "denied", WebPubSubDataType.TEXT)
    env.node_svc(nodes[2]).grant_permission("sendToGroup", cid, target_name=g)  # held by another node
    for entry in nodes:
        assert env.node_svc(entry).has_permission("sendToGroup", cid, target_name=g), entry.node_id
    sdk.client.send_to_group(g, "allowed", WebPubSubDataType.TEXT)
    assert data_of(env.collect(member)) == ["allowed"]
    env.node_svc(nodes[0]).revoke_permission("sendToGroup", cid, target_name=g)
    for entry in nodes:
        assert not env.node_svc(entry).has_permission("sendToGroup", cid, target_name=g), entry.node_id
    with pytest.raises(SendMessageError):
        sdk.client.send_to_group(g, "denied-again", WebPubSubDataType.TEXT)
    env.node_svc(nodes[2]).grant_permission("joinLeaveGroup", cid, target_name=g)
    sdk.client.join_group(g)
    env.settle_sdk(sdk, [g])
    env.svc.send_to_group(g, "joined", content_type="text/plain")
    sdk.wait_for(lambda: any(m.data == "joined" for m in sdk.messages(g)), 10, "the granted join")
    with pytest.raises(ResourceNotFoundError):
        env.node_svc(nodes[0]).grant_permission("sendToGroup", nodes[1].node_id + "." + "0" * 32, target_name=g)


# --------------------------------------------------------------------------------------------
# tokens: :generateToken and /negotiate on any node
# --------------------------------------------------------------------------------------------


def test_generate_token_from_any_node_connects_through_haproxy(env):
    g = unique("g")
    listener = env.raw_on(env.cluster.nodes[0], "listener", groups=[g])
    landed = set()
    for i in range(3):
        r = rest(env.port, "POST", hub_path(env.hub, "/:generateToken"),
                 params=[("userId", f"gen-{i}"), ("role", "webpubsub.sendToGroup"), ("minutesToExpire", "5")],
                 key=ACCESS_KEY)
        assert r.status == 200, r
        assert r.header(NODE_HEADER) in all_node_ids(env.cluster)
        landed.add(r.header(NODE_HEADER))
        token = r.json()["token"]
        assert jwt_claims(token)["aud"].lower() == f"http://127.0.0.1:{env.port}/client/hubs/{env.hub}".lower()
        c = RawClient.open(f"ws://127.0.0.1:{env.port}/client/hubs/{env.hub}?access_token={token}", JSON_PROTOCOL)
        env.raws.append(c)
        hello = c.recv_json()
        assert hello["event"] == "connected" and hello["userId"] == f"gen-{i}", hello
        c.send_json({"type": "sendToGroup", "group": g, "dataType": "text", "data": f"gen-{i}", "ackId": 1})
        assert ack(c, 1)["success"] is True
    assert landed == all_node_ids(env.cluster)
    assert received(env, listener) == ["gen-0", "gen-1", "gen-2"]


def test_negotiate_through_haproxy(env):
    g = unique("g")
    listener = env.raw_on(env.cluster.nodes[2], "listener", groups=[g])
    for i in range(3):
        q = urllib.parse.urlencode({"userId": f"neg-{i}", "group": g, "hub": env.hub})
        r = http_request(env.port, "GET", "/negotiate?" + q, headers={"x-api-key": NEGOTIATE_KEY})
        assert r.status == 200, r
        body = r.json()
        assert body["url"].lower().startswith(f"ws://127.0.0.1:{env.port}/client/hubs/{env.hub}?access_token=".lower()), body
        c = RawClient.open(body["url"], JSON_PROTOCOL)
        env.raws.append(c)
        hello = c.recv_json()
        assert hello["userId"] == f"neg-{i}", hello
        c.send_json({"type": "sendToGroup", "group": g, "dataType": "text", "data": f"neg-{i}", "ackId": 1})
        assert ack(c, 1)["success"] is True
    assert received(env, listener) == ["neg-0", "neg-1", "neg-2"]
    r = http_request(env.port, "GET", "/negotiate?userId=x", headers={"x-api-key": "wrong"})
    assert r.status == 401, r


# --------------------------------------------------------------------------------------------
# ordering and exactly-once across nodes
# --------------------------------------------------------------------------------------------

SUBSCRIBERS = 50
PER_PUBLISHER = 200


@pytest.mark.deadline(120)
def test_fifty_subscribers_three_publishers_once_and_in_order(env):
    g = unique("fan")
    subscribers = [env.raw(f"sub-{i:02d}", groups=[g], timeout=10) for i in range(SUBSCRIBERS)]
    per_node = {}
    for s in subscribers:
        per_node.setdefault(Cluster.node_of(s.conn_id), []).append(s)
    assert set(per_node) == all_node_ids(env.cluster), {k: len(v) for k, v in per_node.items()}

    publishers = [env.sdk_on(n, f"pub-{i}", roles=(f"webpubsub.sendToGroup.{g}",), reliable=False)
                  for i, n in enumerate(env.cluster.nodes)]
    errors: list[str] = []

    def publish(i, p):
        try:
            for k in range(PER_PUBLISHER):
                p.client.send_to_group(g, f"{i}:{k}", WebPubSubDataType.TEXT, ack=False)
            p.client.send_to_group(g, f"{i}:end", WebPubSubDataType.TEXT)  # acknowledged
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(f"publisher {i}: {e!r}")

    threads = [threading.Thread(target=publish, args=(i, p), daemon=True) for i, p in enumerate(publishers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == [] and not any(t.is_alive() for t in threads), errors

    expected = {i: [f"{i}:{k}" for k in range(PER_PUBLISHER)] + [f"{i}:end"] for i in range(3)}
    problems = []
    for s in subscribers:
        got: dict[int, list[str]] = {0: [], 1: [], 2: []}
        deadline = time.monotonic() + 20
        while any(not v or v[-1] != f"{i}:end" for i, v in got.items()):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                m = s.recv_json(left)
            except AssertionError:
                break
            assert m["type"] == "message" and m["group"] == g, m
            s.validate = False  # the first message was checked against the schemas; the rest alike
            i = int(m["data"].split(":")[0])
            assert m["fromUserId"] == f"pub-{i}", m
            got[i].append(m["data"])
        if got != expected:
            summary = {i: (len(v), v[:3], v[-3:]) for i, v in got.items()}
            problems.append(f"{s.user} on {Cluster.node_of(s.conn_id)}: {summary}")
    assert problems == [], f"{len(problems)} subscribers did not get every message once in order:\n" + \
        "\n".join(problems[:10])
    # nothing more (no late duplicates)
    for s in subscribers:
        s.validate = True
    for subs in per_node.values():
        for s in subs[:3]:
            assert data_of(env.collect(s)) == []


# --------------------------------------------------------------------------------------------
# a node killed with SIGKILL
# --------------------------------------------------------------------------------------------

FORGET_WITHIN = 10.0  # seconds: how long survivors may still report a killed node's connections


@pytest.mark.deadline(150)
def test_killed_node_is_forgotten_and_its_clients_carry_on(fresh_cluster):
    cl = fresh_cluster
    env = cl.hub_env()
    try:
        g = unique("g")
        nodes = cl.nodes
        victim, survivors = nodes[1], [nodes[0], nodes[2]]
        raws = {n.node_id: env.raw_on(n, f"raw-{n.node_id}", groups=[g]) for n in nodes}
        only_there = env.raw_on(victim, "only-on-victim")
        sdk_json = env.sdk_via_proxy_on(victim, "sdk-json", roles=ALL_ROLES, reliable=False)
        sdk_rel = env.sdk_via_proxy_on(victim, "sdk-rel", roles=ALL_ROLES, reliable=True)
        for c in (sdk_json, sdk_rel):
            c.client.join_group(g)  # joined by request, so the SDK joins again after reconnecting
        on_victim = [raws[victim.node_id].conn_id, only_there.conn_id, sdk_json.connection_id, sdk_rel.connection_id]
        assert {Cluster.node_of(cid) for cid in on_victim} == {victim.node_id}
        assert len(list(env.svc.list_connections(group=g))) == 5

        cl.kill(victim)
        killed_at = time.monotonic()
        for n in survivors:
            svc = env.node_svc(n)
            left = max(0.1, FORGET_WITHIN - (time.monotonic() - killed_at))
            wait_until(lambda: not any(svc.connection_exists(cid) for cid in on_victim), left,
                       f"{n.node_id} to stop reporting the killed node's connections")
            left = max(0.1, FORGET_WITHIN - (time.monotonic() - killed_at))
            wait_until(lambda: not svc.user_exists("only-on-victim"), left,
                       f"{n.node_id} to stop reporting a user only the killed node had")
            left = max(0.1, FORGET_WITHIN - (time.monotonic() - killed_at))
            # (the SDK clients may be back already, under new ids)
            wait_until(lambda: not {m.connection_id for m in svc.list_connections(group=g)} & set(on_victim), left,
                       f"{n.node_id}'s member list to drop the killed node's connections")
            assert {raws[s.node_id].conn_id for s in survivors} <= {m.connection_id for m in svc.list_connections(group=g)}
        assert env.svc.user_exists(f"raw-{nodes[0].node_id}")

        # the raw client of the killed node lost its connection
        with pytest.raises(Exception):
            raws[victim.node_id].recv_json(5)

        # the SDK clients reconnect through HAProxy, onto a survivor, and rejoin the group
        sdk_json.wait_for(lambda: len(sdk_json.connected) >= 2, 20, "the JSON client to reconnect")
        # a reliable client first tries to recover its session for 30 s (the survivors refuse: it
        # lived on the killed node), then starts a new connection
        sdk_rel.wait_for(lambda: len(sdk_rel.connected) >= 2, 60, "the reliable client to reconnect")
        survivor_ids = {n.node_id for n in survivors}
        for c in (sdk_json, sdk_rel):
            assert Cluster.node_of(c.connection_id) in survivor_ids, c.connection_id
            assert c.connection_id not in on_victim

        def everyone_got(payload):
            return all(any(m.data == payload for m in c.messages(g)) for c in (sdk_json, sdk_rel))

        # group membership comes back with the SDK's rejoin, which may still be under way
        wait_until(lambda: len(list(env.svc.list_connections(group=g))) == 4, 10,
                   "the reconnected clients to rejoin the group")
        for c in (sdk_json, sdk_rel):
            env.settle_sdk(c, [g])
        env.svc.send_to_group(g, "after-kill", content_type="text/plain")
        for c in (sdk_json, sdk_rel):
            c.wait_for(lambda c=c: any(m.data == "after-kill" for m in c.messages(g)), 10,
                       "a group message after reconnecting")
        for n in survivors:
            assert received(env, raws[n.node_id]) == ["after-kill"]
        sdk_json.client.send_to_group(g, "from-reconnected", WebPubSubDataType.TEXT)
        for n in survivors:
            assert received(env, raws[n.node_id]) == ["from-reconnected"]
        assert everyone_got("after-kill")

        # REST through HAProxy keeps working: the killed node is out of rotation
        assert served_nodes(cl, lambda: [env.svc.group_exists(g) for _ in range(4)]) == survivor_ids

        # the node comes back (same id and port) and is part of the cluster again
        back = cl.restart(victim)
        newcomer = env.raw_on(back, "newcomer", groups=[g])
        env.svc.send_to_group(g, "welcome-back", content_type="text/plain")
        assert received(env, newcomer) == ["welcome-back"]
        assert env.node_svc(nodes[0]).connection_exists(newcomer.conn_id)
        assert not env.node_svc(back).connection_exists(on_victim[0])
    finally:
        env.close()


# --------------------------------------------------------------------------------------------
# a node that hangs (SIGSTOP): its Redis connections stay open, its lease runs out
# --------------------------------------------------------------------------------------------

LEASE_DROP_WITHIN = 12.0  # seconds: lease (6) + a check every third of it (2), + a 3 s request in flight


def _hang_and_resume(cl: Cluster, wait_for_lease: bool) -> None:
    env = cl.hub_env()
    n1, n2, n3 = cl.nodes
    try:
        g = unique("g")
        held = {n.node_id: env.raw_on(n, f"u-{n.node_id}", groups=[g]) for n in cl.nodes}
        hung = held[n2.node_id]
        if wait_for_lease:
            wait_until(lambda: cl.registered_nodes() == all_node_ids(cl), 10, "every node to hold a lease")
        cl.hang(n2)

        # Until its lease runs out, operations that include it cannot complete: 503, not a hang.
        # Then the survivors drop it and answer without it.
        def answered_without_it():
            r = rest(n1.port, "HEAD", hub_path(env.hub, f"/groups/{g}"), key=ACCESS_KEY, timeout=10)
            assert r.status in (200, 503), r
            return r.status == 200

        wait_until(answered_without_it, LEASE_DROP_WITHIN, "the survivors to answer without the hung node",
                   interval=0.2)
        for n in (n1, n3):
            svc = env.node_svc(n)
            assert not svc.connection_exists(hung.conn_id)
            assert {m.connection_id for m in svc.list_connections(group=g)} == \
                {held[n1.node_id].conn_id, held[n3.node_id].conn_id}
        env.node_svc(n3).send_to_group(g, "while-hung", content_type="text/plain")
        assert received(env, held[n1.node_id]) == ["while-hung"]

        # It resumes: it registers and subscribes again by itself; its connections are back
        cl.resume(n2)
        wait_until(lambda: env.node_svc(n1).connection_exists(hung.conn_id), 20,
                   "the resumed node's connections to be reported again", interval=0.2)
        cl.wait_ready(timeout=20)
        env.node_svc(n3).send_to_group(g, "after-resume", content_type="text/plain")
        got = received(env, hung)
        assert got[-1:] == ["after-resume"] and got.count("after-resume") == 1, got
        assert len(list(env.svc.list_connections(group=g))) == 3
    finally:
        cl.resume(n2)
        env.close()


@pytest.mark.deadline(120)
def test_hung_node_is_dropped_by_its_lease_and_rejoins_when_it_resumes(fresh_cluster):
    _hang_and_resume(fresh_cluster, wait_for_lease=True)


@pytest.mark.deadline(120)
def test_node_hung_right_after_start_is_dropped_too(fresh_cluster):
    """A node is ready only once it holds a lease, so one that hangs right after is dropped too."""
    _hang_and_resume(fresh_cluster, wait_for_lease=False)


# --------------------------------------------------------------------------------------------
# Redis stops and comes back
# --------------------------------------------------------------------------------------------


@pytest.mark.deadline(120)
def test_redis_outage_keeps_local_delivery_fails_fast_and_recovers(fresh_cluster):
    cl = fresh_cluster
    env = cl.hub_env()
    try:
        g = unique("g")
        n1, n2, n3 = cl.nodes
        a1 = env.raw_on(n1, "a1", groups=[g], roles=ALL_ROLES)
        b1 = env.raw_on(n1, "b1", groups=[g])
        c2 = env.raw_on(n2, "c2", groups=[g])
        d3 = env.raw_on(n3, "d3", groups=[g])
        sdk2 = env.sdk_on(n2, "sdk2", roles=ALL_ROLES, reliable=False)
        sdk2.client.join_group(g)
        env.settle_sdk(sdk2, [g])
        a1.send_json({"type": "sendToGroup", "group": g, "dataType": "text", "data": "before", "ackId": 1})
        assert ack(a1, 1)["success"] is True
        for c in (a1, b1, c2, d3):
            assert received(env, c) == ["before"]
        sdk2.wait_for(lambda: any(m.data == "before" for m in sdk2.messages(g)), 10, "the message before the outage")

        cl.stop_redis()
        for n in cl.nodes:
            wait_until(lambda: n.status("/readyz") == 503, 10, f"/readyz 503 on {n.node_id}")
            assert n.status("/healthz") == 200

        # each node still delivers what its own clients send to its own clients
        a1.send_json({"type": "sendToGroup", "group": g, "dataType": "text", "data": "local-1"})
        msg, _ = b1.recv_until(lambda m: m.get("type") == "message", 5)
        assert msg["data"] == "local-1" and msg["fromUserId"] == "a1", msg
        sdk2.client.send_to_group(g, "local-2", WebPubSubDataType.TEXT, ack=False)
        msg, _ = c2.recv_until(lambda m: m.get("type") == "message", 5)
        assert msg["data"] == "local-2" and msg["fromUserId"] == "sdk2", msg
        # an acknowledged send cannot reach every node: refused, not half-done
        a1.send_json({"type": "sendToGroup", "group": g, "dataType": "text", "data": "refused", "ackId": 2})
        assert ack(a1, 2)["success"] is False

        # REST calls that need other nodes fail with 503 instead of waiting on them (each call
        # is bounded by the HTTP timeout, so a hang fails the test)
        calls = [
            ("POST", hub_path(env.hub, f"/connections/{c2.conn_id}/:send"), {}, "x"),
            ("HEAD", hub_path(env.hub, f"/connections/{d3.conn_id}"), {}, None),
            ("HEAD", hub_path(env.hub, f"/groups/{g}"), {}, None),
            ("HEAD", hub_path(env.hub, "/users/c2"), {}, None),
            ("POST", hub_path(env.hub, "/:send"), {}, "x"),
            ("POST", hub_path(env.hub, f"/groups/{g}/:send"), {}, "x"),
            ("DELETE", hub_path(env.hub, f"/connections/{c2.conn_id}"), {}, None),
            ("GET", hub_path(env.hub, f"/groups/{g}/connections"), {}, None),
        ]
        for method, path, params, body in calls:
            r = rest(n1.port, method, path, params=params, body=body,
                     content_type="text/plain" if body is not None else None, key=ACCESS_KEY, timeout=10)
            assert r.status == 503, (method, path, r)
        r = rest(env.port, "POST", hub_path(env.hub, "/:send"), body="x", content_type="text/plain",
                 key=ACCESS_KEY, timeout=10)
        assert r.status == 503, r

        cl.start_redis()
        cl.wait_ready(timeout=30)

        # everything works again, without restarting any node: the groups joined before the
        # outage are listened to again
        a1.send_json({"type": "sendToGroup", "group": g, "dataType": "text", "data": "after", "ackId": 3})
        assert ack(a1, 3)["success"] is True
        assert received(env, a1)[-1:] == ["after"]
        assert received(env, b1)[-1:] == ["after"]
        for c in (c2, d3):
            got = received(env, c)
            assert "after" in got and "refused" not in got, got
        sdk2.wait_for(lambda: any(m.data == "after" for m in sdk2.messages(g)), 10, "the message after the outage")
        for c in (a1, b1, c2, d3):
            for entry in cl.nodes:
                assert env.node_svc(entry).connection_exists(c.conn_id)
        assert len(list(env.svc.list_connections(group=g))) == 5
        env.svc.send_to_connection(d3.conn_id, "rest-after", content_type="text/plain")
        assert received(env, d3) == ["rest-after"]
        newcomer = env.raw_on(n2, "newcomer", groups=[g])
        env.node_svc(n3).send_to_group(g, "hello-newcomer", content_type="text/plain")
        assert received(env, newcomer) == ["hello-newcomer"]
    finally:
        env.close()


# --------------------------------------------------------------------------------------------
# scripts/cluster
# --------------------------------------------------------------------------------------------


def _free_port_run(length: int) -> int:
    """A port P with P..P+length-1 all free right now on 127.0.0.1."""
    for _ in range(50):
        base = random.randrange(20000, 60000 - length)
        socks = []
        try:
            for p in range(base, base + length):
                s = socket.socket()
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(("127.0.0.1", p))
                socks.append(s)
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise AssertionError("no run of free ports found")


@pytest.mark.deadline(90)
def test_cluster_script_serves_one_endpoint_and_stops_everything(tmp_path):
    clusterenv.require_tools()
    script = os.path.join(os.path.dirname(__file__), "..", "..", "scripts", "cluster")
    port = _free_port_run(4 + 1)
    envvars = {k: v for k, v in os.environ.items() if k not in ("WPS_ACCESS_KEY", "WPS_NEGOTIATE_KEY")}
    envvars.update(WPS_SERVER_BIN=SERVER_BIN, WPS_CLUSTER_DIR=str(tmp_path / "cluster"))
    out = open(tmp_path / "out.log", "w+")
    proc = subprocess.Popen(["bash", script, "--nodes", "3", "--port", str(port)], stdin=subprocess.DEVNULL,
                            stdout=out, stderr=subprocess.STDOUT, env=envvars)
    try:
        def printed():
            assert proc.poll() is None, open(tmp_path / "out.log").read()
            return "connection string:" in open(tmp_path / "out.log").read()

        wait_until(printed, 60, "scripts/cluster to print the connection string", interval=0.2)
        text = open(tmp_path / "out.log").read()
        assert f"endpoint: http://127.0.0.1:{port}" in text, text
        cs = [line for line in text.splitlines() if line.startswith("connection string: ")][0]
        cs = cs.split(": ", 1)[1]
        assert cs.startswith(f"Endpoint=http://127.0.0.1:{port};AccessKey=") and cs.endswith(";Version=1.0;"), cs
        children = [int(p) for p in subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True,
                                                   text=True).stdout.split()]
        assert len(children) >= 5, children  # redis-server, three nodes, haproxy

        from azure.messaging.webpubsubservice import WebPubSubServiceClient
        svc = WebPubSubServiceClient.from_connection_string(cs, hub="ScriptHub")
        g = unique("g")
        clients = []
        try:
            for i in range(3):
                c = RawClient.open(svc.get_client_access_token(user_id=f"u{i}")["url"], JSON_PROTOCOL)
                clients.append(c)
                c.conn_id = c.recv_json()["connectionId"]
                # joined by REST: in effect on every node once answered
                svc.add_connection_to_group(g, c.conn_id)
            assert len({Cluster.node_of(c.conn_id) for c in clients}) == 3, [c.conn_id for c in clients]
            svc.send_to_group(g, "via-script", content_type="text/plain")
            for c in clients:
                msg, _ = c.recv_until(lambda m: m.get("type") == "message")
                assert msg["data"] == "via-script"
            for c in clients:
                assert svc.connection_exists(c.conn_id)
        finally:
            for c in clients:
                c.close()
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(5)
        out.close()
    assert proc.returncode == 143, proc.returncode
    for child in children:
        try:
            os.kill(child, 0)
            alive = True
        except ProcessLookupError:
            alive = False
        assert not alive, f"scripts/cluster left pid {child} running"
