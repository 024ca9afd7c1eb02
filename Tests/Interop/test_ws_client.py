"""Interop with a strict third-party client: the `websockets` asyncio client (no compression)."""

from __future__ import annotations

import asyncio
import os

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, ConnectionClosedError
from websockets.protocol import State

MiB = 1 << 20


def run(coro, timeout: float = 30.0):
    async def bounded():
        return await asyncio.wait_for(coro, timeout)
    return asyncio.run(bounded())


def client(port: int, **kw):
    opts = dict(compression=None, max_size=4 * MiB, open_timeout=5, close_timeout=5,
                ping_interval=None, proxy=None)
    opts.update(kw)
    return connect(f"ws://127.0.0.1:{port}/echo", **opts)


def test_small_text_and_binary(server):
    async def main():
        async with client(server.port) as ws:
            assert ws.subprotocol is None
            await ws.send("hello")
            assert await ws.recv() == "hello"
            await ws.send("")
            assert await ws.recv() == ""
            await ws.send(b"\x00\xffbinary")
            got = await ws.recv()
            assert isinstance(got, bytes) and got == b"\x00\xffbinary"
            await ws.send("ünïcödé 🎉")
            assert await ws.recv() == "ünïcödé 🎉"
    run(main())


def test_subprotocol_negotiated(server):
    async def main():
        async with client(server.port, subprotocols=["chat", "superchat"]) as ws:
            assert ws.subprotocol == "chat"
            await ws.send("x")
            assert await ws.recv() == "x"
    run(main())


@pytest.mark.parametrize("size", [65535, 65536, 300_000])
def test_sixteen_and_sixty_four_bit_lengths(server, size):
    payload = os.urandom(size)
    async def main():
        async with client(server.port) as ws:
            await ws.send(payload)
            assert await ws.recv() == payload
            text = "t" * size
            await ws.send(text)
            assert await ws.recv() == text
    run(main())


@pytest.mark.parametrize("text", [False, True])
def test_message_exactly_at_default_limit_is_echoed(server, text):
    async def main():
        async with client(server.port) as ws:
            msg = ("a" * MiB) if text else os.urandom(MiB)
            await ws.send(msg)
            got = await ws.recv()
            assert len(got) == MiB and got == msg
    run(main())


def test_message_one_byte_over_default_limit_is_1009(server):
    async def main():
        async with client(server.port) as ws:
            await ws.send(b"b" * (MiB + 1))
            with pytest.raises(ConnectionClosedError) as exc:
                await asyncio.wait_for(ws.recv(), 10)
            assert exc.value.rcvd is not None, "server closed without a close frame"
            assert exc.value.rcvd.code == 1009
            await asyncio.wait_for(ws.wait_closed(), 10)
    run(main())
    server.assert_alive()


def test_fragmented_messages(server):
    async def main():
        async with client(server.port) as ws:
            await ws.send(["frag", "mented ", "text"])
            assert await ws.recv() == "fragmented text"
            await ws.send([b"bin", b"ary", b""])
            assert await ws.recv() == b"binary"

            async def gen():
                for i in range(10):
                    yield f"{i}-"
                    await asyncio.sleep(0)
            await ws.send(gen())
            assert await ws.recv() == "".join(f"{i}-" for i in range(10))

            # A fragmented message summing to exactly the default limit.
            chunks = [b"x" * (MiB // 4)] * 4
            await ws.send(chunks)
            assert await ws.recv() == b"x" * MiB
    run(main())


def test_fragmented_message_over_limit_is_1009(server):
    async def main():
        async with client(server.port) as ws:
            await ws.send([b"x" * (MiB // 2), b"y" * (MiB // 2), b"z"])
            with pytest.raises(ConnectionClosedError) as exc:
                await asyncio.wait_for(ws.recv(), 10)
            assert exc.value.rcvd is not None and exc.value.rcvd.code == 1009
    run(main())
    server.assert_alive()


def test_ping_pong(server):
    async def main():
        async with client(server.port) as ws:
            for data in [None, b"payload", b"p" * 125]:
                waiter = await ws.ping(data)
                latency = await asyncio.wait_for(waiter, 5)
                assert latency >= 0
            await ws.send("after pings")
            assert await ws.recv() == "after pings"
    run(main())


def test_clean_close_1000(server):
    async def main():
        ws = await client(server.port)
        await ws.send("bye")
        assert await ws.recv() == "bye"
        await ws.close(1000, "done")
        assert ws.state is State.CLOSED
        assert ws.protocol.close_rcvd is not None, "no close frame from the server"
        assert ws.protocol.close_rcvd.code == 1000
        assert ws.protocol.close_rcvd_then_sent is False  # we initiated
    run(main())
    server.assert_alive()


def test_many_messages_in_flight(server):
    async def main():
        async with client(server.port) as ws:
            msgs = [f"m{i}" for i in range(500)]
            for m in msgs:
                await ws.send(m)
            for m in msgs:
                assert await asyncio.wait_for(ws.recv(), 10) == m
    run(main())


def test_close_1001_echoed_to_client(server):
    """The close code the client sent comes back in the close frame (not an abnormal 1006)."""
    async def main():
        ws = await client(server.port)
        await ws.close(1001, "going away")
        with pytest.raises(ConnectionClosed) as exc:
            await ws.recv()
        assert exc.value.rcvd is not None and exc.value.rcvd.code == 1001
    run(main())
