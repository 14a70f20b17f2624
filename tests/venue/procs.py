"""Harness for the venue's own processes: start ``ccp …`` as OS processes, watch their output,
signal and kill them. Every wait is bounded; ``stop()`` always ends the process group."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
CCP = [sys.executable, "-c", "import sys; from venue.cli import main; sys.exit(main())"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what: str, check: Callable[[], object], timeout: float, every: float = 0.5):
    """Poll ``check`` until it returns something true; its value is returned."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except Exception as e:  # the thing may not be up yet
            last_error = e
        time.sleep(every)
    raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}"
                       + (f" (last error: {last_error!r})" if last_error else ""))


class CcpProcess:
    """``ccp ARGS`` with stdout+stderr to a log file."""

    def __init__(self, name: str, args: Sequence[str], log_dir: Path,
                 env: dict[str, str] | None = None) -> None:
        self.name = name
        self.args = list(args)
        self.log = log_dir / f"{name}.log"
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> CcpProcess:
        out = open(self.log, "ab")  # noqa: SIM115 — handed to the child
        out.write(f"\n===== start {self.starts + 1}: ccp {' '.join(self.args)}\n".encode())
        out.flush()
        try:
            self.proc = subprocess.Popen([*CCP, *self.args], stdout=out, stderr=subprocess.STDOUT,
                                         cwd=ROOT, env=self.env, start_new_session=True)
        finally:
            out.close()
        self.starts += 1
        return self

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_output(self, text: str, timeout: float, *, after: int = 0) -> None:
        def seen() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited with {self.proc.returncode}:\n"
                                     f"{self.output()[-3000:]}")
            return text in self.output()[after:]

        wait_for(f"{self.name} to print {text!r}", seen, timeout, every=0.2)

    def signal(self, sig: int) -> None:
        if self.alive:
            assert self.proc is not None
            os.kill(self.proc.pid, sig)

    def kill(self) -> None:
        """SIGKILL the whole process group (no clean-up runs)."""
        if self.alive:
            assert self.proc is not None
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def wait(self, timeout: float) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout``; returns the exit code."""
        p = self.proc
        if p is None:
            return None
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(10)
            except ProcessLookupError:
                pass
        return p.returncode


def api_up(base_url: str) -> bool:
    r = httpx.post(base_url + "/api/v1/clientapi/nextAuction", timeout=2)
    return r.status_code == 200
