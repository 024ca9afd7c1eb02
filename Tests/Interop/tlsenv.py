"""Helpers for the TLS interop tests: a throw-away PKI made with the openssl CLI, TLS-enabled
wps-server processes (started and stopped by PID through serverproc.ServerProcess), client SSL
contexts and small raw-socket probes. Everything runs on 127.0.0.1."""

from __future__ import annotations

import os
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass

import pytest

from serverproc import LISTEN_RE, SERVER_BIN, STARTUP_TIMEOUT, ServerProcess

ACCESS_KEY = "wps-tls-test-key-0123456789abcdefghijklmnopqrstuv="
HUB = "TlsHub"
PLAIN_RE = re.compile(r"plaintext listener on http://127\.0\.0\.1:(\d+)")
OPENSSL = shutil.which("openssl") or "openssl"


# --------------------------------------------------------------------------------------------
# PKI (openssl CLI)
# --------------------------------------------------------------------------------------------


def _openssl(*args: str, cwd: str) -> None:
    r = subprocess.run([OPENSSL, *args], cwd=cwd, capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed ({r.returncode}): {r.stderr}")


@dataclass
class CA:
    name: str
    cert: str
    key: str


@dataclass
class Leaf:
    cert: str   # PEM chain (leaf only; issued directly by the CA)
    key: str
    ca: CA


class Pki:
    """A directory of test CAs and leaf certificates."""

    def __init__(self, root: str):
        self.root = root

    def ca(self, name: str) -> CA:
        d = os.path.join(self.root, name)
        os.makedirs(d, exist_ok=True)
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", f"/CN=wps test {name}",
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
        return CA(name, os.path.join(d, "ca.pem"), os.path.join(d, "ca.key"))

    def leaf(self, ca: CA, name: str = "leaf", dns=("localhost",), ips=("127.0.0.1",), rsa: bool = False,
             usage: str = "serverAuth") -> Leaf:
        d = os.path.join(self.root, ca.name)
        key, csr, cert, ext = (f"{name}.key", f"{name}.csr", f"{name}.pem", f"{name}.ext")
        if rsa:
            _openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
                     "-subj", "/CN=localhost", cwd=d)
        else:
            _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                     "-keyout", key, "-out", csr, "-subj", "/CN=localhost", cwd=d)
        san = ",".join([f"DNS:{n}" for n in dns] + [f"IP:{i}" for i in ips])
        with open(os.path.join(d, ext), "w") as f:
            f.write(f"subjectAltName={san}\nbasicConstraints=CA:FALSE\n"
                    f"keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage={usage}\n")
        _openssl("x509", "-req", "-in", csr, "-CA", ca.cert, "-CAkey", ca.key, "-CAcreateserial",
                 "-out", cert, "-days", "2", "-sha256", "-extfile", ext, cwd=d)
        return Leaf(os.path.join(d, cert), os.path.join(d, key), ca)

    def lone_key(self, name: str = "other") -> str:
        """A fresh EC key that matches no certificate."""
        path = os.path.join(self.root, f"{name}.key")
        _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path,
                 cwd=self.root)
        return path


def install(leaf: Leaf, cert_path: str, key_path: str) -> None:
    """Copy a leaf's cert and key to the paths a server was started with (atomic renames)."""
    for src, dst in ((leaf.cert, cert_path), (leaf.key, key_path)):
        tmp = dst + ".tmp"
        shutil.copyfile(src, tmp)
        os.chmod(tmp, 0o600)
        os.replace(tmp, dst)


# --------------------------------------------------------------------------------------------
# Servers
# --------------------------------------------------------------------------------------------


class TlsServer(ServerProcess):
    """wps-server with --tls-cert/--tls-key (serverproc's regex accepts https://). With
    --plain-port the plaintext listener's port is parsed into .plain_port."""

    def __init__(self, cert: str, key: str, *extra: str, echo: bool = True, threads: int = 2):
        self.plain_port: int | None = None
        self._plain_seen = threading.Event()
        self.state_dir = tempfile.mkdtemp(prefix="wps-tls-state-")
        args = ["--tls-cert", cert, "--tls-key", key, "--access-key", ACCESS_KEY,
                "--state-dir", self.state_dir, "--threads", str(threads), *extra]
        super().__init__(*args, echo=echo)
        if "--plain-port" in extra and not self._plain_seen.wait(STARTUP_TIMEOUT):
            self.stop()
            pytest.fail(f"no 'plaintext listener on' line; stdout={self.stdout_lines}")

    def _drain_stdout(self):
        # serverproc reads stdout line by line in its thread; wrap its loop to catch the plain port
        for line in self.proc.stdout:
            self.stdout_lines.append(line)
            m = PLAIN_RE.search(line)
            if m and self.plain_port is None:
                self.plain_port = int(m.group(1))
                self._plain_seen.set()
            m = LISTEN_RE.search(line)
            if m and self.port is None:
                assert "https://" in line, f"TLS server announced a non-TLS listener: {line!r}"
                self.port, self.threads = int(m.group(1)), int(m.group(2))
                self._listening.set()

    def stop(self, timeout: float = 5.0) -> int | None:
        rc = super().stop(timeout)
        shutil.rmtree(self.state_dir, ignore_errors=True)
        for d in getattr(self, "extra_dirs", []):
            shutil.rmtree(d, ignore_errors=True)
        return rc

    def sighup(self) -> None:
        os.kill(self.pid, 1)  # SIGHUP, by PID

    def wait_for_log(self, pattern: str, timeout: float = 5.0, start: int = 0) -> str | None:
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            tail = self.stderr_tail(1_000_000)[start:] + "".join(self.stdout_lines)
            m = rx.search(tail)
            if m:
                return m.group(0)
            time.sleep(0.05)
        return None


@dataclass
class StartupResult:
    returncode: int | None
    stdout: str
    stderr: str
    elapsed: float


def run_until_exit(args: list[str], timeout: float = 5.0) -> StartupResult:
    """Run wps-server expecting it to exit by itself; killed by PID after `timeout`."""
    state = tempfile.mkdtemp(prefix="wps-tls-bad-")
    argv = [SERVER_BIN, "--host", "127.0.0.1", "--port", "0", "--access-key", ACCESS_KEY,
            "--state-dir", state, *args]
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = p.communicate(timeout=timeout)
        rc = p.returncode
    except subprocess.TimeoutExpired:
        os.kill(p.pid, 9)
        out, err = p.communicate(timeout=5)
        rc = None
    finally:
        shutil.rmtree(state, ignore_errors=True)
    return StartupResult(rc, out, err, time.monotonic() - t0)


# --------------------------------------------------------------------------------------------
# Clients
# --------------------------------------------------------------------------------------------

VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}


def client_context(cafile: str | None, min_version: str | None = None, max_version: str | None = None,
                   alpn=("http/1.1",)) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if cafile:
        ctx.load_verify_locations(cafile=cafile)
    if min_version:
        ctx.minimum_version = VERSIONS[min_version]
    if max_version:
        ctx.maximum_version = VERSIONS[max_version]
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    return ctx


def tls_connect(port: int, ctx: ssl.SSLContext, host: str = "localhost", timeout: float = 5.0) -> ssl.SSLSocket:
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        return ctx.wrap_socket(raw, server_hostname=host)
    except BaseException:
        raw.close()
        raise


def recv_until_close(sock: socket.socket, timeout: float = 5.0, limit: int = 1 << 20) -> tuple[bytes, str]:
    """Read until EOF/reset/timeout. Returns (data, how) where how is 'eof', 'reset' or 'timeout'."""
    sock.settimeout(timeout)
    deadline = time.monotonic() + timeout
    buf = b""
    while len(buf) < limit:
        left = deadline - time.monotonic()
        if left <= 0:
            return buf, "timeout"
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            return buf, "timeout"
        except (ConnectionResetError, BrokenPipeError):
            return buf, "reset"
        except ssl.SSLError as e:
            return buf, f"ssl:{e}"
        if not chunk:
            return buf, "eof"
        buf += chunk
    return buf, "limit"


def https_get(port: int, path: str, cafile: str, headers: dict | None = None, host: str = "localhost",
              timeout: float = 5.0) -> tuple[int, dict, bytes]:
    """One HTTP/1.1 GET over TLS with Connection: close; returns (status, headers, body)."""
    ctx = client_context(cafile)
    with tls_connect(port, ctx, host=host, timeout=timeout) as s:
        hdrs = {"Host": f"{host}:{port}", "Connection": "close", **(headers or {})}
        req = f"GET {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items()) + "\r\n"
        s.sendall(req.encode())
        data, _ = recv_until_close(s, timeout)
    return parse_http(data)


def parse_http(data: bytes) -> tuple[int, dict, bytes]:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    assert lines and lines[0].startswith("HTTP/1.1 "), f"not an HTTP response: {data[:300]!r}"
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    if "content-length" in headers:
        body = body[: int(headers["content-length"])]
    return status, headers, body
