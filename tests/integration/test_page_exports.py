"""Exports from the page, through the exports pipeline (POST/GET /v1/exports, POST
/v1/exports/{id}/link, /v1/notifications): request a CSV from the page, watch it become
ready, see the bell count it, and download it through the presigned link."""

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
    assert posted.value.status == 202
    export_id = posted.value.json()["export_id"]

    item = f"#export-list li[data-export='{export_id}']"
    page.wait_for_selector(f"{item}[data-status=ready]", timeout=120_000)
    page.wait_for_function(
        "n => Number(document.querySelector('#bell').dataset.unread) > n", arg=unread_before, timeout=60_000
    )
    # The overview refreshes when the export is done. (It counts exports up to the latest
    # computed day, yesterday here, so today's export shows once today is computed.)
    generated = env.api("company_admin", "/v1/overview")["reports_generated_30d"]
    page.wait_for_selector(f"#overview .tile[data-tile=reports_generated_30d][data-value='{generated}']")
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
