"""The engagement report as a PDF, for the background export worker.

``render_report_pdf`` takes exactly the JSON body of ``GET /v1/reports/engagement``
(``api.reports.EngagementReport``, as decoded JSON or as the model's ``model_dump()``)
and writes an A4 landscape business report: title, scope and day, the four tiles with
their week-over-week change, the weekly engagement line against the target as a chart,
and every row as a table whose header repeats on each page.

Pure: no database, no S3, no settings. The worker hands it an open binary file and, for
large reports, an iterable of rows straight from a server-side cursor (``rows=``), which is
read once, row by row, and never collected: memory holds the PDF being built (a few hundred
bytes per row, compressed on output), not the rows.

Why these choices:
- Text is drawn with DejaVu Sans, which ships with matplotlib (one font for chart and
  table, nothing to install), as a TrueType font so names in any script are extractable.
  Characters it lacks (CJK, emoji) become "?" instead of failing or vanishing silently;
  control characters become spaces, since they have no glyph and would garble a line.
- The chart is drawn with matplotlib's object API (``Figure`` + Agg canvas), never
  ``pyplot``: no global figure state, so concurrent exports in one process cannot mix.
  It is embedded as a 200 dpi PNG: sharp in print, and fpdf2 embeds it unchanged.
"""

from __future__ import annotations

import io
import math
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from typing import Any, BinaryIO

import matplotlib
from fontTools.ttLib import TTFont
from fpdf import FPDF
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

FONT_DIR = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
FONT = "dejavu"
MISSING = "–"  # shown for a figure that is null (not computed, or no learners)
PAGES_ALIAS = "{pages}"
REPLACEMENT = "?"  # shown for a character the font has no glyph for

# The column names of api.reports (LEARNER_COLUMNS, GROUP_COLUMNS), repeated here so this
# module imports no FastAPI or psycopg; tests/unit/test_pdf_report.py checks they agree.
LEARNER_KEYS = (
    "tenant_id", "learner_id", "display_name", "cohort_id", "program_id", "score",
    "signin", "attendance", "progress", "submissions", "at_risk", "active_7d", "completed",
)  # fmt: skip
GROUP_KEYS = ("tenant_id", "group_id", "learners", "engagement", "weekly_active", "completion_rate", "at_risk")

INK = (33, 37, 41)
MUTED = (108, 117, 125)
RULE = (206, 212, 218)
STRIPE = (244, 246, 248)
HEADER_FILL = (233, 236, 239)
GOOD = (25, 135, 84)
BAD = (192, 57, 43)
ACCENT = "#1f6feb"


# ---------------------------------------------------------------- text and numbers


@cache
def _glyphs() -> frozenset[int]:
    """Code points DejaVu Sans can draw (read once per process from the font's cmap)."""
    with TTFont(FONT_DIR / "DejaVuSans.ttf", lazy=True) as font:
        return frozenset(font.getBestCmap())


def clean_text(value: Any) -> str:
    """``value`` as one printable line in our font: control characters (and other
    non-printing code points, lone surrogates included) become spaces, characters without
    a glyph become ``?``. ``None`` is the empty string. Never raises."""
    text = "" if value is None else str(value)
    if text.isascii() and text.isprintable():
        return text  # the common case, without a look at each character
    glyphs = _glyphs()
    return "".join(_clean_char(c, glyphs) for c in text)


def _clean_char(char: str, glyphs: frozenset[int]) -> str:
    if unicodedata.category(char) in ("Cc", "Cs", "Co", "Cn", "Zl", "Zp"):
        return " "
    if ord(char) not in glyphs and unicodedata.category(char) != "Cf":
        return REPLACEMENT
    # Format characters (zero-width joiners, bidi marks) that the font lacks are dropped:
    # they are invisible by design, and a "?" for each would corrupt names that use them.
    return char if ord(char) in glyphs else ""


def _number(value: Any) -> float | None:
    """A finite number, or None for null, NaN, infinity and anything that is not numeric
    (bools are flags, not numbers). Numeric strings (a Decimal serialised as text) count."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _trim(number: float, decimals: int) -> str:
    """``number`` with at most ``decimals`` decimals and no trailing zeros (72.50 → 72.5)."""
    text = f"{number:,.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def format_score(value: Any) -> str:
    """A 0–100 engagement score (a median may be x.5): 86 → "86%", 72.5 → "72.5%"."""
    number = _number(value)
    return MISSING if number is None else f"{_trim(number, 1)}%"


def format_fraction(value: Any) -> str:
    """A 0–1 ratio as a whole percentage: 0.83 → "83%", 0.8349 → "83%"."""
    number = _number(value)
    return MISSING if number is None else f"{number * 100:,.0f}%"


def format_count(value: Any) -> str:
    """A count with thousands separators: 928 → "928", 12840 → "12,840"."""
    number = _number(value)
    return MISSING if number is None else f"{number:,.0f}"


def format_flag(value: Any) -> str:
    """A boolean column: "yes", "no", or the missing mark for null."""
    if value is None:
        return MISSING
    return "yes" if value is True or value in (1, "true", "t") else "no"


def signed(number: float, decimals: int = 0, unit: str = "") -> str:
    """A change with an explicit sign, the minus being U+2212 as in print: −12, +3 pts."""
    text = _trim(abs(number), decimals)
    if text in ("0", ""):
        return f"±0{unit}"
    return f"{'+' if number > 0 else '−'}{text}{unit}"


# ---------------------------------------------------------------- tiles


@dataclass(frozen=True)
class TileSpec:
    """How one tile of ``report['tiles']`` is shown.

    ``higher_is_better`` colours the change (an increase of at-risk learners is bad news);
    ``relative`` says a tile's ``relative_change`` (a ratio: 0.042 = +4.2%), when present,
    is shown instead of its absolute ``change``.
    """

    key: str
    label: str
    value: Any  # formatter of the value
    change: Any  # formatter of the absolute change
    relative: bool
    higher_is_better: bool


TILES = (
    TileSpec("engagement", "Engagement (median score)", format_score, lambda c: signed(c, 1, " pts"), True, True),
    TileSpec("weekly_active", "Weekly active learners", format_count, lambda c: signed(c), True, True),
    TileSpec("completion_rate", "Completion rate", format_fraction, lambda c: signed(c * 100, 1, " pp"), False, True),
    TileSpec("at_risk", "Learners at risk", format_count, lambda c: signed(c), False, False),
)


def tile_texts(spec: TileSpec, tile: Mapping[str, Any] | None) -> tuple[str, str, int]:
    """The value, the change line and the change's direction (+1, −1, 0) of one tile.

    ``tile`` is ``{"value", "change"}`` with optional ``relative_change``; it may be null or
    lack keys. Units: engagement in score points, completion in percentage points (the
    change of a 0–1 ratio × 100), weekly active and at risk in learners."""
    tile = tile if isinstance(tile, Mapping) else {}
    relative = _number(tile.get("relative_change")) if spec.relative else None
    change = _number(tile.get("change"))
    if relative is not None:
        text, direction = signed(relative * 100, 1, "%"), _direction(relative)
    elif change is not None:
        text, direction = spec.change(change), _direction(change)
    else:
        text, direction = "no change data", 0
    return spec.value(tile.get("value")), text, direction


def _direction(number: float) -> int:
    return (number > 0) - (number < 0)


# ---------------------------------------------------------------- table columns


@dataclass(frozen=True)
class Column:
    """One table column: the row key, its header, its share of the page width, and the
    formatter of its cells (numbers right-aligned, text left-aligned)."""

    key: str
    label: str
    weight: float
    format: Any = clean_text
    numeric: bool = False


def _num(key: str, label: str, weight: float, fmt: Any) -> Column:
    return Column(key, label, weight, fmt, numeric=True)


LEARNER_COLUMNS = (
    Column("tenant_id", "Tenant", 1.3),
    Column("learner_id", "Learner", 1.5),
    Column("display_name", "Name", 3.0),
    Column("cohort_id", "Cohort", 1.5),
    Column("program_id", "Program", 1.5),
    _num("score", "Score", 1.0, format_score),
    _num("signin", "Sign-in", 1.1, format_fraction),
    _num("attendance", "Attendance", 1.45, format_fraction),
    _num("progress", "Progress", 1.3, format_fraction),
    _num("submissions", "Submissions", 1.55, format_fraction),
    _num("at_risk", "At risk", 1.05, format_flag),
    _num("active_7d", "Active 7d", 1.25, format_flag),
    _num("completed", "Completed", 1.4, format_flag),
)


def group_columns(group_by: str) -> tuple[Column, ...]:
    """Columns of a cohort/program/tenant report; the group column is named after ``group_by``."""
    return (
        Column("tenant_id", "Tenant", 2.0),
        Column("group_id", clean_text(group_by).capitalize() or "Group", 3.0),
        _num("learners", "Learners", 1.2, format_count),
        _num("engagement", "Engagement", 1.4, format_score),
        _num("weekly_active", "Weekly active", 1.5, format_count),
        _num("completion_rate", "Completion", 1.4, format_fraction),
        _num("at_risk", "At risk", 1.2, format_count),
    )


def columns_for(group_by: Any) -> tuple[Column, ...]:
    """The learner columns for ``group_by`` "learner" or null, else the group columns."""
    if group_by in (None, "", "learner"):
        return LEARNER_COLUMNS
    return group_columns(str(group_by))


# ---------------------------------------------------------------- chart


def _series(points: Any) -> tuple[list[str], list[float], list[float]]:
    """Labels, engagement (NaN = gap) and target of the series points, oldest first.

    A point is ``{"day": "2026-01-12", "engagement": 71.5, "target": 75}`` (``week`` is
    accepted for ``day``); points that are not mappings are skipped."""
    points = [p for p in points or () if isinstance(p, Mapping)]
    labels = [_axis_label(p.get("day", p.get("week"))) for p in points]
    engagement = [_nan(p.get("engagement")) for p in points]
    target = [_nan(p.get("target")) for p in points]
    return labels, engagement, target


def _nan(value: Any) -> float:
    number = _number(value)
    return math.nan if number is None else number


def _axis_label(value: Any) -> str:
    day = _as_date(value)
    return f"{day.day} {day:%b}" if day else clean_text(value)


def _as_date(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def chart_png(points: Any, *, width_mm: float, height_mm: float) -> bytes | None:
    """The engagement-vs-target line chart as PNG bytes (200 dpi), or None when no point
    has an engagement figure (nothing worth drawing)."""
    labels, engagement, target = _series(points)
    if all(math.isnan(v) for v in engagement):
        return None
    fig = Figure(figsize=(width_mm / 25.4, height_mm / 25.4), dpi=200)
    FigureCanvasAgg(fig)  # attaches the Agg canvas to the figure: no pyplot, no display
    ax = fig.add_subplot()
    xs = range(len(labels))
    ax.plot(xs, engagement, color=ACCENT, linewidth=2, marker="o", markersize=4, label="Engagement (median score)")
    ax.plot(xs, target, color="#6c757d", linewidth=1.4, linestyle="--", label="Target")
    _style_axes(ax, labels)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=200)
    return buffer.getvalue()


def _style_axes(ax: Any, labels: list[str]) -> None:
    ax.set_xticks(range(len(labels)), labels, fontsize=8)
    ax.tick_params(axis="y", labelsize=8)
    ax.set_ylim(0, 100)  # scores are 0–100: a fixed scale keeps reports comparable
    ax.yaxis.set_major_formatter("{x:.0f}")
    ax.grid(axis="y", color="#e9ecef", linewidth=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.legend(loc="lower left", fontsize=8, frameon=False, ncols=2)
    ax.figure.tight_layout(pad=0.4)


# ---------------------------------------------------------------- the document


class _ReportPdf(FPDF):
    """An FPDF whose every page has the report's running footer, and whose pages after the
    table has started open with the table's column header."""

    def __init__(self, footer_text: str) -> None:
        super().__init__(orientation="L", unit="mm", format="A4")
        self.footer_text = footer_text
        self.table: _Table | None = None  # type: ignore[assignment]  # our open table, not FPDF.table()
        fonts = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf"}
        for style, file in fonts.items():
            self.add_font(FONT, style, FONT_DIR / file)
        self.set_margins(12, 12, 12)
        self.set_auto_page_break(True, margin=14)
        # The alias is replaced by the page count after the last page; fpdf2 lays out the width
        # of the alias itself, so it must be as wide as a five-digit count (100k rows ≈ 3,300 pages).
        self.alias_nb_pages(PAGES_ALIAS)

    def header(self) -> None:
        if self.table is not None:
            self.table.draw_header()

    def footer(self) -> None:
        self.set_y(-10)
        self.set_font(FONT, "", 7.5)
        self.set_text_color(*MUTED)
        self.cell(0, 4, self.footer_text, align="L")
        self.set_x(self.l_margin)
        self.cell(0, 4, f"Page {self.page_no()} of {PAGES_ALIAS}", align="R")


class _Table:
    """Draws rows one at a time; a row that would not fit starts a new page, whose header
    (``_ReportPdf.header``) repeats the column names."""

    ROW_H = 5.6
    PAD = 1.4

    def __init__(self, pdf: _ReportPdf, columns: tuple[Column, ...]) -> None:
        self.pdf = pdf
        self.columns = columns
        total = sum(c.weight for c in columns)
        self.widths = [pdf.epw * c.weight / total for c in columns]
        self.count = 0

    def draw_header(self) -> None:
        pdf = self.pdf
        pdf.set_font(FONT, "B", 7.5)
        pdf.set_text_color(*INK)
        pdf.set_fill_color(*HEADER_FILL)
        pdf.set_x(pdf.l_margin)
        for column, width in zip(self.columns, self.widths, strict=True):
            align = "R" if column.numeric else "L"
            pdf.cell(width, self.ROW_H + 0.6, self._fit(column.label, width), align=align, fill=True)
        pdf.ln()
        pdf.set_font(FONT, "", 7.5)

    def draw_row(self, row: Mapping[str, Any]) -> None:
        pdf = self.pdf
        if pdf.will_page_break(self.ROW_H):
            pdf.add_page()
        pdf.set_fill_color(*STRIPE)
        pdf.set_text_color(*INK)
        striped = self.count % 2 == 1  # zebra rows: the eye follows a line across 13 columns
        for column, width in zip(self.columns, self.widths, strict=True):
            text = self._fit(column.format(row.get(column.key)), width)
            pdf.cell(width, self.ROW_H, text, align="R" if column.numeric else "L", fill=striped)
        pdf.ln()
        self.count += 1

    def _fit(self, text: str, width: float) -> str:
        """``text`` cut with an ellipsis to fit ``width`` mm less padding (one line per row)."""
        room = width - 2 * self.PAD
        if self.pdf.get_string_width(text) <= room:
            return text
        low, high = 0, len(text)  # the longest prefix that fits with "…": binary search, long names are cheap
        while low < high:
            middle = (low + high + 1) // 2
            if self.pdf.get_string_width(text[:middle] + "…") <= room:
                low = middle
            else:
                high = middle - 1
        return text[:low].rstrip() + "…"


def _when(value: Any) -> str:
    """A timestamp (datetime or ISO text) as "2026-01-12 08:00 UTC"; other text as is."""
    moment = value
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return clean_text(value)
    if not isinstance(moment, datetime):
        return MISSING if value is None else clean_text(value)
    if moment.tzinfo is None:
        return f"{moment:%Y-%m-%d %H:%M}"
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def _draw_heading(pdf: _ReportPdf, report: Mapping[str, Any], title: str, scope: str, generated: str) -> None:
    pdf.set_text_color(*INK)
    pdf.set_font(FONT, "B", 17)
    pdf.cell(0, 9, title, new_x="LMARGIN", new_y="NEXT")
    day = report.get("day")
    facts = f"Scope: {scope}    Day: {clean_text(day) if day else 'no computed day yet'}"
    group_by = clean_text(report.get("group_by") or "learner")
    pdf.set_font(FONT, "", 10)
    pdf.cell(0, 6, f"{facts}    Rows: per {group_by}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, "", 8)
    pdf.set_text_color(*MUTED)
    computed = _when(report.get("computed_at"))
    pdf.cell(0, 5, f"Generated {generated}    Figures computed {computed}", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)


def _draw_tiles(pdf: _ReportPdf, tiles: Any) -> None:
    tiles = tiles if isinstance(tiles, Mapping) else {}
    gap, height = 4.0, 22.0
    width = (pdf.epw - gap * (len(TILES) - 1)) / len(TILES)
    top = pdf.get_y()
    for index, spec in enumerate(TILES):
        x = pdf.l_margin + index * (width + gap)
        _draw_tile(pdf, spec, tiles.get(spec.key), x, top, width, height)
    pdf.set_xy(pdf.l_margin, top + height + 4)


def _draw_tile(pdf: _ReportPdf, spec: TileSpec, tile: Any, x: float, y: float, w: float, h: float) -> None:
    value, change, direction = tile_texts(spec, tile)
    pdf.set_draw_color(*RULE)
    pdf.rect(x, y, w, h, style="D", round_corners=True, corner_radius=1.5)
    pdf.set_xy(x + 3, y + 2)
    pdf.set_font(FONT, "", 8)
    pdf.set_text_color(*MUTED)
    pdf.cell(w - 6, 4, spec.label)
    pdf.set_xy(x + 3, y + 6.5)
    pdf.set_font(FONT, "B", 16)
    pdf.set_text_color(*INK)
    pdf.cell(w - 6, 8, value)
    good = direction > 0 if spec.higher_is_better else direction < 0
    pdf.set_text_color(*(MUTED if direction == 0 else GOOD if good else BAD))
    pdf.set_xy(x + 3, y + 15)
    pdf.set_font(FONT, "", 8)
    pdf.cell(w - 6, 4, change if direction == 0 and change == "no change data" else f"{change} vs last week")


def _draw_chart(pdf: _ReportPdf, series: Any) -> None:
    pdf.set_font(FONT, "B", 11)
    pdf.set_text_color(*INK)
    pdf.cell(0, 7, "Weekly engagement against target", new_x="LMARGIN", new_y="NEXT")
    height = 52.0
    png = chart_png(series, width_mm=pdf.epw, height_mm=height)
    if png is None:
        pdf.set_font(FONT, "", 9)
        pdf.set_text_color(*MUTED)
        pdf.cell(0, 6, "No engagement series for this scope yet.", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(3)
        return
    pdf.image(io.BytesIO(png), x=pdf.l_margin, w=pdf.epw, h=height, alt_text="Weekly engagement against target")
    pdf.ln(3)


def _draw_rows(pdf: _ReportPdf, columns: tuple[Column, ...], rows: Iterable[Mapping[str, Any]]) -> int:
    if pdf.will_page_break(7 + 4 * _Table.ROW_H):
        pdf.add_page()  # no heading and lone column header at the foot of a page
    pdf.set_font(FONT, "B", 11)
    pdf.set_text_color(*INK)
    pdf.cell(0, 7, "Rows", new_x="LMARGIN", new_y="NEXT")
    table = _Table(pdf, columns)
    table.draw_header()
    pdf.table = table  # from here on every new page opens with the column header
    for index, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise TypeError(f"row {index} is a {type(row).__name__}, not a mapping")
        table.draw_row(row)
    pdf.table = None
    if table.count == 0:
        pdf.set_text_color(*MUTED)
        pdf.cell(0, 7, "No data: this scope has no rows on this day.", new_x="LMARGIN", new_y="NEXT")
    return table.count


def render_report_pdf(
    report: Mapping[str, Any],
    out: BinaryIO,
    *,
    title: str,
    scope: str,
    generated_at: datetime,
    rows: Iterable[Mapping[str, Any]] | None = None,
) -> int:
    """Write the engagement report as a PDF to ``out``; return the number of pages written.

    ``report``: the JSON body of ``GET /v1/reports/engagement`` — ``day``, ``group_by``
    ("learner", "cohort", "program", "tenant"), ``computed_at``, ``tiles`` (four
    ``{value, change[, relative_change]}``), ``series`` (``{day, engagement, target}``),
    ``rows``. Extra keys are ignored; nulls show as "–". Scores are 0–100, rates 0–1 ratios.
    ``rows``, when given, replaces ``report["rows"]``: any iterable (a DB cursor), read once.
    ``title`` and ``scope`` are free text shown on the first page and in each page's footer.
    ``generated_at`` must be timezone-aware; it is shown in UTC and is the PDF's creation date.

    Raises ``ValueError`` for a naive ``generated_at``, ``TypeError`` for ``report`` or a row
    that is not a mapping; errors of ``out`` (``OSError``) propagate. Nothing is written to
    ``out`` before the whole document is built, so a failure leaves ``out`` untouched.
    """
    if not isinstance(report, Mapping):
        raise TypeError(f"report is a {type(report).__name__}, not a mapping")
    if generated_at.tzinfo is None or generated_at.utcoffset() is None:
        raise ValueError("generated_at must be timezone-aware")
    title, scope, generated = clean_text(title), clean_text(scope), _when(generated_at)
    pdf = _ReportPdf(footer_text=f"{title} · {scope} · generated {generated}")
    pdf.set_title(title)
    pdf.set_creator("SkillMind Analytics")
    pdf.set_creation_date(generated_at)  # same input, same bytes: reproducible exports
    pdf.add_page()
    _draw_heading(pdf, report, title, scope, generated)
    _draw_tiles(pdf, report.get("tiles"))
    _draw_chart(pdf, report.get("series"))
    _draw_rows(pdf, columns_for(report.get("group_by")), (report.get("rows") or ()) if rows is None else rows)
    pdf.output(out)
    return pdf.pages_count
