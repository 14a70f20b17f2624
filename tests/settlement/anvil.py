"""Start and stop anvil (npm ``@foundry-rs/anvil``) for the integration tests and benchmarks.

Listens on 127.0.0.1 only, on a free port; every wait is bounded; ``stop()`` always kills it.
A missing binary is an error (the tests fail, they never skip).
"""

from __future__ import annotations

import os
import platform
import signal
import socket
import subprocess
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]


def anvil_binary() -> Path:
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        platform.machine().lower(), platform.machine().lower())
    system = platform.system().lower()
    path = ROOT / "node_modules" / "@foundry-rs" / f"anvil-{system}-{arch}" / "bin" / "anvil"
    if not path.is_file():
        raise FileNotFoundError(f"anvil not found at {path}: run `npm ci` (package.json pins "
                                "@foundry-rs/anvil)")
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Anvil:
    def __init__(self, *, state: Path | None = None, port: int | None = None,
                 extra: tuple[str, ...] = ()) -> None:
        self.port = port or free_port()
        self.state = state
        self.extra = extra
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> Anvil:
        args = [str(anvil_binary()), "--host", "127.0.0.1", "--port", str(self.port),
                "--silent", *self.extra]
        if self.state is not None:
            args += ["--state", str(self.state)]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise RuntimeError(f"anvil exited with {self.proc.returncode}: {err}")
            try:
                r = requests.post(self.url, json={"jsonrpc": "2.0", "id": 1,
                                                  "method": "eth_chainId", "params": []},
                                  timeout=1)
                if r.ok:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"anvil did not answer on {self.url} within {timeout} s")

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (anvil dumps ``--state`` on a clean exit), then SIGKILL after ``timeout``."""
        p, self.proc = self.proc, None
        if p is None or p.poll() is not None:
            return
        try:
            os.killpg(p.pid, signal.SIGTERM)
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(5)
        except ProcessLookupError:
            pass
        finally:
            if p.stderr:
                p.stderr.close()

    def __enter__(self) -> Anvil:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
