"""``claudechat serve`` in a child process, for tests and benchmarks that need real workers.

The service runs as the CLI runs it (uvicorn, ``--workers N``, a store URL), its upstream the
URL of an emulator server. `ServiceProcess` waits for ``/healthz``, reads the CPU time and
resident memory of the server's processes from /proc, and stops them at the end.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path

__all__ = ["ServiceProcess", "free_port"]

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on now (uvicorn with several workers needs it before it starts)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class ServiceProcess:
    """``python -m claudechat serve`` on 127.0.0.1: ``store`` a store spec, ``upstream`` the
    base URL of the API (an emulator server), ``src`` the source tree to run (PYTHONPATH)."""

    def __init__(
        self,
        *,
        store: str,
        upstream: str,
        workers: int = 1,
        no_auth: bool = False,
        src: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self._bind()
        src = src or Path(__file__).resolve().parents[2]
        child_env = {**os.environ, **(env or {})}
        child_env.update(
            PYTHONPATH=os.pathsep.join([str(src), child_env.get("PYTHONPATH", "")]).rstrip(":"),
            ANTHROPIC_BASE_URL=upstream,
            ANTHROPIC_API_KEY=child_env.get("CLAUDECHAT_TEST_UPSTREAM_KEY", "upstream-test-key"),
        )
        command = [sys.executable, "-m", "claudechat", "serve", "--host", "127.0.0.1",
                   "--port", str(self.port), "--workers", str(workers), "--store", store]  # fmt: skip
        if no_auth:
            command.append("--no-auth")
        self._launch(command, child_env, workers)

    def _bind(self) -> None:
        """Pick the port the server will listen on (127.0.0.1)."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    def _launch(self, command: list[str], env: Mapping[str, str], workers: int) -> None:
        """Start ``command`` in a session of its own, its output in a temporary file."""
        self.output = tempfile.TemporaryFile()  # noqa: SIM115  (closed in stop; a pipe nobody
        # reads would stall the server once its request log filled the pipe)
        self.process = subprocess.Popen(command, env=env, stdout=self.output,
                                        stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
        self.workers = workers

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Wait until every worker can answer /healthz (RuntimeError with stderr if it died)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"claudechat serve exited {self.process.returncode}: {self.printed()[-2000:]}"
                )
            if self._healthy() and len(self.pids()) > self.workers - (self.workers == 1):
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"claudechat serve did not answer /healthz within {timeout} s")

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/healthz", timeout=1) as answer:
                return bool(answer.status == 200)
        except OSError:
            return False

    def printed(self) -> str:
        """What the server printed so far (banner, request log, errors)."""
        self.output.seek(0)
        return self.output.read().decode(errors="replace")

    def pids(self) -> list[int]:
        """The server's processes: the one started and its descendants (uvicorn's workers)."""
        parents: dict[int, int] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
        found, frontier = [self.process.pid], [self.process.pid]
        while frontier:
            frontier = [pid for pid, ppid in parents.items() if ppid in frontier]
            found += frontier
        return found

    def cpu_seconds(self, pids: list[int] | None = None) -> float:
        """User + system CPU time of the server's live processes (or of ``pids``) so far."""
        total = 0
        for pid in self.pids() if pids is None else pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / _TICKS

    def rss_bytes(self, pids: list[int] | None = None) -> int:
        """Resident memory of the server's processes (or of ``pids``), summed."""
        total = 0
        for pid in self.pids() if pids is None else pids:
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        return total

    def stop(self, timeout: float = 40.0) -> None:
        """SIGTERM the server's process group (graceful shutdown), SIGKILL after ``timeout``."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.output.close()

    def __enter__(self) -> ServiceProcess:
        self.wait_ready()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
