"""The Docker path: secrets from .env only, our own image, non-root, locked dependencies."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SECRET_NAMES = ("PASSWORD", "SECRET")


def test_compose_holds_no_secret_values() -> None:
    for name, service in COMPOSE["services"].items():
        for variable, value in (service.get("environment") or {}).items():
            if any(s in variable for s in SECRET_NAMES):
                assert str(value).startswith("${") and ":?" in str(value), (name, variable)


def test_app_services_build_our_image_and_read_the_env_file() -> None:
    for name in ("bootstrap", "pipeline", "api"):
        service = COMPOSE["services"][name]
        assert service["build"] == "." and "pip install" not in str(service.get("command")), name
        assert service["env_file"][0]["path"] == ".env"
    example = (ROOT / ".env.example").read_text()
    for variable in ("SKILLMIND_API__JWT_SECRET", "SKILLMIND_API__JWT_AUDIENCE", "POSTGRES_PASSWORD", "S3_SECRET_KEY"):
        assert f"\n{variable}=" in example


def test_the_image_is_multi_stage_non_root_and_locked() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert len(re.findall(r"^FROM ", dockerfile, re.M)) >= 2
    users = re.findall(r"^USER (\S+)", dockerfile, re.M)
    assert users and users[-1] not in ("root", "0")
    assert "-r requirements.lock" in dockerfile


def test_the_lock_pins_every_runtime_dependency() -> None:
    pins = {
        re.split(r"==", line)[0].lower().replace("_", "-")
        for line in (ROOT / "requirements.lock").read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert all(
        "==" in line for line in (ROOT / "requirements.lock").read_text().splitlines() if line and line[0] != "#"
    )
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for requirement in project["dependencies"]:
        name = re.match(r"[A-Za-z0-9_.-]+", requirement)[0].lower().replace("_", "-")  # type: ignore[index]
        assert name in pins, name
