#!/usr/bin/env python3
"""Soak test for wps-server: N minutes of mixed, bounded load against a server it starts, then
checks that no acknowledged message was lost and that memory, descriptors, threads and
/healthz stay bounded. Run it through scripts/soak, which sets WPS_SERVER_BIN and the hard
deadline; `scripts/soak --help` lists the options.

Everything talks to 127.0.0.1 only. The only processes started are the server (through
Tests/Interop/serverproc.ServerProcess) and one sampler (this file with --sampler); both are
stopped by PID. Every wait has a timeout, and a watchdog ends the run at the hard deadline.

Load (defaults; per second unless said otherwise):
  - 30 reliable JSON clients (json.reliable.webpubsub.azure.v1) in groups g0..g2, acking with
    sequenceAck every ~1 s; 10 behind each of two TcpProxy instances (cut with RST all at once
    every 8-16 s), 10 direct (each drops its own socket with RST every 15-45 s). All recover
    with awps_connection_id/awps_reconnection_token; 5 of them also publish.
  - 6 plain JSON receivers, 3 raw (simple WebSocket) receivers (two of them publish raw frames),
    3 plain JSON publishers, 2 REST threads (official service SDK: send_to_group, send_to_user):
    about 20 group messages/s plus 1 user message/s, ~150-byte payloads numbered per publisher.
  - group "bulk": 20 messages/s of 16 KB, read by one reliable reader and three slow readers
    that stop reading together for 18 s / 28 s / 20 s, once or more a quarter: a reliable one
    that is cut (1011) and recovers, a reliable one whose session ends (buffer full, 1008), and
    a plain one that is ended (its 1008 queues behind the backlog, so it usually sees a reset).
  - churn: 5 short-lived connections/s (JSON, reliable closed or dropped, raw, bare TCP).
  - abuse every 2 s: oversized message (1009), malformed JSON (1007), bad signature and expired
    token (401), a reliable client that sends malformed JSON and then tries to recover (1008).
  - a sampler process every 3 s: RSS, fds, threads, CPU of the server, /healthz time over a
    fresh connection, ping/pong round trip on two idle JSON clients (loop lag).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import random
import secrets
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "Tests" / "Interop"))

import websockets  # noqa: E402
from websockets.exceptions import ConnectionClosed, InvalidStatus  # noqa: E402

import wire  # noqa: E402
from sdkenv import (ALL_ROLES, HUB, JSON_PROTOCOL, RELIABLE_PROTOCOL, RawClient,  # noqa: E402
                    connection_string, make_jwt, recovery_url, service_client, token_claims,
                    url_with_token)
from azure.messaging.webpubsubservice import WebPubSubServiceClient  # noqa: E402

MIB = 1024 * 1024
GROUPS = ["g0", "g1", "g2"]
BULK = "bulk"

# Server limits for the run, small enough that the slow readers reach them within seconds. On
# loopback the kernel holds about 4 MB unread toward a client that stops reading (the server's
# send buffer grows to tcp_wmem's maximum) before the server queues anything itself: a slow
# reader passes --max-outbound-bytes only after ~4.5 MB, i.e. ~14 s of the bulk group's
# 320 KB/s. The recoverable slow reader (18 s pauses, ~5.8 MB) is cut and stays below
# RELIABLE_MAX_BYTES (7 MiB); the overflowing one (28 s, ~9 MB) goes past it.
MAX_MESSAGE_BYTES = 65536
MAX_OUTBOUND_BYTES = 512 * 1024
RELIABLE_MAX_BYTES = 7 * MIB
RESUME_WINDOW = 20

SAMPLE_INTERVAL = 3.0
WARMUP = 30.0
QUIET = 5.0
HEALTHZ_LIMIT_MS = 100.0
FD_MARGIN = 4


def now() -> float:
    return time.monotonic()


def log(msg: str) -> None:
    print(f"[soak {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ============================================================================================
# Sampler (a separate process, so the load generator's GIL does not inflate its timings)
# ============================================================================================


def proc_stats(pid: int) -> dict:
    out: dict = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                out["rss_kb"] = int(line.split()[1])
            elif line.startswith("Threads:"):
                out["threads"] = int(line.split()[1])
    out["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
    with open(f"/proc/{pid}/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    out["cpu_s"] = (int(rest[11]) + int(rest[12])) / os.sysconf("SC_CLK_TCK")
    return out


def fd_breakdown(pid: int) -> dict:
    kinds: dict = collections.Counter()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        kinds[target.split(":")[0] if ":" in target else "file"] += 1
    return dict(kinds)


def sampler_main(a) -> int:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    svc = service_client(a.port, HUB, a.key)
    pingers: list = [None, None]
    out = open(a.out, "a", buffering=1)
    parent = os.getppid()
    next_t = now()
    while not stop.is_set():
        if os.getppid() != parent or not os.path.exists(f"/proc/{a.pid}"):
            break   # the soak run or the server is gone: never outlive them
        t = now()
        s: dict = {"mono": t, "late_ms": round((t - next_t) * 1000, 1)}
        try:
            s.update(proc_stats(a.pid))
        except OSError as e:
            s["proc_error"] = str(e)
        t0 = time.perf_counter()
        try:
            resp = wire.http_get(a.port, "/healthz", timeout=5)
            s["healthz_ok"] = (resp.status, resp.body) == (200, b"ok")
            if not s["healthz_ok"]:
                s["healthz_error"] = repr(resp)[:200]
        except Exception as e:  # noqa: BLE001 - recorded as a failed probe
            s["healthz_ok"] = False
            s["healthz_error"] = f"{type(e).__name__}: {e}"[:200]
        s["healthz_ms"] = round((time.perf_counter() - t0) * 1000, 2)
        rtts = []
        for i in range(len(pingers)):
            try:
                if pingers[i] is None:
                    url = svc.get_client_access_token(user_id=f"pinger{i}", minutes_to_expire=600)["url"]
                    c = RawClient.open(url, JSON_PROTOCOL, timeout=5, validate=False)
                    c.recv_until(lambda m: m.get("event") == "connected", 5)
                    pingers[i] = c
                c = pingers[i]
                t0 = time.perf_counter()
                c.send_json({"type": "ping"})
                c.recv_until(lambda m: m.get("type") == "pong", 5)
                rtts.append(round((time.perf_counter() - t0) * 1000, 2))
            except Exception as e:  # noqa: BLE001
                s.setdefault("ping_errors", []).append(f"{type(e).__name__}: {e}"[:160])
                if pingers[i] is not None:
                    pingers[i].close()
                pingers[i] = None
        s["ping_ms"] = rtts
        out.write(json.dumps(s) + "\n")
        next_t += a.interval
        while next_t < now():
            next_t += a.interval
        stop.wait(max(0.0, next_t - now()))
    for c in pingers:
        if c is not None:
            c.close()
    out.close()
    return 0


# ============================================================================================
# Bookkeeping
# ============================================================================================


class Ledger:
    """Every numbered message sent, its target ("g:<group>" or "u:<user>"), and whether the
    server acknowledged it (ack success or REST 202). Used from several threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.targets: dict[str, dict[int, str]] = collections.defaultdict(dict)
        self.acked: dict[str, set[int]] = collections.defaultdict(set)
        self.next: dict[str, int] = collections.defaultdict(lambda: 1)
        self.sent_at: dict[tuple[str, int], float] = {}
        self.ack_ms: list[float] = []

    def register(self, pid: str, target: str) -> int:
        with self.lock:
            n = self.next[pid]
            self.next[pid] = n + 1
            self.targets[pid][n] = target
            self.sent_at[(pid, n)] = now()
            return n

    def ack(self, pid: str, n: int) -> None:
        with self.lock:
            if n in self.targets[pid]:
                self.acked[pid].add(n)
                t = self.sent_at.pop((pid, n), None)
                if t is not None:
                    self.ack_ms.append((now() - t) * 1000)

    def counts(self) -> tuple[int, int]:
        with self.lock:
            return sum(len(v) for v in self.targets.values()), sum(len(v) for v in self.acked.values())

    def expected_index(self) -> dict[str, dict[str, set[int]]]:
        """target -> pid -> acked numbers."""
        idx: dict = collections.defaultdict(lambda: collections.defaultdict(set))
        with self.lock:
            for pid, acked in self.acked.items():
                tg = self.targets[pid]
                for n in acked:
                    idx[tg[n]][pid].add(n)
        return idx


def payload(pid: str, n: int, target: str, size: int) -> dict:
    body = {"p": pid, "n": n, "t": target, "x": ""}
    fill = max(0, size - 40 - len(pid) - len(target))
    body["x"] = "x" * fill
    return body


class Receiver:
    """Records numbered payloads as they arrive: order, duplicates, unknown messages."""

    def __init__(self, soak: "Soak", name: str, kind: str, targets: set[str]):
        self.soak = soak
        self.name = name
        self.kind = kind
        self.targets = set(targets)
        self.got: dict[str, set[int]] = collections.defaultdict(set)
        self.last_n: dict[str, int] = {}
        self.received = 0
        self.dups: list = []
        self.reorders: list = []
        self.phantoms: list = []
        self.excluded: str | None = None   # why this receiver is not checked for completeness
        self.checked = True

    def deliver_payload(self, body, target_seen: str | None) -> None:
        if not isinstance(body, dict) or "p" not in body or "n" not in body:
            self.phantoms.append(repr(body)[:120])
            return
        pid, n, tgt = body["p"], body["n"], body.get("t")
        self.received += 1
        if target_seen is not None and tgt != target_seen:
            self.phantoms.append(f"{pid}#{n} for {tgt} arrived as {target_seen}")
        if tgt not in self.targets:
            self.phantoms.append(f"{pid}#{n} for {tgt}, not a target of {self.name}")
        seen = self.got[pid]
        if n in seen:
            self.dups.append(f"{pid}#{n}")
        elif n < self.last_n.get(pid, 0):
            self.reorders.append(f"{pid}#{n} after #{self.last_n[pid]}")
        seen.add(n)
        if n > self.last_n.get(pid, 0):
            self.last_n[pid] = n

    def deliver_json_message(self, m: dict) -> None:
        data, dt = m.get("data"), m.get("dataType")
        if dt == "text" and isinstance(data, str):
            try:
                data = json.loads(data)   # raw publishers send JSON text as text frames
            except ValueError:
                pass
        if m.get("from") == "group":
            seen = "g:" + str(m.get("group"))
        else:
            seen = "u:" + self.name
        self.deliver_payload(data, seen)

    def missing(self, idx) -> dict[str, list[int]]:
        out = {}
        for tgt in self.targets:
            for pid, ns in idx.get(tgt, {}).items():
                miss = ns - self.got.get(pid, set())
                if miss:
                    out.setdefault(pid, []).extend(sorted(miss))
        return out

    def summary(self, idx) -> dict:
        miss = self.missing(idx)
        return {"name": self.name, "kind": self.kind, "targets": sorted(self.targets),
                "received": self.received, "missing": sum(len(v) for v in miss.values()),
                "missing_examples": {k: v[:10] for k, v in list(miss.items())[:5]},
                "duplicates": len(self.dups), "dup_examples": self.dups[:5],
                "reorders": len(self.reorders), "reorder_examples": self.reorders[:5],
                "unexpected": len(self.phantoms), "unexpected_examples": self.phantoms[:5],
                "excluded": self.excluded}


# ============================================================================================
# WebSocket helpers (asyncio `websockets`, no deflate, no client pings: cheap on CPU)
# ============================================================================================


def split_url(url: str) -> tuple[str, int]:
    u = urllib.parse.urlsplit(url)
    assert u.hostname == "127.0.0.1", url
    return u.hostname, u.port


async def ws_connect(url: str, protocol: str | None, *, rcvbuf: int | None = None,
                     max_queue: int = 16, timeout: float = 10.0):
    assert url.startswith("ws://127.0.0.1:"), url
    kw = dict(subprotocols=[protocol] if protocol else None, compression=None, proxy=None,
              ping_interval=None, open_timeout=timeout, close_timeout=2, max_size=4 * MIB,
              max_queue=max_queue, user_agent_header=None)
    if rcvbuf:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setblocking(False)
        try:
            await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, split_url(url)), timeout)
        except BaseException:
            sock.close()
            raise
        kw["sock"] = sock
    return await websockets.connect(url, **kw)


def rst(ws) -> None:
    """Drop the connection with a TCP RST (SO_LINGER 0), no close frame."""
    tr = ws.transport
    sock = tr.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    tr.abort()


def close_code(e: ConnectionClosed) -> int | None:
    return e.rcvd.code if e.rcvd is not None else None


async def recv_json(ws, timeout: float) -> dict:
    raw = await asyncio.wait_for(ws.recv(), timeout)
    return json.loads(raw)


async def wait_ack(ws, ack_id: int, timeout: float) -> dict:
    deadline = now() + timeout
    while True:
        m = await recv_json(ws, max(0.01, deadline - now()))
        if m.get("type") == "ack" and m.get("ackId") == ack_id:
            return m


async def read_until_close(ws, timeout: float) -> tuple[int | None, list]:
    """Reads until the connection ends; returns (close code or None, messages before)."""
    before = []
    try:
        async with asyncio.timeout(timeout):
            while True:
                raw = await ws.recv()
                before.append(raw if isinstance(raw, bytes) else raw[:200])
    except ConnectionClosed as e:
        return close_code(e), before
    except TimeoutError:
        rst(ws)
        return -1, before


async def slow_cycles(client) -> None:
    """The slow readers' schedule: all stop reading together at the start of every cycle, for
    their own `pause`, then read again. The cycle divides a quarter of the load phase, so
    every quarter holds the same phases and the memory medians compare like with like."""
    soak = client.soak
    i = 0
    while soak.load_on:
        start = soak.marks["load"] + i * soak.slow_period
        i += 1
        if not await sleep_while(soak, start - now()):
            return
        client.readable.clear()
        client.pauses += 1
        await sleep_while(soak, min(client.pause, soak.slow_period - 2))
        client.readable.set()


async def sleep_while(soak: "Soak", seconds: float) -> bool:
    """Sleep up to `seconds` while the load runs; False once the load has stopped."""
    end = now() + seconds
    while soak.load_on and now() < end:
        await asyncio.sleep(min(0.5, end - now()))
    return soak.load_on


# ============================================================================================
# Long-lived clients
# ============================================================================================


class ReliableClient(Receiver):
    """A json.reliable client: joins groups, acks every ~1 s, recovers after every cut, checks
    sequence ids for gaps. Optionally publishes, and optionally reads slowly (pause cycles)."""

    def __init__(self, soak, name, groups, *, token_groups: bool, proxy=None, drop_every=None,
                 publish_rate: float = 0.0, pause: float = 0.0, legit_end: bool = False, kind: str = "reliable"):
        super().__init__(soak, name, kind, {"g:" + g for g in groups} | {"u:" + name})
        self.groups = list(groups)
        self.token_groups = token_groups
        self.proxy = proxy
        self.drop_every = drop_every
        self.publish_rate = publish_rate
        self.pause = pause
        self.legit_end = legit_end        # slow readers: a 1008 session end is expected
        port = proxy.port if proxy else soak.port
        self.url = soak.token_url(port, user_id=name, groups=groups if token_groups else ())
        self.ws = None
        self.live = False
        self.conn_id = None
        self.reco_token = None
        self.last_seq = 0
        self.acked_seq = 0
        self.ack_id = 0
        self.epoch = 0
        self.pending_acks: dict[int, tuple[str, int]] = {}
        self.readable = asyncio.Event()
        self.readable.set()
        self.gaps: list = []
        self.replays = 0
        self.cuts = 0
        self.recoveries = 0
        self.recovery_ms: list[float] = []
        self.close_codes: collections.Counter = collections.Counter()
        self.sessions_ended: list[str] = []
        self.pauses = 0
        self.cut_log: list = []
        self.tasks: list[asyncio.Task] = []
        self.load_tasks: list[asyncio.Task] = []

    async def start(self) -> None:
        await self._new_session(first=True)

    async def _new_session(self, first: bool) -> None:
        rcvbuf = 16384 if self.pause else None
        ws = await ws_connect(self.url, RELIABLE_PROTOCOL, rcvbuf=rcvbuf, max_queue=4 if self.pause else 16)
        m = await recv_json(ws, 10)
        assert m.get("event") == "connected" and m.get("reconnectionToken"), m
        self.ws, self.conn_id, self.reco_token = ws, m["connectionId"], m["reconnectionToken"]
        self.last_seq = self.acked_seq = 0
        self.epoch += 1
        if not self.token_groups:
            for g in self.groups:
                self.ack_id += 1
                await ws.send(json.dumps({"type": "joinGroup", "group": g, "ackId": self.ack_id}))
                a = await wait_ack(ws, self.ack_id, 10)
                assert a.get("success"), a
        self.live = True

    def pid(self) -> str:
        return f"{self.name}.{self.epoch}.{self.recoveries}"

    def run(self) -> None:
        self.tasks.append(asyncio.create_task(self._reader(), name=f"{self.name}-reader"))
        self.tasks.append(asyncio.create_task(self._acker(), name=f"{self.name}-acker"))

    def start_load(self) -> None:
        if self.publish_rate:
            self.load_tasks.append(asyncio.create_task(self._publisher(), name=f"{self.name}-pub"))
        if self.drop_every:
            self.load_tasks.append(asyncio.create_task(self._dropper(), name=f"{self.name}-drop"))
        if self.pause:
            self.load_tasks.append(asyncio.create_task(self._pauser(), name=f"{self.name}-pause"))

    def _on_frame(self, raw) -> None:
        if isinstance(raw, bytes):
            self.phantoms.append(f"binary frame {raw[:40]!r}")
            return
        m = json.loads(raw)
        t = m.get("type")
        if t == "message":
            seq = m.get("sequenceId")
            if not isinstance(seq, int):
                self.phantoms.append(f"message without sequenceId {raw[:120]}")
                return
            if seq <= self.last_seq:
                self.replays += 1
                return
            if seq != self.last_seq + 1:
                self.gaps.append(f"{self.last_seq}->{seq} (connection {self.conn_id})")
            self.last_seq = seq
            self.deliver_json_message(m)
        elif t == "ack":
            key = self.pending_acks.pop(m.get("ackId"), None)
            if key is not None:
                if m.get("success") or (m.get("error") or {}).get("name") == "Duplicate":
                    self.soak.ledger.ack(*key)
                else:
                    self.soak.unexpected("ack-failure", f"{self.name}: {raw[:200]}")
        elif t == "system" and m.get("event") == "disconnected":
            self.last_disconnected = m.get("message")

    async def _reader(self) -> None:
        while True:
            ws = self.ws
            code = None
            self.last_disconnected = None
            try:
                while True:
                    if not self.readable.is_set():
                        await self.readable.wait()
                    self._on_frame(await ws.recv())
            except ConnectionClosed as e:
                code = close_code(e)
            self.live = False
            if self.soak.closing:
                return
            self.cuts += 1
            self.close_codes[str(code)] += 1
            if len(self.cut_log) < 40:
                self.cut_log.append((round(now() - self.soak.t0, 1), code))
            self.pending_acks.clear()
            if code == 1008:
                await self._session_ended(f"closed 1008: {self.last_disconnected}")
            else:
                t0 = now()
                if await self._recover():
                    self.recoveries += 1
                    self.recovery_ms.append((now() - t0) * 1000)
            if not self.live:   # closing, or no new session could be made (already reported)
                return

    async def _recover(self) -> bool:
        deadline = now() + 15
        attempt = 0
        last_err = None
        while now() < deadline and not self.soak.closing:
            attempt += 1
            try:
                ws = await ws_connect(recovery_url(self.url, self.conn_id, self.reco_token), RELIABLE_PROTOCOL,
                                      rcvbuf=16384 if self.pause else None, max_queue=4 if self.pause else 16,
                                      timeout=max(1.0, deadline - now()))
            except (OSError, TimeoutError, websockets.exceptions.InvalidHandshake) as e:
                last_err = f"connect: {type(e).__name__}: {e}"
                await asyncio.sleep(min(0.1 * attempt, 1.0))
                continue
            try:
                m = await recv_json(ws, max(1.0, deadline - now()))
            except ConnectionClosed as e:
                code = close_code(e)
                if code == 1008:
                    await self._session_ended(f"recovery refused with 1008 ({e.rcvd.reason if e.rcvd else ''})")
                    return False
                last_err = f"closed {code} before connected"
                await asyncio.sleep(min(0.1 * attempt, 1.0))
                continue
            except TimeoutError:
                rst(ws)
                last_err = "no connected message"
                continue
            if m.get("type") == "system" and m.get("event") == "disconnected":
                code, _ = await read_until_close(ws, 5)
                if code == 1008:
                    await self._session_ended(f"recovery refused: {m.get('message')}")
                    return False
                last_err = f"disconnected {m} then {code}"
                continue
            if m.get("event") != "connected" or m.get("connectionId") != self.conn_id:
                self.soak.unexpected("recovery", f"{self.name}: unexpected first message {m}")
                rst(ws)
                continue
            self.reco_token = m.get("reconnectionToken") or self.reco_token
            self.ws = ws
            self.live = True
            return True
        if not self.soak.closing:
            self.soak.unexpected("recovery", f"{self.name}: could not recover within 15 s: {last_err}")
            await self._session_ended(f"recovery failed: {last_err}", counted=False)
        return False

    async def _session_ended(self, why: str, counted: bool = True) -> None:
        """The server ended the logical connection: this client no longer counts for the
        delivery check. Slow readers expect it; for anyone else it is a failure."""
        self.sessions_ended.append(why)
        if self.excluded is None:
            self.excluded = why
        if not self.legit_end and counted:
            self.soak.unexpected("session-ended", f"{self.name}: {why}")
        for attempt in range(30):
            if self.soak.closing:
                return
            try:
                await self._new_session(first=False)
                return
            except Exception as e:  # noqa: BLE001
                await asyncio.sleep(0.5)
                last = e
        self.soak.unexpected("reconnect", f"{self.name}: no new session after a session end: {last}")

    async def _acker(self) -> None:
        while not self.soak.closing:
            await asyncio.sleep(random.uniform(0.8, 1.2))
            if self.live and self.last_seq > self.acked_seq and self.readable.is_set():
                try:
                    await self.ws.send(json.dumps({"type": "sequenceAck", "sequenceId": self.last_seq}))
                    self.acked_seq = self.last_seq
                except ConnectionClosed:
                    pass

    async def _publisher(self) -> None:
        while await sleep_while(self.soak, random.expovariate(self.publish_rate)):
            if not self.live:
                continue
            g = random.choice(GROUPS)
            pid = self.pid()
            n = self.soak.ledger.register(pid, "g:" + g)
            self.ack_id += 1
            self.pending_acks[self.ack_id] = (pid, n)
            try:
                await self.ws.send(json.dumps({"type": "sendToGroup", "group": g, "ackId": self.ack_id,
                                               "dataType": "json", "data": payload(pid, n, "g:" + g, 150)}))
            except ConnectionClosed:
                pass

    async def _dropper(self) -> None:
        lo, hi = self.drop_every
        while await sleep_while(self.soak, random.uniform(lo, hi)):
            if self.live:
                rst(self.ws)
                self.soak.count("direct_drops")

    async def _pauser(self) -> None:
        await slow_cycles(self)

    def summary(self, idx) -> dict:
        s = super().summary(idx)
        s.update({"gaps": len(self.gaps), "gap_examples": self.gaps[:5], "replayed": self.replays,
                  "cuts": self.cuts, "recoveries": self.recoveries,
                  "recovery_ms_max": round(max(self.recovery_ms), 1) if self.recovery_ms else None,
                  "close_codes": dict(self.close_codes), "sessions_ended": self.sessions_ended,
                  "pauses": self.pauses, "cut_log_t_code": self.cut_log[:10],
                  "via": "proxy" if self.proxy else "direct"})
        return s


class PlainReceiver(Receiver):
    """A json.webpubsub (non-reliable) client or a raw client that is never cut by the test.
    Optionally a slow reader (pause cycles, then reconnects after the server ends it)."""

    def __init__(self, soak, name, groups, *, raw: bool = False, raw_publish_rate: float = 0.0,
                 pause: float = 0.0):
        super().__init__(soak, name, "raw" if raw else ("slow-plain" if pause else "plain"),
                         {"g:" + g for g in groups} | ({"u:" + name} if not raw else set()))
        self.groups = list(groups)
        self.raw = raw
        self.raw_publish_rate = raw_publish_rate
        self.pause = pause
        if raw:
            g = groups[0]
            self.url = soak.token_url(soak.port, user_id=name, groups=groups,
                                      roles=[f"webpubsub.sendToGroup.{g}"])
            self.url += f"&webpubsub_mode=sendToGroup&group={g}"
        else:
            self.url = soak.token_url(soak.port, user_id=name, groups=groups)
        self.ws = None
        self.readable = asyncio.Event()
        self.readable.set()
        self.ends: list[str] = []
        self.pauses = 0
        self.epoch = 0
        self.tasks: list[asyncio.Task] = []
        self.load_tasks: list[asyncio.Task] = []

    async def start(self) -> None:
        ws = await ws_connect(self.url, None if self.raw else JSON_PROTOCOL,
                              rcvbuf=16384 if self.pause else None, max_queue=4 if self.pause else 16)
        if not self.raw:
            m = await recv_json(ws, 10)
            assert m.get("event") == "connected", m
        self.ws = ws
        self.epoch += 1

    def run(self) -> None:
        self.tasks.append(asyncio.create_task(self._reader(), name=f"{self.name}-reader"))

    def start_load(self) -> None:
        if self.raw_publish_rate:
            self.load_tasks.append(asyncio.create_task(self._raw_publisher(), name=f"{self.name}-pub"))
        if self.pause:
            self.load_tasks.append(asyncio.create_task(self._pauser(), name=f"{self.name}-pause"))

    async def _reader(self) -> None:
        while True:
            disconnected = None
            try:
                while True:
                    if not self.readable.is_set():
                        await self.readable.wait()
                    raw = await self.ws.recv()
                    if self.raw:
                        try:
                            body = json.loads(raw)
                        except ValueError:
                            body = raw
                        self.deliver_payload(body, None)
                    else:
                        m = json.loads(raw)
                        if m.get("type") == "message":
                            self.deliver_json_message(m)
                        elif m.get("type") == "system" and m.get("event") == "disconnected":
                            disconnected = m.get("message")
            except ConnectionClosed as e:
                code = close_code(e)
            if self.soak.closing:
                return
            why = f"closed {code}: {disconnected}"
            self.ends.append(why)
            if self.excluded is None:
                self.excluded = why
            if not self.pause:
                self.soak.unexpected("plain-cut", f"{self.name} ({self.kind}) was disconnected: {why}")
            for _ in range(30):
                if self.soak.closing:
                    return
                try:
                    await self.start()
                    break
                except Exception:  # noqa: BLE001
                    await asyncio.sleep(0.5)
            else:
                self.soak.unexpected("reconnect", f"{self.name}: could not reconnect")
                return

    async def _raw_publisher(self) -> None:
        g = self.groups[0]
        while await sleep_while(self.soak, random.expovariate(self.raw_publish_rate)):
            pid = f"{self.name}.{self.epoch}"
            n = self.soak.ledger.register(pid, "g:" + g)   # raw frames get no ack: never required
            try:
                await self.ws.send(json.dumps(payload(pid, n, "g:" + g, 120)))
            except ConnectionClosed:
                pass

    async def _pauser(self) -> None:
        await slow_cycles(self)

    def summary(self, idx) -> dict:
        s = super().summary(idx)
        s.update({"disconnects": self.ends[:10], "pauses": self.pauses})
        return s


class Publisher:
    """A json.webpubsub client that publishes numbered messages to groups with ackIds."""

    def __init__(self, soak, name, groups, rate: float, size: int):
        self.soak, self.name, self.groups, self.rate, self.size = soak, name, groups, rate, size
        self.url = soak.token_url(soak.port, user_id=name)
        self.ws = None
        self.epoch = 0
        self.ack_id = 0
        self.pending: dict[int, tuple[str, int]] = {}
        self.sent = 0
        self.acked = 0
        self.tasks: list[asyncio.Task] = []
        self.load_tasks: list[asyncio.Task] = []

    async def start(self) -> None:
        ws = await ws_connect(self.url, JSON_PROTOCOL)
        m = await recv_json(ws, 10)
        assert m.get("event") == "connected", m
        self.ws = ws
        self.epoch += 1

    def run(self) -> None:
        self.tasks.append(asyncio.create_task(self._reader(), name=f"{self.name}-reader"))

    def start_load(self) -> None:
        self.load_tasks.append(asyncio.create_task(self._publish(), name=f"{self.name}-pub"))

    async def _reader(self) -> None:
        while True:
            disconnected = None
            try:
                while True:
                    m = json.loads(await self.ws.recv())
                    if m.get("type") == "ack":
                        key = self.pending.pop(m.get("ackId"), None)
                        if key is None:
                            self.soak.unexpected("ack-unknown", f"{self.name}: {m}")
                        elif m.get("success"):
                            self.soak.ledger.ack(*key)
                            self.acked += 1
                        else:
                            self.soak.unexpected("ack-failure", f"{self.name}: {m}")
                    elif m.get("type") == "system" and m.get("event") == "disconnected":
                        disconnected = m.get("message")
            except ConnectionClosed as e:
                code = close_code(e)
            if self.soak.closing:
                return
            self.soak.unexpected("publisher-cut", f"{self.name}: closed {code}: {disconnected}")
            self.pending.clear()
            try:
                await self.start()
            except Exception as e:  # noqa: BLE001
                self.soak.unexpected("reconnect", f"{self.name}: {e}")
                return

    async def _publish(self) -> None:
        while await sleep_while(self.soak, random.expovariate(self.rate)):
            g = random.choice(self.groups)
            pid = f"{self.name}.{self.epoch}"
            n = self.soak.ledger.register(pid, "g:" + g)
            self.ack_id += 1
            self.pending[self.ack_id] = (pid, n)
            try:
                await self.ws.send(json.dumps({"type": "sendToGroup", "group": g, "ackId": self.ack_id,
                                               "dataType": "json", "data": payload(pid, n, "g:" + g, self.size)}))
                self.sent += 1
            except ConnectionClosed:
                pass


# ============================================================================================
# The run
# ============================================================================================


class Soak:
    def __init__(self, a):
        self.a = a
        self.minutes = a.minutes
        self.ledger = Ledger()
        self.counts: collections.Counter = collections.Counter()
        self.unexpected_events: list[dict] = []
        self.load_on = False
        self.closing = False
        self.server = None
        self.port = None
        self.key = "soak-" + secrets.token_urlsafe(24)
        self.t0 = now()
        self.work = Path(a.work_dir) if a.work_dir else Path(tempfile.mkdtemp(prefix="wps-soak-"))
        self.work.mkdir(parents=True, exist_ok=True)
        self.samples_path = self.work / "samples.jsonl"
        self.sampler = None
        self.proxies = []
        self.reliable: list[ReliableClient] = []
        self.plain: list[PlainReceiver] = []
        self.publishers: list[Publisher] = []
        self.abuse_results: collections.Counter = collections.Counter()
        self.abuse_failures: list[str] = []
        self.churn_done: collections.Counter = collections.Counter()
        self.rest_stop = threading.Event()
        self.rest_threads: list[threading.Thread] = []
        self.rest_stats = collections.Counter()
        self.marks: dict[str, float] = {}
        self.results: dict = {}
        self.token_svcs: dict = {}

    # -- helpers -------------------------------------------------------------------------------

    def count(self, name: str, k: int = 1) -> None:
        self.counts[name] += k

    def unexpected(self, kind: str, detail: str) -> None:
        self.counts["unexpected_" + kind] += 1
        if len(self.unexpected_events) < 200:
            self.unexpected_events.append({"t": round(now() - self.t0, 1), "kind": kind, "detail": detail[:400]})
        if self.counts["unexpected_" + kind] <= 3:
            log(f"UNEXPECTED {kind}: {detail[:300]}")

    def token_url(self, port: int, user_id=None, groups=(), roles=ALL_ROLES, minutes=None) -> str:
        """A client URL signed by the official service SDK (as sdkenv.client_url, one client reused)."""
        kw = {"minutes_to_expire": minutes or int(self.minutes + 30)}
        if user_id is not None:
            kw["user_id"] = user_id
        if roles:
            kw["roles"] = list(roles)
        if groups:
            kw["groups"] = list(groups)
        svc = self.token_svcs.get(port)
        if svc is None:   # the token's aud must name what the client dials (server or proxy)
            svc = self.token_svcs[port] = service_client(port, HUB, self.key)
        return svc.get_client_access_token(**kw)["url"]

    def mark(self, name: str) -> None:
        self.marks[name] = now()
        log(f"-- {name} (t={now() - self.t0:.1f}s)")

    # -- server and sampler -----------------------------------------------------------------------

    def start_server(self) -> None:
        from serverproc import ServerProcess
        state = self.work / "state"
        state.mkdir(exist_ok=True)
        args = ["--access-key", self.key, "--threads", "2", "--state-dir", str(state),
                "--max-message-bytes", str(MAX_MESSAGE_BYTES), "--max-outbound-bytes", str(MAX_OUTBOUND_BYTES),
                "--reliable-max-bytes", str(RELIABLE_MAX_BYTES), "--resume-window", str(RESUME_WINDOW)]
        self.server_args = args
        try:
            self.server = ServerProcess(*args, echo=False)
        except BaseException as e:  # pytest.fail raises an OutcomeException (a BaseException)
            raise RuntimeError(f"server did not start: {e}") from None
        self.port = self.server.port
        if self.a.pid_file:
            Path(self.a.pid_file).write_text(str(self.server.pid))
        log(f"server pid {self.server.pid} on 127.0.0.1:{self.port} ({os.environ.get('WPS_SERVER_BIN')})")

    def start_sampler(self) -> None:
        self.sampler = subprocess.Popen(
            [sys.executable, __file__, "--sampler", "--pid", str(self.server.pid), "--port", str(self.port),
             "--key", self.key, "--out", str(self.samples_path), "--interval", str(SAMPLE_INTERVAL)],
            stdin=subprocess.DEVNULL)

    def stop_sampler(self) -> None:
        if self.sampler and self.sampler.poll() is None:
            try:
                self.results["sampler_cpu_s"] = proc_stats(self.sampler.pid)["cpu_s"]
            except OSError:
                pass
            self.sampler.send_signal(signal.SIGTERM)
            try:
                self.sampler.wait(10)
            except subprocess.TimeoutExpired:
                self.sampler.kill()
                self.sampler.wait(5)

    def samples(self) -> list[dict]:
        try:
            with open(self.samples_path) as f:
                return [json.loads(line) for line in f if line.strip()]
        except OSError:
            return []

    # -- REST ----------------------------------------------------------------------------------

    def rest_worker(self, idx: int) -> None:
        svc = WebPubSubServiceClient.from_connection_string(connection_string(self.port, self.key), hub=HUB,
                                                            retry_total=0)
        users = [c.name for c in self.reliable if not c.pause] + [p.name for p in self.plain if not p.raw and not p.pause]
        try:
            while not self.rest_stop.is_set():
                if idx == 0 or random.random() < 0.5:
                    g = random.choice(GROUPS)
                    tgt, pid = "g:" + g, f"rest{idx}g"
                else:
                    u = random.choice(users)
                    tgt, pid = "u:" + u, f"rest{idx}u"
                n = self.ledger.register(pid, tgt)
                body = payload(pid, n, tgt, 150)
                try:
                    if tgt.startswith("g:"):
                        svc.send_to_group(tgt[2:], body, content_type="application/json",
                                          connection_timeout=5, read_timeout=10)
                    else:
                        svc.send_to_user(tgt[2:], body, content_type="application/json",
                                         connection_timeout=5, read_timeout=10)
                    self.ledger.ack(pid, n)
                    self.rest_stats["ok_" + tgt[0]] += 1
                except Exception as e:  # noqa: BLE001
                    self.rest_stats["error"] += 1
                    self.unexpected("rest", f"{pid}#{n} to {tgt}: {type(e).__name__}: {e}")
                self.rest_stop.wait(random.expovariate(4.0 if idx == 0 else 2.0))
        finally:
            svc.close()

    # -- churn and abuse ---------------------------------------------------------------------------

    async def churn(self) -> None:
        sem = asyncio.Semaphore(40)
        k = 0
        tasks = set()
        kinds = (["json-join"] * 8 + ["json-live"] * 3 + ["rel-close"] * 4 + ["rel-drop"] * 2
                 + ["raw"] * 2 + ["tcp"] * 1)
        while await sleep_while(self, random.expovariate(5.0)):
            if sem.locked():
                self.count("churn_skipped")
                continue
            k += 1
            kind = random.choice(kinds)
            t = asyncio.create_task(self._churn_one(sem, kind, k))
            tasks.add(t)
            t.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.wait(tasks, timeout=20)

    async def _churn_one(self, sem, kind: str, k: int) -> None:
        async with sem:
            user = f"churn{k}"
            try:
                async with asyncio.timeout(15):
                    if kind == "tcp":
                        r, w = await asyncio.open_connection("127.0.0.1", self.port)
                        w.write(f"GET /client/hubs/{HUB}?access_token=x HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode())
                        await asyncio.sleep(random.uniform(0.1, 0.5))
                        w.close()
                    elif kind == "json-join":
                        ws = await ws_connect(self.token_url(self.port, user_id=user), JSON_PROTOCOL)
                        m = await recv_json(ws, 10)
                        assert m.get("event") == "connected", m
                        await ws.send(json.dumps({"type": "joinGroup", "group": f"churn{k % 7}", "ackId": 1}))
                        a = await wait_ack(ws, 1, 10)
                        assert a.get("success"), a
                        await asyncio.sleep(random.uniform(0, 1))
                        await ws.close()
                    elif kind in ("json-live", "rel-close", "rel-drop", "raw"):
                        proto = {"json-live": JSON_PROTOCOL, "raw": None}.get(kind, RELIABLE_PROTOCOL)
                        g = {"json-live": "g0", "raw": "g2"}.get(kind, "g1")
                        if kind == "raw":   # a simple client needs sendToGroup mode (no event handler here)
                            url = self.token_url(self.port, user_id=user, groups=[g], roles=[f"webpubsub.sendToGroup.{g}"])
                            url += f"&webpubsub_mode=sendToGroup&group={g}"
                        else:
                            url = self.token_url(self.port, user_id=user, groups=[g])
                        ws = await ws_connect(url, proto)
                        if proto:
                            m = await recv_json(ws, 10)
                            assert m.get("event") == "connected", m
                        end = now() + random.uniform(0.3, 2.0)
                        while now() < end:   # read live traffic for a while
                            try:
                                await asyncio.wait_for(ws.recv(), end - now())
                            except TimeoutError:
                                break
                        if kind == "rel-drop" or (kind == "json-live" and random.random() < 0.5):
                            rst(ws)
                        else:
                            await ws.close()
                self.churn_done[kind] += 1
            except TimeoutError:
                self.churn_done["timeout"] += 1
                self.unexpected("churn-timeout", f"{kind} #{k}: no progress within 15 s")
            except InvalidStatus as e:
                self.churn_done["error"] += 1
                self.unexpected("churn", f"{kind} #{k}: HTTP {e.response.status_code}")
            except (ConnectionClosed, OSError, AssertionError, websockets.exceptions.InvalidHandshake) as e:
                if self.closing:
                    return
                self.churn_done["error"] += 1
                self.unexpected("churn", f"{kind} #{k}: {type(e).__name__}: {e}")

    async def abuse(self) -> None:
        cases = ["oversized", "malformed", "bad-signature", "expired", "reliable-malformed-recover"]
        i = 0
        while await sleep_while(self, 2.0):
            case = cases[i % len(cases)]
            i += 1
            try:
                async with asyncio.timeout(12):
                    ok, detail = await self._abuse_one(case, i)
            except TimeoutError:
                ok, detail = False, "no outcome within 12 s"
            except Exception as e:  # noqa: BLE001
                ok, detail = False, f"{type(e).__name__}: {e}"
            self.abuse_results[f"{case}:{'expected' if ok else 'unexpected'}"] += 1
            if not ok:
                self.abuse_failures.append(f"{case}: {detail}")
                self.unexpected("abuse", f"{case}: {detail}")

    async def _abuse_one(self, case: str, i: int) -> tuple[bool, str]:
        user = f"abuser{i}"
        if case in ("bad-signature", "expired"):
            if case == "bad-signature":
                token = make_jwt(token_claims(self.port, HUB, sub=user), key="not-the-key-" + secrets.token_hex(8))
            else:
                t = int(time.time())
                token = make_jwt(token_claims(self.port, HUB, sub=user, iat=t - 7200, exp=t - 3600), key=self.key)
            try:
                ws = await ws_connect(url_with_token(self.port, token, HUB), JSON_PROTOCOL)
            except InvalidStatus as e:
                st = e.response.status_code
                return st == 401, f"HTTP {st}"
            rst(ws)
            return False, "upgrade accepted"
        reliable = case.startswith("reliable")
        url = self.token_url(self.port, user_id=user, groups=["g1"])
        ws = await ws_connect(url, RELIABLE_PROTOCOL if reliable else JSON_PROTOCOL)
        m = await recv_json(ws, 10)
        assert m.get("event") == "connected", m
        if case == "oversized":
            head = '{"type":"sendToGroup","group":"g0","dataType":"text","data":"'
            text = head + "y" * (MAX_MESSAGE_BYTES + 1 - len(head) - 2) + '"}'
            assert len(text) == MAX_MESSAGE_BYTES + 1
            want = 1009
        else:
            text = '{"type":"sendToGroup","group":"g0","data":'
            want = 1007
        try:
            await ws.send(text)
        except ConnectionClosed:
            pass
        code, before = await read_until_close(ws, 10)
        disc = [b for b in before if isinstance(b, str) and '"disconnected"' in b]
        if code != want:
            return False, f"closed with {code}, expected {want}; before: {before[-3:]}"
        if not disc:
            return False, f"close {code} without a system/disconnected message first"
        if reliable:
            try:
                ws2 = await ws_connect(recovery_url(url, m["connectionId"], m["reconnectionToken"]), RELIABLE_PROTOCOL)
            except InvalidStatus as e:
                return False, f"recovery answered HTTP {e.response.status_code}, expected 101 then 1008"
            code2, before2 = await read_until_close(ws2, 10)
            if code2 != 1008:
                return False, f"recovery after {code} closed with {code2}, expected 1008; got {before2[:2]}"
        return True, ""

    async def cutter(self) -> None:
        i = 0
        while await sleep_while(self, random.uniform(8, 16)):
            p = self.proxies[i % len(self.proxies)]
            i += 1
            n = await asyncio.to_thread(p.cut)
            self.count("proxy_cuts")
            self.count("proxy_cut_connections", n)

    async def progress(self) -> None:
        while await sleep_while(self, 15):
            sent, acked = self.ledger.counts()
            s = self.samples()
            last = s[-1] if s else {}
            rec = sum(c.recoveries for c in self.reliable)
            log(f"t={now() - self.marks['load']:.0f}s sent={sent} acked={acked} recoveries={rec} "
                f"churn={sum(v for k, v in self.churn_done.items() if k not in ('error', 'timeout'))} "
                f"abuse={sum(self.abuse_results.values())} rss={last.get('rss_kb', 0) / 1024:.1f}MiB "
                f"fds={last.get('fds')} threads={last.get('threads')} healthz={last.get('healthz_ms')}ms "
                f"ping={last.get('ping_ms')} unexpected={sum(v for k, v in self.counts.items() if k.startswith('unexpected_'))}")

    # -- main flow -----------------------------------------------------------------------------

    async def run(self) -> None:
        from tcpproxy import TcpProxy
        await asyncio.to_thread(self.start_server)
        self.start_sampler()
        deadline = now() + 15
        while not self.samples() and now() < deadline:
            await asyncio.sleep(0.2)
        self.fd_start = proc_stats(self.server.pid)["fds"]
        self.proxies = [TcpProxy(self.port), TcpProxy(self.port)]

        # Long-lived clients.
        for i in range(30):
            groups = [GROUPS[i % 3]] + ([GROUPS[(i + 1) % 3]] if i % 2 == 0 else [])
            proxy = self.proxies[i // 10] if i < 20 else None
            self.reliable.append(ReliableClient(
                self, f"r{i:02d}", groups, token_groups=(i % 4 < 2), proxy=proxy,
                drop_every=(15, 45) if proxy is None else None, publish_rate=0.6 if i % 6 == 5 else 0.0))
        self.reliable.append(ReliableClient(self, "bulk-fast", [BULK], token_groups=False, drop_every=(20, 40),
                                            kind="reliable-bulk"))
        self.reliable.append(ReliableClient(self, "slow-recover", [BULK], token_groups=True, pause=18,
                                            legit_end=True, kind="slow-reliable"))
        self.reliable.append(ReliableClient(self, "slow-overflow", [BULK], token_groups=True, pause=28,
                                            legit_end=True, kind="slow-reliable-overflow"))
        for i in range(6):
            self.plain.append(PlainReceiver(self, f"p{i}", [GROUPS[i % 3]] + ([GROUPS[(i + 2) % 3]] if i < 3 else [])))
        for i in range(3):
            self.plain.append(PlainReceiver(self, f"raw{i}", [GROUPS[i]], raw=True,
                                            raw_publish_rate=0.5 if i < 2 else 0.0))
        self.plain.append(PlainReceiver(self, "slow-plain", [BULK], pause=20))
        for i in range(3):
            self.publishers.append(Publisher(self, f"pub{i}", GROUPS, 4.0, 150))
        self.publishers.append(Publisher(self, "bulk-pub", [BULK], 20.0, 16000))

        everyone = self.reliable + self.plain + self.publishers
        sem = asyncio.Semaphore(8)

        async def start(c):
            async with sem:
                await c.start()

        try:
            await asyncio.wait_for(asyncio.gather(*(start(c) for c in everyone)), 60)
        except Exception as e:
            raise RuntimeError(f"long-lived clients did not connect: {type(e).__name__}: {e}") from None
        for c in everyone:
            c.run()
        await asyncio.sleep(1.0)
        self.fd_baseline = proc_stats(self.server.pid)["fds"]
        self.long_lived = len(everyone)
        log(f"{len(everyone)} long-lived clients up; server fds {self.fd_start} at start, {self.fd_baseline} now")

        # Load.
        quarter = self.minutes * 60 / 4
        self.slow_period = quarter / max(1, int(quarter // 40)) if quarter >= 30 else 30.0
        self.load_on = True
        self.mark("load")
        for c in everyone:
            c.start_load()
        bg = [asyncio.create_task(self.churn(), name="churn"), asyncio.create_task(self.abuse(), name="abuse"),
              asyncio.create_task(self.cutter(), name="cutter"), asyncio.create_task(self.progress(), name="progress")]
        for i in range(2):
            t = threading.Thread(target=self.rest_worker, args=(i,), name=f"rest{i}", daemon=True)
            t.start()
            self.rest_threads.append(t)
        end = self.marks["load"] + self.minutes * 60
        while now() < end:
            await asyncio.sleep(min(1.0, end - now()))
            if not self.server.alive():
                self.unexpected("server-died", f"exit status {self.server.proc.returncode}")
                break
        self.load_on = False
        self.rest_stop.set()
        self.mark("load-end")
        await asyncio.wait(bg, timeout=25)
        for t in self.rest_threads:
            await asyncio.to_thread(t.join, 15)
        load_tasks = [t for c in everyone for t in c.load_tasks]
        if load_tasks:
            await asyncio.wait(load_tasks, timeout=5)
        for t in load_tasks:
            t.cancel()
        for c in self.reliable + self.plain:
            c.readable.set()

        # Drain: every reliable client back and every acked message delivered (bounded).
        deadline = now() + 30
        while now() < deadline and self.server.alive():
            idx = self.ledger.expected_index()
            waiting = [c.name for c in self.reliable if not c.live]
            pending = sum(len(p.pending) for p in self.publishers) + sum(len(c.pending_acks) for c in self.reliable)
            missing = [c.name for c in self.checked_receivers() if c.missing(idx)]
            if not waiting and not missing and pending == 0:
                break
            await asyncio.sleep(0.5)
        self.mark("drained")
        for c in self.reliable:    # a final ack, so the server can release the buffers
            if c.live and c.last_seq > c.acked_seq:
                try:
                    await c.ws.send(json.dumps({"type": "sequenceAck", "sequenceId": c.last_seq}))
                    c.acked_seq = c.last_seq
                except ConnectionClosed:
                    pass

        # Quiet period: no churn, no cuts, no sends; descriptors must settle.
        await asyncio.sleep(QUIET)
        self.mark("quiet-end")
        if self.server.alive():
            self.fd_final = proc_stats(self.server.pid)["fds"]
            self.results["fd_breakdown_final"] = fd_breakdown(self.server.pid)
        await asyncio.to_thread(self.stop_sampler)

        # The server still serves; then SIGTERM must end it with status 0.
        alive = self.server.alive()
        health = None
        if alive:
            try:
                r = await asyncio.to_thread(wire.http_get, self.port, "/healthz", 5)
                health = (r.status, r.body.decode("latin-1"))
            except Exception as e:  # noqa: BLE001
                health = f"{type(e).__name__}: {e}"
        self.results["alive_at_end"] = alive
        self.results["healthz_at_end"] = health
        self.closing = True
        t = now()
        rc = await asyncio.to_thread(self.server.stop, 10.0)
        self.results["sigterm_exit_status"] = rc
        self.results["sigterm_seconds"] = round(now() - t, 2)
        self.mark("server-stopped")
        for p in self.proxies:
            await asyncio.to_thread(p.close)
        for c in everyone:
            for t in c.tasks + c.load_tasks:
                t.cancel()
            if c.ws is not None:
                try:
                    rst(c.ws)
                except Exception:  # noqa: BLE001
                    pass

    def checked_receivers(self) -> list[Receiver]:
        return [c for c in self.reliable + self.plain if c.excluded is None]

    # -- checks and report ---------------------------------------------------------------------

    def evaluate(self) -> tuple[list[dict], dict]:
        checks: list[dict] = []

        def check(name, ok, detail):
            checks.append({"name": name, "ok": bool(ok), "detail": detail})

        idx = self.ledger.expected_index()
        sent, acked = self.ledger.counts()
        recv_summ = [c.summary(idx) for c in self.reliable + self.plain]

        # 1. Delivery: every acked message exactly once, in order, at every receiver that kept
        #    its session; no gaps in sequence ids.
        rel = [c for c in self.reliable if c.excluded is None]
        bad = []
        for c in rel:
            miss = c.missing(idx)
            nm = sum(len(v) for v in miss.values())
            if nm or c.dups or c.reorders or c.gaps or c.phantoms:
                bad.append(f"{c.name}: missing {nm} {dict(list(miss.items())[:2])}, duplicates {c.dups[:3]}, "
                           f"out of order {c.reorders[:3]}, sequence gaps {c.gaps[:3]}, unexpected {c.phantoms[:2]}")
        check("reliable-delivery", not bad and rel,
              f"{len(rel)} reliable clients checked ({sum(c.recoveries for c in rel)} recoveries), "
              f"{acked} of {sent} messages acked; " + ("; ".join(bad[:6]) if bad else "no loss, duplicate, reorder or gap"))
        ended = [c for c in self.reliable if c.excluded is not None]
        legit = [c.name for c in ended if c.legit_end]
        check("reliable-sessions-kept", not [c for c in ended if not c.legit_end],
              f"sessions ended: legitimately (slow readers) {legit} "
              f"({sum(len(c.sessions_ended) for c in ended if c.legit_end)} times); unexpectedly: "
              + str([(c.name, c.sessions_ended[:2]) for c in ended if not c.legit_end]))
        plain = [c for c in self.plain if c.excluded is None]
        bad = []
        for c in plain:
            miss = c.missing(idx)
            nm = sum(len(v) for v in miss.values())
            if nm or c.dups or c.reorders or c.phantoms:
                bad.append(f"{c.name}: missing {nm}, duplicates {c.dups[:3]}, out of order {c.reorders[:3]}, "
                           f"unexpected {c.phantoms[:2]}")
        cut = [c.name for c in self.plain if c.excluded is not None and not c.pause]
        check("plain-and-raw-delivery", not bad and not cut,
              f"{len(plain)} uninterrupted plain/raw receivers checked; " + ("; ".join(bad[:6]) if bad else "complete and in order")
              + (f"; cut unexpectedly: {cut}" if cut else ""))

        # 2. Memory, descriptors and threads bounded (load-phase samples, after warm-up).
        samples = self.samples()
        t_load, t_end = self.marks.get("load"), self.marks.get("load-end")
        load = [s for s in samples if t_load and t_end and t_load <= s["mono"] <= t_end and "rss_kb" in s]
        mem = {}
        if len(load) >= 8:
            q = (t_end - t_load) / 4
            q2 = [s for s in load if max(t_load + q, t_load + WARMUP) <= s["mono"] < t_load + 2 * q]
            if len(q2) < 2:
                q2 = [s for s in load if t_load + WARMUP <= s["mono"] < t_load + 3 * q]
            q4 = [s for s in load if s["mono"] >= t_load + 3 * q]
            med = lambda xs, k: statistics.median(x[k] for x in xs)  # noqa: E731
            if q2 and q4:
                r2, r4 = med(q2, "rss_kb") / 1024, med(q4, "rss_kb") / 1024
                f2, f4 = med(q2, "fds"), med(q4, "fds")
                th2, th4 = med(q2, "threads"), max(x["threads"] for x in q4)
                lim = r2 * 1.25 + 8
                mem = {"rss_q2_mib": round(r2, 1), "rss_q4_mib": round(r4, 1), "rss_limit_mib": round(lim, 1),
                       "fds_q2": f2, "fds_q4": f4, "threads_q2": th2, "threads_q4_max": th4,
                       "rss_max_mib": round(max(x["rss_kb"] for x in load) / 1024, 1)}
                check("memory-bounded", r4 <= lim,
                      f"RSS median {r2:.1f} MiB in the 2nd quarter, {r4:.1f} MiB in the last (limit {lim:.1f} = +25% +8 MiB); "
                      f"max {mem['rss_max_mib']} MiB")
                check("fds-bounded-under-load", f4 <= f2 * 1.25 + 16,
                      f"open fds median {f2} in the 2nd quarter, {f4} in the last (limit {f2 * 1.25 + 16:.0f})")
                check("threads-bounded", th4 <= th2 + 2, f"threads median {th2} in the 2nd quarter, max {th4} in the last")
            else:
                check("memory-bounded", False, f"not enough samples per quarter (q2 {len(q2)}, q4 {len(q4)})")
        else:
            check("memory-bounded", False, f"only {len(load)} load samples")
        fd_final = getattr(self, "fd_final", None)
        fd_base = getattr(self, "fd_baseline", None)
        check("fds-back-to-baseline", fd_final is not None and fd_base is not None and fd_final <= fd_base + FD_MARGIN,
              f"server fds: {self.fd_start if hasattr(self, 'fd_start') else '?'} before the test's clients (sampler's "
              f"2 ping clients included), {fd_base} with the {getattr(self, 'long_lived', '?')} long-lived clients, "
              f"{fd_final} after the {QUIET:.0f} s quiet period "
              f"(allowed: baseline + {FD_MARGIN}); final kinds {self.results.get('fd_breakdown_final')}")

        # 3. /healthz within 100 ms after warm-up, on a fresh connection each time.
        warm = [s for s in samples if t_load and s["mono"] >= t_load + WARMUP]
        slow = [s for s in warm if not s.get("healthz_ok") or s.get("healthz_ms", 1e9) > HEALTHZ_LIMIT_MS]
        hz = [s["healthz_ms"] for s in warm if "healthz_ms" in s]
        check("healthz-fast", warm and not slow,
              f"{len(warm)} probes after warm-up, max {max(hz) if hz else None} ms, "
              f"p50 {statistics.median(hz) if hz else None} ms; over {HEALTHZ_LIMIT_MS:.0f} ms or failed: "
              + str([{"t": round(s['mono'] - t_load, 1), "ms": s.get("healthz_ms"), "err": s.get("healthz_error"),
                      "sampler_late_ms": s.get("late_ms")} for s in slow[:8]]))

        # 4. Alive at the end, exit 0 on SIGTERM.
        check("alive-at-end", self.results.get("alive_at_end") and self.results.get("healthz_at_end") == (200, "ok"),
              f"alive {self.results.get('alive_at_end')}, /healthz {self.results.get('healthz_at_end')}")
        crash = self.server.crash_summary() if self.server else None
        check("sigterm-exit-0", self.results.get("sigterm_exit_status") == 0,
              f"exit status {self.results.get('sigterm_exit_status')} after {self.results.get('sigterm_seconds')} s"
              + (f"; {crash}" if crash else ""))

        # 5. Abuse cases answered as specified, and nothing else unexpected.
        check("abuse-outcomes", not self.abuse_failures and self.abuse_results,
              f"{dict(self.abuse_results)}; " + ("; ".join(self.abuse_failures[:5]) if self.abuse_failures else "all as expected"))
        other = {k: v for k, v in self.counts.items() if k.startswith("unexpected_")
                 and k not in ("unexpected_abuse", "unexpected_session-ended")}
        unacked = {p.name: len(p.pending) for p in self.publishers if p.pending}
        unacked.update({c.name: len(c.pending_acks) for c in self.reliable if c.pending_acks})
        check("every-request-acked", not unacked,
              f"requests still without an ack at the end on connections that stayed open: {unacked or 'none'}")
        check("no-unexpected-errors", not other,
              f"{other or 'none'}; first: {[e for e in self.unexpected_events if e['kind'] != 'abuse'][:5]}")

        # Derived numbers for the report.
        lat = sorted(self.ledger.ack_ms)
        pings = sorted(p for s in warm for p in s.get("ping_ms", []))
        cpu = [s for s in samples if "cpu_s" in s]
        load_cpu = None
        if len(load) >= 2:
            load_cpu = round((load[-1]["cpu_s"] - load[0]["cpu_s"]) / (load[-1]["mono"] - load[0]["mono"]) * 100, 1)
        own = os.times()
        stats = {
            "messages_sent": sent, "messages_acked": acked,
            "ack_ms_p50": round(lat[len(lat) // 2], 1) if lat else None,
            "ack_ms_p99": round(lat[int(len(lat) * 0.99)], 1) if lat else None,
            "ping_rtt_ms_p50": pings[len(pings) // 2] if pings else None,
            "ping_rtt_ms_p99": pings[int(len(pings) * 0.99)] if pings else None,
            "ping_rtt_ms_max": pings[-1] if pings else None,
            "server_cpu_percent_during_load": load_cpu,
            "server_cpu_seconds_total": cpu[-1]["cpu_s"] if cpu else None,
            "client_cpu_seconds": round(own.user + own.system, 1),
            "sampler_cpu_seconds": self.results.get("sampler_cpu_s"),
            "recoveries": sum(c.recoveries for c in self.reliable),
            "reliable_replayed_messages": sum(c.replays for c in self.reliable),
            "proxy_cuts": self.counts["proxy_cuts"], "proxy_cut_connections": self.counts["proxy_cut_connections"],
            "direct_drops": self.counts["direct_drops"],
            "churn": dict(self.churn_done), "churn_skipped": self.counts["churn_skipped"],
            "rest": dict(self.rest_stats), "abuse": dict(self.abuse_results),
            "slow_readers": {c.name: {"pauses": c.pauses, "close_codes": dict(getattr(c, "close_codes", {})),
                                      "cuts_t_code": getattr(c, "cut_log", [])[:10],
                                      "sessions_ended": len(getattr(c, "sessions_ended", [])),
                                      "disconnects": getattr(c, "ends", [])[:5], "excluded": c.excluded}
                             for c in self.reliable + self.plain if c.pause},
            **mem,
        }
        return checks, {"stats": stats, "receivers": recv_summ, "samples": samples}


def main_run(a) -> int:
    soak = Soak(a)
    report_path = a.report or tempfile.mkstemp(prefix="wps-soak-report-", suffix=".json")[1]
    hard = a.minutes * 60 + 110

    def watchdog():
        time.sleep(hard)
        log(f"HARD DEADLINE ({hard:.0f} s) reached: stopping the server and the sampler by PID")
        try:
            if soak.sampler and soak.sampler.poll() is None:
                soak.sampler.kill()
            if soak.server:
                soak.server.stop(3)
        finally:
            os._exit(3)

    threading.Thread(target=watchdog, daemon=True, name="watchdog").start()

    def on_signal(signum, _frame):
        log(f"signal {signum}: stopping the server and the sampler")
        if soak.sampler and soak.sampler.poll() is None:
            soak.sampler.kill()
        if soak.server:
            soak.server.stop(5)
            soak.server.cleanup()
        os._exit(4)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    error = None
    try:
        asyncio.run(soak.run())
    except Exception as e:  # noqa: BLE001
        error = f"{type(e).__name__}: {e}"
        log(f"run aborted: {error}")
        traceback.print_exc()
    finally:
        soak.closing = True
        soak.rest_stop.set()
        soak.stop_sampler()
        if soak.server and soak.server.alive():
            soak.results.setdefault("sigterm_exit_status", soak.server.stop(10))

    checks, extra = soak.evaluate()
    if error:
        checks.insert(0, {"name": "run-completed", "ok": False, "detail": error})
    ok = all(c["ok"] for c in checks)
    report = {
        "verdict": "pass" if ok else "fail",
        "minutes": a.minutes,
        "server": {"bin": os.environ.get("WPS_SERVER_BIN"), "args": getattr(soak, "server_args", None),
                   "pid": soak.server.pid if soak.server else None, "port": soak.port,
                   "stderr_tail": soak.server.stderr_tail(4000) if soak.server else None},
        "timeline_s": {k: round(v - soak.t0, 1) for k, v in soak.marks.items()},
        "checks": checks,
        "stats": extra["stats"],
        "counts": dict(soak.counts),
        "unexpected_events": soak.unexpected_events,
        "receivers": extra["receivers"],
        "samples": [{k: (round(v - soak.marks.get("load", soak.t0), 1) if k == "mono" else v) for k, v in s.items()}
                    for s in extra["samples"]],
    }
    with open(report_path, "w") as f:
        json.dump(report, f, indent=1)
    if soak.server:
        soak.server.cleanup()
    print()
    for c in checks:
        print(f"  {'PASS' if c['ok'] else 'FAIL'}  {c['name']}: {c['detail']}")
    st = extra["stats"]
    print(f"\n  messages sent {st['messages_sent']}, acked {st['messages_acked']} (ack p50 {st['ack_ms_p50']} ms, "
          f"p99 {st['ack_ms_p99']} ms); recoveries {st['recoveries']}; churn {st['churn']}; "
          f"server CPU {st['server_cpu_percent_during_load']}% during load; client CPU {st['client_cpu_seconds']} s "
          f"+ sampler {st['sampler_cpu_seconds']} s; ping RTT p50/p99/max {st['ping_rtt_ms_p50']}/"
          f"{st['ping_rtt_ms_p99']}/{st['ping_rtt_ms_max']} ms")
    print(f"\nsoak: {'PASS' if ok else 'FAIL'}; report: {report_path}")
    return 0 if ok else 1


def main() -> int:
    ap = argparse.ArgumentParser(description="wps-server soak test (run it through scripts/soak)")
    ap.add_argument("--minutes", type=float, default=2.0, help="minutes of load (default 2)")
    ap.add_argument("--report", help="where to write the JSON report (default: a temp file)")
    ap.add_argument("--work-dir", help=argparse.SUPPRESS)
    ap.add_argument("--pid-file", help=argparse.SUPPRESS)
    ap.add_argument("--sampler", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--pid", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--key", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    ap.add_argument("--interval", type=float, default=SAMPLE_INTERVAL, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.sampler:
        return sampler_main(a)
    if a.minutes <= 0:
        ap.error("--minutes must be positive")
    return main_run(a)


if __name__ == "__main__":
    sys.exit(main())
