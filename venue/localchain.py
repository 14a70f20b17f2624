"""The embedded chain of ``ccp run``: anvil from the project's npm packages, its state kept in the
data folder, or — when anvil is missing — an in-process py-evm chain whose state is not kept.

* :class:`AnvilProcess` starts ``anvil`` on 127.0.0.1 with ``--state DIR/anvil-state.json`` (load
  at start, dump on a clean exit) and ``--state-interval`` (a periodic dump, so a crash loses at
  most that many seconds of chain); after the deployment, interval mining (a block every
  second) so that confirmations come even when nobody sends a transaction.
* :func:`open_deployment` deploys FundLock, the Ledgers and test tokens on first start and writes
  ``DIR/deployment.json``; on a later start it reads that file back and checks that the contracts
  are still on the chain.
"""

from __future__ import annotations

import json
import os
import platform
import signal
import socket
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

import requests

from settlement.chain import Chain
from settlement.deploy import DEFAULT_PAIRS, Deployment, Locks, deploy
from settlement.errors import SettlementError

ROOT = Path(__file__).resolve().parents[1]
DEPLOYMENT_FILE = "deployment.json"
ANVIL_STATE_FILE = "anvil-state.json"


class ChainStartError(RuntimeError):
    """The local chain could not be started or does not hold the deployment it should."""


def anvil_binary(root: Path = ROOT) -> Path | None:
    """The platform binary of npm ``@foundry-rs/anvil`` (None when not installed)."""
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        platform.machine().lower(), platform.machine().lower())
    system = platform.system().lower()
    path = root / "node_modules" / "@foundry-rs" / f"anvil-{system}-{arch}" / "bin" / "anvil"
    return path if path.is_file() else None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AnvilProcess:
    """One anvil child process (own session, so a terminal's Ctrl-C does not reach it first)."""

    def __init__(self, binary: Path, *, state: Path | None = None, port: int | None = None,
                 block_time: int = 1, state_interval: int = 5,
                 log: Path | None = None) -> None:
        self.binary = binary
        self.state = state
        self.port = port or free_port()
        self.block_time = block_time
        self.state_interval = state_interval
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> AnvilProcess:
        args = [str(self.binary), "--host", "127.0.0.1", "--port", str(self.port)]
        if self.state is not None:
            args += ["--state", str(self.state), "--state-interval", str(self.state_interval)]
        out = open(self.log, "ab") if self.log is not None else subprocess.DEVNULL  # noqa: SIM115
        try:
            self.proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        finally:
            if out is not subprocess.DEVNULL:
                out.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ChainStartError(f"anvil exited with code {self.proc.returncode} "
                                      f"(log: {self.log})")
            try:
                r = requests.post(self.url, json={"jsonrpc": "2.0", "id": 1,
                                                  "method": "eth_chainId", "params": []},
                                  timeout=1)
                if r.ok:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.1)
        self.stop()
        raise ChainStartError(f"anvil did not answer on {self.url} within {timeout:g} s")

    def start_interval_mining(self) -> None:
        """Mine a block every ``block_time`` seconds from now on (deploying ran on automine, a
        block per transaction, which is much faster)."""
        if self.block_time > 0:
            r = requests.post(self.url, json={"jsonrpc": "2.0", "id": 1,
                                              "method": "evm_setIntervalMining",
                                              "params": [max(1, round(self.block_time))]},
                              timeout=5)
            r.raise_for_status()
            if "error" in r.json():
                raise ChainStartError(f"anvil refused interval mining: {r.json()['error']}")

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM (anvil dumps its state), then SIGKILL after ``timeout``."""
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


def has_code(chain: Chain, address: str) -> bool:
    from eth_utils import to_checksum_address

    try:
        return len(chain.w3.eth.get_code(to_checksum_address(address))) > 0
    except Exception:  # any failure reads as "not there"
        return False


def open_deployment(chain: Chain, data_dir: Path, *, pairs: Iterable[str] = DEFAULT_PAIRS,
                    locks: Locks | None = None, fresh_chain: bool = False) -> tuple[Deployment, bool]:
    """(deployment, deployed now). Reuses ``DIR/deployment.json`` when the chain still holds it.

    ``fresh_chain`` (the in-process EVM) always deploys anew and overwrites the file.
    """
    path = data_dir / DEPLOYMENT_FILE
    if path.exists() and not fresh_chain:
        try:
            dep = Deployment.from_dict(json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError, SettlementError) as e:
            raise ChainStartError(f"{path}: {e}") from None
        if dep.chain_id != chain.chain_id:
            raise ChainStartError(f"{path} is for chain {dep.chain_id}, the chain is "
                                  f"{chain.chain_id}")
        if not has_code(chain, dep.fund_lock):
            raise ChainStartError(
                f"the chain does not hold the FundLock of {path} ({dep.fund_lock}): its state "
                f"was lost; start with a fresh --data folder")
        return dep, False
    dep = deploy(chain, pairs, locks=locks or Locks())
    tmp = path.with_suffix(".tmp")
    tmp.write_text(dep.to_json() + "\n")
    tmp.replace(path)
    return dep, True
