"""Reliable delivery across abrupt network cuts: the official client SDK behind a TCP proxy that
resets connections, and the recovery handshake on the raw wire."""

from __future__ import annotations

import time

import pytest
from azure.messaging.webpubsubclient.models import WebPubSubDataType, WebPubSubProtocolType

from sdkenv import (ALL_ROLES, JSON_PROTOCOL, RELIABLE_PROTOCOL, RawClient, assert_serving,  # noqa: F401
                    client_url, raw_clients, recovery_url, sdk_clients, wps_factory)
from tcpproxy import proxies  # noqa: F401


def _publisher(srv) -> RawClient:
    pub = RawClient.open(client_url(srv.port, user_id="pub", roles=ALL_ROLES), JSON_PROTOCOL)
    msg = pub.recv_json()
    assert msg["event"] == "connected"
    return pub


def _publish(pub: RawClient, group: str, value) -> None:
    pub.send_json({"type": "sendToGroup", "group": group, "dataType": "json", "data": value, "noEcho": True})


@pytest.mark.deadline(80)
def test_sdk_stream_survives_three_cuts_exactly_once_in_order(wps_factory, proxies, sdk_clients):
    srv = wps_factory()
    proxy = proxies(srv.port)
    # the token's aud must name what the client dials (the proxy); the proxy forwards the Host
    sub = sdk_clients(client_url(proxy.port, user_id="sub", roles=ALL_ROLES), WebPubSubProtocolType.JSON_RELIABLE)
    sub.client.join_group("g")
    first_id = sub.connection_id
    pub = _publisher(srv)
    try:
        n = 200
        cut_at = {40, 95, 150}
        cuts = 0
        for i in range(n):
            _publish(pub, "g", {"i": i})
            if i in cut_at:
                # The client may still be recovering from the last cut (a slow machine): cut
                # its connection once it has one again, so every cut is a real one.
                deadline = time.time() + 20
                while proxy.connection_count() == 0:
                    assert time.time() < deadline, "the client did not reconnect through the proxy"
                    time.sleep(0.01)
                cuts += proxy.cut()
            time.sleep(0.015)
        # the publisher's own connection still works (and all its sends were taken)
        pub.send_json({"type": "ping"})
        assert pub.recv_json() == {"type": "pong"}
    finally:
        pub.close()
    assert cuts == 3, f"the proxy cut {cuts} connections, expected one at each of 3 cuts"

    sub.wait_for(lambda: len(sub.messages("g")) >= n, 40, f"{n} messages at the subscriber")
    time.sleep(0.5)
    got = sub.messages("g")
    seqs = [m.sequence_id for m in got]
    assert len(seqs) == len(set(seqs)) == n, f"duplicates or losses: {len(got)} messages, {len(set(seqs))} distinct"
    by_seq = sorted(got, key=lambda m: m.sequence_id)
    assert [m.data["i"] for m in by_seq] == list(range(n)), "messages out of order or lost"
    assert seqs and min(seqs) == 1 and max(seqs) == n
    # the first arrival of each sequenceId on the wire was in order (replays may repeat, never reorder)
    frames = [f for f in sub.frames if f.get("type") == "message"]
    first_seen, top = [], 0
    for f in frames:
        if f["sequenceId"] > top:
            assert f["sequenceId"] == top + 1, f"gap on the wire: {top} -> {f['sequenceId']}"
            top = f["sequenceId"]
            first_seen.append(f["data"]["i"])
    assert first_seen == list(range(n))

    assert len(sub.connected) == 1, f"CONNECTED fired {len(sub.connected)} times: recovery must keep the session"
    assert sub.disconnected == []
    connected = sub.connected_frames()
    assert len(connected) >= 4, f"expected a connected message per recovery, got {len(connected)}"
    assert {f["connectionId"] for f in connected} == {first_id}
    assert sub.connection_id == first_id
    assert proxy.accepted >= 4
    assert sub.schema_errors == []
    assert_serving(srv)


@pytest.mark.deadline(85)
def test_sdk_cut_longer_than_resume_window_gets_new_connection(wps_factory, proxies, sdk_clients):
    srv = wps_factory("--resume-window", "2")
    proxy = proxies(srv.port)
    sub = sdk_clients(client_url(proxy.port, user_id="sub", roles=ALL_ROLES), WebPubSubProtocolType.JSON_RELIABLE)
    sub.client.join_group("g")
    first_id = sub.connection_id
    pub = _publisher(srv)
    try:
        _publish(pub, "g", "before")
        sub.wait_for(lambda: sub.messages("g"), 10, "message before the cut")

        proxy.block()
        assert proxy.cut() == 1
        time.sleep(5)  # well past --resume-window 2; recovery attempts are reset meanwhile
        _publish(pub, "g", "lost")  # the session is gone: nobody should get this for `sub`
        proxy.unblock()

        sub.wait_for(lambda: len(sub.connected) >= 2, 50, "a second CONNECTED callback (new connection)")
        new_id = sub.connected[-1].connection_id
        assert new_id != first_id
        assert len(sub.disconnected) >= 1 and sub.disconnected[0].connection_id == first_id

        # auto-rejoin runs asynchronously after connected: publish until one arrives
        deadline = time.monotonic() + 15
        k = 0
        while time.monotonic() < deadline and not [m for m in sub.messages("g") if str(m.data).startswith("after")]:
            _publish(pub, "g", f"after-{k}")
            k += 1
            time.sleep(0.2)
        after = [m for m in sub.messages("g") if str(m.data).startswith("after")]
        assert after, "the client did not rejoin its group on the new connection"
        # a new logical connection numbers its messages from 1 again
        assert min(m.sequence_id for m in after) == 1, [(m.data, m.sequence_id) for m in after]
        assert "lost" not in [m.data for m in sub.messages("g")]
        sub.client.send_to_group("g", "from-new-connection", WebPubSubDataType.TEXT)
        sub.wait_for(lambda: [m for m in sub.messages("g") if m.data == "from-new-connection"], 10, "own echo")
    finally:
        pub.close()
    assert proxy.refused >= 1, "the SDK never tried to recover while the proxy was blocking"
    assert sub.client._connection_id == new_id


# --------------------------------------------------------------------------------------------
# Recovery on the raw wire
# --------------------------------------------------------------------------------------------


def _reliable_member(srv, raw_clients, user="sub"):
    url = client_url(srv.port, user_id=user, groups=["g"])
    c = raw_clients(url, RELIABLE_PROTOCOL)
    hello = c.recv_json()
    assert hello["event"] == "connected" and hello["reconnectionToken"], hello
    return url, c, hello


@pytest.mark.deadline(40)
def test_raw_recovery_replays_unacked_with_original_sequence_ids(wps_factory, raw_clients):
    srv = wps_factory()
    pub = raw_clients(client_url(srv.port, user_id="pub", roles=ALL_ROLES), JSON_PROTOCOL)
    pub.recv_json()
    url, sub, hello = _reliable_member(srv, raw_clients)
    for i in (1, 2, 3):
        _publish(pub, "g", i)
    got = [sub.recv_json() for _ in range(3)]
    assert [(m["sequenceId"], m["data"]) for m in got] == [(1, 1), (2, 2), (3, 3)]
    sub.send_json({"type": "sequenceAck", "sequenceId": 1})
    sub.send_json({"type": "ping"})  # the ack is processed before the pong
    assert sub.recv_json() == {"type": "pong"}
    sub.drop()  # RST, no close frame
    time.sleep(0.3)
    for i in (4, 5):
        _publish(pub, "g", i)
    pub.send_json({"type": "ping"})
    assert pub.recv_json() == {"type": "pong"}

    again = raw_clients(recovery_url(url, hello["connectionId"], hello["reconnectionToken"]), RELIABLE_PROTOCOL)
    assert again.handshake_status == 101
    hello2 = again.recv_json()
    assert hello2["type"] == "system" and hello2["event"] == "connected", hello2
    assert hello2["connectionId"] == hello["connectionId"] and hello2["userId"] == "sub"
    assert hello2.get("reconnectionToken")
    replay = [again.recv_json() for _ in range(4)]
    assert [(m["sequenceId"], m["data"]) for m in replay] == [(2, 2), (3, 3), (4, 4), (5, 5)]
    assert all(m["type"] == "message" and m["group"] == "g" and m["fromUserId"] == "pub" for m in replay)
    # new messages continue the sequence, and the group membership survived
    _publish(pub, "g", 6)
    m6 = again.recv_json()
    assert (m6["sequenceId"], m6["data"]) == (6, 6)
    again.expect_silence(0.3)


@pytest.mark.deadline(40)
def test_raw_recovery_keeps_ack_history(wps_factory, raw_clients):
    srv = wps_factory()
    url = client_url(srv.port, user_id="u", roles=ALL_ROLES)
    c = raw_clients(url, RELIABLE_PROTOCOL)
    hello = c.recv_json()
    c.send_json({"type": "joinGroup", "group": "g", "ackId": 1})
    assert c.ack(1)["success"] is True
    c.drop()
    time.sleep(0.2)
    again = raw_clients(recovery_url(url, hello["connectionId"], hello["reconnectionToken"]), RELIABLE_PROTOCOL)
    assert again.recv_json()["connectionId"] == hello["connectionId"]
    again.send_json({"type": "joinGroup", "group": "g", "ackId": 1})
    dup = again.ack(1)
    assert dup["success"] is False and dup["error"]["name"] == "Duplicate", dup


@pytest.mark.deadline(40)
@pytest.mark.parametrize("case", ["wrong_token", "other_connections_token", "unknown_id", "after_close_1000",
                                  "non_reliable_protocol"])
def test_raw_recovery_refused_with_1008(wps_factory, raw_clients, case):
    srv = wps_factory()
    url, sub, hello = _reliable_member(srv, raw_clients)
    cid, tok = hello["connectionId"], hello["reconnectionToken"]
    protocol = RELIABLE_PROTOCOL
    if case == "after_close_1000":
        sub.close(1000)
    else:
        sub.drop()
    time.sleep(0.3)
    if case == "wrong_token":
        head, _, mac = tok.rpartition(".")
        tok = head + "." + ("A" if mac[:1] != "A" else "B") + mac[1:]
    elif case == "other_connections_token":
        _, _, other = _reliable_member(srv, raw_clients, user="other")
        tok = other["reconnectionToken"]
    elif case == "unknown_id":
        cid = "0" * 32
    elif case == "non_reliable_protocol":
        protocol = JSON_PROTOCOL
    c = raw_clients(recovery_url(url, cid, tok), protocol)
    assert c.handshake_status == 101
    closed, before = c.expect_close(5)
    assert closed.code == 1008, (closed.code, closed.reason, before)
    assert all(m.get("type") == "system" and m.get("event") == "disconnected" for m in before), before
    assert_serving(srv)


@pytest.mark.deadline(60)
def test_recovery_after_5000_unacked_messages_loses_nothing(wps_factory, raw_clients):
    """The un-acked buffer is bounded by bytes, not by Azure's 1,000 messages: a client that
    is slow to come back still gets every message (reliability.md §4)."""
    srv = wps_factory()
    url = client_url(srv.port, user_id="sub", roles=ALL_ROLES)
    sub = raw_clients(url, RELIABLE_PROTOCOL)
    hello = sub.recv_json()
    sub.send_json({"type": "joinGroup", "group": "g", "ackId": 1})
    assert sub.ack(1)["success"] is True
    sub.drop()  # RST, no close frame
    time.sleep(0.3)
    pub = raw_clients(client_url(srv.port, user_id="pub", roles=ALL_ROLES), JSON_PROTOCOL)
    pub.recv_json()
    count = 5000
    for i in range(1, count + 1):
        pub.send_json({"type": "sendToGroup", "group": "g", "dataType": "json", "data": i})
    pub.send_json({"type": "ping"})
    pub.recv_until(lambda m: m.get("type") == "pong", timeout=20)
    again = raw_clients(recovery_url(url, hello["connectionId"], hello["reconnectionToken"]), RELIABLE_PROTOCOL)
    assert again.recv_json()["connectionId"] == hello["connectionId"]
    got = [again.recv_json(timeout=20) for _ in range(count)]
    assert [(m["sequenceId"], m["data"]) for m in got] == [(i, i) for i in range(1, count + 1)]


@pytest.mark.deadline(40)
def test_azure_count_limit_is_an_option(wps_factory, raw_clients):
    srv = wps_factory("--reliable-max-messages", "1000")
    url = client_url(srv.port, user_id="sub", roles=ALL_ROLES)
    sub = raw_clients(url, RELIABLE_PROTOCOL)
    hello = sub.recv_json()
    sub.send_json({"type": "joinGroup", "group": "g", "ackId": 1})
    assert sub.ack(1)["success"] is True
    sub.drop()
    time.sleep(0.3)
    pub = raw_clients(client_url(srv.port, user_id="pub", roles=ALL_ROLES), JSON_PROTOCOL)
    pub.recv_json()
    for i in range(1, 1002):  # one over the limit
        pub.send_json({"type": "sendToGroup", "group": "g", "dataType": "json", "data": i})
    pub.send_json({"type": "ping"})
    pub.recv_until(lambda m: m.get("type") == "pong", timeout=20)
    again = raw_clients(recovery_url(url, hello["connectionId"], hello["reconnectionToken"]), RELIABLE_PROTOCOL)
    closed, _ = again.expect_close()
    assert closed.code == 1008


@pytest.mark.deadline(150)
def test_sdk_clients_under_random_cuts_lose_nothing(wps_factory, proxies, sdk_clients):
    """Official SDK reliable clients, each behind its own proxy; every 200-500 ms one random
    connection is cut (RST, no close frame) while a group gets 100 messages/s. The SDK only
    acknowledges once a recovery completes, so backlogs pass 1,000 messages: every client
    must still get every message exactly once, in order, on its first logical connection."""
    import random
    import threading
    srv = wps_factory()
    count_clients, total = 20, 1200
    pairs = []
    for i in range(count_clients):
        proxy = proxies(srv.port)
        client = sdk_clients(client_url(proxy.port, user_id=f"s{i}", roles=ALL_ROLES),
                             WebPubSubProtocolType.JSON_RELIABLE, open_=False)
        pairs.append((proxy, client))
    openers = [threading.Thread(target=c.open, daemon=True) for _, c in pairs]
    for t in openers:
        t.start()
    for t in openers:
        t.join(30)
    for _, client in pairs:
        client.wait_for(lambda c=client: c.connected, 20, "connected")
        client.client.join_group("g")
    pub = _publisher(srv)
    rng = random.Random(20261207)
    cuts = 0
    try:
        start = time.monotonic()
        next_cut = start + rng.uniform(0.2, 0.5)
        for i in range(total):
            _publish(pub, "g", {"i": i})
            now = time.monotonic()
            if now >= next_cut:
                cuts += rng.choice(pairs)[0].cut()
                next_cut = now + rng.uniform(0.2, 0.5)
            pause = start + (i + 1) * 0.01 - time.monotonic()  # 100 messages/s
            if pause > 0:
                time.sleep(pause)
        pub.send_json({"type": "ping"})
        pub.recv_until(lambda m: m.get("type") == "pong", timeout=20)
    finally:
        pub.close()
    assert cuts >= 10, f"only {cuts} connections were cut"
    for index, (_, client) in enumerate(pairs):
        client.wait_for(lambda c=client: len({m.sequence_id for m in c.messages("g")}) >= total, 90,
                        f"{total} messages at client {index}")
        got = client.messages("g")
        by_seq = {}
        for m in got:
            by_seq.setdefault(m.sequence_id, m.data["i"])
        assert sorted(by_seq) == list(range(1, total + 1)), f"client {index}: gaps in sequence ids"
        assert [by_seq[s] for s in sorted(by_seq)] == list(range(total)), f"client {index}: lost or reordered"
        assert len(client.connected) == 1, f"client {index} lost its session: {len(client.connected)} connections"
        assert client.disconnected == []
    assert_serving(srv)
