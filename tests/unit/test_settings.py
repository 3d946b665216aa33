from __future__ import annotations

from pathlib import Path

import pytest

from skillmind.settings import load_settings


def test_nested_settings_come_from_prefixed_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKILLMIND_KAFKA__BOOTSTRAP_SERVERS", "broker:9092")
    monkeypatch.setenv("SKILLMIND_POSTGRES__PORT", "6543")
    monkeypatch.setenv("SKILLMIND_STATE_DIR", "/srv/state")
    settings = load_settings()
    assert settings.kafka.bootstrap_servers == "broker:9092"
    assert settings.postgres.port == 6543
    assert settings.state_dir == Path("/srv/state")
    assert "port=6543" in settings.postgres.conninfo()
    assert "dbname=other" in settings.postgres.conninfo("other")


def test_secrets_do_not_leak_into_reprs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKILLMIND_POSTGRES__PASSWORD", "pg-s3cr3t")
    monkeypatch.setenv("SKILLMIND_S3__SECRET_KEY", "s3-s3cr3t")
    monkeypatch.setenv("SKILLMIND_API__JWT_SECRET", "jwt-s3cr3t")
    settings = load_settings()
    assert settings.postgres.password.get_secret_value() == "pg-s3cr3t"
    assert "s3cr3t" not in repr(settings)


def test_invalid_values_are_rejected_with_the_field_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKILLMIND_KAFKA__PARTITIONS", "0")
    with pytest.raises(ValueError, match="partitions"):
        load_settings()
