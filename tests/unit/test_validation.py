"""Every v1 type: a valid example passes; each required field missing or mistyped is
rejected with a problem naming that field."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.envelope import LOG_ATTRIBUTES
from schemas.examples import EXAMPLE_DATA, cloud_event
from schemas.registry import MODELS
from schemas.validation import Invalid, Valid, validate_event

TYPES = sorted(EXAMPLE_DATA)


def _event(event_type: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
    return cloud_event(
        event_type,
        data if data is not None else dict(EXAMPLE_DATA[event_type]),
        tenant="acme",
        event_id="e-1",
        time="2026-11-01T10:00:00Z",
    )


def _required(event_type: str) -> list[str]:
    return MODELS[(event_type, 1)].model_json_schema().get("required", [])


def _wrong_type(value: Any) -> Any:
    if isinstance(value, bool):
        return "yes"
    if isinstance(value, int):
        return "2"
    if isinstance(value, list):
        return "learner"
    return 12345


def test_every_type_has_an_example_and_a_model() -> None:
    assert set(TYPES) == {t for t, _ in MODELS}


@pytest.mark.parametrize("event_type", TYPES)
def test_example_is_valid(event_type: str) -> None:
    assert isinstance(validate_event(_event(event_type)), Valid)


@pytest.mark.parametrize("event_type", TYPES)
def test_the_record_is_the_models_json_dump(event_type: str) -> None:
    judged = validate_event({**_event(event_type), "subject": None, "actor": "a-1"})
    assert isinstance(judged, Valid)
    expected = judged.envelope.model_dump(mode="json", exclude_none=True)
    expected["data"] = judged.data.model_dump(mode="json")
    assert list(judged.record.items()) == list(expected.items())


CASES = [(t, f) for t in TYPES for f in _required(t)]


@pytest.mark.parametrize(("event_type", "field"), CASES)
def test_missing_required_field_is_named(event_type: str, field: str) -> None:
    data = dict(EXAMPLE_DATA[event_type])
    del data[field]
    result = validate_event(_event(event_type, data))
    assert isinstance(result, Invalid)
    assert [(p.field, p.rule) for p in result.problems] == [(f"data.{field}", "missing")]


@pytest.mark.parametrize(("event_type", "field"), CASES)
def test_mistyped_field_is_named(event_type: str, field: str) -> None:
    data = dict(EXAMPLE_DATA[event_type])
    data[field] = _wrong_type(data[field])
    result = validate_event(_event(event_type, data))
    assert isinstance(result, Invalid)
    assert {p.field.split(".")[:2] == ["data", field] for p in result.problems} == {True}, result.reason


@pytest.mark.parametrize("attribute", ["specversion", "id", "source", "type", "time", "tenantid", "data"])
def test_missing_envelope_attribute_is_named(attribute: str) -> None:
    event = _event("learner.signed_in")
    del event[attribute]
    result = validate_event(event)
    assert isinstance(result, Invalid)
    assert attribute in {p.field for p in result.problems}


@pytest.mark.parametrize("attribute", LOG_ATTRIBUTES)
def test_log_attributes_are_refused_from_writers(attribute: str) -> None:
    result = validate_event({**_event("learner.signed_in"), attribute: 1})
    assert isinstance(result, Invalid)
    assert result.problems[0].field == attribute
    assert result.problems[0].rule == "log_only"


def test_unknown_fields_unknown_types_and_non_utc_times_are_refused() -> None:
    extra = validate_event(_event("learner.signed_in", {"learner_id": "l", "score": 3}))
    assert isinstance(extra, Invalid) and extra.problems[0].field == "data.score"
    unknown = validate_event({**_event("learner.signed_in"), "type": "learner.teleported"})
    assert isinstance(unknown, Invalid) and unknown.problems[0].rule == "unknown_type"
    future_version = validate_event({**_event("learner.signed_in"), "schemaversion": 9})
    assert isinstance(future_version, Invalid) and future_version.problems[0].rule == "unknown_type"
    local = validate_event({**_event("learner.signed_in"), "time": "2026-11-01T10:00:00+02:00"})
    assert isinstance(local, Invalid) and local.problems[0].field == "time"
    epoch = validate_event(_event("session.scheduled", {**EXAMPLE_DATA["session.scheduled"], "starts_at": 1767225600}))
    assert isinstance(epoch, Invalid) and epoch.problems[0].field == "data.starts_at"


def test_record_is_normalised() -> None:
    event = _event("program.created", {k: v for k, v in EXAMPLE_DATA["program.created"].items() if k != "pace_days"})
    event["time"] = "2026-11-01T10:00:00+00:00"
    record = validate_event(event).record  # type: ignore[union-attr]
    assert record["time"] == "2026-11-01T10:00:00Z"
    assert record["data"]["pace_days"] == 14
    assert "subject" not in record


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=6),
    max_leaves=20,
)


@settings(max_examples=300)
@given(json_values)
def test_any_json_value_is_judged_never_raises(value: Any) -> None:
    assert isinstance(validate_event(value), Valid | Invalid)


@settings(max_examples=300)
@given(
    st.sampled_from(TYPES),
    st.dictionaries(
        st.sampled_from(["learner_id", "cohort_id", "phase", "final", "starts_at", "name", "roles", "x"]),
        json_values,
    ),
)
def test_garbage_data_for_real_types_is_judged_never_raises(event_type: str, data: dict) -> None:
    result = validate_event(json.loads(json.dumps(_event(event_type, data))))
    if isinstance(result, Invalid):
        assert all(p.field and p.rule and p.message for p in result.problems)


# -- what no store downstream can hold is refused at the door (issue 8) ------------------

STRING_FIELDS = [
    (t, f)
    for t in TYPES
    for f, v in EXAMPLE_DATA[t].items()
    if isinstance(v, str) and MODELS[(t, 1)].model_fields[f].annotation is not bool
]
ENVELOPE_TEXT = ["id", "source", "subject", "tenantid", "actor"]


@pytest.mark.parametrize("bad", ["\x00", "\x01", "\x1b", "\x7f\x00", "\ud800", "\udfff"])
@pytest.mark.parametrize(("event_type", "field"), STRING_FIELDS)
def test_every_data_string_refuses_controls_and_lone_surrogates(event_type: str, field: str, bad: str) -> None:
    data = dict(EXAMPLE_DATA[event_type])
    data[field] = f"{data[field]}{bad}x"
    judged = validate_event(_event(event_type, data))
    assert isinstance(judged, Invalid)
    assert f"data.{field}" in {p.field for p in judged.problems}


@pytest.mark.parametrize("bad", ["\x00", "\x08", "\ud83d"])
@pytest.mark.parametrize("attr", ENVELOPE_TEXT)
def test_every_envelope_string_refuses_controls(attr: str, bad: str) -> None:
    event = {**_event("learner.signed_in"), "subject": "s", "actor": "a"}
    event[attr] = f"{event[attr]}{bad}"
    judged = validate_event(event)
    assert isinstance(judged, Invalid)
    assert attr in {p.field for p in judged.problems}


def test_tab_lf_cr_are_allowed_in_names() -> None:
    data = {**EXAMPLE_DATA["program.created"], "name": "Line one\r\nLine\ttwo"}
    assert isinstance(validate_event(_event("program.created", data)), Valid)


@pytest.mark.parametrize(
    ("value", "rule"),
    [(2**31, "less_than_equal"), (2**53, "integer_range"), (-(2**63), "integer_range"), (10**400, "integer_range")],
)
def test_integers_are_bounded_by_column_and_jcs(value: int, rule: str) -> None:
    data = {**EXAMPLE_DATA["phase.advanced"], "phase": value}
    judged = validate_event(_event("phase.advanced", data))
    assert isinstance(judged, Invalid)
    assert [(p.field, p.rule) for p in judged.problems] == [("data.phase", rule)]


def test_unknown_nested_values_are_scanned_too() -> None:
    event = _event("learner.signed_in")
    event["data"] = {**event["data"], "extra": {"deep": ["ok", "bad\x00"]}}
    judged = validate_event(event)
    assert isinstance(judged, Invalid)
    assert ("data.extra.deep.1", "control_character") in {(p.field, p.rule) for p in judged.problems}


def test_non_finite_numbers_and_deep_nesting_are_refused() -> None:
    event = _event("learner.signed_in")
    event["data"] = {**event["data"], "x": float("nan")}
    assert "number_finite" in {p.rule for p in validate_event(event).problems}  # type: ignore[union-attr]
    deep: Any = "leaf"
    for _ in range(40):
        deep = [deep]
    event["data"] = {"learner_id": "l", "x": deep}
    assert "too_deep" in {p.rule for p in validate_event(event).problems}  # type: ignore[union-attr]


def test_envelope_id_has_the_id_alphabet() -> None:
    for bad in ["", " lead", "a b", "é", "x" * 129, "-x"]:
        judged = validate_event({**_event("learner.signed_in"), "id": bad})
        assert isinstance(judged, Invalid), bad
        assert "id" in {p.field for p in judged.problems}


_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**60), 2**60)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=3), children, max_size=3),
    max_leaves=40,
)


MAX_DEPTH_FOR_TESTS = 18


@settings(max_examples=400)
@given(_json_values)
def test_the_fast_safety_check_agrees_with_the_full_scan(value: object) -> None:
    from schemas.validation import _all_safe, _unsafe

    assert _all_safe(value) == (not list(_unsafe(value, "")))


class _Text(str):
    pass


class _Number(int):
    pass


_any_text = st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=4)
_odd_leaf = (
    _any_text
    | st.integers(-(2**54), 2**54)
    | st.none()
    | st.booleans()
    | st.floats(allow_nan=True, allow_infinity=True)
    | _any_text.map(_Text)
    | st.integers(-(2**54), 2**54).map(_Number)
    | st.builds(object)
)
_odd_key = _any_text | st.integers(-(2**54), 2**54) | st.none() | st.booleans() | st.floats() | _any_text.map(_Text)
_odd_values = st.recursive(
    _odd_leaf,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(_odd_key, children, max_size=3),
    max_leaves=60,
)


@settings(max_examples=1000)
@given(_odd_values, st.integers(0, MAX_DEPTH_FOR_TESTS))
def test_the_fast_safety_check_agrees_with_the_full_scan_on_any_python_value(value: object, wrap: int) -> None:
    from schemas.validation import _all_safe, _unsafe

    for _ in range(wrap):  # near the depth limit, on either side of it
        value = [value] if wrap % 2 else {"k": value}
    assert _all_safe(value) == (not list(_unsafe(value, "")))


def test_the_fast_safety_check_refuses_what_nests_too_deep() -> None:
    from schemas.validation import MAX_DEPTH, _all_safe, _unsafe

    deep: object = 1
    for _ in range(MAX_DEPTH + 1):
        deep = [deep]
    assert not _all_safe(deep) and list(_unsafe(deep, ""))


@given(st.fixed_dictionaries({name: st.integers(0, 3) for name in ("signin", "attendance", "progress", "submissions")}))
def test_all_zero_weights_are_refused_on_admission_only(weights: dict[str, int]) -> None:
    """All four weights at 0 would make every score 0: refused where records enter the log,
    named by field and rule; the read path still reads such a record (replays stay equal)."""
    from schemas.validation import validate_log_record

    event = _event("tenant.settings_changed", {"weights": weights})
    verdict = validate_event(event)
    if any(weights.values()):
        assert isinstance(verdict, Valid)
    else:
        assert isinstance(verdict, Invalid)
        assert [(p.field, p.rule) for p in verdict.problems] == [("data.weights", "weights_all_zero")]
    record = {**event, "sequence": 2, "appendedat": "2026-11-01T10:00:01Z", "prevhash": "0" * 64, "hash": "1" * 64}
    assert isinstance(validate_log_record(record), Valid)
