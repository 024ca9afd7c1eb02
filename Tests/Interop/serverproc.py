"""Start and stop real wps-server processes (127.0.0.1, --port 0), by PID."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading

import pytest

import wire

SERVER_BIN = os.environ.get("WPS_SERVER_BIN", "/work/main/.build/debug/wps-server")
LISTEN_RE = re.compile(r"wps-server listening on https?://127\.0\.0\.1:(\d+) \((\d+) threads?\)")
STARTUP_TIMEOUT = 10.0


REGISTRY: list["ServerProcess"] = []  # every server started in this session

# What must never reach a server's log: JWTs (`eyJ` header, two dots) and reconnection tokens
# (base64url("<expiry>:<32 hex>") "." 43 characters of MAC).
JWT_RE = re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
RECONNECTION_TOKEN_RE = re.compile(r"(?<![A-Za-z0-9_-])([A-Za-z0-9_-]{40,})\.[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])")
# Start-up lines on stdout that hand out credentials on purpose (server.md, Start-up).
BANNER_PREFIXES = ("negotiate: curl", "connection string:", "try (valid 60 min):")


def _is_reconnection_token(body: str) -> bool:
    import base64
    try:
        text = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode("ascii")
    except (ValueError, UnicodeDecodeError):
        return False
    return re.fullmatch(r"\d+:[0-9a-f]{32}", text) is not None


def find_secrets(text: str, keys: list[str]) -> list[str]:
    """Each credential found in `text`, shortened so the report itself does not leak it."""
    found = [f"access key {k[:4]}…" for k in keys if k and k in text]
    found += [f"JWT {m.group(0)[:12]}…" for m in JWT_RE.finditer(text)]
    found += [f"reconnection token {m.group(0)[:12]}…" for m in RECONNECTION_TOKEN_RE.finditer(text)
              if _is_reconnection_token(m.group(1))]
    return found


class ServerProcess:
    # How far the credential scan has read (class defaults, for subclasses with their own __init__).
    _scanned_stderr = 0
    _scanned_stdout = 0
    # Environment the process was started with, when a subclass sets one (keys may come from it).
    env: dict | None = None

    def __init__(self, *args: str, echo: bool = True, preexec=None):
        if not os.path.exists(SERVER_BIN):
            pytest.fail(f"server binary {SERVER_BIN} does not exist (set WPS_SERVER_BIN)")
        self.args = [SERVER_BIN, "--host", "127.0.0.1", "--port", "0"]
        if echo:
            self.args.append("--enable-echo")
        self.args += list(args)
        if "--state-dir" not in self.args:
            # Generated keys go to a scratch directory, never into the working tree.
            self._state_dir = tempfile.mkdtemp(prefix="wps-state-")
            self.args += ["--state-dir", self._state_dir]
        self.stderr_file = tempfile.NamedTemporaryFile(prefix="wps-server-", suffix=".log", delete=False)
        self.stdout_lines: list[str] = []
        self.port: int | None = None
        self.threads: int | None = None
        self._listening = threading.Event()
        self.crash_reported = False
        REGISTRY.append(self)
        self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=self.stderr_file, text=True, bufsize=1, preexec_fn=preexec)
        self._reader = threading.Thread(target=self._drain_stdout, daemon=True)
        self._reader.start()
        if not self._listening.wait(STARTUP_TIMEOUT):
            self.stop()
            pytest.fail(f"server did not print its listening line within {STARTUP_TIMEOUT}s; "
                        f"args={self.args} stdout={self.stdout_lines} stderr={self.stderr_tail()}")

    def _drain_stdout(self):
        for line in self.proc.stdout:
            self.stdout_lines.append(line)
            m = LISTEN_RE.search(line)
            if m and self.port is None:
                self.port, self.threads = int(m.group(1)), int(m.group(2))
                self._listening.set()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stderr_tail(self, n: int = 3000) -> str:
        try:
            with open(self.stderr_file.name, "rb") as f:
                data = f.read()
            return data[-n:].decode("utf-8", "replace")
        except OSError:
            return "<no stderr>"

    def stop(self, timeout: float = 5.0) -> int | None:
        """SIGTERM by PID, then SIGKILL by PID if it does not exit. Returns the exit status."""
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        return self.proc.returncode

    def crash_summary(self) -> str | None:
        """If the process died abnormally (signal or non-zero status), a short description."""
        rc = self.proc.poll()
        if rc is None or rc == 0:
            return None
        tail = self.stderr_tail(200_000)
        lines = [l for l in tail.splitlines() if "Fatal" in l or "crashed" in l or "error" in l.lower()
                 or "Simultaneous" in l or "access" in l or "at /" in l]
        return (f"wps-server {' '.join(self.args[1:])} (pid {self.pid}) died with status {rc}:\n"
                + "\n".join(lines[:25]) + self._symbolize_access_conflict(tail))

    def _symbolize_access_conflict(self, log: str) -> str:
        """Swift prints exclusivity-violation stacks as raw offsets; resolve them if a symbolizer
        is installed (best effort, diagnostics only)."""
        offsets = re.findall(r"wps-server\s+0x[0-9a-f]+ <unavailable> \+ (\d+)", log)
        offsets += re.findall(r"wps-server`<unavailable> \+ (\d+)", log)
        symbolizer = shutil.which("llvm-symbolizer")
        if not offsets or not symbolizer:
            return ""
        try:
            out = subprocess.run([symbolizer, f"--obj={self.args[0]}", "--functions=linkage"],
                                 input="\n".join(hex(int(o)) for o in offsets[:20]),
                                 capture_output=True, text=True, timeout=20).stdout
            demangler = shutil.which("swift-demangle")
            if demangler:
                out = subprocess.run([demangler, "--simplified"], input=out, capture_output=True,
                                     text=True, timeout=20).stdout
        except (OSError, subprocess.SubprocessError):
            return ""
        frames = [l for l in out.splitlines() if l.strip()]
        return "\nsymbolized access-conflict frames:\n  " + "\n  ".join(frames[:40])

    def secrets(self) -> list[str]:
        """The keys this server was started with: --access-key and --negotiate-key values, and
        the ones it generated in its state directory."""
        keys = [self.args[i + 1] for i, a in enumerate(self.args[:-1]) if a in ("--access-key", "--negotiate-key")]
        env = self.env or {}
        keys += env.get("WPS_ACCESS_KEY", "").split(",") + [env.get("WPS_NEGOTIATE_KEY", "")]
        state = getattr(self, "_state_dir", None)
        if state is None and "--state-dir" in self.args:
            state = self.args[self.args.index("--state-dir") + 1]
        for name in ("access-key", "negotiate-key"):
            try:
                with open(os.path.join(state or "", name)) as f:
                    keys.append(f.read().strip())
            except OSError:
                pass
        return [k for k in keys if len(k) >= 8]

    def new_leaks(self) -> list[str]:
        """Credentials in the log written since the last call: every stderr line, and stdout
        lines other than the start-up banner's."""
        try:
            with open(self.stderr_file.name, "rb") as f:
                f.seek(self._scanned_stderr)
                data = f.read()
        except OSError:
            data = b""
        # Only whole lines: a line being written is scanned next time.
        end = data.rfind(b"\n") + 1 if self.alive() else len(data)
        self._scanned_stderr += end
        lines = data[:end].decode("utf-8", "replace").splitlines()
        stdout = self.stdout_lines[self._scanned_stdout:]
        self._scanned_stdout += len(stdout)
        lines += [l for l in stdout if not l.startswith(BANNER_PREFIXES)]
        if not lines:
            return []
        keys = self.secrets()
        leaks = []
        for line in lines:
            found = find_secrets(line, keys)
            if found:
                leaks.append(f"{', '.join(found)} in: {line[:160]!r}")
        return leaks

    def cleanup(self) -> None:
        try:
            os.unlink(self.stderr_file.name)
        except OSError:
            pass

    def assert_alive(self, echo: bool = True) -> None:
        """The server still runs and serves a fresh connection (/healthz, and an echo round-trip)."""
        assert self.alive(), f"server exited with {self.proc.returncode}; stderr: {self.stderr_tail()}"
        resp = wire.http_get(self.port, "/healthz", timeout=5)
        assert (resp.status, resp.body) == (200, b"ok"), f"server unhealthy after the case: {resp!r}"
        if echo:
            with wire.RawWebSocket.connect(self.port) as ws:
                ws.echo(wire.OP_TEXT, b"still alive")
                ws.send_close(1000)
                ws.expect_close(1000, reply=False)
