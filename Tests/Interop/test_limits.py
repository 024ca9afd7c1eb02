"""Connection and message-rate limits of the client endpoint, each at its edge
(protocol-spec/server.md, "Client limits")."""

from __future__ import annotations

import time

import pytest

from sdkenv import (ALL_ROLES, JSON_PROTOCOL, RELIABLE_PROTOCOL, RawClient, client_url, handshake_status,  # noqa: F401
                    make_jwt, raw_clients, token_claims, url_with_token, wps_factory)


def opened(url, protocol=JSON_PROTOCOL):
    c = RawClient.open(url, protocol)
    assert c.recv_json()["event"] == "connected"
    return c


def test_total_connections_at_the_limit(wps_factory):
    srv = wps_factory("--max-connections", "3")
    clients = [opened(client_url(srv.port, user_id=f"u{i}")) for i in range(3)]
    status, body = handshake_status(client_url(srv.port, user_id="u3"))
    assert status == 429 and b"too many connections" in body
    clients[0].close()
    time.sleep(0.3)  # the ended session gives its place back
    clients.append(opened(client_url(srv.port, user_id="u4")))
    for c in clients[1:]:
        c.close()


def test_connections_per_user_at_the_limit(wps_factory):
    srv = wps_factory("--max-connections-per-user", "2")
    a = [opened(client_url(srv.port, user_id="alice")) for _ in range(2)]
    status, body = handshake_status(client_url(srv.port, user_id="alice"))
    assert status == 429 and b"alice" in body
    other = opened(client_url(srv.port, user_id="bob"))  # other users are not affected
    a[1].close()
    time.sleep(0.3)
    a.append(opened(client_url(srv.port, user_id="alice")))
    for c in [a[0], a[2], other]:
        c.close()


def test_connections_per_address_at_the_limit(wps_factory):
    srv = wps_factory("--max-connections-per-ip", "2")
    a = [opened(client_url(srv.port, user_id=f"u{i}")) for i in range(2)]
    status, body = handshake_status(client_url(srv.port, user_id="u2"))
    assert status == 429 and b"127.0.0.1" in body
    for c in a:
        c.close()


def test_connections_per_token_at_the_limit(wps_factory):
    srv = wps_factory("--max-connections-per-token", "2")
    token = make_jwt(token_claims(srv.port, sub="alice"))
    url = url_with_token(srv.port, token)
    a = [opened(url) for _ in range(2)]
    status, body = handshake_status(url)
    assert status == 429 and b"token" in body
    assert token.encode() not in body
    # the same user with another token still connects
    other = opened(url_with_token(srv.port, make_jwt(token_claims(srv.port, sub="alice", jti="2"))))
    for c in a + [other]:
        c.close()


def test_a_waiting_reliable_session_keeps_its_place(wps_factory):
    from sdkenv import recovery_url
    srv = wps_factory("--max-connections-per-user", "1")
    url = client_url(srv.port, user_id="alice")
    c = RawClient.open(url, RELIABLE_PROTOCOL)
    hello = c.recv_json()
    c.drop()
    time.sleep(0.3)
    status, _ = handshake_status(url, RELIABLE_PROTOCOL)
    assert status == 429  # the session waits for its client and still counts
    again = RawClient.open(recovery_url(url, hello["connectionId"], hello["reconnectionToken"]), RELIABLE_PROTOCOL)
    assert again.recv_json()["connectionId"] == hello["connectionId"]  # recovery is never refused by a limit
    again.close()


def test_message_rate_at_the_limit(wps_factory):
    srv = wps_factory("--max-messages-per-second", "20")
    c = opened(client_url(srv.port, user_id="alice", roles=ALL_ROLES))
    # A full second's worth at once is allowed, one more is not. All 21 go in one write, so
    # the server reads them at one clock reading and nothing refills in between.
    c.send_json_burst([{"type": "joinGroup", "group": "g", "ackId": i} for i in range(1, 22)])
    closed, frames = c.expect_close()
    acks = [f for f in frames if f.get("type") == "ack"]
    assert [a["ackId"] for a in acks] == list(range(1, 21))
    assert all(a["success"] is True for a in acks)
    assert closed.code == 1008
    assert any("per second" in f.get("message", "") for f in frames if f.get("event") == "disconnected")


def test_message_rate_refills(wps_factory):
    srv = wps_factory("--max-messages-per-second", "20")
    c = opened(client_url(srv.port, user_id="alice", roles=ALL_ROLES))
    for i in range(1, 61):  # 60 messages over about 4 s: under 20 per second
        c.send_json({"type": "joinGroup", "group": "g", "ackId": i})
        assert c.ack(i)["success"] is True
        time.sleep(0.07)
    c.close()


@pytest.mark.deadline(60)
def test_out_of_descriptors_pauses_accepting_and_recovers():
    import resource
    import socket

    from serverproc import ServerProcess
    from sdkenv import ACCESS_KEY

    limit = 48

    def few_descriptors():
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

    srv = ServerProcess("--access-key", ACCESS_KEY, "--threads", "1", echo=False, preexec=few_descriptors)
    try:
        held = []
        for _ in range(limit + 10):  # more than the process can accept
            s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
            held.append(s)
        time.sleep(0.5)
        # the server is out of descriptors: a request on a connection it could not accept waits
        late = held[-1]
        late.settimeout(0.5)
        late.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        with pytest.raises(socket.timeout):
            late.recv(100)
        for s in held[:30]:
            s.close()
        # descriptors are free again: the waiting connection is accepted and answered
        late.settimeout(5)
        assert b"200" in late.recv(100)
        for s in held[30:]:
            s.close()
        assert srv.alive()
        with RawClient.open(client_url(srv.port, user_id="after"), JSON_PROTOCOL) as c:
            assert c.recv_json()["event"] == "connected"
        log = srv.stderr_tail(20000)
        assert log.count("out of file descriptors") == 1, log
    finally:
        srv.stop()
