"""Headless Chromium (Debian's /usr/bin/chromium) driven by Playwright, for the page tests.

Playwright's own browser download is never used: the tests launch the system Chromium
that .ci/prereqs.sh installs.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("SKILLMIND_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
# Endpoints planned but not on this server yet (404): the page shows those sections as
# unavailable. Nothing else may fail.
PLANNED = re.compile(r"/v1/audit\b")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[dev]' installs playwright")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (.ci/prereqs.sh does)", pytrace=False)
    with sync_api.sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield instance
        instance.close()


@dataclass
class Visit:
    page: Any
    console_errors: list[str] = field(default_factory=list)
    failed: list[tuple[int, str]] = field(default_factory=list)

    def unexpected(self, allow: re.Pattern[str] = PLANNED) -> list[str]:
        """Console errors and failed responses other than the planned endpoints' 404s.
        (Chromium logs every non-2xx fetch as "Failed to load resource"; those are
        checked by their responses instead.)"""
        planned = [(s, u) for s, u in self.failed if s in (404, 405) and allow.search(u)]
        errors = [e for e in self.console_errors if not e.startswith("Failed to load resource")]
        resource_errors = len(self.console_errors) - len(errors)
        others = [f"{s} {u}" for s, u in self.failed if (s, u) not in planned]
        if resource_errors > len(self.failed):
            others.append(f"{resource_errors} resource errors for {len(self.failed)} failed responses")
        return errors + others


def open_page(browser: Any, base_url: str, token: str, viewport: dict[str, int] = DESKTOP) -> Visit:
    """Open the sign-in link of ``token`` and wait until every section has loaded."""
    context = browser.new_context(viewport=viewport, accept_downloads=True)
    page = context.new_page()
    visit = Visit(page)
    page.on("console", lambda m: m.type == "error" and visit.console_errors.append(m.text))
    page.on("pageerror", lambda e: visit.console_errors.append(f"uncaught: {e}"))
    page.on("response", lambda r: r.status >= 400 and visit.failed.append((r.status, r.url)))
    page.goto(f"{base_url}/app/#token={token}")
    page.wait_for_function(
        "() => !document.querySelector('[aria-busy=true]') && document.querySelector('#who').textContent"
    )
    page.wait_for_load_state("networkidle")
    return visit


def screenshot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


# The page's number formats, restated independently (see api/web/js/format.js).
def _half_up(value: float, digits: int = 0) -> Decimal:
    return Decimal(str(value)).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)


def count(value: float | None) -> str:
    return "—" if value is None else f"{_half_up(value):,}".replace("-", "−")


def share(value: float | None) -> str:
    return "—" if value is None else f"{_half_up(value * 100)}%"


def signed_percent(fraction: float) -> str:
    points = fraction * 100
    text = str(_half_up(points, 1 if abs(points) < 10 else 0))
    if Decimal(text) == 0:
        return "0%"
    return ("+" if points > 0 else "−") + text.lstrip("-") + "%"


def signed_count(value: float) -> str:
    rounded = _half_up(value)
    return ("+" if rounded > 0 else "−" if rounded < 0 else "") + f"{abs(rounded):,}"
