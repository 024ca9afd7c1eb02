"""Fan-out: 1,000 JSON clients in one group each receive every message, exactly once, in order."""

from __future__ import annotations

import asyncio
import json
import resource
import time

import pytest
import websockets

import schemas
from sdkenv import ALL_ROLES, JSON_PROTOCOL, client_url, flood_then_drain, wps_factory  # noqa: F401

CLIENTS = 1000
MESSAGES = 20


def _raise_fd_limit(need: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, hard), hard))
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert soft >= need, f"need {need} file descriptors, limit is {soft}"


async def _run(port: int) -> tuple[dict[int, list], float]:
    member_url = client_url(port, user_id="member", groups=["big"])  # one token reused by all
    pub_url = client_url(port, user_id="pub", roles=ALL_ROLES)
    sem = asyncio.Semaphore(100)
    kw = dict(subprotocols=[JSON_PROTOCOL], open_timeout=20, ping_interval=None, compression=None,
              close_timeout=2, max_queue=None)

    async def connect_member(i: int):
        async with sem:
            ws = await websockets.connect(member_url, **kw)
            first = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert first["type"] == "system" and first["event"] == "connected", first
            return ws

    members = []
    try:
        t0 = time.monotonic()
        results = await asyncio.gather(*(connect_member(i) for i in range(CLIENTS)), return_exceptions=True)
        members = [r for r in results if not isinstance(r, BaseException)]
        errors = [r for r in results if isinstance(r, BaseException)]
        assert not errors, f"{len(errors)} of {CLIENTS} clients failed to connect: {errors[:3]!r}"
        connect_time = time.monotonic() - t0

        received: dict[int, list] = {i: [] for i in range(CLIENTS)}

        async def drain(i: int, ws):
            while len(received[i]) < MESSAGES:
                raw = await ws.recv()
                received[i].append(json.loads(raw))

        async with websockets.connect(pub_url, **kw) as pub:
            assert json.loads(await asyncio.wait_for(pub.recv(), 10))["event"] == "connected"
            drains = [asyncio.create_task(drain(i, ws)) for i, ws in enumerate(members)]
            for n in range(MESSAGES):
                await pub.send(json.dumps({"type": "sendToGroup", "group": "big", "ackId": n + 1,
                                           "dataType": "json", "data": {"n": n}, "noEcho": True}))
            acks = [json.loads(await asyncio.wait_for(pub.recv(), 20)) for _ in range(MESSAGES)]
            assert [a["ackId"] for a in acks] == list(range(1, MESSAGES + 1)) and all(a["success"] for a in acks), acks
            done, pending = await asyncio.wait(drains, timeout=40)
            for t in pending:
                t.cancel()
            failed = [t.exception() for t in done if t.exception()]
            assert not failed, f"{len(failed)} receivers failed: {failed[:3]!r}"
            short = {i: len(v) for i, v in received.items() if len(v) < MESSAGES}
            assert not short, f"{len(short)} clients missed messages, e.g. {list(short.items())[:5]}"
            # nothing beyond the 20 arrives
            extra = 0
            for ws in members[:50]:
                try:
                    await asyncio.wait_for(ws.recv(), 0.01)
                    extra += 1
                except asyncio.TimeoutError:
                    pass
            assert extra == 0, f"{extra} clients received more than {MESSAGES} messages"
        return received, connect_time
    finally:
        async def close(ws):
            try:
                await asyncio.wait_for(ws.close(), 3)
            except Exception:
                pass
        await asyncio.gather(*(close(ws) for ws in members))


@pytest.mark.deadline(90)
def test_thousand_clients_receive_every_message(wps_factory):
    _raise_fd_limit(CLIENTS * 2 + 200)  # our sockets, plus the server's (inherits the limit)
    srv = wps_factory()
    t0 = time.monotonic()
    received, connect_time = asyncio.run(asyncio.wait_for(_run(srv.port), 75))
    elapsed = time.monotonic() - t0
    for i, msgs in received.items():
        assert [m["data"]["n"] for m in msgs] == list(range(MESSAGES)), f"client {i}: {[m['data'] for m in msgs]}"
    sample = received[0] + received[CLIENTS - 1]
    for m in sample:
        schemas.check_strict(m)
        assert m["group"] == "big" and m["fromUserId"] == "pub" and "sequenceId" not in m
    assert srv.alive()
    assert elapsed < 60, f"fan-out took {elapsed:.1f}s (connect {connect_time:.1f}s)"


@pytest.mark.parametrize("protocol", [JSON_PROTOCOL, "json.reliable.webpubsub.azure.v1"])
def test_slow_reader_gets_every_small_message_in_order(wps_factory, protocol):
    """A member that stops reading while 30,000 small messages (about 12 MB, more than the
    socket buffers hold, less than the 16 MiB slow-consumer limit) are published: the
    server queues them in its output blocks and, once the member reads again, every one
    arrives whole and in order."""
    srv = wps_factory("--reliable-max-messages", "40000", "--reliable-max-bytes", "67108864")
    count, size = 30000, 400
    reliable = "reliable" in protocol

    async def go():
        reader = await websockets.connect(client_url(srv.port, user_id="reader", groups=["g"]),
                                          subprotocols=[protocol], max_size=None, max_queue=4,
                                          compression=None, ping_interval=None)
        writer = await websockets.connect(client_url(srv.port, user_id="writer", roles=ALL_ROLES),
                                          subprotocols=[JSON_PROTOCOL], compression=None, ping_interval=None)
        try:
            await flood_then_drain(reader, writer, count, size, pad="z", reliable=reliable)
        finally:
            await asyncio.gather(reader.close(), writer.close(), return_exceptions=True)

    asyncio.run(asyncio.wait_for(go(), 90))
    assert srv.alive()
