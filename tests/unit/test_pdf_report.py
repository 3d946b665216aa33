"""The PDF engagement report: what a reader of the file sees, checked through poppler's
``pdftotext``/``pdfinfo``/``pdftoppm`` (poppler-utils, installed by .ci/prereqs.sh)."""

from __future__ import annotations

import io
import random
import subprocess
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from api.reports import GROUP_COLUMNS, LEARNER_COLUMNS, EngagementReport
from jobs import pdf_report
from jobs.pdf_report import clean_text, render_report_pdf, signed

# A missing glyph or a layout overflow is only a warning in fpdf2: here it fails the test.
pytestmark = pytest.mark.filterwarnings("error")

DAY = date(2026, 3, 2)
GENERATED = datetime(2026, 3, 3, 7, 30, tzinfo=UTC)
FIRST_NAMES = ["Amélie", "Björn", "Chloé", "Dmitri", "Eşref", "Fatima", "Giulia", "Håkon", "Ines", "Jürgen"]
LAST_NAMES = ["Okafor", "Nguyen", "Kowalski", "García", "Müller", "Svensson", "Rossi", "O'Brien", "Dubois", "Silva"]


def series() -> list[dict[str, Any]]:
    weeks = [DAY - timedelta(weeks=n) for n in range(7, -1, -1)]
    return [{"day": d.isoformat(), "engagement": 62 + 2.5 * i, "target": 75} for i, d in enumerate(weeks)]


def tiles(**relative: float) -> dict[str, Any]:
    body = {
        "engagement": {"value": 79.5, "change": 3.0},
        "weekly_active": {"value": 928.0, "change": 41.0},
        "completion_rate": {"value": 0.8349, "change": 0.021},
        "at_risk": {"value": 240.0, "change": -12.0},
    }
    for name, value in relative.items():
        body[name]["relative_change"] = value
    return body


def learner_row(n: int, rng: random.Random) -> dict[str, Any]:
    score = rng.randint(18, 99)
    return {
        "tenant_id": "acme",
        "learner_id": f"u-{n:05d}",
        "display_name": f"{FIRST_NAMES[n % 10]} {LAST_NAMES[n // 10 % 10]}",
        "cohort_id": f"cohort-{n % 4 + 1}",
        "program_id": f"prog-{n % 3 + 1}",
        "score": score,
        "signin": round(rng.random(), 4),
        "attendance": None if n % 7 == 0 else round(rng.random(), 4),  # no sessions in the window
        "progress": round(rng.random(), 4),
        "submissions": round(rng.random(), 4),
        "at_risk": score < 40,
        "active_7d": n % 5 != 0,
        "completed": n % 6 == 0,
    }


def learner_report(count: int, **extra: Any) -> dict[str, Any]:
    rng = random.Random(count)
    rows = [learner_row(n, rng) for n in range(count)]
    body = {"day": DAY.isoformat(), "group_by": "learner", "computed_at": "2026-03-02T23:10:00Z"}
    return {**body, "tiles": tiles(), "series": series(), "rows": rows, **extra}


def program_report(count: int = 12) -> dict[str, Any]:
    rows = [
        {
            "tenant_id": "acme",
            "group_id": f"program-{n:02d}",
            "learners": 250 + n,
            "engagement": 60 + n + 0.5 * (n % 2),
            "weekly_active": 200 + 3 * n,
            "completion_rate": 0.5 + n / 40,
            "at_risk": 30 - n,
        }
        for n in range(count)
    ]
    body = {"day": DAY.isoformat(), "group_by": "program", "computed_at": "2026-03-02T23:10:00+00:00"}
    return {**body, "tiles": tiles(engagement=0.039, weekly_active=0.0462), "series": series(), "rows": rows}


def render(report: Any, **kwargs: Any) -> tuple[bytes, int]:
    out = io.BytesIO()
    options = {"title": "Engagement report", "scope": "Acme Corp — all programs", "generated_at": GENERATED}
    pages = render_report_pdf(report, out, **{**options, **kwargs})
    return out.getvalue(), pages


def poppler(tool: str, pdf: bytes, *args: str) -> str:
    return subprocess.run([tool, *args, "-", "-"], input=pdf, capture_output=True, check=True).stdout.decode()


def text_of(pdf: bytes) -> str:
    return poppler("pdftotext", pdf, "-layout")


def page_count(pdf: bytes) -> int:
    info = subprocess.run(["pdfinfo", "-"], input=pdf, capture_output=True, check=True).stdout.decode()
    return int(next(line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")))


# ------------------------------------------------------------------ contract


def test_column_names_match_the_api() -> None:
    assert pdf_report.LEARNER_KEYS == LEARNER_COLUMNS
    assert pdf_report.GROUP_KEYS == GROUP_COLUMNS
    assert tuple(c.key for c in pdf_report.LEARNER_COLUMNS) == LEARNER_COLUMNS
    assert tuple(c.key for c in pdf_report.group_columns("program")) == GROUP_COLUMNS


def test_renders_the_api_models_own_serialisation() -> None:
    """The body as the API serialises it (dates and datetimes as text), not only our fixtures."""
    body = EngagementReport.model_validate(learner_report(5)).model_dump(mode="json")
    pdf, pages = render(body)
    assert pages == page_count(pdf) == 1
    assert "2026-03-02" in text_of(pdf)


# ------------------------------------------------------------------ what a reader sees


def test_program_report_shows_title_scope_day_tiles_and_rows() -> None:
    pdf, pages = render(program_report())
    text = text_of(pdf)
    assert pages == page_count(pdf)
    for expected in ("Engagement report", "Acme Corp — all programs", "2026-03-02", "2026-03-03 07:30 UTC"):
        assert expected in text
    # Relative change where the API gives it, else absolute; completion in points; at risk a count.
    for expected in ("79.5%", "+3.9% vs last week", "928", "+4.6% vs last week", "83%", "+2.1 pp vs last week"):
        assert expected in text
    assert "240" in text and "−12 vs last week" in text
    assert "program-00" in text and "program-11" in text
    assert "Program" in text and "Completion" in text


def test_learner_report_formats_numbers_and_flags() -> None:
    report = learner_report(60)
    pdf, _ = render(report)
    text = text_of(pdf)
    assert "+3 pts vs last week" in text and "+41 vs last week" in text  # absolute without relative_change
    first = report["rows"][0]
    assert first["display_name"] in text  # accents extract as written
    assert f"{first['score']}%" in text and f"{first['signin'] * 100:.0f}%" in text
    assert "Attendance" in text and "yes" in text and "–" in text  # null attendance shows as a dash


def test_table_pages_grow_with_rows_and_repeat_the_header() -> None:
    _, small_pages = render(learner_report(10))
    large, large_pages = render(learner_report(400))
    assert small_pages == 1
    assert large_pages > small_pages + 5
    assert page_count(large) == large_pages
    last_page = poppler("pdftotext", large, "-f", str(large_pages), "-l", str(large_pages))
    assert "Learner" in last_page and "Submissions" in last_page  # the column header, repeated
    assert f"Page {large_pages} of {large_pages}" in last_page


def test_rows_are_streamed_once_from_any_iterable() -> None:
    """A cursor can be read only once: the renderer must not list it or iterate it twice."""
    rng = random.Random(1)
    consumed = []

    def cursor() -> Iterator[dict[str, Any]]:
        for n in range(300):
            consumed.append(n)
            yield learner_row(n, rng)

    pdf, pages = render(learner_report(0), rows=cursor())
    assert consumed == list(range(300))
    assert pages > 3
    assert "u-00299" in text_of(pdf)


def test_empty_report_says_there_is_no_data() -> None:
    empty = {"day": None, "group_by": "learner", "computed_at": None, "tiles": None, "series": [], "rows": []}
    pdf, pages = render(empty)
    text = text_of(pdf)
    assert pages == 1
    assert "No data: this scope has no rows on this day." in text
    assert "No engagement series for this scope yet." in text
    assert "no computed day yet" in text and "no change data" in text


def test_null_figures_and_extra_keys_are_tolerated() -> None:
    report = learner_report(3, unknown_key={"x": 1})
    report["tiles"] = {"engagement": None, "at_risk": {"value": None, "change": None}}
    report["series"] = [{"week": "2026-02-23", "engagement": None, "target": 75}, {"day": DAY, "engagement": 70}]
    report["rows"][0] |= {"score": None, "extra": "ignored", "signin": "not a number", "completed": None}
    pdf, _ = render(report)
    text = text_of(pdf)
    assert "no change data" in text and "ignored" not in text


def test_unicode_and_control_characters_render() -> None:
    report = learner_report(5)
    names = ["Zoë Ångström", "山田 太郎", "Ana 🚀 Lima", "Bad\x00Name\x1b[31m\nline", "=SUM(A1) +x -y @z"]
    for row, name in zip(report["rows"], names, strict=True):
        row["display_name"] = name
    report["rows"].append({**report["rows"][0], "display_name": "Lone \ud800 surrogate"})
    pdf, _ = render(report, title="Rapport d’engagement 🎓", scope="Équipe 東京")
    text = text_of(pdf)
    assert "Zoë Ångström" in text
    assert "?? ??" in text  # CJK has no glyph in DejaVu Sans: replaced, not dropped or crashing
    assert "Ana ? Lima" in text and "Bad Name [31m line" in text
    assert "=SUM(A1) +x -y @z" in text  # plain text in a PDF, nothing to neutralise
    assert "Rapport d’engagement ?" in text and "Équipe ??" in text


def test_rejects_naive_time_and_non_mapping_rows() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        render(program_report(), generated_at=datetime(2026, 3, 3, 7, 30))
    with pytest.raises(TypeError, match="row 1 is a list"):
        render(learner_report(0), rows=[{"learner_id": "a"}, ["not", "a", "row"]])
    with pytest.raises(TypeError, match="report is a list"):
        render([])


def test_chart_is_drawn_as_an_image_of_the_series(tmp_path: Path) -> None:
    pdf, _ = render(program_report())
    listing = subprocess.run(["pdfimages", "-list", "-"], input=pdf, capture_output=True, check=True).stdout.decode()
    assert len(listing.strip().splitlines()) == 3  # two header lines, then exactly one image: the chart
    subprocess.run(
        ["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", "-", str(tmp_path / "page")], input=pdf, check=True
    )
    assert (tmp_path / "page-1.png").stat().st_size > 10_000


# ------------------------------------------------------------------ the small rules


@pytest.mark.parametrize(
    ("number", "decimals", "unit", "expected"),
    [
        (-12, 0, "", "−12"),
        (3, 1, " pts", "+3 pts"),
        (2.14, 1, " pp", "+2.1 pp"),
        (0.0, 0, "", "±0"),
        (-0.01, 1, "", "±0"),
    ],
)
def test_signed(number: float, decimals: int, unit: str, expected: str) -> None:
    assert signed(number, decimals, unit) == expected


def test_formats() -> None:
    assert pdf_report.format_score(86) == "86%" and pdf_report.format_score(72.5) == "72.5%"
    assert pdf_report.format_fraction(0.83) == "83%" and pdf_report.format_fraction(None) == "–"
    assert pdf_report.format_count(12840.0) == "12,840" and pdf_report.format_count(float("nan")) == "–"
    assert pdf_report.format_flag(True) == "yes" and pdf_report.format_flag(False) == "no"


def test_clean_text() -> None:
    assert clean_text("a\tb\x7fc") == "a b c"
    assert clean_text("名") == "?"
    assert clean_text("e\u0301") == "e\u0301"  # combining accent kept: DejaVu has it
    assert clean_text(None) == ""
