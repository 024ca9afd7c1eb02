"""The state directory (protocol-spec/server.md §State): a generated access key is kept in
`--state-dir`, printed in the connection string, and survives a restart, so tokens issued
before the restart keep working."""

from __future__ import annotations

import os
import stat
import time


from restenv import (WpsProc, StartupFailed, free_port, jwt_claims, rest, service_client)
from sdkenv import JSON_PROTOCOL, RawClient, handshake_status
from azure.messaging.webpubsubservice import WebPubSubServiceClient

HUB = "MyHub"


def _mode(path: str) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _start_on(port: int | None, state: str, *extra: str, attempts: int = 5) -> WpsProc:
    """Start on a fixed port (None: pick a free one, retrying on a race with another process)."""
    last = None
    for _ in range(attempts):
        p = port or free_port()
        try:
            return WpsProc("--threads", "2", *extra, port=p, state_dir=state)
        except StartupFailed as e:
            last = e
            time.sleep(0.5)
    raise last


def _parse_conn_str(cs: str) -> dict:
    out = {}
    for seg in cs.split(";"):
        if seg.strip():
            k, v = seg.split("=", 1)
            out[k.strip().lower()] = v.strip()
    return out


def _connects(url: str, user: str) -> None:
    with RawClient.open(url, JSON_PROTOCOL) as c:
        hello = c.recv_json()
        assert hello["type"] == "system" and hello["event"] == "connected", hello
        assert hello["userId"] == user, hello


def test_generated_access_key_survives_restart(tmp_path):
    state = str(tmp_path / "state")
    srv = _start_on(None, state)
    port = srv.port
    try:
        key_file = os.path.join(state, "access-key")
        assert os.path.isfile(key_file), os.listdir(state)
        assert _mode(key_file) == 0o600, oct(_mode(key_file))
        assert _mode(state) == 0o700, oct(_mode(state))
        key = open(key_file).read().strip()
        assert len(key) == 44 and key.endswith("="), key  # 32 bytes, padded base64
        cs = srv.connection_string_line()
        parts = _parse_conn_str(cs)
        assert parts["accesskey"] == key, cs
        assert parts["endpoint"].rstrip("/") == "http://127.0.0.1", cs
        assert parts.get("port") == str(port), cs
        assert "access-key" in srv.stdout_text(), srv.stdout_lines

        svc = WebPubSubServiceClient.from_connection_string(cs, hub=HUB)
        token = svc.get_client_access_token(user_id="persist", roles=["webpubsub.joinLeaveGroup"],
                                            minutes_to_expire=60)
        assert jwt_claims(token["token"])["aud"] == f"http://127.0.0.1:{port}/client/hubs/{HUB}"
        _connects(token["url"], "persist")
        # the REST API accepts the SDK signed with the generated key
        assert svc.user_exists("nobody") is False
        svc.send_to_all("hello", content_type="text/plain")
    finally:
        rc = srv.stop()
    assert rc == 0, f"SIGTERM exit status {rc}; stderr: {srv.stderr_tail()}"

    srv2 = _start_on(port, state)
    try:
        assert srv2.port == port
        assert open(key_file).read().strip() == key
        cs2 = srv2.connection_string_line()
        assert _parse_conn_str(cs2)["accesskey"] == key, cs2
        # the token minted before the restart still connects
        _connects(token["url"], "persist")
        svc2 = WebPubSubServiceClient.from_connection_string(cs2, hub=HUB)
        assert svc2.user_exists("nobody") is False
        # and the old service client too
        svc.send_to_all("hello again", content_type="text/plain")
    finally:
        assert srv2.stop() == 0


def test_new_state_dir_means_new_key(tmp_path):
    """A different state directory generates a different key: old tokens are refused."""
    a = _start_on(None, str(tmp_path / "a"))
    try:
        key_a = _parse_conn_str(a.connection_string_line())["accesskey"]
        url_a = service_client(a.port, HUB, key_a).get_client_access_token(user_id="ua")["url"]
        _connects(url_a, "ua")
        port = a.port
    finally:
        assert a.stop() == 0
    b = _start_on(port, str(tmp_path / "b"))
    try:
        key_b = _parse_conn_str(b.connection_string_line())["accesskey"]
        assert key_b != key_a
        status, _ = handshake_status(url_a)
        assert status == 401, status
        r = rest(b.port, "HEAD", f"/api/hubs/{HUB}/users/ua", key=key_a)
        assert r.status == 401, r
        r = rest(b.port, "HEAD", f"/api/hubs/{HUB}/users/ua", key=key_b)
        assert r.status == 404, r
    finally:
        b.stop()


def test_access_key_flag_and_environment_do_not_write_state(tmp_path):
    state = str(tmp_path / "s1")
    srv = WpsProc("--access-key", "flag-access-key-0123456789abcdefghijkl", "--negotiate-key", "nk", "--threads", "1",
                  state_dir=state)
    try:
        cs = srv.connection_string_line()
        assert _parse_conn_str(cs)["accesskey"] == "flag-access-key-0123456789abcdefghijkl", cs
        assert not os.path.exists(os.path.join(state, "access-key"))
    finally:
        srv.stop()
    state2 = str(tmp_path / "s2")
    srv = WpsProc("--negotiate-key", "nk", "--threads", "1", state_dir=state2,
                  env={"WPS_ACCESS_KEY": "env-access-key-0123456789abcdefghijklmn"})
    try:
        cs = srv.connection_string_line()
        assert _parse_conn_str(cs)["accesskey"] == "env-access-key-0123456789abcdefghijklmn", cs
        assert not os.path.exists(os.path.join(state2, "access-key"))
        url = service_client(srv.port, HUB, "env-access-key-0123456789abcdefghijklmn").get_client_access_token(user_id="e")["url"]
        _connects(url, "e")
    finally:
        srv.stop()


def test_second_access_key_accepted_first_signs(tmp_path):
    """Key rotation: tokens signed with either --access-key are accepted."""
    srv = WpsProc("--access-key", "primary-key-0123456789abcdefghijklmnopq", "--access-key", "secondary-key-0123456789abcdefghijklmno", "--negotiate-key", "nk",
                  "--threads", "1", state_dir=str(tmp_path / "s"))
    try:
        assert _parse_conn_str(srv.connection_string_line())["accesskey"] == "primary-key-0123456789abcdefghijklmnopq"
        for key in ("primary-key-0123456789abcdefghijklmnopq", "secondary-key-0123456789abcdefghijklmno"):
            svc = service_client(srv.port, HUB, key)
            _connects(svc.get_client_access_token(user_id="rot")["url"], "rot")
            assert svc.user_exists("rot") is False
        status, _ = handshake_status(service_client(srv.port, HUB, "third-key-0123456789abcdefghijklmnopqrs")
                                     .get_client_access_token(user_id="x")["url"])
        assert status == 401
    finally:
        srv.stop()
