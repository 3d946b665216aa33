"""Exports from the page, against the exports pipeline planned on main (POST/GET
/v1/exports, POST /v1/exports/{id}/link, /v1/notifications): request a CSV from the
page, watch it become ready, see the bell count it, and download it through the link.

Until that pipeline is merged the server answers 404 on those endpoints and the page
falls back to a direct CSV download, so this test fails here by design."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from skillmind.settings import Settings
from tests.integration.browser import browser, open_page, screenshot  # noqa: F401 (fixture)
from tests.integration.page_env import PageEnv, page_env


@pytest.fixture(scope="module")
def env(services_up: Settings) -> Iterator[PageEnv]:
    with page_env(services_up) as seeded:
        yield seeded


def test_an_export_requested_on_the_page_reaches_the_bell_and_downloads(env: PageEnv, browser: Any) -> None:  # noqa: F811
    page = open_page(browser, env.base_url, env.token("company_admin")).page
    unread_before = int(page.get_attribute("#bell", "data-unread") or 0)
    with page.expect_response(lambda r: r.url.endswith("/v1/exports") and r.request.method == "POST") as posted:
        page.click("#export-csv")
    assert posted.value.status == 202, "POST /v1/exports is not on this server yet (the lead's exports pipeline)"
    export_id = posted.value.json()["export_id"]

    item = f"#export-list li[data-export='{export_id}']"
    page.wait_for_selector(f"{item}[data-status=ready]", timeout=120_000)
    page.wait_for_function(
        "n => Number(document.querySelector('#bell').dataset.unread) > n", arg=unread_before, timeout=60_000
    )
    page.click("#bell")
    assert page.is_visible("#inbox-list li.unread")
    screenshot(page, "page-export-ready")

    page.click(f"{item} .export-action button")
    link = page.wait_for_selector(f"a.download[data-export='{export_id}']")
    download = httpx.get(link.get_attribute("href"), timeout=30)
    assert download.status_code == 200
    header = download.text.splitlines()[0]
    assert header.startswith("tenant_id,group_id,") or header.startswith("tenant_id,learner_id,")
    page.context.close()
