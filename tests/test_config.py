"""Settings: defaults < YAML file < DNSMILL_ environment < flags; clear errors; redaction."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from dnsmill import ConfigError
from dnsmill.config import load_settings, parse_duration, redacted, shown


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("DNSMILL_"):
            monkeypatch.delenv(name)


def test_defaults_are_the_embedded_ones() -> None:
    settings = load_settings()
    assert settings.db == "sqlite://dnsmill.db"
    assert settings.queue == "sqlite://dnsmill-queue.db"
    assert settings.seed.count == 1000 and settings.seed.every is None
    assert settings.seed.types == ["A", "AAAA", "MX", "CNAME", "TXT", "NS", "SRV", "CAA"]


def test_file_then_environment_then_flags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "dnsmill.yaml"
    config.write_text(
        "db: postgresql://file@db/x\nseed:\n  count: 50\n  every: 30m\n  types: [A, MX]\n  ttl_min: 60\n"
    )
    settings = load_settings(config)
    assert settings.db == "postgresql://file@db/x"
    assert settings.seed.count == 50 and settings.seed.every == timedelta(minutes=30)
    assert settings.seed.types == ["A", "MX"] and settings.seed.ttl_min == 60

    monkeypatch.setenv("DNSMILL_SEED__COUNT", "70")
    monkeypatch.setenv("DNSMILL_DB", "sqlite://env.db")
    settings = load_settings(config)
    assert settings.seed.count == 70 and settings.db == "sqlite://env.db"
    assert settings.seed.every == timedelta(minutes=30)  # still from the file

    settings = load_settings(config, seed={"count": 90, "every": None}, db=None)
    assert settings.seed.count == 90  # the flag wins
    assert settings.db == "sqlite://env.db"  # a flag left as None does not override
    assert settings.seed.every == timedelta(minutes=30)

    monkeypatch.setenv("DNSMILL_CONFIG", str(config))
    assert load_settings().seed.ttl_min == 60


def test_errors_name_the_file_and_the_field(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("seed:\n  count: -3\n  types: [A, BOGUS]\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    message = str(caught.value)
    assert str(config) in message
    assert "seed.count" in message and "seed.types" in message and "BOGUS" in message

    config.write_text("seed:\n  ttl_min: 900\n  ttl_max: 60\n")
    with pytest.raises(ConfigError, match="ttl_min"):
        load_settings(config)
    config.write_text("sead:\n  count: 3\n")
    with pytest.raises(ConfigError, match="sead"):
        load_settings(config)
    with pytest.raises(ConfigError, match="no such configuration file"):
        load_settings(tmp_path / "missing.yaml")


def test_durations() -> None:
    assert parse_duration("90s") == timedelta(seconds=90)
    assert parse_duration("1h30m") == timedelta(minutes=90)
    assert parse_duration("1d") == timedelta(days=1)
    assert parse_duration(45) == timedelta(seconds=45)
    assert parse_duration("2.5") == timedelta(seconds=2.5)
    for bad in ("soon", "1x", "m30", ""):
        with pytest.raises(ValueError, match="not a duration"):
            parse_duration(bad)


def test_passwords_never_show() -> None:
    assert redacted("postgresql://app:s3cret@db:5432/x") == "postgresql://app:***@db:5432/x"
    assert redacted("sqlite://dnsmill.db") == "sqlite://dnsmill.db"
    data = shown(load_settings(db="mysql://root:hunter2@127.0.0.1/test"))
    assert "hunter2" not in str(data)
    assert data["db"] == "mysql://root:***@127.0.0.1/test"


def test_what_config_show_prints_loads_back(tmp_path: Path) -> None:
    settings = load_settings(seed={"every": "1h30m"}, work={"timeout": "0.5s"}, publish={"max_age": "2d"})
    data = shown(settings)
    assert (data["seed"]["every"], data["work"]["timeout"], data["publish"]["max_age"]) == (
        "1h30m",
        "0.5s",
        "2d",
    )
    config = tmp_path / "shown.yaml"
    config.write_text(json.dumps(data))  # JSON is YAML
    assert load_settings(config).model_dump() == settings.model_dump()


def test_lists_come_from_variables_comma_separated_or_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    """As a service manager or a compose file sets them: DNSMILL_WORK__NS=192.0.2.53,..."""
    monkeypatch.setenv("DNSMILL_WORK__NS", "192.0.2.53, 127.0.0.1:5353")
    monkeypatch.setenv("DNSMILL_WORK__TYPES", '["A", "MX"]')
    monkeypatch.setenv("DNSMILL_SEED__TLDS", "com,net")
    settings = load_settings()
    assert settings.work.ns == ["192.0.2.53", "127.0.0.1:5353"]
    assert settings.work.types == ["A", "MX"]
    assert settings.seed.tlds == ["com", "net"]
    monkeypatch.setenv("DNSMILL_WORK__TYPES", '["A", ')
    with pytest.raises(ConfigError, match=r"work.types: .*not a JSON list"):
        load_settings()


def test_durations_that_may_be_switched_off_take_a_word_for_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DNSMILL_SYNC__RECONCILE_EVERY", "never")
    monkeypatch.setenv("DNSMILL_PUBLISH__REQUEUE_AFTER", "Off")
    settings = load_settings()
    assert settings.sync.reconcile_every is None and settings.publish.requeue_after is None
    monkeypatch.setenv("DNSMILL_SYNC__RECONCILE_EVERY", "0")
    with pytest.raises(ConfigError, match=r"reconcile_every.*more than 0"):
        load_settings()
    monkeypatch.setenv("DNSMILL_SYNC__RECONCILE_EVERY", "sometimes")
    with pytest.raises(ConfigError, match="not a duration"):
        load_settings()
