"""The published contract stays in step with the models and never breaks a consumer."""

from __future__ import annotations

import json

import pytest
from pydantic import Field

from schemas import publish
from schemas.compatibility import breaking_changes
from schemas.registry import MODELS, UPCASTERS, latest_version, upcast
from schemas.types import EventData, Id
from schemas.v1 import PhaseAdvanced

S = {"type": "string"}


def test_published_files_match_the_models() -> None:
    stale = publish.stale_files()
    assert not stale, f"run `skillmind schemas publish`: {stale}"


def test_every_type_with_a_newer_version_can_upcast_from_v1() -> None:
    for event_type in {t for t, _ in MODELS}:
        for version in range(1, latest_version(event_type)):
            assert (event_type, version) in UPCASTERS, f"{event_type} v{version} has no upcaster"


def test_published_catalogue_is_asyncapi_3_with_every_type() -> None:
    document = json.loads((publish.ROOT / "asyncapi.json").read_text())
    assert document["asyncapi"] == "3.0.0"
    assert set(document["components"]["messages"]) == {f"{t}.v{v}" for t, v in MODELS}
    assert document["channels"]["log"]["address"] == "skillmind.log.v1"


class PhaseAdvancedBroken(EventData):
    """phase.advanced, edited in place in a way that breaks consumers."""

    TYPE = "phase.advanced"
    KIND = "learner"
    learner_id: Id
    program_id: Id
    phase: int | str = Field()
    final: bool
    reason: str


def test_an_incompatible_edit_of_a_published_schema_is_caught() -> None:
    old = publish.data_schema(PhaseAdvanced)
    new = publish.data_schema(PhaseAdvancedBroken)
    problems = breaking_changes(old, new)
    assert any("data.reason: new field" in p for p in problems)
    assert any("data.phase: type widened" in p for p in problems)
    assert any("data.phase: minimum loosened" in p for p in problems)


@pytest.mark.parametrize(
    ("old", "new", "broken"),
    [
        (
            {"properties": {"a": S}, "required": ["a"]},
            {"properties": {"a": S}},
            True,
        ),
        (
            {"properties": {"a": S}},
            {"properties": {"a": S}, "required": ["a"]},
            False,
        ),
        (
            {"properties": {"a": {"type": "integer", "maximum": 5}}},
            {"properties": {"a": {"type": "integer", "maximum": 3}}},
            False,
        ),
        ({"properties": {"a": {"enum": ["x", "y"]}}}, {"properties": {"a": {"enum": ["x", "y", "z"]}}}, True),
        ({"properties": {"a": S}}, {"properties": {}}, False),
        ({"properties": {}, "additionalProperties": True}, {"properties": {"b": {"type": "string"}}}, False),
    ],
)
def test_compatibility_rules(old: dict, new: dict, broken: bool) -> None:
    assert bool(breaking_changes(old, new)) is broken


class SignedInV2(EventData):
    """A hypothetical v2 that renamed learner_id."""

    TYPE = "learner.signed_in"
    VERSION = 2
    KIND = "learner"
    user_id: Id
    method: str = "password"


def test_old_versions_are_upcast_on_read() -> None:
    models = {**MODELS, ("learner.signed_in", 2): SignedInV2}
    upcasters = {("learner.signed_in", 1): lambda d: {"user_id": d["learner_id"], "method": "unknown"}}
    version, data = upcast("learner.signed_in", 1, {"learner_id": "l1"}, models=models, upcasters=upcasters)
    assert (version, SignedInV2.model_validate(data).user_id) == (2, "l1")
    with pytest.raises(LookupError, match=r"no upcaster for learner\.signed_in v1"):
        upcast("learner.signed_in", 1, {"learner_id": "l1"}, models=models, upcasters={})
