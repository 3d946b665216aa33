"""Week-over-week tiles: the absolute change and the relative one the product page shows,
each computed exactly and rounded once."""

from __future__ import annotations

from fractions import Fraction

import pytest

from api.reports import _tile


def test_relative_change_is_the_change_over_last_weeks_value() -> None:
    tile = _tile({"weekly_active": 928}, {"weekly_active": 890}, "weekly_active")
    assert tile.change == 38
    assert tile.relative_change == 0.0427  # 38 ÷ 890, rounded once


@pytest.mark.parametrize("before", [{"at_risk": 0}, {"at_risk": None}, None])
def test_relative_change_is_null_without_a_previous_value(before: dict | None) -> None:
    tile = _tile({"at_risk": 34}, before, "at_risk")
    assert tile.relative_change is None


def test_a_fall_is_negative() -> None:
    tile = _tile({"at_risk": 34}, {"at_risk": 46}, "at_risk")
    assert (tile.change, tile.relative_change) == (-12, -0.2609)


def test_relative_change_of_exact_figures_rounds_once() -> None:
    tile = _tile({"engagement": Fraction(141, 2)}, {"engagement": Fraction(63)}, "engagement")
    assert (tile.value, tile.change, tile.relative_change) == (70.5, 7.5, 0.119)
