"""The committed ABI + bytecode artifacts are exactly what the pinned solc makes of the sources."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from settlement import artifacts

ROOT = Path(__file__).resolve().parents[2]


def test_committed_artifacts_match_the_sources():
    node = shutil.which("node")
    assert node, "node is required to recompile the contracts (install Node.js)"
    assert (ROOT / "node_modules" / "solc").is_dir(), "npm solc missing: run `npm ci`"
    proc = subprocess.run([node, "contracts/compile.js", "--check"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr + proc.stdout


def test_compiler_and_evm_version_are_pinned():
    pkg = json.loads((ROOT / "package.json").read_text())
    assert pkg["devDependencies"]["solc"] == "0.8.30"
    for name in artifacts.CONTRACT_NAMES:
        art = artifacts.load(name)
        assert art.compiler_version.startswith("0.8.30+")
        assert art.evm_version == "prague"
        assert art.bytecode.startswith("0x") and len(art.bytecode) > 1000
