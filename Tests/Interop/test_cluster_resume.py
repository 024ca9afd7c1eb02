"""Reliable sessions moving between cluster nodes (protocol-spec/cluster.md §6): official SDK
clients behind proxies that cut them and send their recovery to another node while messages
flow; and the handover on the raw wire."""

from __future__ import annotations

import socket
import time

import pytest
from azure.messaging.webpubsubclient.models import WebPubSubProtocolType

import sdkenv
from clusterenv import ACCESS_KEY, BACKENDS, Cluster
from sdkenv import ALL_ROLES, JSON_PROTOCOL, RELIABLE_PROTOCOL, RawClient, raw_clients, recovery_url, sdk_clients  # noqa: F401
from tcpproxy import proxies  # noqa: F401

@pytest.fixture(params=list(BACKENDS))
def cluster(request):
    """Three nodes of their own on a Redis or a Redis Cluster; everything stopped by PID."""
    c = Cluster(request.param)
    try:
        yield c.nodes
    finally:
        c.close()


def client_url(port: int, **kw) -> str:
    return sdkenv.client_url(port, key=ACCESS_KEY, **kw)


def service_client(port: int):
    return sdkenv.service_client(port, key=ACCESS_KEY)


def _connected(client: RawClient) -> dict:
    hello = client.recv_json()
    assert hello.get("event") == "connected", hello
    return hello


@pytest.mark.deadline(60)
def test_raw_recovery_on_another_node_replays_and_continues(cluster, raw_clients):
    a, b, c = cluster
    rest = service_client(c.port)
    sub = raw_clients(client_url(a.port, user_id="mover", roles=ALL_ROLES, groups=["g"]), RELIABLE_PROTOCOL)
    hello = _connected(sub)
    cid, token = hello["connectionId"], hello["reconnectionToken"]
    assert cid.startswith(a.node_id + "."), cid
    for i in range(5):
        rest.send_to_group("g", {"i": i}, content_type="application/json")
    first = [sub.recv_json() for _ in range(5)]
    assert [(m["sequenceId"], m["data"]["i"]) for m in first] == [(k + 1, k) for k in range(5)]
    sub.send_json({"type": "sequenceAck", "sequenceId": 2})
    sub.send_json({"type": "joinGroup", "group": "h", "ackId": 11})
    ack = sub.recv_json()
    assert ack["type"] == "ack" and ack["success"] is True
    # Vanish without a close frame, then miss five messages.
    sub.ws.sock.shutdown(socket.SHUT_RDWR)
    sub.ws.sock.close()
    for i in range(5, 10):
        rest.send_to_group("g", {"i": i}, content_type="application/json")

    back = raw_clients(recovery_url(client_url(b.port, user_id="mover", roles=ALL_ROLES), cid, token),
                       RELIABLE_PROTOCOL)
    hello2 = _connected(back)
    assert hello2["connectionId"] == cid
    for i in range(10, 13):
        rest.send_to_group("g", {"i": i}, content_type="application/json")
    rest.send_to_group("h", {"i": 13}, content_type="application/json")
    rest.send_to_connection(cid, {"i": 14}, content_type="application/json")
    rest.send_to_user("mover", {"i": 15}, content_type="application/json")
    got = []
    while len(got) < 14:
        m = back.recv_json()
        if m.get("type") == "message":
            got.append((m["sequenceId"], m["data"]["i"]))
    # Everything from the first unacknowledged one, once, in order, with its sequence id.
    assert got == [(k + 1, k) for k in range(2, 16)], got
    # The state went with it: the ackId is remembered, the groups are joined on the new node.
    back.send_json({"type": "joinGroup", "group": "h", "ackId": 11})
    dup = back.recv_json()
    assert dup["type"] == "ack" and dup["success"] is False and dup["error"]["name"] == "Duplicate"
    assert rest.connection_exists(cid)
    assert [x.connection_id for x in rest.list_connections(group="h")] == [cid]
    # Operations addressed by the id reach the session where it is now.
    rest.close_connection(cid, reason="done here")
    closing = back.recv_json()
    assert closing.get("event") == "disconnected" and closing.get("message") == "done here"
    assert not rest.connection_exists(cid)


@pytest.mark.deadline(30)
def test_recovery_of_an_unknown_session_is_refused_by_every_node(cluster, raw_clients):
    a, b, _ = cluster
    sub = raw_clients(client_url(a.port, user_id="u", roles=ALL_ROLES), RELIABLE_PROTOCOL)
    hello = _connected(sub)
    sub.send_json({"type": "ping"})
    sub.close()  # a clean close ends the session
    time.sleep(0.3)
    again = raw_clients(recovery_url(client_url(b.port, user_id="u"), hello["connectionId"],
                                     hello["reconnectionToken"]), RELIABLE_PROTOCOL)
    closed, _ = again.expect_close(timeout=5)
    assert closed.code == 1008


@pytest.mark.deadline(120)
def test_sdk_clients_moved_between_nodes_lose_and_duplicate_nothing(cluster, proxies, sdk_clients):
    nodes = cluster
    subscribers = []
    for k in range(4):
        proxy = proxies(nodes[k % 3].port)
        url = client_url(proxy.port, user_id=f"s{k}", roles=ALL_ROLES)
        sub = sdk_clients(url, WebPubSubProtocolType.JSON_RELIABLE)
        sub.client.join_group("g")
        subscribers.append((proxy, sub, sub.connection_id))
    publisher = RawClient.open(client_url(nodes[2].port, user_id="pub", roles=ALL_ROLES), JSON_PROTOCOL)
    try:
        _connected(publisher)
        n = 240
        for i in range(n):
            publisher.send_json({"type": "sendToGroup", "group": "g", "dataType": "json", "data": {"i": i},
                                 "noEcho": True})
            if i % 60 == 30:
                # Each subscriber's next connection goes to the next node.
                for k, (proxy, _, _) in enumerate(subscribers):
                    proxy.target = ("127.0.0.1", nodes[(k + 1 + i // 60) % 3].port)
                    proxy.cut()
            time.sleep(0.01)
    finally:
        publisher.close()
    for proxy, sub, first_id in subscribers:
        sub.wait_for(lambda s=sub: len(s.messages("g")) >= n, 60, f"{n} messages at {first_id}")
    time.sleep(0.5)
    for proxy, sub, first_id in subscribers:
        got = sub.messages("g")
        seqs = [m.sequence_id for m in got]
        assert len(seqs) == len(set(seqs)) == n, f"{first_id}: {len(got)} messages, {len(set(seqs))} distinct"
        assert [m.data["i"] for m in sorted(got, key=lambda m: m.sequence_id)] == list(range(n))
        assert len(sub.connected) == 1, f"{first_id}: the session was not kept"
        assert sub.connection_id == first_id
        assert {f["connectionId"] for f in sub.connected_frames()} == {first_id}
        assert proxy.accepted >= 5, f"{first_id}: recovered {proxy.accepted - 1} times, expected 4"


def _drop(client: RawClient) -> None:
    client.ws.sock.shutdown(socket.SHUT_RDWR)
    client.ws.sock.close()


@pytest.mark.deadline(60)
def test_a_session_moves_on_and_back_and_stays_addressable(cluster, raw_clients):
    a, b, c = cluster
    rest = {node.port: service_client(node.port) for node in cluster}
    sub = raw_clients(client_url(a.port, user_id="nomad", roles=ALL_ROLES, groups=["g"]), RELIABLE_PROTOCOL)
    hello = _connected(sub)
    cid, token = hello["connectionId"], hello["reconnectionToken"]
    expected = 0
    for hop, node in enumerate((b, c, a)):
        _drop(sub)
        sub = raw_clients(recovery_url(client_url(node.port, user_id="nomad"), cid, token), RELIABLE_PROTOCOL)
        assert _connected(sub)["connectionId"] == cid
        # Addressed by id through every node, by group and by user: each arrives once, in order.
        for sender in cluster:
            rest[sender.port].send_to_connection(cid, {"i": expected}, content_type="application/json")
            rest[sender.port].send_to_group("g", {"i": expected + 1}, content_type="application/json")
            rest[sender.port].send_to_user("nomad", {"i": expected + 2}, content_type="application/json")
            expected += 3
        got = []
        while len(got) < 9:
            try:
                m = sub.recv_json()
            except AssertionError:
                raise AssertionError(f"hop {hop}: only {got}")
            if m.get("type") == "message":
                got.append(m["data"]["i"])
                sub.send_json({"type": "sequenceAck", "sequenceId": m["sequenceId"]})
        assert got == list(range(expected - 9, expected)), f"hop {hop}: {got}"
        for sender in cluster:
            assert rest[sender.port].connection_exists(cid), f"hop {hop}: node {sender.port} lost track of it"
