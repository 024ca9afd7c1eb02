"""/negotiate (protocol-spec/negotiate.md): client URLs for an app's frontend, guarded by the
negotiate key, used unchanged by the official client SDK."""

from __future__ import annotations

import os
import re
import stat
import time
import urllib.parse

import pytest
import websocket
from azure.messaging.webpubsubclient.models import SendMessageError, WebPubSubDataType

from restenv import (ACCESS_KEY, NEGOTIATE_KEY, HubEnv, RawClient, WpsProc, assert_error,
                     http_request, jwt_claims, jwt_header, start_rest_server, unique)
from sdkenv import JSON_PROTOCOL

DEFAULT_HUB = "hub"


def negotiate(port: int, target: str, key: str | None = NEGOTIATE_KEY, headers: dict | None = None):
    hdrs = dict(headers or {})
    if key is not None:
        hdrs["x-api-key"] = key
    return http_request(port, "GET", target, headers=hdrs)


def q(**params) -> str:
    return urllib.parse.urlencode(params, quote_via=urllib.parse.quote)


@pytest.fixture(scope="module")
def srv():
    s = start_rest_server()
    yield s
    s.stop()


@pytest.fixture
def hub_env(srv):
    e = HubEnv(srv, DEFAULT_HUB)
    yield e
    e.close()


def _check_answer(port: int, r, user: str, hub: str = DEFAULT_HUB, host: str | None = None,
                  scheme: str = "ws") -> dict:
    assert r.status == 200, r
    assert (r.header("content-type") or "").lower().startswith("application/json"), r
    body = r.json()
    assert set(body) == {"url", "baseUrl", "token"}, body
    host = host or f"127.0.0.1:{port}"
    assert body["baseUrl"] == f"{scheme}://{host}/client/hubs/{hub}", body
    assert body["url"] == body["baseUrl"] + "?access_token=" + body["token"], body
    assert jwt_header(body["token"]) == {"alg": "HS256", "typ": "JWT"}
    claims = jwt_claims(body["token"])
    http_scheme = {"ws": "http", "wss": "https"}[scheme]
    assert claims["aud"] == f"{http_scheme}://{host}/client/hubs/{hub}", claims
    assert claims["sub"] == user, claims
    assert claims["exp"] - claims["iat"] == 3600, claims
    assert abs(claims["iat"] - time.time()) < 60, claims
    return body


def _roles(token: str) -> list[str]:
    role = jwt_claims(token).get("role", [])
    return [role] if isinstance(role, str) else list(role)


def test_negotiate_query_form_url_works_with_sdk(srv, hub_env):
    g, h = unique("g"), unique("h")
    r = negotiate(srv.port, "/negotiate?" + q(userId="neg-user", group=g))
    body = _check_answer(srv.port, r, "neg-user")
    claims = jwt_claims(body["token"])
    assert sorted(_roles(body["token"])) == sorted([f"webpubsub.joinLeaveGroup.{g}", f"webpubsub.sendToGroup.{g}"])
    assert claims["webpubsub.group"] in ([g], g), claims

    member = hub_env.raw("member", groups=[g])
    c = hub_env.sdk(url=body["url"], reliable=True, message_retry_total=0)
    with c.lock:
        assert c.connected[0].user_id == "neg-user"
    # auto-joined to g: a REST send to g reaches it
    hub_env.svc.send_to_group(g, "to-g", content_type="text/plain")
    c.wait_for(lambda: any(m.group == g and m.data == "to-g" for m in c.group_messages), 10, "auto-join")
    # it may publish to g; another member receives
    c.client.send_to_group(g, "from-negotiated", WebPubSubDataType.TEXT)
    msgs = [m for m in hub_env.data_messages(member) if m.get("from") == "group"]
    assert [(m["group"], m["data"], m["fromUserId"]) for m in msgs] == \
        [(g, "to-g", None), (g, "from-negotiated", "neg-user")], msgs
    # but not to h, nor join h
    with pytest.raises(SendMessageError) as ei:
        c.client.send_to_group(h, "denied", WebPubSubDataType.TEXT)
    assert ei.value.error_detail.name == "Forbidden", ei.value
    with pytest.raises(SendMessageError) as ei:
        c.client.join_group(h)
    assert ei.value.error_detail.name == "Forbidden", ei.value
    # leaving and re-joining g is allowed
    c.client.leave_group(g)
    c.client.join_group(g)


def test_negotiate_path_form(srv, hub_env):
    g = unique("g")
    r = negotiate(srv.port, f"/negotiate/path-user/{g}")
    body = _check_answer(srv.port, r, "path-user")
    assert sorted(_roles(body["token"])) == sorted([f"webpubsub.joinLeaveGroup.{g}", f"webpubsub.sendToGroup.{g}"])
    c = RawClient.open(body["url"], JSON_PROTOCOL)
    hub_env.raws.append(c)
    hello = c.recv_json()
    assert hello["event"] == "connected" and hello["userId"] == "path-user", hello
    c.conn_id = hello["connectionId"]
    hub_env.svc.send_to_group(g, "path-g", content_type="text/plain")
    assert hub_env.group_payloads(c, g) == ["path-g"]


def test_negotiate_percent_encoded_values(srv, hub_env):
    user, g = "user/with space", "group ü/1"
    r = negotiate(srv.port, "/negotiate?" + q(userId=user, group=g))
    body = _check_answer(srv.port, r, user)
    r2 = negotiate(srv.port, "/negotiate/" + urllib.parse.quote(user, safe="") + "/"
                   + urllib.parse.quote(g, safe=""))
    body2 = _check_answer(srv.port, r2, user)
    assert jwt_claims(body2["token"])["webpubsub.group"] in ([g], g)
    c = RawClient.open(body["url"], JSON_PROTOCOL)
    hub_env.raws.append(c)
    hello = c.recv_json()
    assert hello["userId"] == user, hello
    c.conn_id = hello["connectionId"]
    hub_env.svc.send_to_group(g, "enc", content_type="text/plain")
    assert hub_env.group_payloads(c, g) == ["enc"]


def test_negotiate_other_hub_and_no_group(srv):
    env = HubEnv(srv, "OtherHub")
    try:
        r = negotiate(srv.port, "/negotiate?" + q(userId="u-nog", hub="OtherHub"))
        body = _check_answer(srv.port, r, "u-nog", hub="OtherHub")
        assert _roles(body["token"]) == []
        assert "webpubsub.group" not in jwt_claims(body["token"])
        c = RawClient.open(body["url"], JSON_PROTOCOL)
        env.raws.append(c)
        hello = c.recv_json()
        assert hello["userId"] == "u-nog"
        c.send_json({"type": "sendToGroup", "group": "any", "ackId": 1, "dataType": "text", "data": "x"})
        ack = c.ack(1)
        assert ack["success"] is False and ack["error"]["name"] == "Forbidden", ack
        assert env.svc.user_exists("u-nog") is True
    finally:
        env.close()


@pytest.mark.parametrize("key", [None, "", "wrong-key", NEGOTIATE_KEY.upper(), NEGOTIATE_KEY + "x",
                                 NEGOTIATE_KEY[:-1], ACCESS_KEY])
def test_negotiate_wrong_or_missing_key_401(srv, key):
    for target in ("/negotiate?" + q(userId="u", group="g"), "/negotiate/u/g"):
        r = negotiate(srv.port, target, key=key)
        assert_error(r, 401)
        assert "token" not in r.body.decode("utf-8", "replace")


def test_negotiate_key_in_authorization_header_is_not_enough(srv):
    r = negotiate(srv.port, "/negotiate?" + q(userId="u"), key=None,
                  headers={"Authorization": "Bearer " + NEGOTIATE_KEY})
    assert_error(r, 401)


@pytest.mark.parametrize("target", ["/negotiate", "/negotiate?group=g", "/negotiate?userId=",
                                    "/negotiate?userId=&group=g"])
def test_negotiate_missing_user_id_400(srv, target):
    r = negotiate(srv.port, target)
    body = assert_error(r, 400, "MissingUserId")
    assert "missing user id" in body["message"], body


def test_negotiate_role_flag_grants_send_to_any_group():
    srv = start_rest_server("--negotiate-role", "hub=webpubsub.sendToGroup")
    env = HubEnv(srv, DEFAULT_HUB)
    try:
        listener = env.raw("listener", groups=["anywhere"])
        r = negotiate(srv.port, "/negotiate?" + q(userId="trusted"))
        body = _check_answer(srv.port, r, "trusted")
        assert "webpubsub.sendToGroup" in _roles(body["token"]), body
        c = env.sdk(url=body["url"], reliable=False, message_retry_total=0)
        c.client.send_to_group("anywhere", "trusted-msg", WebPubSubDataType.TEXT)
        c.client.send_to_group(unique("x"), "elsewhere", WebPubSubDataType.TEXT)
        msgs = [m for m in env.data_messages(listener) if m.get("from") == "group"]
        assert [(m["data"], m["fromUserId"]) for m in msgs] == [("trusted-msg", "trusted")], msgs
        with pytest.raises(SendMessageError) as ei:  # no join role was added
            c.client.join_group("anywhere")
        assert ei.value.error_detail.name == "Forbidden"
        # with a group the extra role comes on top of the group roles
        r = negotiate(srv.port, "/negotiate?" + q(userId="trusted", group="gg"))
        roles = _roles(r.json()["token"])
        assert {"webpubsub.sendToGroup", "webpubsub.joinLeaveGroup.gg", "webpubsub.sendToGroup.gg"} <= set(roles)
        # another hub gets no extra role
        r = negotiate(srv.port, "/negotiate?" + q(userId="trusted", hub="OtherHub"))
        assert _roles(r.json()["token"]) == []
    finally:
        env.close()
        srv.stop()


@pytest.mark.parametrize("public,scheme,host", [
    ("http://example.test:1234", "ws", "example.test:1234"),
    ("https://pubsub.example.test", "wss", "pubsub.example.test"),
])
def test_public_url(public, scheme, host):
    srv = start_rest_server("--public-url", public)
    try:
        r = negotiate(srv.port, "/negotiate?" + q(userId="pub-user", group="g"))
        body = _check_answer(srv.port, r, "pub-user", host=host, scheme=scheme)
        assert body["url"].startswith(f"{scheme}://{host}/client/hubs/{DEFAULT_HUB}?access_token="), body
        r = negotiate(srv.port, "/negotiate/pub-user/g")
        assert r.json()["baseUrl"] == f"{scheme}://{host}/client/hubs/{DEFAULT_HUB}"
        # the token is valid for a request that reached the server under that public name
        ws = websocket.WebSocket()
        try:
            ws.connect(f"ws://127.0.0.1:{srv.port}/client/hubs/{DEFAULT_HUB}?access_token={body['token']}",
                       subprotocols=[JSON_PROTOCOL], host=host, timeout=5, suppress_origin=True)
            ws.settimeout(5)
            hello = ws.recv()
            assert '"userId":"pub-user"' in hello, hello
        finally:
            ws.shutdown()
    finally:
        srv.stop()


def test_host_header_decides_url_without_public_url(srv):
    r = negotiate(srv.port, "/negotiate?" + q(userId="h-user"), headers={"Host": f"localhost:{srv.port}"})
    _check_answer(srv.port, r, "h-user", host=f"localhost:{srv.port}")


def _mode(path: str) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_generated_negotiate_key_kept_in_state_dir(tmp_path):
    state = str(tmp_path / "state")
    srv = WpsProc("--access-key", ACCESS_KEY, "--threads", "1", state_dir=state)
    try:
        key_file = os.path.join(state, "negotiate-key")
        assert os.path.isfile(key_file), os.listdir(state)
        assert _mode(state) == 0o700, oct(_mode(state))
        assert _mode(key_file) == 0o600, oct(_mode(key_file))
        assert not os.path.exists(os.path.join(state, "access-key")), "access key came from the flag"
        key = open(key_file).read().strip()
        assert len(key) >= 32, key
        out = srv.wait_stdout(lambda t: key in t, 5)
        assert re.search(r"x-api-key: " + re.escape(key), out), out
        r = negotiate(srv.port, "/negotiate?" + q(userId="gen"), key=key)
        _check_answer(srv.port, r, "gen")
        assert_error(negotiate(srv.port, "/negotiate?" + q(userId="gen"), key=NEGOTIATE_KEY), 401)
    finally:
        assert srv.stop() == 0
    # a restart with the same directory keeps the key
    srv2 = WpsProc("--access-key", ACCESS_KEY, "--threads", "1", state_dir=state)
    try:
        assert open(key_file).read().strip() == key
        r = negotiate(srv2.port, "/negotiate?" + q(userId="gen"), key=key)
        _check_answer(srv2.port, r, "gen")
    finally:
        srv2.stop()


def test_negotiate_key_from_environment(tmp_path):
    state = str(tmp_path / "state")
    srv = WpsProc("--access-key", ACCESS_KEY, "--threads", "1", state_dir=state,
                  env={"WPS_NEGOTIATE_KEY": "env-negotiate-key-123"})
    try:
        assert not os.path.exists(os.path.join(state, "negotiate-key"))
        _check_answer(srv.port, negotiate(srv.port, "/negotiate?" + q(userId="e"), key="env-negotiate-key-123"), "e")
        assert_error(negotiate(srv.port, "/negotiate?" + q(userId="e"), key=NEGOTIATE_KEY), 401)
    finally:
        srv.stop()


def test_negotiate_flag_wins_over_environment(tmp_path):
    srv = WpsProc("--access-key", ACCESS_KEY, "--negotiate-key", "flag-key-xyz", "--threads", "1",
                  state_dir=str(tmp_path / "state"), env={"WPS_NEGOTIATE_KEY": "env-key-xyz"})
    try:
        _check_answer(srv.port, negotiate(srv.port, "/negotiate?" + q(userId="f"), key="flag-key-xyz"), "f")
        assert_error(negotiate(srv.port, "/negotiate?" + q(userId="f"), key="env-key-xyz"), 401)
    finally:
        srv.stop()
