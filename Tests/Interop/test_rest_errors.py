"""Service REST API error handling (protocol-spec/rest-api.md §1, auth.md §5), with raw HTTP and
JWTs built here (HS256 with the standard library, aud = the full request URL as the SDKs sign
it). Every error must carry Content-Type application/json, a {"code","message"} body and an
x-ms-error-code header equal to the code; after each case the server keeps serving.
"""

from __future__ import annotations

import re
import time
import urllib.parse

import pytest

from restenv import (SUPPORTED_API_VERSIONS, HubEnv, assert_error, assert_rest_serving,
                     hub_path, make_jwt, rest, start_rest_server, unique)

HUB = "ErrHub"


@pytest.fixture(scope="module")
def srv():
    s = start_rest_server()
    yield s
    s.stop()


@pytest.fixture
def port(srv):
    yield srv.port
    assert_rest_serving(srv.port)


def send_all(port, **kw):
    kw.setdefault("body", '{"a":1}')
    kw.setdefault("content_type", "application/json")
    return rest(port, "POST", hub_path(HUB, "/:send"), **kw)


# --------------------------------------------------------------------------------------------
# authentication
# --------------------------------------------------------------------------------------------


def _url(port, path, api_version="2024-12-01"):
    return f"http://127.0.0.1:{port}{path}?api-version={api_version}"


def test_valid_token_control(port):
    assert send_all(port).status == 202


def test_missing_authorization_401(port):
    assert_error(send_all(port, key=None), 401)


def test_wrong_key_401(port):
    assert_error(send_all(port, key="not-the-key"), 401)


def test_expired_token_401(port):
    path = hub_path(HUB, "/:send")
    now = int(time.time())
    token = make_jwt({"aud": _url(port, path), "iat": now - 1000, "exp": now - 400})
    assert_error(send_all(port, token=token), 401)


def test_expired_within_skew_accepted(port):
    path = hub_path(HUB, "/:send")
    now = int(time.time())
    token = make_jwt({"aud": _url(port, path), "iat": now - 1000, "exp": now - 100})
    assert send_all(port, token=token).status == 202


def test_missing_exp_401(port):
    path = hub_path(HUB, "/:send")
    token = make_jwt({"aud": _url(port, path), "iat": int(time.time())})
    assert_error(send_all(port, token=token), 401)


@pytest.mark.parametrize("aud", [
    "http://127.0.0.1:{port}/api/hubs/OtherHub/:send?api-version=2024-12-01",
    "http://127.0.0.1:{port}/api/hubs/ErrHub/:closeConnections?api-version=2024-12-01",
    "http://127.0.0.1:1/api/hubs/ErrHub/:send?api-version=2024-12-01",
    "http://example.test:{port}/api/hubs/ErrHub/:send?api-version=2024-12-01",
    "http://127.0.0.1:{port}/api/hubs/ErrHub/:send?api-version=2024-01-01",
    "http://127.0.0.1:{port}/client/hubs/ErrHub",
])
def test_wrong_audience_401(port, aud):
    assert_error(send_all(port, aud=aud.format(port=port)), 401)


def test_audience_without_query_accepted(port):
    """auth.md §5: an aud without a query matches any query."""
    assert send_all(port, aud=f"http://127.0.0.1:{port}{hub_path(HUB, '/:send')}").status == 202


@pytest.mark.parametrize("token", [
    "garbage",
    "a.b.c",
    "Bearer",
])
def test_malformed_token_401(port, token):
    assert_error(send_all(port, token=token), 401)


def test_alg_none_401(port):
    path = hub_path(HUB, "/:send")
    now = int(time.time())
    good = make_jwt({"aud": _url(port, path), "exp": now + 60}, header={"alg": "none", "typ": "JWT"})
    unsigned = good.rsplit(".", 1)[0] + "."
    assert_error(send_all(port, token=unsigned), 401)
    assert_error(send_all(port, token=good), 401)


def test_basic_auth_scheme_401(port):
    r = send_all(port, key=None, headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert_error(r, 401)


def test_client_token_is_not_a_rest_token(port):
    token = make_jwt({"aud": f"http://127.0.0.1:{port}/client/hubs/{HUB}", "exp": int(time.time()) + 60,
                      "role": ["webpubsub.sendToGroup"]})
    assert_error(send_all(port, token=token), 401)


# --------------------------------------------------------------------------------------------
# payloads
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("flt,bad", [
    ("userId eq 'a' andd x", "andd"),
    ("userId eq", None),
    ("'g1' in groupz", "groupz"),
    ("startswith(userId, 'a'", None),
    ("userId eq 'unterminated", None),
    ("(((", None),
])
def test_bad_filter_400_names_position(port, flt, bad):
    r = send_all(port, params={"filter": flt})
    body = assert_error(r, 400, "InvalidFilter")
    m = re.search(r"position (\d+)", body["message"])
    assert m, f"the message does not name a position: {body!r}"
    if bad is not None:
        assert int(m.group(1)) in (flt.index(bad), flt.index(bad) + 1), (flt, body)
    # the same filter on the other operations that take one
    assert_error(rest(port, "POST", hub_path(HUB, "/groups/g/:send"), params={"filter": flt},
                      body="x", content_type="text/plain"), 400, "InvalidFilter")
    assert_error(rest(port, "POST", hub_path(HUB, "/users/u/:send"), params={"filter": flt},
                      body="x", content_type="text/plain"), 400, "InvalidFilter")
    assert_error(rest(port, "POST", hub_path(HUB, "/:addToGroups"),
                      body='{"groups":["g"],"filter":' + _json_str(flt) + "}",
                      content_type="application/json"), 400)


def _json_str(s: str) -> str:
    import json
    return json.dumps(s)


@pytest.mark.parametrize("ctype", ["image/png", "application/xml", "text/html", "multipart/form-data"])
def test_unsupported_content_type_415(port, ctype):
    assert_error(send_all(port, content_type=ctype), 415)


@pytest.mark.parametrize("ctype,status", [
    ("application/json; charset=utf-8", 202),
    ("Application/JSON", 202),
    ("text/plain; charset=utf-8", 202),
    ("application/octet-stream", 202),
    (None, 202),
])
def test_content_type_parameters_accepted(port, ctype, status):
    body = '{"a":1}'
    r = rest(port, "POST", hub_path(HUB, "/:send"), body=body, content_type=ctype)
    assert r.status == status, r


@pytest.mark.parametrize("body", ['{', '{"a":1', 'not json', '{"a":1} trailing', ''])
def test_invalid_json_400(port, body):
    assert_error(send_all(port, body=body), 400)


def test_invalid_utf8_text_400(port):
    assert_error(send_all(port, body=b"\xff\xfe bad", content_type="text/plain"), 400)


def test_body_over_limit_413_and_exact_limit_202(port):
    limit = 1 << 20
    r = send_all(port, body=b"\x00" * (limit + 1), content_type="application/octet-stream")
    # The body limit is enforced by the HTTP layer for every route (server.md: "413, close")
    # before the REST router runs, so only the status and the close are checked here.
    assert r.status == 413, r
    assert (r.header("connection") or "").lower() == "close", r
    assert_rest_serving(port)
    r = send_all(port, body=b"\x01" * limit, content_type="application/octet-stream")
    assert r.status == 202, r


# --------------------------------------------------------------------------------------------
# query parameters, paths, names
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["2020-01-01", "2024-12-02", "latest", ""])
def test_unknown_api_version_400(port, version):
    r = send_all(port, api_version=version)
    assert_error(r, 400, "UnsupportedApiVersion")
    supported = r.header("api-supported-versions") or ""
    for v in SUPPORTED_API_VERSIONS:
        assert v in supported, r


@pytest.mark.parametrize("version", list(SUPPORTED_API_VERSIONS) + [None])
def test_supported_api_versions_accepted(port, version):
    assert send_all(port, api_version=version).status == 202


@pytest.mark.parametrize("ttl", ["301", "-1", "abc", "1.5", "99999999999999999999"])
def test_message_ttl_out_of_range_400(port, ttl):
    assert_error(send_all(port, params={"messageTtlSeconds": ttl}), 400)


@pytest.mark.parametrize("ttl", ["0", "300"])
def test_message_ttl_in_range_202(port, ttl):
    assert send_all(port, params={"messageTtlSeconds": ttl}).status == 202


@pytest.mark.parametrize("method,suffix", [
    ("POST", "/groups/{g}/:send"),
    ("HEAD", "/groups/{g}"),
    ("PUT", "/groups/{g}/connections/" + "0" * 32),
    ("PUT", "/users/u/groups/{g}"),
    ("GET", "/groups/{g}/connections"),
])
@pytest.mark.parametrize("group", ["%20", "%20%20%20", "%09%0A", "x" * 1025])
def test_invalid_group_name_400(port, method, suffix, group):
    kw = {"body": "x", "content_type": "text/plain"} if method == "POST" else {}
    r = rest(port, method, hub_path(HUB, suffix.format(g=group)), **kw)
    if method == "HEAD":
        assert r.status == 400, r
    else:
        assert_error(r, 400)


def test_longest_group_name_accepted(port):
    r = rest(port, "POST", hub_path(HUB, "/groups/" + "x" * 1024 + "/:send"), body="x",
             content_type="text/plain")
    assert r.status == 202, r


def test_invalid_hub_name_400(port):
    r = rest(port, "POST", "/api/hubs/1bad/:send", body="x", content_type="text/plain")
    assert_error(r, 400)


# A letter, then up to 127 letters, digits and _ ` , . [ ] (reference §1.1).
@pytest.mark.parametrize("hub,valid", [
    ("Z", True), ("a" * 128, True), ("a9_`,.[]", True), ("q" + "]" * 127, True),
    ("a" * 129, False), ("_a", False), ("9a", False), ("a-b", False), ("a b", False), ("a:b", False),
    ("a@", False), ("a{", False), ("a/b", False), ("a\u00e9", False),
])
def test_hub_name_characters(port, hub, valid):
    path = "/api/hubs/" + urllib.parse.quote(hub, safe="") + "/:send"
    r = rest(port, "POST", path, body="x", content_type="text/plain")
    if valid:
        assert r.status == 202, r
    else:
        assert_error(r, 400)


def test_add_unknown_connection_to_group_404(port):
    assert_error(rest(port, "PUT", hub_path(HUB, "/groups/g/connections/" + "0" * 32)), 404)


def test_add_user_without_connections_404(port):
    assert_error(rest(port, "PUT", hub_path(HUB, "/users/" + unique("nobody") + "/groups/g")), 404)


@pytest.mark.parametrize("perm", ["sendToGroup", "joinLeaveGroup"])
def test_grant_on_unknown_connection_404(port, perm):
    assert_error(rest(port, "PUT", hub_path(HUB, f"/permissions/{perm}/connections/" + "0" * 32),
                      params={"targetName": "g"}), 404)
    assert_error(rest(port, "PUT", hub_path(HUB, f"/permissions/{perm}/connections/" + "0" * 32)), 404)


def test_unknown_permission_400(srv, port):
    env = HubEnv(srv, HUB)
    try:
        c = env.raw("perm-user")
        r = rest(port, "PUT", hub_path(HUB, f"/permissions/sendToGroups/connections/{c.conn_id}"))
        assert_error(r, 400)
        r = rest(port, "PUT", hub_path(HUB, f"/permissions/SENDTOGROUP/connections/{c.conn_id}"))
        assert r.status == 200, r  # case-insensitive
    finally:
        env.close()


@pytest.mark.parametrize("path", [
    "/api/hubs/ErrHub/nothing",
    "/api/hubs/ErrHub/:sendd",
    "/api/hubs/ErrHub/groups/g/:nope",
    "/api/hubs",
    "/api/nothing",
    "/api/hubs/ErrHub/connections/abc/groups/g/extra",
])
def test_unknown_path_404(port, path):
    assert_error(rest(port, "POST", path, body="x", content_type="text/plain"), 404, "NotFound")


@pytest.mark.parametrize("method,path", [
    ("GET", "/api/hubs/ErrHub/:send"),
    ("DELETE", "/api/hubs/ErrHub/groups/g/:send"),
    ("POST", "/api/hubs/ErrHub/groups/g/connections/" + "0" * 32),
    ("PUT", "/api/hubs/ErrHub/groups/g"),
])
def test_known_path_wrong_method_405(port, method, path):
    r = rest(port, method, path)
    assert r.status == 405, r


@pytest.mark.parametrize("params", [
    {"maxpagesize": "0"}, {"maxpagesize": "201"}, {"maxpagesize": "x"}, {"top": "0"}, {"top": "-3"},
])
def test_list_connections_bad_paging_400(port, params):
    assert_error(rest(port, "GET", hub_path(HUB, "/groups/g/connections"), params=params), 400)


@pytest.mark.parametrize("minutes", ["0", "-5", "abc"])
def test_generate_token_bad_minutes_400(port, minutes):
    r = rest(port, "POST", hub_path(HUB, "/:generateToken"), params={"userId": "u", "minutesToExpire": minutes})
    assert_error(r, 400)


@pytest.mark.parametrize("body", ['{"filter":"userId eq \'a\'"}', '{"groups":"g"}', '{"groups":[" "]}',
                                  '[1]', 'nope'])
def test_add_to_groups_bad_body_400(port, body):
    r = rest(port, "POST", hub_path(HUB, "/:addToGroups"), body=body, content_type="application/json")
    assert_error(r, 400)


def test_many_errors_in_a_row_keep_serving(port):
    for i in range(50):
        assert send_all(port, key="bad").status == 401
        assert send_all(port, body="{").status == 400
        assert rest(port, "GET", "/api/nowhere").status == 404
    assert send_all(port).status == 202
