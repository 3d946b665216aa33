"""Week-over-week tiles: the absolute change and the relative one the product page shows."""

from __future__ import annotations

import pytest

from api.reports import _tile


def test_relative_change_is_the_change_over_last_weeks_value() -> None:
    tile = _tile({"weekly_active": 928}, {"weekly_active": 890}, "weekly_active")
    assert tile.change == 38
    assert tile.relative_change == pytest.approx(38 / 890)


@pytest.mark.parametrize("before", [{"at_risk": 0}, {"at_risk": None}, None])
def test_relative_change_is_null_without_a_previous_value(before: dict | None) -> None:
    tile = _tile({"at_risk": 34}, before, "at_risk")
    assert tile.relative_change is None


def test_a_fall_is_negative() -> None:
    tile = _tile({"at_risk": 34}, {"at_risk": 46}, "at_risk")
    assert (tile.change, tile.relative_change) == (-12, pytest.approx(-12 / 46))
