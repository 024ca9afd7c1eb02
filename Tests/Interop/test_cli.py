"""Command line: the listening banner and flag validation."""

from __future__ import annotations

import subprocess

import wire
from serverproc import SERVER_BIN


def test_banner_reports_port_and_threads(start_server):
    srv = start_server("--threads", "3")
    assert srv.threads == 3, srv.stdout_lines
    assert 0 < srv.port < 65536
    assert wire.http_get(srv.port).status == 200


def test_single_thread_server_serves_http_and_websocket(start_server):
    srv = start_server("--threads", "1")
    assert srv.threads == 1
    srv.assert_alive()


def test_invalid_flag_value_exits_nonzero():
    proc = subprocess.run([SERVER_BIN, "--port", "0", "--threads", "0"], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=10)
    assert proc.returncode != 0
    assert "listening" not in proc.stdout
