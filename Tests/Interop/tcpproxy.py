"""A small threaded TCP proxy on 127.0.0.1 that can cut its connections abruptly.

    proxy = TcpProxy(target_port)        # listens on 127.0.0.1:proxy.port
    proxy.cut()                          # RST every current connection (SO_LINGER 0), both sides
    proxy.block()                        # new connections are accepted and reset at once
    proxy.unblock()
    proxy.close()                        # stop listening, reset everything, join the thread

No WebSocket close frame is ever produced by the proxy: a cut looks to the server and to the
client like a network failure.
"""

from __future__ import annotations

import select
import socket
import struct
import threading
import time

import pytest

HOST = "127.0.0.1"
_LINGER0 = struct.pack("ii", 1, 0)


def _reset(sock: socket.socket) -> None:
    """Close with SO_LINGER 0, so the kernel sends RST instead of FIN."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER0)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


class _Pair:
    def __init__(self, client: socket.socket, upstream: socket.socket):
        self.client = client
        self.upstream = upstream
        self.dead = False
        self.eof: set = set()  # sockets that sent an orderly EOF


class TcpProxy:
    def __init__(self, target_port: int, target_host: str = HOST):
        self.target = (target_host, target_port)
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((HOST, 0))
        self._listener.listen(128)
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._pairs: list[_Pair] = []
        self._blocked = False
        self._closed = False
        self.accepted = 0   # connections forwarded
        self.refused = 0    # connections reset because the proxy was blocked
        self.cuts = 0
        # One thread does everything (accept + forwarding) with select(), so a cut never races
        # with a forwarding thread still holding the socket (which would turn RST into nothing).
        self._pending: list = []
        self._wake_r, self._wake_w = socket.socketpair()
        self._thread = threading.Thread(target=self._run, name=f"tcpproxy:{self.port}", daemon=True)
        self._thread.start()

    # -- control (any thread) ----------------------------------------------------------------

    def _call(self, fn) -> None:
        """Run fn in the proxy thread and wait for it (bounded)."""
        done = threading.Event()
        with self._lock:
            self._pending.append((fn, done))
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass
        if not done.wait(5):
            raise AssertionError("tcp proxy thread did not respond within 5 s")

    def cut(self) -> int:
        """Reset every current connection (both directions). Returns how many were cut."""
        result = []

        def _do():
            n = 0
            for p in self._pairs:
                if not p.dead:
                    p.dead = True
                    _reset(p.client)
                    _reset(p.upstream)
                    n += 1
            self._pairs = []
            self.cuts += 1
            result.append(n)

        self._call(_do)
        return result[0]

    def block(self) -> None:
        """Refuse new connections (accept, then reset at once). Existing ones are not touched."""
        self._blocked = True

    def unblock(self) -> None:
        self._blocked = False

    def connection_count(self) -> int:
        return len([p for p in self._pairs if not p.dead])

    def close(self) -> None:
        if self._closed:
            return

        def _do():
            for p in self._pairs:
                if not p.dead:
                    p.dead = True
                    _reset(p.client)
                    _reset(p.upstream)
            self._pairs = []
            self._closed = True

        try:
            self._call(_do)
        except AssertionError:
            self._closed = True
        self._thread.join(5)
        for s in (self._listener, self._wake_r, self._wake_w):
            try:
                s.close()
            except OSError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- proxy thread -------------------------------------------------------------------------

    def _accept(self) -> None:
        try:
            client, _ = self._listener.accept()
        except OSError:
            return
        if self._blocked:
            self.refused += 1
            _reset(client)
            return
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            _reset(client)
            return
        for s in (client, upstream):
            s.setblocking(False)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._pairs.append(_Pair(client, upstream))
        self.accepted += 1

    def _run(self) -> None:
        while not self._closed:
            rlist = [self._listener, self._wake_r]
            owner: dict[socket.socket, tuple[_Pair, socket.socket]] = {}
            for p in self._pairs:
                if not p.dead:
                    for a, b in ((p.client, p.upstream), (p.upstream, p.client)):
                        if a not in p.eof:
                            owner[a] = (p, b)
                            rlist.append(a)
            try:
                readable, _, _ = select.select(rlist, [], [], 0.5)
            except (OSError, ValueError):
                # a socket was closed under us; rebuild the list
                self._pairs = [p for p in self._pairs if not p.dead]
                continue
            for s in readable:
                if s is self._wake_r:
                    try:
                        self._wake_r.recv(4096)
                    except OSError:
                        pass
                    with self._lock:
                        pending, self._pending = self._pending, []
                    for fn, done in pending:
                        try:
                            fn()
                        finally:
                            done.set()
                elif s is self._listener:
                    self._accept()
                else:
                    entry = owner.get(s)
                    if entry is None or entry[0].dead:
                        continue
                    pair, other = entry
                    if s in pair.eof:
                        continue
                    try:
                        data = s.recv(65536)
                    except BlockingIOError:
                        continue
                    except OSError:
                        # reset by one side: pass the reset on to the other
                        pair.dead = True
                        _reset(pair.client)
                        _reset(pair.upstream)
                        continue
                    if not data:
                        # orderly EOF: pass it on (half-close); close both once both sides ended
                        pair.eof.add(s)
                        try:
                            other.shutdown(socket.SHUT_WR)
                        except OSError:
                            pass
                        if len(pair.eof) == 2:
                            pair.dead = True
                            for x in (pair.client, pair.upstream):
                                try:
                                    x.close()
                                except OSError:
                                    pass
                        continue
                    if not self._send_all(other, data):
                        pair.dead = True
                        _reset(pair.client)
                        _reset(pair.upstream)
            self._pairs = [p for p in self._pairs if not p.dead]

    @staticmethod
    def _send_all(sock: socket.socket, data: bytes, timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        view = memoryview(data)
        while view:
            try:
                n = sock.send(view)
                view = view[n:]
            except BlockingIOError:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                select.select([], [sock], [], min(left, 0.5))
            except OSError:
                return False
        return True


@pytest.fixture
def proxies():
    """proxies(port) -> a TcpProxy in front of 127.0.0.1:port; all closed at teardown."""
    made: list[TcpProxy] = []

    def _make(port: int) -> TcpProxy:
        p = TcpProxy(port)
        made.append(p)
        return p

    yield _make
    for p in made:
        p.close()
