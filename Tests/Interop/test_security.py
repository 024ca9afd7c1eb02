"""Security properties of the server's surfaces (protocol-spec/security.md).

- every REST route and method refuses requests without valid credentials with 401, before any
  routing answer (404/405) and before touching state, and no 401 echoes a token or a key;
- /negotiate refuses a missing or wrong x-api-key with 401, and cannot be talked into roles
  the operator did not configure;
- the client endpoint's 401s echo neither the token nor the key;
- keys appear on standard output only (the deliberate start-up lines), never in the log;
- upstream requests are signed with every key, redirects are never followed, and a handler's
  secrets (query values of its URL, extra headers) never reach the log or a client.
"""

from __future__ import annotations

import time
import urllib.parse

import pytest

import restenv
from restenv import (NEGOTIATE_KEY, HubEnv, assert_error, hub_path, http_request, jwt_claims, make_jwt,
                     query_string, start_rest_server, unique)
from sdkenv import (ACCESS_KEY as SDK_KEY, HUB, JSON_PROTOCOL, RawClient, client_url, handshake_status,  # noqa: F401
                    raw_clients, wps_factory)
from upstreamenv import Reply, event_handlers, signature_for  # noqa: F401

REST_KEY = restenv.ACCESS_KEY
API_VERSION = restenv.API_VERSION
WRONG_KEY = "wrong-key-0123456789abcdefghijklmnopqrstuvwxyz=="
RHUB = "SecHub"
CONN = "0123456789abcdef0123456789abcd00"  # a well-formed connection id nobody holds

# --------------------------------------------------------------------------------------------
# The REST surface: every route and method the server implements
# (Sources/WPSServer/Router+RESTOperations.swift, protocol-spec/rest-api.md §2), with the status
# a valid token gets, so the control proves each request reaches its operation.
# --------------------------------------------------------------------------------------------

JSON_BODY = (b'{"a":1}', "application/json")
GROUPS_BODY = (b'{"groups":["g1"]}', "application/json")

# (method, path under /api/hubs/{hub}, query, (body, content type) or None, status with a valid token)
ROUTES = [
    ("POST", "/:send", {}, JSON_BODY, 202),
    ("POST", "/:closeConnections", {}, None, 204),
    ("POST", "/:generateToken", {"userId": "u1", "role": "webpubsub.sendToGroup"}, None, 200),
    ("POST", "/:addToGroups", {}, GROUPS_BODY, 200),
    ("POST", "/:removeFromGroups", {}, GROUPS_BODY, 200),
    ("HEAD", "/groups/g1", {}, None, 404),
    ("POST", "/groups/g1/:send", {}, JSON_BODY, 202),
    ("POST", "/groups/g1/:closeConnections", {}, None, 204),
    ("GET", "/groups/g1/connections", {}, None, 200),
    ("PUT", f"/groups/g1/connections/{CONN}", {}, None, 404),
    ("DELETE", f"/groups/g1/connections/{CONN}", {}, None, 204),
    ("HEAD", "/users/u1", {}, None, 404),
    ("POST", "/users/u1/:send", {}, JSON_BODY, 202),
    ("POST", "/users/u1/:closeConnections", {}, None, 204),
    ("DELETE", "/users/u1/groups", {}, None, 204),
    ("PUT", "/users/u1/groups/g1", {}, None, 404),
    ("DELETE", "/users/u1/groups/g1", {}, None, 204),
    ("HEAD", f"/connections/{CONN}", {}, None, 404),
    ("DELETE", f"/connections/{CONN}", {}, None, 204),
    ("POST", f"/connections/{CONN}/:send", {}, JSON_BODY, 202),
    ("DELETE", f"/connections/{CONN}/groups", {}, None, 204),
    ("PUT", f"/permissions/sendToGroup/connections/{CONN}", {"targetName": "g1"}, None, 404),
    ("DELETE", f"/permissions/joinLeaveGroup/connections/{CONN}", {}, None, 204),
    ("HEAD", f"/permissions/sendToGroup/connections/{CONN}", {}, None, 404),
]

# Paths and methods the server does not implement under a hub: authentication still comes
# first, so without credentials they are 401 too (not 404/405, which would map the API).
UNROUTED = [
    ("GET", "/:send"),
    ("PATCH", "/groups/g1"),
    ("DELETE", "/groups/g1"),
    ("POST", "/nothing-here"),
    ("GET", f"/connections/{CONN}/groups/g1/extra"),
    ("PUT", "/permissions/sendToGroup/connections"),
]


def route_id(route) -> str:
    return f"{route[0]} {route[1].replace(CONN, '{id}')}"


@pytest.fixture(scope="module")
def srv():
    s = start_rest_server()
    yield s
    s.stop()


def _target(path: str, query: dict, hub: str = RHUB) -> str:
    items = list(query.items()) + [("api-version", API_VERSION)]
    return hub_path(hub, path) + "?" + query_string(items)


def _url(port: int, target: str) -> str:
    return f"http://127.0.0.1:{port}{target}"


def _token(aud: str, key: str = REST_KEY, exp_in: int = 60, **extra) -> str:
    now = int(time.time())
    return make_jwt({"aud": aud, "iat": now, "exp": now + exp_in, **extra}, key)


def _call(port: int, method: str, target: str, body, authorization: str | None, **headers):
    hdrs = dict(headers)
    if authorization is not None:
        hdrs["Authorization"] = authorization
    data, ctype = body if body else (None, None)
    if ctype:
        hdrs["Content-Type"] = ctype
    return http_request(port, method, target, data, hdrs)


# Credentials that must all be refused: name -> f(port, target) -> Authorization header or None.
BAD_CREDENTIALS = {
    "no-authorization": lambda port, target: None,
    "wrong-key": lambda port, target: "Bearer " + _token(_url(port, target), key=WRONG_KEY),
    "expired": lambda port, target: "Bearer " + _token(_url(port, target), exp_in=-400),  # past the 300 s skew
    "not-yet-valid": lambda port, target: "Bearer " + make_jwt(
        {"aud": _url(port, target), "nbf": int(time.time()) + 900, "exp": int(time.time()) + 3600}, REST_KEY),
    "audience-other-hub": lambda port, target: "Bearer " + _token(
        _url(port, target.replace(f"/hubs/{RHUB}/", "/hubs/OtherHub/", 1))),
    "audience-client-endpoint": lambda port, target: "Bearer " + _token(
        f"http://127.0.0.1:{port}/client/hubs/{RHUB}"),
    "audience-other-host": lambda port, target: "Bearer " + _token(_url(port, target).replace("127.0.0.1", "evil.test")),
    "no-exp": lambda port, target: "Bearer " + make_jwt({"aud": _url(port, target)}, REST_KEY),
    "alg-none": lambda port, target: "Bearer " + make_jwt(
        {"aud": _url(port, target), "exp": int(time.time()) + 60}, REST_KEY, header={"alg": "none"}).rsplit(".", 1)[0] + ".",
    "access-key-as-bearer": lambda port, target: "Bearer " + REST_KEY,
    "negotiate-key-as-bearer": lambda port, target: "Bearer " + NEGOTIATE_KEY,
    "basic-with-key": lambda port, target: "Basic " + REST_KEY,
}


def assert_reveals_nothing(resp, *secrets: str) -> None:
    """Neither the body nor any header value holds a secret, a token or a token's signature."""
    texts = [resp.body.decode("utf-8", "replace")] + [v for _, v in resp.headers]
    for secret in secrets:
        if not secret:
            continue
        pieces = {secret, secret.rstrip("=")}
        if secret.count(".") == 2:  # a JWT: its signature alone must not appear either
            pieces.add(secret.rsplit(".", 1)[1])
        for text in texts:
            for piece in pieces:
                if len(piece) >= 8:
                    assert piece not in text, f"response reveals {piece[:12]}…: {resp!r}"


def assert_unauthorized(resp, method: str, *secrets: str) -> None:
    if method == "HEAD":
        assert resp.status == 401, resp
        assert resp.header("x-ms-error-code") == "Unauthorized", resp
    else:
        assert_error(resp, 401, "Unauthorized")
    assert_reveals_nothing(resp, REST_KEY, NEGOTIATE_KEY, WRONG_KEY, *secrets)


@pytest.mark.parametrize("route", ROUTES, ids=route_id)
def test_route_with_valid_token_reaches_its_operation(srv, route):
    """The control: with a valid token each request of the table gets its operation's answer."""
    method, path, query, body, expected = route
    target = _target(path, query)
    r = _call(srv.port, method, target, body, "Bearer " + _token(_url(srv.port, target)))
    assert r.status == expected, r


@pytest.mark.parametrize("credential", list(BAD_CREDENTIALS), ids=list(BAD_CREDENTIALS))
@pytest.mark.parametrize("route", ROUTES, ids=route_id)
def test_route_refuses_bad_credentials(srv, route, credential):
    method, path, query, body, _ = route
    target = _target(path, query)
    authorization = BAD_CREDENTIALS[credential](srv.port, target)
    r = _call(srv.port, method, target, body, authorization)
    token = authorization.split(" ", 1)[1] if authorization else None
    assert_unauthorized(r, method, token)


@pytest.mark.parametrize("method,path", UNROUTED, ids=[f"{m} {p.replace(CONN, '{id}')}" for m, p in UNROUTED])
def test_unrouted_requests_are_401_before_404_or_405(srv, method, path):
    target = _target(path, {})
    assert_unauthorized(_call(srv.port, method, target, None, None), method)
    # with a valid token the same request gets its routing answer instead
    r = _call(srv.port, method, target, None, "Bearer " + _token(_url(srv.port, target)))
    assert r.status in (404, 405), r


def test_refused_requests_change_nothing(srv):
    """A refused :addToGroups / :closeConnections leaves the hub's connections as they were."""
    env = HubEnv(srv, unique("Sec"))
    try:
        c = env.raw("victim")
        for path, body in (("/:addToGroups", GROUPS_BODY), ("/:closeConnections", None),
                           (f"/connections/{c.conn_id}", None)):
            method = "DELETE" if path.startswith("/connections/") else "POST"
            target = _target(path, {}, hub=env.hub)
            for credential in ("no-authorization", "wrong-key", "expired"):
                r = _call(srv.port, method, target, body, BAD_CREDENTIALS[credential](srv.port, target))
                assert r.status == 401, r
        assert env.svc.connection_exists(c.conn_id) is True
        assert env.svc.group_exists("g1") is False
    finally:
        env.close()


def test_every_operation_of_the_spec_is_in_the_table():
    """rest-api.md §2's operations table and ROUTES name the same method/path shapes."""
    import pathlib
    import re
    spec = (pathlib.Path(__file__).resolve().parents[2] / "protocol-spec" / "rest-api.md").read_text()
    shapes = set()
    for method, path in re.findall(r"`(GET|POST|PUT|DELETE|HEAD) (/[^`]*)`", spec):
        if path.startswith("/api/"):
            continue  # /api/health: open by design (test_open_routes)
        shapes.add((method, re.sub(r"\{[^}]+\}", "{}", path)))
    ours = set()
    for method, path, *_ in ROUTES:
        generic = re.sub(r"/(groups|users|connections)/[^/:]+", r"/\1/{}", path)
        generic = re.sub(r"/permissions/[^/]+", "/permissions/{}", generic)
        ours.add((method, generic))
    assert shapes and shapes == ours, (shapes - ours, ours - shapes)


# --------------------------------------------------------------------------------------------
# What is open, and what is answered before authentication
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method,target,status", [
    ("GET", "/healthz", 200),
    ("HEAD", "/healthz", 200),
    ("GET", "/api/health", 200),
    ("HEAD", "/api/health", 200),
    # answered before authentication, revealing nothing about the hub's state:
    ("GET", f"/api/hubs/{RHUB}", 404),                                    # no operation there
    ("POST", f"/api/hubs/{RHUB}/:send?api-version=1999-01-01", 400),     # UnsupportedApiVersion
    ("POST", "/api/hubs/bad%20hub/:send", 400),                          # InvalidHub
])
def test_open_routes_and_pre_authentication_answers(srv, method, target, status):
    r = http_request(srv.port, method, target, headers={})
    assert r.status == status, r
    assert_reveals_nothing(r, REST_KEY, NEGOTIATE_KEY)


# --------------------------------------------------------------------------------------------
# The client endpoint's own token check
# --------------------------------------------------------------------------------------------


def _client_token(port: int, hub: str = HUB, key: str = SDK_KEY, exp_in: int = 3600, aud: str | None = None) -> str:
    now = int(time.time())
    return make_jwt({"aud": aud or f"http://127.0.0.1:{port}/client/hubs/{hub}", "iat": now, "exp": now + exp_in,
                     "sub": "mallory", "role": ["webpubsub.sendToGroup"]}, key)


@pytest.mark.parametrize("case", ["wrong-key", "expired", "other-hub", "rest-audience", "none"])
def test_client_endpoint_401_reveals_no_token(wps_factory, case):
    srv = wps_factory()
    token = {
        "wrong-key": lambda: _client_token(srv.port, key=WRONG_KEY),
        "expired": lambda: _client_token(srv.port, exp_in=-400),
        "other-hub": lambda: _client_token(srv.port, hub="OtherHub"),
        "rest-audience": lambda: _client_token(srv.port, aud=f"http://127.0.0.1:{srv.port}/api/hubs/{HUB}/:send"),
        "none": lambda: "",
    }[case]()
    url = f"ws://127.0.0.1:{srv.port}/client/hubs/{HUB}" + (f"?access_token={token}" if token else "")
    status, body = handshake_status(url)
    assert status == 401, (status, body)
    text = body.decode("utf-8", "replace")
    for piece in (token, token.rsplit(".", 1)[-1], SDK_KEY, WRONG_KEY):
        assert not piece or piece not in text, text


# --------------------------------------------------------------------------------------------
# /negotiate: the key check
# --------------------------------------------------------------------------------------------


def negotiate(port: int, target: str, key: str | None = NEGOTIATE_KEY, headers: dict | None = None):
    hdrs = dict(headers or {})
    if key is not None:
        hdrs["x-api-key"] = key
    return http_request(port, "GET", target, headers=hdrs)


def q(*pairs) -> str:
    return urllib.parse.urlencode(list(pairs), quote_via=urllib.parse.quote)


def roles_of(token: str) -> list[str]:
    role = jwt_claims(token).get("role", [])
    return [role] if isinstance(role, str) else list(role)


NEGOTIATE_TARGETS = ["/negotiate?" + q(("userId", "u"), ("group", "g")), "/negotiate/u/g",
                     "/negotiate?" + q(("userId", "u"), ("hub", "OtherHub"))]


@pytest.mark.parametrize("target", NEGOTIATE_TARGETS)
@pytest.mark.parametrize("case", ["missing", "empty", "wrong", "prefix", "longer", "case", "access-key",
                                  "in-query", "as-bearer", "twice-wrong-first"])
def test_negotiate_refuses_without_the_key(srv, target, case):
    key, headers, tgt = None, {}, target
    if case == "empty":
        key = ""
    elif case == "wrong":
        key = WRONG_KEY
    elif case == "prefix":
        key = NEGOTIATE_KEY[:-1]
    elif case == "longer":
        key = NEGOTIATE_KEY + "0"
    elif case == "case":
        key = NEGOTIATE_KEY.upper()
    elif case == "access-key":
        key = REST_KEY
    elif case == "in-query":
        tgt = target + ("&" if "?" in target else "?") + q(("x-api-key", NEGOTIATE_KEY), ("api-key", NEGOTIATE_KEY))
    elif case == "as-bearer":
        headers = {"Authorization": "Bearer " + NEGOTIATE_KEY}
    r = negotiate(srv.port, tgt, key=key, headers=headers)
    if case == "twice-wrong-first":
        # the first x-api-key decides; a second one is not looked at
        r = http_raw_two_keys(srv.port, target, WRONG_KEY, NEGOTIATE_KEY)
    assert_error(r, 401, "Unauthorized")
    assert_reveals_nothing(r, NEGOTIATE_KEY, REST_KEY, WRONG_KEY)
    assert "token" not in r.body.decode("utf-8", "replace")


def http_raw_two_keys(port: int, target: str, first: str, second: str):
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.putrequest("GET", target, skip_accept_encoding=True)
        conn.putheader("x-api-key", first)
        conn.putheader("x-api-key", second)
        conn.endheaders()
        resp = conn.getresponse()
        return restenv.HttpResult(resp.status, resp.getheaders(), resp.read())
    finally:
        conn.close()


def test_negotiate_other_methods_are_405_and_mint_nothing(srv):
    for method in ("POST", "PUT", "DELETE", "HEAD"):
        r = http_request(srv.port, method, "/negotiate?" + q(("userId", "u")), headers={"x-api-key": NEGOTIATE_KEY})
        assert r.status == 405, r
        assert b"token" not in r.body


# --------------------------------------------------------------------------------------------
# /negotiate: which roles a caller holding the negotiate key can obtain
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("extra", [
    (("role", "webpubsub.sendToGroup"),),
    (("role", "webpubsub.joinLeaveGroup"), ("role", "webpubsub.sendToGroup")),
    (("roles", "webpubsub.sendToGroup"),),
    (("role", "webpubsub.sendToGroups.**"), ("role", "webpubsub.joinLeaveGroups.**")),
    (("webpubsub.group", "admins"),),
    (("minutesToExpire", "100000"), ("exp", "99999999999")),
])
def test_negotiate_ignores_role_and_lifetime_parameters(srv, extra):
    for target in ("/negotiate?" + q(("userId", "u"), *extra), "/negotiate/u/g1?" + q(*extra)):
        r = negotiate(srv.port, target)
        assert r.status == 200, r
        token = r.json()["token"]
        claims = jwt_claims(token)
        expected = [] if target.startswith("/negotiate?") else ["webpubsub.joinLeaveGroup.g1", "webpubsub.sendToGroup.g1"]
        assert sorted(roles_of(token)) == expected, claims
        assert claims["exp"] - claims["iat"] == 3600, claims
        assert claims.get("webpubsub.group", []) in ([], ["g1"], "g1"), claims


def test_negotiate_takes_one_group_only(srv):
    r = negotiate(srv.port, "/negotiate?" + q(("userId", "u"), ("group", "a"), ("group", "b")))
    token = r.json()["token"]
    roles = sorted(roles_of(token))
    assert roles in (["webpubsub.joinLeaveGroup.a", "webpubsub.sendToGroup.a"],
                     ["webpubsub.joinLeaveGroup.b", "webpubsub.sendToGroup.b"]), roles
    assert jwt_claims(token)["webpubsub.group"] in (["a"], ["b"], "a", "b")


@pytest.mark.parametrize("group", ["", " ", "x" * 1025])
def test_negotiate_refuses_invalid_groups(srv, group):
    r = negotiate(srv.port, "/negotiate?" + q(("userId", "u"), ("group", group)))
    assert r.status == 400, r
    assert b"token" not in r.body


@pytest.mark.parametrize("user", ['u","role":["webpubsub.sendToGroup"],"x":"', 'u\\", "role": "webpubsub.joinLeaveGroup'])
def test_negotiate_user_id_cannot_inject_claims(srv, user):
    r = negotiate(srv.port, "/negotiate?" + q(("userId", user)))
    claims = jwt_claims(r.json()["token"])
    assert claims["sub"] == user and "role" not in claims, claims


@pytest.mark.parametrize("group", ["**", "s.*", "*", "a?c", "x,webpubsub.sendToGroup", "webpubsub.sendToGroup"])
def test_negotiate_group_is_exact_never_a_pattern(srv, group):
    """A group that looks like a wildcard or a role grants exactly that one group name."""
    env = HubEnv(srv, "hub")
    try:
        r = negotiate(srv.port, "/negotiate?" + q(("userId", "pat-user"), ("group", group)))
        body = r.json()
        assert sorted(roles_of(body["token"])) == sorted([f"webpubsub.joinLeaveGroup.{group}",
                                                         f"webpubsub.sendToGroup.{group}"])
        c = RawClient.open(body["url"], JSON_PROTOCOL)
        env.raws.append(c)
        assert c.recv_json()["event"] == "connected"
        other = "s.other" if group != "s.other" else "zz"
        c.send_json({"type": "joinGroup", "group": other, "ackId": 1})
        assert c.ack(1)["error"]["name"] == "Forbidden"
        c.send_json({"type": "sendToGroup", "group": "abc", "ackId": 2, "dataType": "text", "data": "x"})
        assert c.ack(2)["error"]["name"] == "Forbidden"
        c.send_json({"type": "sendToGroup", "group": group, "ackId": 3, "dataType": "text", "data": "x"})
        assert c.ack(3)["success"] is True
    finally:
        env.close()


def test_negotiate_role_flag_applies_to_every_caller_of_that_hub():
    """--negotiate-role HUB=ROLE is per hub, not per caller: the hub is a query parameter, so
    every holder of the negotiate key gets the role by asking for that hub (security.md §4)."""
    srv = start_rest_server("--negotiate-role", "trusted=webpubsub.sendToGroup")
    try:
        for hub in ("trusted", "TRUSTED"):
            r = negotiate(srv.port, "/negotiate?" + q(("userId", "anyone"), ("hub", hub)))
            assert roles_of(r.json()["token"]) == ["webpubsub.sendToGroup"], r
        r = negotiate(srv.port, "/negotiate?" + q(("userId", "anyone"), ("hub", "hub"),
                                                  ("role", "webpubsub.joinLeaveGroup")))
        assert roles_of(r.json()["token"]) == []
        # the path form always uses --default-hub, whatever the query says
        r = negotiate(srv.port, "/negotiate/anyone/g?" + q(("hub", "trusted")))
        assert jwt_claims(r.json()["token"])["aud"].endswith("/client/hubs/hub")
        assert "webpubsub.sendToGroup" not in roles_of(r.json()["token"])
    finally:
        srv.stop()


# --------------------------------------------------------------------------------------------
# Keys on standard output only, never in the log
# --------------------------------------------------------------------------------------------


def test_keys_are_printed_on_stdout_only_and_never_logged(srv):
    port = srv.port
    # exercise refusals and successes first, so any logging of them would show
    target = _target("/:send", {})
    _call(port, "POST", target, JSON_BODY, "Bearer " + _token(_url(port, target), key=WRONG_KEY))
    _call(port, "POST", target, JSON_BODY, "Bearer " + _token(_url(port, target)))
    negotiate(port, "/negotiate?" + q(("userId", "u")), key=WRONG_KEY)
    negotiate(port, "/negotiate?" + q(("userId", "u")))
    out = srv.stdout_text(settle=0.2)
    assert f"AccessKey={REST_KEY};" in srv.connection_string_line()          # deliberate, for local use
    assert f"x-api-key: {NEGOTIATE_KEY}" in out                              # the ready curl line
    log = srv.stderr_tail(1_000_000)
    for secret in (REST_KEY, REST_KEY.rstrip("="), NEGOTIATE_KEY, WRONG_KEY):
        assert secret not in log, "a key reached the log"
    assert "access_token" not in log and "Bearer" not in log


# --------------------------------------------------------------------------------------------
# Upstream event handlers
# --------------------------------------------------------------------------------------------

SECOND_KEY = "second-rotation-key-abcdefghijklmnopqrstuvwxyz012="


def test_upstream_requests_are_signed_with_every_key(wps_factory, event_handlers, raw_clients):
    handler = event_handlers(access_keys=[SDK_KEY, SECOND_KEY])
    srv = wps_factory("--access-key", SECOND_KEY, "--event-handler", handler.url_template("/up/{event}"))
    c = raw_clients(client_url(srv.port, user_id="alice"))
    cid = c.recv_json()["connectionId"]
    c.send_json({"type": "event", "event": "e", "dataType": "text", "data": "x", "ackId": 1})
    assert c.ack(1)["success"] is True
    events = handler.wait_for(lambda e: e.connection_id == cid, count=3)
    assert {e.event_name for e in events} >= {"connect", "connected", "e"}
    for e in events:
        assert e.signature == f"{signature_for(SDK_KEY, cid)},{signature_for(SECOND_KEY, cid)}", e.signature
        assert e.signature_ok


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_upstream_redirects_are_never_followed(wps_factory, event_handlers, raw_clients, status):
    target = event_handlers(access_keys=[SDK_KEY])
    handler = event_handlers(access_keys=[SDK_KEY])
    location = target.url_template("/stolen/{event}").replace("{event}", "x")
    redirect = Reply(status, b"", None, headers={"Location": location})
    handler.on_event = lambda e: redirect if e.event_name in ("connect", "e") else None
    srv = wps_factory("--event-handler", handler.url_template("/up/{event}"))
    code, body = handshake_status(client_url(srv.port, user_id="alice"), timeout=10)
    assert code == 500 and str(status).encode() in body, (code, body)
    # a user event answered with a redirect fails its ack
    handler.on_event = lambda e: redirect if e.event_name == "e" else None
    c = raw_clients(client_url(srv.port, user_id="bob"))
    c.recv_json()
    c.send_json({"type": "event", "event": "e", "dataType": "text", "data": "x", "ackId": 1})
    ack = c.ack(1, timeout=10)
    assert ack["success"] is False and f"answered {status}" in ack["error"]["message"], ack
    time.sleep(0.3)
    assert target.events == [] and target.preflights == [] and target.unexpected == []


SECRET_CODE = "SecretFunctionCode0123456789"
SECRET_HEADER = "SecretHeaderValue9876543210"


def _secret_handler_config(tmp_path, handler) -> str:
    path = tmp_path / "wps.yaml"
    path.write_text(f"""
eventHandlers:
  - urlTemplate: {handler.url_template('/up/{hub}/{event}')}?code={SECRET_CODE}
    userEventPattern: "*"
    systemEvents: [connect, connected, disconnected]
    headers:
      x-functions-key: {SECRET_HEADER}
      Authorization: Bearer {SECRET_HEADER}
""")
    return str(path)



def test_failed_preflight_reveals_no_handler_secret(wps_factory, event_handlers, raw_clients, tmp_path):
    handler = event_handlers(access_keys=[SDK_KEY], allowed_origin=401)
    srv = wps_factory("--config", _secret_handler_config(tmp_path, handler))
    status, body = handshake_status(client_url(srv.port, user_id="alice"), timeout=20)
    assert status == 500 and b"abuse protection" in body, (status, body)
    [preflight, *_] = handler.preflights
    assert SECRET_CODE in preflight.path and preflight.headers["x-functions-key"] == SECRET_HEADER  # sent
    text = body.decode("utf-8", "replace")
    assert "code=***" in text, text                     # the URL is still named, its value hidden
    assert SECRET_CODE not in text and SECRET_HEADER not in text, text
    time.sleep(0.3)
    log = srv.stderr_tail(1_000_000)
    assert "abuse protection" in log
    assert SECRET_CODE not in log and SECRET_HEADER not in log, log


def test_handler_secrets_never_logged(wps_factory, event_handlers, raw_clients, tmp_path):
    handler = event_handlers(access_keys=[SDK_KEY])
    # connected: a 4xx is not retried and logged at once as a warning naming the URL
    handler.on_event = lambda e: (Reply.error(400, "no") if e.event_name == "connected"
                                  else Reply.error(500, "boom") if e.event_name == "e" else None)
    srv = wps_factory("--config", _secret_handler_config(tmp_path, handler))
    c = raw_clients(client_url(srv.port, user_id="alice"))
    c.recv_json()
    c.send_json({"type": "event", "event": "e", "dataType": "text", "data": "x", "ackId": 1})
    ack = c.ack(1, timeout=10)
    assert ack["success"] is False
    assert SECRET_CODE not in str(ack) and SECRET_HEADER not in str(ack), ack
    [connected] = handler.wait_for(lambda e: e.event_name == "connected")
    assert connected.headers["x-functions-key"] == SECRET_HEADER
    deadline = time.monotonic() + 5
    while "answered 400" not in srv.stderr_tail(1_000_000) and time.monotonic() < deadline:
        time.sleep(0.05)
    log = srv.stderr_tail(1_000_000)
    assert "answered 400" in log and "passed abuse protection" in log, log
    assert SECRET_CODE not in log and SECRET_HEADER not in log, log
    assert "code=***" in log, log
