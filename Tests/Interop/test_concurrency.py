"""1,000 simultaneous WebSocket connections against one server process."""

from __future__ import annotations

import asyncio
import resource
import time

import pytest
from websockets.asyncio.client import connect
from websockets.protocol import State

N_CONNECTIONS = 1000
HANDSHAKE_CONCURRENCY = 100  # bounded so the accept backlog is not what is being tested


@pytest.mark.deadline(120)
def test_thousand_concurrent_echo_connections(start_server):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert soft >= N_CONNECTIONS + 200, f"fd limit {soft} too low for this test"
    srv = start_server()
    uri = f"ws://127.0.0.1:{srv.port}/echo"

    async def main():
        sem = asyncio.Semaphore(HANDSHAKE_CONCURRENCY)
        conns = []

        async def open_one(i):
            async with sem:
                ws = await connect(uri, compression=None, open_timeout=20, close_timeout=10,
                                   ping_interval=None, proxy=None, max_size=1 << 16)
                conns.append(ws)
                return ws

        try:
            t0 = time.monotonic()
            opened = await asyncio.wait_for(
                asyncio.gather(*(open_one(i) for i in range(N_CONNECTIONS)), return_exceptions=True), 60)
            errors = [e for e in opened if isinstance(e, BaseException)]
            assert not errors, f"{len(errors)} handshakes failed, first: {errors[0]!r}"
            # All connections are open at the same time here.
            assert sum(ws.state is State.OPEN for ws in conns) == N_CONNECTIONS
            assert srv.alive()

            async def echo(i, ws):
                msg = f"hello from {i} " + "x" * (i % 300)
                await ws.send(msg)
                got = await asyncio.wait_for(ws.recv(), 20)
                assert got == msg, f"connection {i}: got {got[:50]!r}"
                data = bytes([i % 256]) * (i % 1000)
                await ws.send(data)
                got = await asyncio.wait_for(ws.recv(), 20)
                assert got == data, f"connection {i}: binary echo mismatch"

            results = await asyncio.wait_for(
                asyncio.gather(*(echo(i, ws) for i, ws in enumerate(conns)), return_exceptions=True), 60)
            errors = [e for e in results if isinstance(e, BaseException)]
            assert not errors, f"{len(errors)} echo round-trips failed, first: {errors[0]!r}"
            assert sum(ws.state is State.OPEN for ws in conns) == N_CONNECTIONS

            async def close(i, ws):
                await ws.close(1000, "done")
                rcvd = ws.protocol.close_rcvd
                assert rcvd is not None, f"connection {i}: no close frame from server"
                assert rcvd.code == 1000, f"connection {i}: close code {rcvd.code}"

            results = await asyncio.wait_for(
                asyncio.gather(*(close(i, ws) for i, ws in enumerate(conns)), return_exceptions=True), 60)
            errors = [e for e in results if isinstance(e, BaseException)]
            assert not errors, f"{len(errors)} closes failed, first: {errors[0]!r}"
            return time.monotonic() - t0
        finally:
            for ws in conns:
                if ws.state is not State.CLOSED:
                    ws.transport.abort()

    asyncio.run(main())
    srv.assert_alive()
