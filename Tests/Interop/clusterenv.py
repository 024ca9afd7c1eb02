"""Real clusters for the interop tests: one redis-server (or a three-shard Redis Cluster), three
wps-server nodes started with --redis and one shared access key, and HAProxy in front of them,
round robin. Everything listens on 127.0.0.1 on free ports, lives in temporary directories and
is stopped by PID, at teardown and at interpreter exit.

HAProxy tags every answer with the name of the node that served it (`x-cluster-node`), and
connection ids start with the id of the node that holds them, so tests can check that their
calls and connections really were spread over the nodes.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from types import SimpleNamespace
from typing import Any, Callable

import pytest

from azure.messaging.webpubsubservice import WebPubSubServiceClient

import restenv
from restenv import HubEnv, WpsProc, free_port, http_request, unique

ACCESS_KEY = "cluster-interop-key-0123456789ABCDEFGHIJKLMNOPQR="
NEGOTIATE_KEY = "cluster-interop-negotiate-key-0123456789"
NODE_COUNT = 3
SHARD_COUNT = 3
NODE_HEADER = "x-cluster-node"
PROBE = "probe-"  # prefix of the messages settle() sends
STARTUP_TIMEOUT = 15.0

REDIS_SERVER = shutil.which("redis-server")
REDIS_CLI = shutil.which("redis-cli")
HAPROXY = shutil.which("haproxy") or ("/usr/sbin/haproxy" if os.path.exists("/usr/sbin/haproxy") else None)

# Every helper process started here, so none outlives the test run even if a fixture's
# teardown never runs (they are stopped by PID only).
_STARTED: list[subprocess.Popen] = []


def _stop_by_pid(proc: subprocess.Popen, timeout: float = 5.0, sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        try:
            os.kill(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            try:
                os.kill(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(5)


@atexit.register
def _stop_leftovers() -> None:
    for proc in _STARTED:
        _stop_by_pid(proc, timeout=2.0)


def require_tools() -> None:
    missing = [name for name, path in (("redis-server", REDIS_SERVER), ("redis-cli", REDIS_CLI),
                                       ("haproxy", HAPROXY)) if path is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (scripts/test installs them)")


class GaveUp(AssertionError):
    """Raised by a wait_until predicate when waiting longer cannot help (a process exited)."""


def wait_until(pred: Callable[[], Any], timeout: float, what: str, interval: float = 0.05):
    """Polls `pred` until it returns something truthy (returned) or `timeout` passes (fails)."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            value = pred()
            if value:
                return value
        except GaveUp:
            raise
        except Exception as e:  # noqa: BLE001 - kept for the failure message
            last_error = e
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}"
                                 + (f" (last error: {last_error!r})" if last_error else ""))
        time.sleep(interval)


# --------------------------------------------------------------------------------------------
# Redis
# --------------------------------------------------------------------------------------------


def redis_command(port: int, *args: str, timeout: float = 2.0):
    """One command over RESP2 on a fresh connection; returns the decoded reply (str, int, list,
    None), raises RuntimeError for an error reply and OSError when Redis is not there."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        out = f"*{len(args)}\r\n".encode()
        for a in args:
            b = a.encode()
            out += b"$%d\r\n%s\r\n" % (len(b), b)
        s.sendall(out)
        f = s.makefile("rb")
        return _read_reply(f)


def _read_reply(f):
    line = f.readline()
    if not line:
        raise OSError("Redis closed the connection")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise RuntimeError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)
        return data[:-2].decode("utf-8", "replace")
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [_read_reply(f) for _ in range(n)]
    raise OSError(f"unexpected reply {line!r}")


class RedisServer:
    """A redis-server on 127.0.0.1 without persistence, in its own temporary directory. It can be
    stopped and started again on the same port (the directory is kept until close())."""

    def __init__(self, cluster_enabled: bool = False):
        self.dir = tempfile.mkdtemp(prefix="wps-redis-")
        self.cluster_enabled = cluster_enabled
        self.proc: subprocess.Popen | None = None
        # A free port may be taken by another process before redis-server binds it: then the
        # first start is made again on other ports (a restart keeps its ports).
        for attempt in range(3):
            self.port = free_port()
            # The cluster bus gets a port of its own (by default it is port + 10000).
            self.bus_port = free_port() if cluster_enabled else None
            try:
                self.start()
                return
            except GaveUp:
                if attempt == 2 or "Address already in use" not in self.log_tail():
                    raise
                os.unlink(os.path.join(self.dir, "redis.log"))

    def start(self) -> None:
        args = [REDIS_SERVER, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
                "--appendonly", "no", "--dir", self.dir, "--daemonize", "no",
                "--logfile", os.path.join(self.dir, "redis.log")]
        if self.cluster_enabled:
            args += ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                     "--cluster-node-timeout", "2000", "--cluster-port", str(self.bus_port)]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, cwd=self.dir)
        _STARTED.append(self.proc)

        def answers():
            if self.proc.poll() is not None:
                raise GaveUp(f"redis-server exited with {self.proc.returncode}: {self.log_tail()}")
            return redis_command(self.port, "PING") == "PONG"

        wait_until(answers, STARTUP_TIMEOUT, f"redis-server on port {self.port} to answer PING")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None:
            _stop_by_pid(self.proc, sig=sig)

    def log_tail(self, n: int = 2000) -> str:
        try:
            with open(os.path.join(self.dir, "redis.log"), "rb") as f:
                return f.read()[-n:].decode("utf-8", "replace")
        except OSError:
            return "<no log>"

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class SingleRedis:
    """The `redis` backend: one redis-server."""

    kind = "redis"
    flags: tuple[str, ...] = ()

    def __init__(self):
        self.server = RedisServer()
        self.url = f"redis://127.0.0.1:{self.server.port}"

    def stop(self) -> None:
        self.server.stop()

    def start(self) -> None:
        self.server.start()

    def close(self) -> None:
        self.server.close()


class ShardedRedis:
    """The `redis-cluster` backend: a Redis Cluster of three masters (no replicas), created with
    redis-cli and waited for until every shard says cluster_state:ok."""

    kind = "redis-cluster"
    flags = ("--redis-cluster",)

    def __init__(self, shards: int = SHARD_COUNT):
        self.servers: list[RedisServer] = []
        try:
            for _ in range(shards):
                self.servers.append(RedisServer(cluster_enabled=True))
            create = subprocess.run(
                [REDIS_CLI, "--cluster", "create", *[f"127.0.0.1:{s.port}" for s in self.servers],
                 "--cluster-replicas", "0", "--cluster-yes"],
                stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
            if create.returncode != 0:
                raise AssertionError(f"redis-cli --cluster create failed: {create.stdout[-2000:]} {create.stderr[-2000:]}")
            self.wait_ok()
        except BaseException:
            self.close()
            raise
        self.url = f"redis://127.0.0.1:{self.servers[0].port}"

    def wait_ok(self, timeout: float = 30.0) -> None:
        def all_ok():
            return all("cluster_state:ok" in redis_command(s.port, "CLUSTER", "INFO") for s in self.servers)

        wait_until(all_ok, timeout, "cluster_state:ok on every shard", interval=0.2)

    def stop(self) -> None:
        for s in self.servers:
            s.stop()

    def start(self) -> None:
        for s in self.servers:
            s.start()
        self.wait_ok()

    def close(self) -> None:
        for s in self.servers:
            s.close()


BACKENDS = {"redis": SingleRedis, "redis-cluster": ShardedRedis}


# --------------------------------------------------------------------------------------------
# wps-server nodes
# --------------------------------------------------------------------------------------------


class Node(WpsProc):
    """One wps-server node of a cluster (registered with serverproc, so crashes and credentials
    in its log are reported like any server's)."""

    def __init__(self, node_id: str, redis_url: str, cluster_name: str, flags=(), port: int = 0):
        self.node_id = node_id
        self.redis_url = redis_url
        self.cluster_name = cluster_name
        self.cluster_flags = tuple(flags)
        self.hung = False
        super().__init__("--access-key", ACCESS_KEY, "--negotiate-key", NEGOTIATE_KEY, "--threads", "2",
                         "--redis", redis_url, *flags, "--node-id", node_id, "--cluster-name", cluster_name,
                         port=port, startup_timeout=STARTUP_TIMEOUT)

    def reported_node_id(self, timeout: float = 5.0) -> str:
        text = self.wait_stdout(lambda t: "node id:" in t, timeout)
        return [l for l in text.splitlines() if l.startswith("node id:")][0].split(":", 1)[1].strip()

    def kill(self) -> None:
        """SIGKILL by PID. Not a crash of the server: the crash check is told so."""
        self.crash_reported = True
        if self.alive():
            os.kill(self.pid, signal.SIGKILL)
        self.proc.wait(5)

    def status(self, path: str, timeout: float = 5.0) -> int:
        return http_request(self.port, "GET", path, timeout=timeout).status


# --------------------------------------------------------------------------------------------
# HAProxy
# --------------------------------------------------------------------------------------------

HAPROXY_CONFIG = """\
global
    maxconn 4096

defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    timeout http-request 10s
    # WebSocket connections become tunnels after the upgrade: idle for long is fine.
    timeout tunnel 1h
    timeout client-fin 5s
    timeout server-fin 5s
    # A refused connection (a node just killed) is tried again on another node.
    retries 3
    option redispatch 1

frontend wps
    bind 127.0.0.1:{port}
    default_backend nodes

backend nodes
    balance roundrobin
    option httpchk
    http-check send meth GET uri /healthz
    http-check expect status 200
    http-response set-header {header} %[srv_name]
    default-server inter 300ms fastinter 200ms downinter 300ms fall 2 rise 2
{servers}
"""


class Haproxy:
    """Debian's haproxy in the foreground (-db) with a generated configuration."""

    def __init__(self, nodes: list[tuple[str, int]]):
        self.nodes = nodes
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="wps-haproxy-")
        self.config = os.path.join(self.dir, "haproxy.cfg")
        servers = "\n".join(f"    server {name} 127.0.0.1:{port} check" for name, port in nodes)
        with open(self.config, "w") as f:
            f.write(HAPROXY_CONFIG.format(port=self.port, header=NODE_HEADER, servers=servers))
        self.log = open(os.path.join(self.dir, "haproxy.log"), "wb")
        self.proc = subprocess.Popen([HAPROXY, "-db", "-f", self.config], stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=subprocess.STDOUT, cwd=self.dir)
        _STARTED.append(self.proc)
        try:
            self.wait_all_serving()
        except BaseException:
            self.close()
            raise

    def served_by(self, path: str = "/healthz", timeout: float = 5.0) -> tuple[int, str | None]:
        r = http_request(self.port, "GET", path, timeout=timeout)
        return r.status, r.header(NODE_HEADER)

    def wait_all_serving(self, names: list[str] | None = None, timeout: float = STARTUP_TIMEOUT) -> None:
        """Until every node in `names` (default: all) has answered a request through the proxy."""
        wanted = set(names if names is not None else [n for n, _ in self.nodes])
        seen: set[str] = set()

        def all_seen():
            if self.proc.poll() is not None:
                raise GaveUp(f"haproxy exited with {self.proc.returncode}: {self.log_tail()}")
            status, node = self.served_by()
            if status == 200 and node:
                seen.add(node)
            return wanted <= seen

        wait_until(all_seen, timeout, f"haproxy to route to {sorted(wanted)}", interval=0.02)

    def log_tail(self, n: int = 2000) -> str:
        try:
            with open(os.path.join(self.dir, "haproxy.log"), "rb") as f:
                return f.read()[-n:].decode("utf-8", "replace")
        except OSError:
            return "<no log>"

    def close(self) -> None:
        _stop_by_pid(self.proc)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# The cluster
# --------------------------------------------------------------------------------------------


class Cluster:
    """Redis (`backend`), NODE_COUNT nodes and HAProxy. `port` is HAProxy's: the endpoint of the
    service. `served` records, per REST call made through `svc()` clients, which node answered."""

    def __init__(self, backend_kind: str = "redis", nodes: int = NODE_COUNT, name: str | None = None,
                 backend=None):
        require_tools()
        self.name = name or "t" + uuid.uuid4().hex[:8]
        self.owns_backend = backend is None
        self.backend = backend or BACKENDS[backend_kind]()
        self.kind = self.backend.kind
        self.nodes: list[Node] = []
        self.proxy: Haproxy | None = None
        self.served: list[str | None] = []
        self._served_lock = threading.Lock()
        try:
            for i in range(nodes):
                self.nodes.append(Node(f"{self.name}-n{i + 1}", self.backend.url, self.name, self.backend.flags))
            self.proxy = Haproxy([(n.node_id, n.port) for n in self.nodes])
            self.port = self.proxy.port
            self.wait_ready()
        except BaseException:
            self.close()
            raise

    # -- nodes --------------------------------------------------------------------------------
    def node(self, node_id: str) -> Node:
        return next(n for n in self.nodes if n.node_id == node_id)

    @staticmethod
    def node_of(connection_id: str) -> str:
        """The node named in a cluster connection id (`<node>.<32 hex>`)."""
        assert "." in connection_id, f"connection id {connection_id!r} names no node"
        return connection_id.rsplit(".", 1)[0]

    def live_nodes(self) -> list[Node]:
        """Nodes running and not stopped with hang()."""
        return [n for n in self.nodes if n.alive() and not n.hung]

    def wait_ready(self, timeout: float = STARTUP_TIMEOUT, nodes: list[Node] | None = None) -> None:
        """Until /readyz says 200 on every live node (each has its Redis link)."""
        targets = nodes if nodes is not None else self.live_nodes()
        for n in targets:
            try:
                wait_until(lambda: n.status("/readyz") == 200, timeout, f"/readyz 200 on {n.node_id}", interval=0.1)
            except AssertionError as e:
                r = http_request(n.port, "GET", "/readyz", timeout=5)
                raise AssertionError(f"{e}; /readyz: {r.status} {r.body[:300]!r}; log: {n.stderr_tail(1500)}") from None

    def kill(self, node: Node) -> None:
        node.kill()

    def hang(self, node: Node) -> None:
        """SIGSTOP: the node keeps its sockets open but answers nothing, as if cut off."""
        node.hung = True
        os.kill(node.pid, signal.SIGSTOP)

    def resume(self, node: Node) -> None:
        if node.hung and node.alive():
            os.kill(node.pid, signal.SIGCONT)
        node.hung = False

    def restart(self, node: Node) -> Node:
        """Starts a stopped or killed node again with the same id and port; HAProxy's health
        check brings it back into rotation."""
        assert not node.alive()
        fresh = Node(node.node_id, node.redis_url, node.cluster_name, node.cluster_flags, port=node.port)
        self.nodes[self.nodes.index(node)] = fresh
        self.wait_ready(nodes=[fresh])
        self.proxy.wait_all_serving([fresh.node_id])
        return fresh

    # -- Redis --------------------------------------------------------------------------------
    def stop_redis(self) -> None:
        self.backend.stop()

    def start_redis(self) -> None:
        self.backend.start()

    def registered_nodes(self) -> set[str]:
        """The nodes with a lease in Redis (protocol-spec/cluster.md §5: the sorted set
        `wps:{NAME}:nodes`), read from whichever server holds the key."""
        servers = self.backend.servers if hasattr(self.backend, "servers") else [self.backend.server]
        for server in servers:
            try:
                return set(redis_command(server.port, "ZRANGE", f"wps:{{{self.name}}}:nodes", "0", "-1"))
            except RuntimeError:  # MOVED: another shard holds it
                continue
        return set()

    # -- clients of the service ----------------------------------------------------------------
    def connection_string(self, port: int | None = None) -> str:
        return restenv.connection_string(port or self.port, ACCESS_KEY)

    def _record(self, response) -> None:
        node = response.http_response.headers.get(NODE_HEADER)
        with self._served_lock:
            self.served.append(node)

    def svc(self, hub: str, port: int | None = None) -> WebPubSubServiceClient:
        """The official service SDK on the HAProxy endpoint (or a node's own `port`)."""
        return WebPubSubServiceClient.from_connection_string(self.connection_string(port), hub=hub,
                                                             raw_response_hook=self._record)

    def served_since(self, mark: int) -> list[str | None]:
        with self._served_lock:
            return self.served[mark:]

    def hub_env(self, hub: str | None = None) -> "ClusterHub":
        return ClusterHub(self, hub)

    def close(self) -> None:
        if self.proxy is not None:
            self.proxy.close()
        for n in self.nodes:
            self.resume(n)
            n.crash_reported = n.crash_reported or not n.alive()
            n.stop()
        if self.owns_backend:
            self.backend.close()


class ClusterHub(HubEnv):
    """HubEnv (restenv) on the cluster's HAProxy endpoint, plus clients pinned to one node
    (connected to the node's own port, with a token minted for that port)."""

    def __init__(self, cluster: Cluster, hub: str | None = None):
        super().__init__(SimpleNamespace(port=cluster.port), hub or unique("Hub"))
        self.cluster = cluster
        self.svc = cluster.svc(self.hub)
        self._node_svcs: dict[int, WebPubSubServiceClient] = {}

    def node_svc(self, node: Node) -> WebPubSubServiceClient:
        if node.port not in self._node_svcs:
            self._node_svcs[node.port] = self.cluster.svc(self.hub, port=node.port)
        return self._node_svcs[node.port]

    def url_on(self, node: Node, user: str | None = None, groups=(), roles=(), minutes: int = 60) -> str:
        return self.node_svc(node).get_client_access_token(**restenv.token_options(user, groups, roles, minutes))["url"]

    def raw_on(self, node: Node, user: str | None = None, groups=(), roles=(),
               protocol: str | None = restenv.JSON_PROTOCOL, timeout: float = 5.0, settle: bool = True):
        """A raw client connected straight to `node` (its `connected` message read; its
        groups from the token settled, unless `settle` is false)."""
        c = restenv.RawClient.open(self.url_on(node, user, groups, roles), protocol, timeout=timeout)
        self.raws.append(c)
        c.user, c.conn_id, c.reconnection_token = user, None, None
        if protocol:
            msg = c.recv_json(timeout)
            assert msg["type"] == "system" and msg["event"] == "connected", msg
            c.conn_id = msg["connectionId"]
            c.reconnection_token = msg.get("reconnectionToken")
            assert Cluster.node_of(c.conn_id) == node.node_id, (c.conn_id, node.node_id)
            if settle and groups:
                self.settle(c, groups, timeout)
        return c

    def collect(self, c, timeout: float = 5.0, groups=()) -> list[dict]:
        """Every JSON message `c` received before sentinels sent to it now (what it got so far).

        The sentinels go through a node that does not hold `c`, so they cross Redis behind
        everything published before them (a node delivers its own publications at once, so a
        sentinel sent through `c`'s node could overtake a message still on its way from
        another node). With one Redis that is one ordered stream. A Redis Cluster keeps order
        per channel only, so there a sentinel also goes on the hub-wide channel, the user's
        and each of `groups` (groups `c` is a member of now)."""
        owner = Cluster.node_of(c.conn_id)
        others = [n for n in self.cluster.live_nodes() if n.node_id != owner] or self.cluster.live_nodes()
        svc = self.node_svc(others[0])
        token = "sentinel-" + uuid.uuid4().hex
        waiting = {token + "-connection"}
        svc.send_to_connection(c.conn_id, token + "-connection", content_type="text/plain")
        if self.cluster.kind == "redis-cluster":
            only = f"connectionId eq '{c.conn_id}'"
            waiting.add(token + "-all")
            svc.send_to_all(token + "-all", content_type="text/plain", filter=only)
            if getattr(c, "user", None):
                waiting.add(token + "-user")
                svc.send_to_user(c.user, token + "-user", content_type="text/plain", filter=only)
            for g in groups:
                waiting.add(token + "-group-" + g)
                svc.send_to_group(g, token + "-group-" + g, content_type="text/plain", filter=only)
        before: list[dict] = getattr(c, "pending", [])
        c.pending = []
        deadline = time.monotonic() + timeout
        while waiting:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"sentinels {sorted(waiting)} did not arrive within {timeout}s; got {before!r}")
            msg = c.recv_json(left)
            data = msg.get("data") if msg.get("type") == "message" else None
            if isinstance(data, str) and data in waiting:
                waiting.discard(data)
            elif not (isinstance(data, str) and (data.startswith(token) or data.startswith(PROBE))):
                before.append(msg)
        if not hasattr(c, "inbox"):
            c.inbox = []
        c.inbox.extend(before)
        return before

    def _settle(self, conn_id: str, groups, arrived: Callable[[str, str, float], bool], timeout: float) -> None:
        """Sends probes to each of `groups` through another node, filtered to `conn_id`, until
        `arrived(group, probe, wait)` sees one within `wait` seconds."""
        owner = Cluster.node_of(conn_id)
        others = [n for n in self.cluster.live_nodes() if n.node_id != owner]
        if not others:
            return
        svc = self.node_svc(others[0])
        for g in groups:
            deadline = time.monotonic() + timeout
            while True:
                probe = PROBE + uuid.uuid4().hex
                svc.send_to_group(g, probe, content_type="text/plain", filter=f"connectionId eq '{conn_id}'")
                if arrived(g, probe, min(0.5, max(0.05, deadline - time.monotonic()))):
                    break
                if time.monotonic() >= deadline:
                    raise AssertionError(f"{conn_id}'s membership of {g} never took effect")

    def settle(self, c, groups, timeout: float = 5.0) -> None:
        """Waits until `c`'s membership of each of `groups` is in effect across the cluster: a
        probe sent to the group through another node reaches it. Groups named in a token are
        joined at connect without waiting for the node's subscription (protocol-spec/cluster.md
        §3), so a message sent through another node right after may miss them; tests about
        other things wait here first. Probes are left out of collect()."""

        def arrived(g: str, probe: str, wait: float) -> bool:
            try:
                _, skipped = c.recv_until(lambda m: m.get("type") == "message" and m.get("data") == probe, wait)
            except AssertionError:
                return False
            c.pending = getattr(c, "pending", []) + skipped
            return True

        self._settle(c.conn_id, groups, arrived, timeout)

    def settle_sdk(self, c, groups, timeout: float = 5.0) -> None:
        """settle() for an SdkClient; probes stay in its records (tests filter on PROBE)."""

        def arrived(g: str, probe: str, wait: float) -> bool:
            try:
                c.wait_for(lambda: any(m.data == probe for m in c.messages(g)), wait, "a probe")
            except AssertionError:
                return False
            return True

        self._settle(c.connection_id, groups, arrived, timeout)

    def sdk_on(self, node: Node, user: str | None = None, groups=(), roles=(), reliable: bool = True, **kw):
        return self.sdk(user, groups, roles, reliable=reliable, url=self.url_on(node, user, groups, roles), **kw)

    def raw(self, user: str | None = None, groups=(), roles=(), protocol: str | None = restenv.JSON_PROTOCOL,
            timeout: float = 5.0, settle: bool = True):
        """HubEnv.raw through HAProxy, with the token's groups settled (see settle())."""
        c = super().raw(user, groups, roles, protocol, timeout)
        if settle and groups and protocol:
            self.settle(c, groups, timeout)
        return c

    def sdk_via_proxy_on(self, node: Node, user: str | None = None, groups=(), roles=(), reliable: bool = True,
                         **kw):
        """An SDK client connected through HAProxy that landed on `node` (round robin: clients
        that land elsewhere are closed and another is opened, a few times at most). Unlike a
        client pinned to the node's port, it reconnects through HAProxy too."""
        for _ in range(2 * len(self.cluster.nodes)):
            c = self.sdk(user, groups, roles, reliable=reliable, **kw)
            if Cluster.node_of(c.connection_id) == node.node_id:
                return c
            self.sdks.remove(c)
            c.close()
        raise AssertionError(f"no connection through HAProxy landed on {node.node_id}")

    def spread(self, make: Callable[[int], Any], count: int, conn_id: Callable[[Any], str]) -> list:
        """Opens `count` clients with `make(i)` through HAProxy and checks they landed on every
        live node."""
        made = [make(i) for i in range(count)]
        nodes = {Cluster.node_of(conn_id(c)) for c in made}
        live = {n.node_id for n in self.cluster.live_nodes()}
        if count >= len(live):
            assert nodes == live, f"clients through HAProxy landed on {sorted(nodes)}, not on every node"
        return made


# --------------------------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=list(BACKENDS))
def cluster(request):
    """A cluster shared by the tests of one module, once per Redis kind."""
    c = Cluster(request.param)
    try:
        yield c
    finally:
        c.close()


@pytest.fixture(params=list(BACKENDS))
def fresh_cluster(request):
    """A cluster of its own, for tests that kill nodes or stop Redis."""
    c = Cluster(request.param)
    try:
        yield c
    finally:
        c.close()


@pytest.fixture
def env(cluster):
    """A fresh hub on the shared cluster; its clients are closed at teardown."""
    e = cluster.hub_env()
    try:
        yield e
    finally:
        e.close()
