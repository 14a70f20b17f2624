"""Contract ABIs and bytecode, loaded from the committed artifacts in ``contracts/artifacts``.

The artifacts are produced by ``node contracts/compile.js`` (npm solc, pinned) and checked
against the sources by ``tests/contracts/test_artifacts.py``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from settlement.errors import ArtifactError

ARTIFACTS_DIR = Path(__file__).resolve().parent.parent / "contracts" / "artifacts"
CONTRACT_NAMES = ("FundLock", "Ledger", "TestToken")


@dataclass(frozen=True, slots=True)
class Artifact:
    name: str
    abi: tuple[dict[str, Any], ...]
    bytecode: str
    compiler_version: str
    evm_version: str


@cache
def load(name: str, directory: Path = ARTIFACTS_DIR) -> Artifact:
    path = directory / f"{name}.json"
    try:
        data = json.loads(path.read_text())
        return Artifact(name=data["contractName"], abi=tuple(data["abi"]),
                        bytecode=data["bytecode"],
                        compiler_version=data["compiler"]["version"],
                        evm_version=data["compiler"]["settings"]["evmVersion"])
    except FileNotFoundError:
        raise ArtifactError(f"{path}: missing (run: node contracts/compile.js)") from None
    except (KeyError, TypeError, json.JSONDecodeError) as e:
        raise ArtifactError(f"{path}: malformed artifact ({e})") from None
