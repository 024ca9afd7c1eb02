"""Cluster mode's flags and their edges (protocol-spec/cluster.md §1), and a node that goes
silent without closing its sockets (§5)."""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time

import pytest
import wire
from azure.core.exceptions import HttpResponseError
from azure.core.pipeline.policies import RetryPolicy
from azure.messaging.webpubsubservice import WebPubSubServiceClient

from sdkenv import ACCESS_KEY, ALL_ROLES, HUB, RELIABLE_PROTOCOL, client_url, connection_string, raw_clients  # noqa: F401
from serverproc import SERVER_BIN, ServerProcess
from clusterenv import RedisServer, wait_until
from test_cluster_resume import _connected


def _run(*flags: str) -> subprocess.CompletedProcess:
    state = tempfile.mkdtemp(prefix="wps-state-")
    return subprocess.run([SERVER_BIN, "--port", "0", "--state-dir", state, *flags], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=10)


@pytest.mark.parametrize("flags, message", [
    (("--redis", "http://127.0.0.1:6379"), "--redis"),
    (("--redis", "redis://127.0.0.1:notaport"), "--redis"),
    (("--redis", "redis://127.0.0.1:6379", "--node-id", "has space"), "--node-id"),
    (("--redis", "redis://127.0.0.1:6379", "--node-id", "x" * 65), "--node-id"),
    (("--redis", "redis://127.0.0.1:6379", "--cluster-name", "a:b"), "--cluster-name"),
    (("--redis", "redis://127.0.0.1:6379", "--cluster-lease", "0.5"), "--cluster-lease"),
    (("--redis", "redis://127.0.0.1:6379", "--cluster-request-timeout", "0"), "--cluster-request-timeout"),
])
def test_bad_cluster_flags_stop_the_start(flags, message):
    proc = _run(*flags)
    assert proc.returncode != 0
    assert message in proc.stderr, proc.stderr
    assert "listening" not in proc.stdout


def test_check_config_names_the_cluster_without_the_password():
    proc = _run("--redis", "redis://user:s3cret@127.0.0.1:6379/3", "--node-id", "n-1_a", "--cluster-name", "blue",
                "--check-config")
    assert proc.returncode == 0, proc.stderr
    assert "cluster blue, node n-1_a, Redis redis://user:***@127.0.0.1:6379/3" in proc.stdout
    assert "s3cret" not in proc.stdout + proc.stderr
    single = _run("--check-config")
    assert "single node (no Redis)" in single.stdout


def test_the_start_prints_the_node_id_and_a_generated_one_differs():
    redis = RedisServer()
    try:
        first = ServerProcess("--access-key", ACCESS_KEY, "--redis", f"redis://127.0.0.1:{redis.port}", echo=False)
        second = ServerProcess("--access-key", ACCESS_KEY, "--redis", f"redis://127.0.0.1:{redis.port}", echo=False)
        try:
            ids = []
            for srv in (first, second):
                # The lines after the listening one arrive a moment later.
                deadline = time.time() + 5
                while not any(line.startswith("cluster ") for line in srv.stdout_lines):
                    assert time.time() < deadline, srv.stdout_lines
                    time.sleep(0.02)
                lines = [line for line in srv.stdout_lines if line.startswith("node id: ")]
                assert len(lines) == 1, srv.stdout_lines
                ids.append(lines[0].removeprefix("node id: ").strip())
                assert any(line.startswith("cluster wps on redis://127.0.0.1:") for line in srv.stdout_lines)
            assert ids[0] != ids[1] and all(len(i) == 8 for i in ids)
        finally:
            first.stop()
            second.stop()
    finally:
        redis.close()


@pytest.mark.deadline(60)
def test_a_frozen_node_is_dropped_when_its_lease_runs_out(raw_clients):
    """SIGSTOP keeps the node's sockets open, as a network cut would: Redis still counts it, so
    operations wait for it and fail with 503 until a survivor drops it after its lease."""
    redis = RedisServer()
    lease = 2.0
    nodes = []
    try:
        for name in ("a", "b"):
            nodes.append(ServerProcess("--access-key", ACCESS_KEY, "--redis", f"redis://127.0.0.1:{redis.port}",
                                       "--node-id", name, "--cluster-lease", str(lease),
                                       "--cluster-request-timeout", "0.5", echo=False))
        for node in nodes:
            wait_until(lambda n=node: wire.http_get(n.port, "/readyz").status == 200, 10, "the nodes to be ready")
        a, b = nodes
        member = raw_clients(client_url(b.port, user_id="frozen", roles=ALL_ROLES, groups=["g"]), RELIABLE_PROTOCOL)
        _connected(member)
        rest = WebPubSubServiceClient.from_connection_string(connection_string(a.port), hub=HUB,
                                                             retry_policy=RetryPolicy(retry_total=0))
        assert rest.group_exists("g")
        os.kill(b.proc.pid, signal.SIGSTOP)
        try:
            stopped = time.time()
            with pytest.raises(HttpResponseError) as refused:
                rest.group_exists("g")
            assert refused.value.status_code == 503
            # Dropped within 4/3 of the lease (plus the request timeout of the asking call).
            while True:
                try:
                    assert rest.group_exists("g") is False
                    break
                except HttpResponseError as e:
                    assert e.status_code == 503
                    assert time.time() - stopped < lease * 4 / 3 + 2, "the frozen node was never dropped"
        finally:
            os.kill(b.proc.pid, signal.SIGCONT)
        # Back, it registers again and its connections count again (the session waits in its
        # resume window: its socket was closed by nobody, the client is still connected).
        deadline = time.time() + 10
        while not rest.group_exists("g"):
            assert time.time() < deadline, "the node never came back"
            time.sleep(0.2)
    finally:
        for node in nodes:
            node.stop()
        redis.close()
