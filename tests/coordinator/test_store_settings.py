"""Settings: defaults in one place, config file and environment, unknown keys rejected."""

from __future__ import annotations

import pytest

from coordinator.settings import Settings, SettingsError, load_settings


def test_defaults():
    s = load_settings(env={})
    assert s == Settings()
    assert s.cadence_seconds == 60.0
    assert s.database_url.startswith("sqlite:///")


def test_file_then_env_then_overrides(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('cadence_seconds = 5\nlease_wait = true\n[solver]\ntime_limit = 3\n')
    s = load_settings(cfg, env={"CCP_CADENCE_SECONDS": "7"}, overrides={"apply_retries": 1})
    assert s.cadence_seconds == 7.0
    assert s.lease_wait is True
    assert s.solver == {"time_limit": 3}
    assert s.apply_retries == 1
    assert load_settings(env={"CCP_CONFIG": str(cfg)}).cadence_seconds == 5.0


def test_json_config(tmp_path):
    cfg = tmp_path / "c.json"
    cfg.write_text('{"database_url": "postgresql://u@h/db"}')
    assert load_settings(cfg, env={}).database_url == "postgresql://u@h/db"


@pytest.mark.parametrize("text, message", [
    ("cadense_seconds = 5", "unknown setting(s) cadense_seconds"),
    ("cadence_seconds = 'fast'", "cadence_seconds: bad value"),
    ("cadence_seconds = 0", "must be positive"),
    ("lease_wait = 3", "lease_wait: bad value"),
    ("database_url = 'mysql://x'", "sqlite:// or postgresql://"),
    ("not toml at all [", "not valid TOML"),
])
def test_bad_files_are_rejected_with_the_reason(tmp_path, text, message):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text)
    with pytest.raises(SettingsError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_settings(cfg, env={})


def test_unknown_override_rejected():
    with pytest.raises(SettingsError, match="unknown"):
        load_settings(env={}, overrides={"nope": 1})


def test_settings_are_frozen():
    with pytest.raises(AttributeError):
        Settings().cadence_seconds = 1  # type: ignore[misc]
