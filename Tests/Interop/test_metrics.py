"""/metrics: the Prometheus text, its access rules, and counters that move by exact amounts
(protocol-spec/server.md, `/metrics`)."""

from __future__ import annotations

import socket
import time
import urllib.parse

import pytest
import websocket
from prometheus_client.parser import text_string_to_metric_families

from restenv import (HubEnv, free_port, http_request, rest_token, start_rest_server, unique)
from sdkenv import JSON_PROTOCOL, RELIABLE_PROTOCOL, RawClient


@pytest.fixture(scope="module")
def srv():
    s = start_rest_server("--metrics-port", str(free_port()), "--max-outbound-bytes", "65536")
    s.metrics_port = int(s.wait_stdout(lambda t: "metrics on http://" in t).split("metrics on http://127.0.0.1:")[1]
                         .split("/")[0])
    yield s
    s.stop()
    s.cleanup()


def scrape(port: int, headers: dict | None = None) -> dict:
    resp = http_request(port, "GET", "/metrics", headers=headers)
    assert resp.status == 200, resp
    assert resp.header("Content-Type").startswith("text/plain"), resp
    values = {}
    for family in text_string_to_metric_families(resp.body.decode()):
        for sample in family.samples:
            values[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return values


def value(values: dict, name: str, **labels) -> float:
    return values.get((name, frozenset(labels.items())), 0.0)


def wait_for(srv, check, timeout: float = 5.0) -> dict:
    """Scrapes until `check(values)` holds; returns the values that passed."""
    deadline = time.monotonic() + timeout
    while True:
        values = scrape(srv.metrics_port)
        if check(values) or time.monotonic() > deadline:
            return values
        time.sleep(0.05)


def open_count(values: dict, hub: str, protocol: str = "json") -> float:
    return value(values, "wps_connections_open", hub=hub.lower(), protocol=protocol)


def test_main_port_needs_a_token(srv):
    assert http_request(srv.port, "GET", "/metrics").status == 401
    bad = rest_token(f"http://127.0.0.1:{srv.port}/metrics", key="not-the-key-0123456789")
    assert http_request(srv.port, "GET", "/metrics", headers={"Authorization": "Bearer " + bad}).status == 401
    good = rest_token(f"http://127.0.0.1:{srv.port}/metrics")
    values = scrape(srv.port, headers={"Authorization": "Bearer " + good})
    assert ("wps_connects_total", frozenset()) in values


def test_metrics_port_serves_only_metrics(srv):
    assert http_request(srv.metrics_port, "GET", "/healthz").status == 404
    assert http_request(srv.metrics_port, "POST", "/metrics").status == 405
    values = scrape(srv.metrics_port)
    for name in ("wps_connects_total", "wps_slow_consumer_cuts_total", "wps_recoveries_attempted_total",
                 "wps_outbound_queued_bytes", "wps_tls_handshakes_total"):
        assert (name, frozenset()) in values, name
    assert ("wps_acks_total", frozenset({("result", "Forbidden")})) in values


def test_connect_and_close_1000(srv):
    env = HubEnv(srv)
    try:
        before = scrape(srv.metrics_port)
        c = env.raw("alice")
        after = wait_for(srv, lambda v: open_count(v, env.hub) == 1)
        assert value(after, "wps_connects_total") - value(before, "wps_connects_total") == 1
        assert open_count(after, env.hub) == 1
        c.close(1000)
        closed = wait_for(srv, lambda v: open_count(v, env.hub) == 0)
        assert open_count(closed, env.hub) == 0
        assert value(closed, "wps_closes_total", code="1000") - value(before, "wps_closes_total", code="1000") == 1
        assert value(closed, "wps_connects_total") == value(after, "wps_connects_total")
    finally:
        env.close()


def test_acks_by_result(srv):
    env = HubEnv(srv)
    try:
        c = env.raw("bob", roles=["webpubsub.sendToGroup.g"])
        before = scrape(srv.metrics_port)
        c.send_json({"type": "sendToGroup", "group": "g", "data": "x", "ackId": 1})
        assert c.ack(1)["success"] is True
        c.send_json({"type": "sendToGroup", "group": "g", "data": "x", "ackId": 1})
        assert c.ack(1)["error"]["name"] == "Duplicate"
        c.send_json({"type": "sendToGroup", "group": "other", "data": "x", "ackId": 2})
        assert c.ack(2)["error"]["name"] == "Forbidden"
        after = scrape(srv.metrics_port)
        for result in ("success", "Duplicate", "Forbidden"):
            moved = value(after, "wps_acks_total", result=result) - value(before, "wps_acks_total", result=result)
            assert moved == 1, result
        assert value(after, "wps_acks_total", result="BadRequest") == value(before, "wps_acks_total",
                                                                             result="BadRequest")
        sent_in = value(after, "wps_messages_in_total", kind="client") - value(before, "wps_messages_in_total",
                                                                                kind="client")
        assert sent_in == 3
        system_out = (value(after, "wps_messages_out_total", kind="system")
                      - value(before, "wps_messages_out_total", kind="system"))
        assert system_out == 3
    finally:
        env.close()


def recover(env: HubEnv, conn_id: str, token: str) -> RawClient:
    url = env.url("carol") + "&" + urllib.parse.urlencode(
        {"awps_connection_id": conn_id, "awps_reconnection_token": token})
    return RawClient.open(url, RELIABLE_PROTOCOL)


def test_refused_recoveries(srv):
    env = HubEnv(srv)
    try:
        before = scrape(srv.metrics_port)
        # A token the server did not sign: turned away before the hub.
        c = recover(env, "nosuchconnection", "bad-token")
        c.expect_close()
        # A real session the client ended with 1000: the hub refuses it as ended.
        r = env.raw("carol", protocol=RELIABLE_PROTOCOL)
        r.close(1000)
        wait_for(srv, lambda v: value(v, "wps_reliable_sessions_ended_total", reason="clientClosed")
                 > value(before, "wps_reliable_sessions_ended_total", reason="clientClosed"))
        again = recover(env, r.conn_id, r.reconnection_token)
        again.expect_close()
        after = wait_for(srv, lambda v: value(v, "wps_recoveries_refused_total", reason="ended")
                         > value(before, "wps_recoveries_refused_total", reason="ended"))

        def moved(name, **labels):
            return value(after, name, **labels) - value(before, name, **labels)

        assert moved("wps_recoveries_refused_total", reason="badToken") == 1
        assert moved("wps_recoveries_refused_total", reason="ended") == 1
        assert moved("wps_recoveries_attempted_total") == 2
        assert moved("wps_recoveries_accepted_total") == 0
        assert moved("wps_reliable_sessions_ended_total", reason="clientClosed") == 1
    finally:
        env.close()


def test_slow_consumer_cut(srv):
    env = HubEnv(srv)
    group = unique("g")
    ws = websocket.WebSocket(sockopt=((socket.SOL_SOCKET, socket.SO_RCVBUF, 4096),))
    ws.settimeout(5)
    ws.connect(env.url("slow", groups=[group]), subprotocols=[JSON_PROTOCOL], suppress_origin=True)
    try:
        before = scrape(srv.metrics_port)
        payload = "z" * 200_000
        cuts = 0.0
        for _ in range(200):
            env.svc.send_to_group(group, payload, content_type="text/plain")
            values = scrape(srv.metrics_port)
            cuts = value(values, "wps_slow_consumer_cuts_total") - value(before, "wps_slow_consumer_cuts_total")
            if cuts:
                break
        assert cuts == 1
        done = wait_for(srv, lambda v: open_count(v, env.hub) == 0)
        assert open_count(done, env.hub) == 0
        out = value(done, "wps_messages_out_bytes_total", kind="data") - value(before, "wps_messages_out_bytes_total",
                                                                               kind="data")
        assert out >= 200_000
    finally:
        ws.shutdown()
        env.close()


def test_upgrade_refused_by_status(srv):
    before = scrape(srv.metrics_port)
    resp = http_request(srv.port, "GET", "/client/hubs/hub", headers={
        "Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
    assert resp.status == 401
    after = scrape(srv.metrics_port)
    assert value(after, "wps_upgrades_refused_total", status="401") - value(before, "wps_upgrades_refused_total",
                                                                            status="401") == 1


def test_metrics_port_from_environment():
    port = free_port()
    s = start_rest_server(env={"WPS_METRICS_PORT": str(port)})
    try:
        s.wait_stdout(lambda t: f"metrics on http://127.0.0.1:{port}/metrics" in t)
        assert http_request(port, "GET", "/metrics").status == 200
    finally:
        s.stop()
        s.cleanup()


def test_upstream_requests_by_event_and_status():
    from restenv import ACCESS_KEY
    from upstreamenv import EventHandlerServer

    with EventHandlerServer(access_keys=[ACCESS_KEY]) as handler:
        s = start_rest_server("--metrics-port", "0", "--event-handler", handler.url_template("/u/{hub}/{event}"))
        try:
            text = s.wait_stdout(lambda t: "metrics on http://" in t)
            s.metrics_port = int(text.split("metrics on http://127.0.0.1:")[1].split("/")[0])
            env = HubEnv(s)
            try:
                env.raw("dave")
                values = scrape(s.metrics_port)
                assert value(values, "wps_upstream_requests_total", event="connect", status="204") == 1
                assert value(values, "wps_upstream_request_duration_seconds_count", event="connect") == 1
            finally:
                env.close()
        finally:
            s.stop()
            s.cleanup()
