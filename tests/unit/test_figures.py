"""Scope figures: exact counts, one rounding rule at the edge, the reference of the tick's SQL."""

from __future__ import annotations

from datetime import UTC, date, datetime
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from projections.figures import change, exact_figures, figure_counts, median_x2, rounded, scope_figure_rows

D = date(2026, 11, 27)
TICK = {"sequence": 9, "appendedat": "2026-11-28T03:00:00Z"}


def test_week_over_week_is_exact_then_rounded_once() -> None:
    # 55/100 − 4333/10000 = 0.1167 exactly; the old path subtracted rounded floats (0.11660000000000001).
    assert change(Fraction(55, 100), Fraction(4333, 10000)) == 0.1167
    now, before = Fraction(7, 12), Fraction(5, 12)  # 0.58333… − 0.41666… = 1/6
    assert change(now, before) == 0.1667 != rounded(now) - rounded(before)
    assert change(3, 5) == -2 and change(None, Fraction(1, 2)) is None


def test_rounding_is_half_away_from_zero_at_four_places() -> None:
    assert rounded(Fraction(1, 20000)) == 0.0001
    assert rounded(Fraction(-1, 20000)) == -0.0001
    assert rounded(Fraction(2, 3)) == 0.6667
    assert rounded(7) == 7 and rounded(None) is None


@given(st.lists(st.integers(0, 100), max_size=30))
def test_median_x2_is_twice_the_median(scores: list[int]) -> None:
    ordered = sorted(scores)
    if not ordered:
        assert median_x2(scores) is None
        return
    n = len(ordered)
    median = Fraction(ordered[n // 2]) if n % 2 else Fraction(ordered[n // 2 - 1] + ordered[n // 2], 2)
    assert median_x2(scores) == 2 * median


def _row(learner: str, score: int, program: str | None, cohort: str | None, **flags: bool) -> dict:
    return {
        "learner_id": learner,
        "score": score,
        "program_id": program,
        "cohort_id": cohort,
        "active_7d": flags.get("active", False),
        "completed": flags.get("completed", False),
        "at_risk": score < 40,
    }


def test_scope_rows_cover_tenant_programs_cohorts_and_emptied_scopes() -> None:
    rows = [
        _row("a", 30, "p", "c1", active=True),
        _row("b", 50, "p", "c2", completed=True),
        _row("c", 71, None, None),
    ]
    existing = [{"scope": "cohort", "scope_id": "gone"}]
    out = {(u.row["scope"], u.row["scope_id"]): u.row for u in scope_figure_rows("t", D, rows, existing, TICK)}
    assert set(out) == {
        ("tenant", ""),
        ("program", "p"),
        ("program", ""),
        ("cohort", "c1"),
        ("cohort", "c2"),
        ("cohort", ""),
        ("cohort", "gone"),
    }
    tenant = out[("tenant", "")]
    assert (tenant["learners"], tenant["median_x2"], tenant["weekly_active"], tenant["completed"]) == (3, 100, 1, 1)
    assert out[("program", "p")]["median_x2"] == 80  # (30 + 50) / 2 = 40
    assert out[("cohort", "gone")]["learners"] == 0 and out[("cohort", "gone")]["median_x2"] is None
    assert tenant["computed_at"] == datetime(2026, 11, 28, 3, tzinfo=UTC) and tenant["tick_sequence"] == 9
    figures = exact_figures(figure_counts(rows))
    assert figures["engagement"] == 50 and figures["completion_rate"] == Fraction(1, 3)
