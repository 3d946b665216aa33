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


PRODUCTION_SECRETS = {
    "SKILLMIND_API__JWT_SECRET": "a-real-secret-of-at-least-thirty-two-bytes",
    "SKILLMIND_API__JWT_AUDIENCE": "skillmind",
    "SKILLMIND_API__JWT_ISSUER": "https://id.example",
    "SKILLMIND_POSTGRES__PASSWORD": "pg-real",
    "SKILLMIND_S3__SECRET_KEY": "s3-real",
    "SKILLMIND_AUDIT__SIGNING_KEY": "WmqXUeMz0KwUe1gBX8kv5sRf4GOnN3oUQVGmm4dk6Xc=",
    "SKILLMIND_PRIVACY__KEK": "tsW3OqYbM8Y0Wq2d8bQm1lX0Rr6f2o0rQ0s4eQGm3mU=",
}


@pytest.mark.parametrize("variable", sorted(PRODUCTION_SECRETS))
@pytest.mark.parametrize("value", [None, ""])
def test_production_refuses_to_start_without_each_secret(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str | None
) -> None:
    monkeypatch.setenv("SKILLMIND_ENV", "production")
    for name, secret in PRODUCTION_SECRETS.items():
        monkeypatch.setenv(name, secret)
    if value is None:
        monkeypatch.delenv(variable)
    else:
        monkeypatch.setenv(variable, value)
    with pytest.raises(ValueError, match=variable):
        load_settings()


def test_production_starts_with_every_secret_or_a_jwks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKILLMIND_ENV", "production")
    for name, secret in PRODUCTION_SECRETS.items():
        monkeypatch.setenv(name, secret)
    assert load_settings().env == "production"
    monkeypatch.delenv("SKILLMIND_API__JWT_SECRET")
    monkeypatch.setenv("SKILLMIND_API__JWKS_URL", "https://id.example/jwks.json")
    assert load_settings().api.jwks_url


def test_conninfo_quotes_what_libpq_would_misread() -> None:
    from psycopg.conninfo import conninfo_to_dict

    settings = load_settings(postgres={"password": "a b' c\\ dbname=evil", "dbname": "mine"})
    parsed = conninfo_to_dict(settings.postgres.conninfo())
    assert parsed["password"] == "a b' c\\ dbname=evil" and parsed["dbname"] == "mine"


def test_a_malformed_audit_signing_key_is_refused_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKILLMIND_AUDIT__SIGNING_KEY", "c2hvcnQ=")  # base64 of 5 bytes
    with pytest.raises(ValueError, match="signing_key"):
        load_settings()


def test_a_malformed_kek_is_refused_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKILLMIND_PRIVACY__KEK", "c2hvcnQ=")  # base64 of 5 bytes
    with pytest.raises(ValueError, match="kek"):
        load_settings()
