"""`skillmind recompute` scores only days that have ended (a new-user trial appended ticks for
today and for 2027, which then showed as the latest computed day)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from skillmind.cli import main


@pytest.mark.parametrize("days_ahead", [0, 1, 400])
def test_today_and_future_days_are_refused_naming_the_option(days_ahead: int) -> None:
    day = (datetime.now(UTC).date() + timedelta(days=days_ahead)).isoformat()
    result = CliRunner().invoke(main, ["recompute", "--day", day])
    assert result.exit_code == 2
    assert "--day" in result.output and "has not ended yet" in result.output
