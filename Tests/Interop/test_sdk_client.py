"""The official Python client SDK (azure-messaging-webpubsubclient 1.1.0) against wps-server,
on both JSON subprotocols. Tokens are minted by the official service SDK."""

from __future__ import annotations

import re
import time

import pytest
from azure.messaging.webpubsubclient.models import (OpenClientError, SendMessageError, WebPubSubDataType,
                                                    WebPubSubProtocolType)

from sdkenv import (ACCESS_KEY, ALL_ROLES, CONN_ID_RE, HUB, JSON_PROTOCOL, assert_serving, client_url,  # noqa: F401
                    handshake_status, make_jwt, raw_clients, sdk_clients, token_claims, url_with_token, wps)

PROTOCOLS = [pytest.param(WebPubSubProtocolType.JSON, id="json"),
             pytest.param(WebPubSubProtocolType.JSON_RELIABLE, id="reliable")]

pytestmark = pytest.mark.deadline(60)


def _pair(wps, sdk_clients, protocol, group="g", pub_roles=ALL_ROLES, sub_roles=ALL_ROLES):
    """A publisher and a subscriber, both joined to `group`."""
    pub = sdk_clients(client_url(wps.port, user_id="alice", roles=pub_roles), protocol)
    sub = sdk_clients(client_url(wps.port, user_id="bob", roles=sub_roles), protocol)
    pub.client.join_group(group)
    sub.client.join_group(group)
    return pub, sub


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_connected_callback_carries_ids(wps, sdk_clients, protocol):
    c = sdk_clients(client_url(wps.port, user_id="alice", roles=ALL_ROLES), protocol)
    c.wait_for(lambda: c.connected, 10, "CONNECTED callback")
    ev = c.connected[0]
    assert re.fullmatch(CONN_ID_RE, ev.connection_id), ev.connection_id
    assert ev.user_id == "alice"
    assert c.connection_id == ev.connection_id
    frames = c.connected_frames()
    assert len(frames) == 1, frames
    if protocol == WebPubSubProtocolType.JSON_RELIABLE:
        assert isinstance(frames[0].get("reconnectionToken"), str) and frames[0]["reconnectionToken"]
    else:
        assert "reconnectionToken" not in frames[0]
    assert c.schema_errors == []

    other = sdk_clients(client_url(wps.port, roles=ALL_ROLES), protocol)  # anonymous: userId null
    other.wait_for(lambda: other.connected, 10, "CONNECTED callback (anonymous)")
    assert other.connected[0].user_id is None
    assert other.connected[0].connection_id != ev.connection_id


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_send_every_data_type(wps, sdk_clients, protocol):
    pub, sub = _pair(wps, sdk_clients, protocol)
    payloads = [
        (WebPubSubDataType.TEXT, "hello wörld \u2603 \"q\""),
        (WebPubSubDataType.JSON, {"a": 1, "b": [True, None, "x"], "c": {"d": 1.5}}),
        (WebPubSubDataType.JSON, [1, "two", {"three": 3}]),
        (WebPubSubDataType.JSON, 42),
        (WebPubSubDataType.JSON, "a json string"),
        (WebPubSubDataType.BINARY, memoryview(bytes(range(256)))),
        (WebPubSubDataType.BINARY, memoryview(b"")),
    ]
    for data_type, data in payloads:
        pub.client.send_to_group("g", data, data_type)
    sub.wait_for(lambda: len(sub.group_messages) >= len(payloads), 10, "all payloads at the subscriber")
    pub.wait_for(lambda: len(pub.group_messages) >= len(payloads), 10, "all payloads echoed to the publisher")

    for who in (sub, pub):
        got = who.messages("g")
        if protocol == WebPubSubProtocolType.JSON_RELIABLE:
            got.sort(key=lambda m: m.sequence_id)
        else:  # callbacks run on their own threads: order by the frame log instead
            order = [f for f in who.frames if f.get("type") == "message"]
            assert len(order) == len(payloads)
        assert len(got) == len(payloads), [(m.data_type, m.data) for m in got]
        if protocol == WebPubSubProtocolType.JSON_RELIABLE:
            for (data_type, data), m in zip(payloads, got):
                assert m.data_type == data_type
                if data_type == WebPubSubDataType.BINARY:
                    assert bytes(m.data) == bytes(data)
                else:
                    assert m.data == data
                assert m.group == "g" and m.from_user_id == "alice"
            assert [m.sequence_id for m in got] == list(range(got[0].sequence_id, got[0].sequence_id + len(got)))
        else:
            frames = [f for f in who.frames if f.get("type") == "message"]
            for (data_type, data), f in zip(payloads, frames):
                assert f["dataType"] == data_type.value and f["group"] == "g" and f["fromUserId"] == "alice"
                assert "sequenceId" not in f
            expect = sorted(repr(bytes(d) if t == WebPubSubDataType.BINARY else d) for t, d in payloads)
            seen = sorted(repr(bytes(m.data) if m.data_type == WebPubSubDataType.BINARY else m.data) for m in got)
            assert seen == expect
    assert pub.schema_errors == [] and sub.schema_errors == []


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_no_echo(wps, sdk_clients, protocol):
    pub, sub = _pair(wps, sdk_clients, protocol)
    pub.client.send_to_group("g", "quiet", WebPubSubDataType.TEXT, no_echo=True)
    pub.client.send_to_group("g", "loud", WebPubSubDataType.TEXT, no_echo=False)
    sub.wait_for(lambda: len(sub.group_messages) >= 2, 10, "both messages at the subscriber")
    pub.wait_for(lambda: len(pub.group_messages) >= 1, 10, "the echoed message")
    time.sleep(0.3)
    assert sorted(m.data for m in sub.messages()) == ["loud", "quiet"]
    assert [m.data for m in pub.messages()] == ["loud"]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_leave_group_stops_delivery(wps, sdk_clients, protocol):
    pub, sub = _pair(wps, sdk_clients, protocol)
    pub.client.send_to_group("g", "before", WebPubSubDataType.TEXT)
    sub.wait_for(lambda: sub.messages(), 10, "message before leaving")
    sub.client.leave_group("g")
    pub.client.send_to_group("g", "after", WebPubSubDataType.TEXT)
    pub.wait_for(lambda: [m for m in pub.messages() if m.data == "after"], 10, "publisher's own echo")
    time.sleep(0.5)
    assert [m.data for m in sub.messages()] == ["before"]
    # leaving a group one is not in succeeds
    sub.client.leave_group("never-joined")


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_forbidden_send_without_role(wps, sdk_clients, protocol):
    c = sdk_clients(client_url(wps.port, user_id="u", roles=["webpubsub.joinLeaveGroup"]), protocol)
    c.client.join_group("g")
    with pytest.raises(SendMessageError) as ei:
        c.client.send_to_group("g", "x", WebPubSubDataType.TEXT)
    assert ei.value.error_detail is not None and ei.value.error_detail.name == "Forbidden", ei.value.error_detail


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_forbidden_join_without_role(wps, sdk_clients, protocol):
    c = sdk_clients(client_url(wps.port, user_id="u", roles=["webpubsub.sendToGroup"]), protocol)
    with pytest.raises(SendMessageError) as ei:
        c.client.join_group("g")
    assert ei.value.error_detail is not None and ei.value.error_detail.name == "Forbidden", ei.value.error_detail


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_group_scoped_roles(wps, sdk_clients, protocol):
    c = sdk_clients(client_url(wps.port, user_id="u", roles=["webpubsub.joinLeaveGroup.only",
                                                             "webpubsub.sendToGroup.only"]), protocol)
    c.client.join_group("only")
    c.client.send_to_group("only", "ok", WebPubSubDataType.TEXT)
    c.wait_for(lambda: c.messages("only"), 10, "echo in the permitted group")
    for op in (lambda: c.client.join_group("other"),
               lambda: c.client.send_to_group("other", "no", WebPubSubDataType.TEXT)):
        with pytest.raises(SendMessageError) as ei:
            op()
        assert ei.value.error_detail.name == "Forbidden"


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_token_groups_are_joined_on_connect(wps, sdk_clients, protocol):
    # no roles at all: the token's groups are joined regardless of roles
    member = sdk_clients(client_url(wps.port, user_id="m", groups=["auto1", "auto2"]), protocol)
    pub = sdk_clients(client_url(wps.port, user_id="p", roles=["webpubsub.sendToGroup"]), protocol)
    pub.client.send_to_group("auto1", "one", WebPubSubDataType.TEXT)
    pub.client.send_to_group("auto2", {"two": 2}, WebPubSubDataType.JSON)
    member.wait_for(lambda: len(member.messages()) >= 2, 10, "messages to the token's groups")
    assert sorted((m.group, repr(m.data)) for m in member.messages()) == [("auto1", "'one'"), ("auto2", "{'two': 2}")]
    # and the member still lacks the role to join anything else
    with pytest.raises(SendMessageError) as ei:
        member.client.join_group("auto3")
    assert ei.value.error_detail.name == "Forbidden"


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_pinned_ack_id_resent_is_treated_as_success(wps, sdk_clients, protocol):
    """The SDK maps a Duplicate ack to success; the raw-level check is in test_protocol_raw."""
    pub, sub = _pair(wps, sdk_clients, protocol)
    pub.client.send_to_group("g", "first", WebPubSubDataType.TEXT, ack_id=5)
    pub.client.send_to_group("g", "second", WebPubSubDataType.TEXT, ack_id=5)  # Duplicate -> no raise
    sub.wait_for(lambda: sub.messages(), 10, "first message")
    time.sleep(0.5)
    assert [m.data for m in sub.messages()] == ["first"], "a Duplicate request must not be executed again"
    acks = [f for f in pub.frames if f.get("type") == "ack" and f.get("ackId") == 5]
    assert len(acks) == 2 and acks[0]["success"] is True
    assert acks[1]["success"] is False and acks[1]["error"]["name"] == "Duplicate", acks


# --------------------------------------------------------------------------------------------
# Token problems: HTTP 401 before the upgrade
# --------------------------------------------------------------------------------------------


def test_valid_stdlib_token_is_accepted(wps):
    """Control case for the 401 tests: our own HS256 token is accepted."""
    status, _ = handshake_status(url_with_token(wps.port, make_jwt(token_claims(wps.port))))
    assert status == 101


@pytest.mark.parametrize("case", ["expired", "wrong_key", "wrong_aud_port", "wrong_aud_hub", "wrong_aud_path",
                                  "missing_exp", "alg_none", "not_yet_valid", "garbage", "missing"])
def test_bad_token_rejected_with_401(wps, case):
    port = wps.port
    now = int(time.time())
    if case == "expired":
        token = make_jwt(token_claims(port, iat=now - 7200, exp=now - 600))  # past the 300 s skew
    elif case == "wrong_key":
        token = make_jwt(token_claims(port), key=ACCESS_KEY + "x")
    elif case == "wrong_aud_port":
        token = make_jwt(token_claims(port, aud=f"http://127.0.0.1:{port + 1}/client/hubs/{HUB}"))
    elif case == "wrong_aud_hub":
        token = make_jwt(token_claims(port, aud=f"http://127.0.0.1:{port}/client/hubs/OtherHub"))
    elif case == "wrong_aud_path":
        token = make_jwt(token_claims(port, aud=f"http://127.0.0.1:{port}/api/hubs/{HUB}"))
    elif case == "missing_exp":
        token = make_jwt(token_claims(port, exp=None))
    elif case == "alg_none":
        token = make_jwt(token_claims(port), header={"alg": "none", "typ": "JWT"})
    elif case == "not_yet_valid":
        token = make_jwt(token_claims(port, nbf=now + 3600, exp=now + 7200))
    elif case == "garbage":
        token = "not.a.jwt"
    else:
        token = ""
    status, body = handshake_status(url_with_token(port, token))
    assert status == 401, (status, body)
    assert_serving(wps)


def test_sdk_open_with_expired_token_fails(wps, sdk_clients):
    now = int(time.time())
    url = url_with_token(wps.port, make_jwt(token_claims(wps.port, iat=now - 7200, exp=now - 600)))
    c = sdk_clients(url, WebPubSubProtocolType.JSON_RELIABLE, open_=False)
    with pytest.raises(OpenClientError) as ei:
        c.client.open()
    assert "401" in str(ei.value), str(ei.value)
    assert c.connected == []


def test_sdk_token_for_other_hub_case_is_accepted(wps, sdk_clients):
    """Hub names are case-insensitive: a token minted for 'myhub' works on /client/hubs/MYHUB."""
    url = client_url(wps.port, hub="myhub", user_id="u", roles=ALL_ROLES)
    url = url.replace("/client/hubs/myhub", "/client/hubs/MYHUB")
    c = sdk_clients(url, WebPubSubProtocolType.JSON)
    c.wait_for(lambda: c.connected, 10, "connected")
    c.client.join_group("g")
    c.client.send_to_group("g", "x", WebPubSubDataType.TEXT)
    c.wait_for(lambda: c.messages("g"), 10, "echo")
