"""docs/operations.md lists every setting (the page promises it)."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

from coordinator.settings import Settings

DOC = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


def test_every_setting_is_in_the_operations_page():
    text = DOC.read_text()
    missing = [f.name for f in fields(Settings) if f"`{f.name}`" not in text]
    assert not missing, f"docs/operations.md does not list: {', '.join(missing)}"
