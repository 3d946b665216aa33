"""The product page in a real headless browser, for each of the six report roles: it
loads cleanly, its tiles show the API's numbers for the same token, the chart has eight
points and a target line, a learner sees one row, and switching CSV exports off disables
the button while the chart stays."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from api.auth import mint_token
from skillmind.settings import Settings
from tests.integration import browser as b
from tests.integration.browser import browser, open_page, screenshot  # noqa: F401 (fixture)
from tests.integration.page_env import CALLERS, TENANT, PageEnv, page_env
from tests.integration.pipeline import bearer, wait_until

ROLES = tuple(CALLERS)
DEFAULT_GROUP = {"learner": "learner", "platform_admin": "program"}


@pytest.fixture(scope="module")
def env(services_up: Settings) -> Iterator[PageEnv]:
    with page_env(services_up) as seeded:
        yield seeded


def tiles(page: Any, section: str) -> dict[str, dict[str, Any]]:
    return page.eval_on_selector_all(
        f"#{section} .tile",
        """nodes => Object.fromEntries(nodes.map(n => [n.dataset.tile, {
            value: n.dataset.value,
            shown: n.querySelector('.tile-value').textContent,
            change: n.querySelector('.tile-change')?.dataset.change ?? null,
            change_shown: n.querySelector('.tile-change')?.firstChild.textContent ?? null,
        }]))""",
    )


def same(shown: str | None, value: float | None) -> bool:
    return (value is None and shown in ("", None)) or (shown not in ("", None) and float(shown) == float(value))


@pytest.mark.parametrize("role", ROLES)
def test_each_role_sees_the_apis_numbers(env: PageEnv, browser: Any, role: str) -> None:  # noqa: F811
    visit = open_page(browser, env.base_url, env.token(role))
    page = visit.page
    assert visit.unexpected() == [], (visit.console_errors, visit.failed)
    assert page.evaluate("location.hash") == "", "the token must leave the address bar"

    overview = env.api(role, "/v1/overview")
    shown = tiles(page, "overview")
    assert set(shown) == {"programs_tracked", "median_engagement", "reports_generated_30d", "audit_events"}
    for key, tile in shown.items():
        assert same(tile["value"], overview[key]), key
    assert shown["programs_tracked"]["shown"] == b.count(overview["programs_tracked"])
    assert shown["audit_events"]["shown"] == b.count(overview["audit_events"])

    group_by = page.input_value("#group-by") if page.is_visible("#group-by") else "learner"
    assert group_by == DEFAULT_GROUP.get(role, "program")
    report = env.api(role, "/v1/reports/engagement", group_by=group_by, weeks=8)
    week = tiles(page, "week-tiles")
    for key, tile in week.items():
        api_tile = report["tiles"][key]
        assert same(tile["value"], api_tile["value"]), key
        kind = "relative_change" if key in ("engagement", "weekly_active") else "change"
        assert same(tile["change"], api_tile[kind]), key
    assert week["weekly_active"]["shown"] == b.count(report["tiles"]["weekly_active"]["value"])
    assert week["completion_rate"]["shown"] == b.share(report["tiles"]["completion_rate"]["value"])
    assert week["at_risk"]["shown"] == b.count(report["tiles"]["at_risk"]["value"])
    for key, fmt in (("weekly_active", b.signed_percent), ("engagement", b.signed_percent)):
        if report["tiles"][key]["relative_change"] is not None:
            assert week[key]["change_shown"] == fmt(report["tiles"][key]["relative_change"]), key
    if report["tiles"]["completion_rate"]["change"] is not None:
        assert week["completion_rate"]["change_shown"] == b.signed_percent(report["tiles"]["completion_rate"]["change"])
    if report["tiles"]["at_risk"]["change"] is not None:
        assert week["at_risk"]["change_shown"] == b.signed_count(report["tiles"]["at_risk"]["change"])

    assert page.locator("#chart circle.point").count() == 8
    target = page.get_attribute("#chart path.line-target", "d")
    assert target.count("L") == 7 and page.get_attribute("#chart path.line-target", "data-target") == str(
        report["series"][0]["target"]
    )
    assert page.locator("#chart text.x-label").count() == 8
    assert page.text_content("#computed").startswith("Computed ")
    assert int(page.get_attribute("#table table", "data-rows")) == len(report["rows"])
    if role == "learner":
        assert len(report["rows"]) == 1
        assert page.locator("#table tbody tr").count() == 1
        assert not page.is_visible("#filters")

    screenshot(page, f"page-{role}-desktop")
    page.set_viewport_size(b.PHONE)
    page.wait_for_timeout(200)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "sideways scroll on a phone"
    screenshot(page, f"page-{role}-phone")
    page.context.close()


def test_filters_narrow_the_table_to_a_program(env: PageEnv, browser: Any) -> None:  # noqa: F811
    page = open_page(browser, env.base_url, env.token("company_admin")).page
    program = f"{TENANT}-p1"
    page.select_option("#group-by", "cohort")
    page.wait_for_function("() => !document.querySelector('#table[aria-busy=true]')")
    page.select_option("#program", program)
    page.wait_for_function(
        "p => [...document.querySelectorAll('#cohort option')].every(o => !o.value || o.value.startsWith(p))",
        arg=program,
    )
    # The table settles on the program's cohorts only (it reloads after the cohort choices).
    page.wait_for_function(
        """p => {
            const names = [...document.querySelectorAll('#table tbody tr td:first-child')].map(c => c.textContent);
            return names.length > 0 && names.every(n => n.startsWith(p));
        }""",
        arg=program,
    )
    report = env.api("company_admin", "/v1/reports/engagement", group_by="cohort", program_id=program)
    assert page.locator("#table tbody tr").count() == len(report["rows"])
    page.context.close()


def test_every_control_is_reachable_by_keyboard(env: PageEnv, browser: Any) -> None:  # noqa: F811
    page = open_page(browser, env.base_url, env.token("company_admin")).page
    reached = []
    for _ in range(15):
        page.keyboard.press("Tab")
        reached.append(page.evaluate("document.activeElement.id || document.activeElement.className"))
    assert reached[0] == "skip", "the skip link comes first"
    for control in ("signout", "export-csv", "group-by", "program", "cohort"):
        assert control in reached, (control, reached)
    page.focus("#group-by")
    page.keyboard.press("ArrowDown")  # choosing with the keyboard reloads the table
    page.wait_for_function("() => document.querySelector('#group-by').value === 'cohort'")
    page.wait_for_selector("#table table")
    page.context.close()


def test_a_tenant_without_scores_is_told_when_they_will_appear(env: PageEnv, browser: Any) -> None:  # noqa: F811
    token = mint_token(env.settings.api, tenant="newco", user="admin-1", roles=["company_admin"])
    visit = open_page(browser, env.base_url, token)
    assert visit.unexpected() == [], (visit.console_errors, visit.failed)
    assert "No scores yet" in visit.page.text_content("#chart")
    assert "nightly recompute" in visit.page.text_content("#chart")
    screenshot(visit.page, "page-empty-desktop")
    visit.page.context.close()


def test_a_bad_token_asks_to_sign_in_again(env: PageEnv, browser: Any) -> None:  # noqa: F811
    context = browser.new_context(viewport=b.DESKTOP)
    page = context.new_page()
    page.goto(f"{env.base_url}/app/")
    assert page.is_visible("#signin")
    page.fill("#token-input", env.token("learner") + "x")
    page.click("#signin button[type=submit]")
    page.wait_for_selector("#signin-reason:has-text('refused')")
    assert page.evaluate("sessionStorage.length") == 0
    screenshot(page, "page-signin")
    context.close()


def set_csv(env: PageEnv, enabled: bool) -> None:
    response = env.client.put(
        f"/v1/tenants/{TENANT}/capabilities",
        json={"exports.csv": enabled},
        headers=bearer(env.settings, TENANT, "admin-1", "company_admin"),
    )
    assert response.status_code == 202, response.text
    admin = bearer(env.settings, TENANT, "admin-1", "company_admin")

    def applied() -> bool:
        status = env.client.get(
            "/v1/reports/engagement",
            params={"format": "csv", "group_by": "tenant", "min_position": response.json()["position"]},
            headers=admin,
        ).status_code
        return status == (200 if enabled else 403)

    wait_until("the capability switch in the read models", applied)


def test_csv_switched_off_disables_the_button_and_keeps_the_chart(env: PageEnv, browser: Any) -> None:  # noqa: F811
    set_csv(env, False)
    try:
        for role in ROLES:
            visit = open_page(browser, env.base_url, env.token(role))
            page = visit.page
            assert visit.unexpected() == [], (role, visit.console_errors, visit.failed)
            assert page.locator("#chart circle.point").count() == 8, role
            assert page.locator("#table table").count() == 1, role
            # The button follows what /v1/me says for the same token: off for every role of
            # this tenant, since the flag belongs to the tenant whose data is read.
            cap = env.api(role, "/v1/me")["capabilities"]["exports.csv"]
            assert not (cap["enabled"] and cap["allowed"]), role
            assert page.is_disabled("#export-csv"), role
            note = page.text_content("#export-note")
            assert cap["reason"] in note and "stay available" in note, (role, note)
            if role == "company_admin":
                screenshot(page, "page-csv-off-desktop")
            page.context.close()
    finally:
        set_csv(env, True)
    page = open_page(browser, env.base_url, env.token("company_admin")).page
    assert page.is_enabled("#export-csv"), "switched back on, the button is back"
    page.context.close()


def test_an_auditor_gets_the_audit_section_and_no_reports(env: PageEnv, browser: Any) -> None:  # noqa: F811
    visit = open_page(browser, env.base_url, env.token("auditor", "audit-1"))
    page = visit.page
    assert visit.unexpected() == [], (visit.console_errors, visit.failed)
    assert page.is_visible("#audit") and page.is_visible("#audit-form")
    assert not page.is_visible("#overview") and not page.is_visible("#engagement")
    assert "aren't part of your role" in page.text_content("#page-note")
    # Until GET /v1/audit is merged, the section says so instead of breaking.
    assert page.text_content("#audit-table").strip()
    screenshot(page, "page-auditor-desktop")
    page.context.close()
