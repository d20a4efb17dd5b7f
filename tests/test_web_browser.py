"""The dashboard's pages in a real browser: Debian's chromium, headless, driven by Playwright,
against a real ``serve --http`` with tasks of the fake agents. Each test leaves screenshots in
``test-artifacts/web/`` for a reviewer."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import Env
from web_harness import ARTIFACTS, CHROMIUM, FLAGS, Dashboard, dashboard, static_server

SHOTS = os.path.join(ARTIFACTS, "web")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed: run 'bash tests/run' (it installs it)")
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip("chromium is not installed: run 'bash tests/run' (it installs Debian's chromium)")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield chromium
        chromium.close()


def open_page(browser: Any, d: Dashboard, path: str = "/", width: int = 1280, height: int = 800) -> Any:
    """A fresh browser context on the dashboard, signed in by the printed URL's token."""
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(f"{d.base}/?token={d.token}")
    if path != "/":
        page.goto(f"{d.base}{path}")
    return page


def shot(page: Any, name: str) -> None:
    os.makedirs(SHOTS, exist_ok=True)
    page.screenshot(path=os.path.join(SHOTS, f"{name}.png"), full_page=True)


def test_a_task_started_from_the_form_appears_and_turns_completed_without_a_reload(
    browser: Any, oc: Env
) -> None:
    oc.write_config(
        "executors:\n  - name: local\n    type: local\n    labels: [quick]\n    max_concurrent: 4\n"
    )
    done = oc.start("#fake text an earlier task")
    oc.wait_status(done["task_id"], "completed")
    with dashboard(oc) as d:
        page = open_page(browser, d)
        page.wait_for_selector("body[data-ready=overview]")
        assert page.url == f"{d.base}/"  # the token left the address bar
        page.locator("#start-card summary").click()
        page.select_option("#f-executor", "local")
        page.fill("#f-workspace", str(oc.workspace))
        page.fill("#f-prompt", "#fake sleep 2\n#fake text from the browser")
        page.evaluate("window.__marker = 'same page'")  # gone if the page reloads
        page.click("#f-submit")
        row = page.locator("#tasks tbody tr").first
        page.wait_for_function(
            "() => document.querySelectorAll('#tasks tbody tr').length === 2", timeout=10_000
        )
        task_id = row.get_attribute("data-task-id")
        assert task_id and task_id != done["task_id"]
        page.wait_for_selector(f'tr[data-task-id="{task_id}"] .s-running', timeout=15_000)
        page.wait_for_function(  # the executor's load, from serve's next look
            "() => document.querySelector('[data-executor=\"local\"]').textContent.startsWith('local 1/4')"
        )
        shot(page, "overview")
        page.wait_for_selector(f'tr[data-task-id="{task_id}"] .s-completed', timeout=30_000)
        assert page.evaluate("window.__marker") == "same page"
        assert page.locator('[data-state="completed"] b').inner_text() == "2"
        # The filters: by status, then by label.
        page.select_option("#flt-status", "running")
        assert page.locator("#tasks tbody tr[data-task-id]").count() == 0
        page.select_option("#flt-status", "")
        page.select_option("#flt-label", "quick")
        assert page.locator("#tasks tbody tr[data-task-id]").count() == 2
        # A bad start is one line under the form, and records nothing.
        page.fill("#f-prompt", "x")
        page.select_option("#f-executor", "")
        page.fill("#f-labels", "gpu")
        page.click("#f-submit")
        page.wait_for_function("() => document.querySelector('#f-error').textContent.includes('gpu')")
        assert len([n for n in os.listdir(oc.tasks_dir) if len(n) == 36]) == 2


def test_a_tasks_page_streams_its_log_and_its_kill_button_stops_it(browser: Any, oc: Env) -> None:
    with dashboard(oc) as d:
        task = oc.start(
            "#fake text first words\n#fake bash echo one; exit 3\n#fake text between\n"
            "#fake sleep 60\n#fake text never"
        )
        page = open_page(browser, d, f"/tasks/{task['task_id']}")
        page.wait_for_selector("body[data-ready=task]")
        page.wait_for_selector("#log li.e-tool_call >> text=sleep 60", timeout=20_000)
        # Tool calls collapse and expand; a failed tool result stands out (opened, marked).
        failed = page.locator("#log li.e-tool_result.failed")
        assert failed.count() == 1 and "Exit code 3" in failed.inner_text()
        call = page.locator("#log li.e-tool_call details").first
        assert call.get_attribute("open") is None
        call.locator("summary").click()
        assert call.get_attribute("open") is not None
        assert page.locator('[data-field="status"]').inner_text().startswith("running")
        shot(page, "task-running")
        page.click("#kill")  # confirm() is accepted
        page.wait_for_selector('[data-field="status"] .s-killed', timeout=20_000)
        assert oc.status(task["task_id"])["status"] == "killed"
        assert page.locator("#resume").is_enabled() and page.locator("#kill").is_disabled()
        page.wait_for_function("() => document.querySelector('#log-state').textContent.includes('killed')")
        shot(page, "task-killed")
        # Resume from the page: a new task, and its page.
        page.fill("#resume-prompt", "#fake text resumed")
        page.click("#resume")
        page.wait_for_url(lambda url: "/tasks/" in url and task["task_id"] not in url, timeout=15_000)
        page.wait_for_selector('[data-field="status"] .s-completed', timeout=20_000)
        page.wait_for_selector("#log li.e-result", timeout=10_000)
        assert page.locator('[data-field="chain"] a').count() == 2
        shot(page, "task-completed")
        # Clean it up from its page: back to the overview, without it.
        new_id = page.url.rsplit("/", 1)[1]
        page.click("#cleanup")
        page.wait_for_url(f"{d.base}/", timeout=15_000)
        page.wait_for_selector("body[data-ready=overview]")
        assert page.locator(f'tr[data-task-id="{new_id}"]').count() == 0
        assert not (oc.tasks_dir / new_id).exists()


def test_an_api_error_and_a_failed_result_stand_out_on_a_tasks_page(browser: Any, oc: Env) -> None:
    with dashboard(oc) as d:
        task = oc.start("#fake api-error 400 invalid request for the test")
        oc.wait_status(task["task_id"], "failed")
        page = open_page(browser, d, f"/tasks/{task['task_id']}")
        page.wait_for_selector("#log li.e-result.failed", timeout=15_000)
        assert "API Error: 400" in page.locator("#log li.e-result.failed").inner_text()
        assert page.locator('[data-field="error"] .error-line').count() == 1
        shot(page, "task-failed")


def test_a_page_of_another_site_cannot_act_on_the_dashboard(browser: Any, oc: Env) -> None:
    """Another origin (127.0.0.2) posts to the dashboard with the user's cookie in the browser."""
    with dashboard(oc) as d:
        target = f"{d.base}/api/tasks"
        attack = (
            f"<!doctype html><form id=f method=post action='{target}' enctype=text/plain>"
            '<input name=\'{"prompt":"#fake text pwned","x":"\' value=\'"}\'></form>'
            f"<script>fetch('{target}',"
            "{method:'POST',credentials:'include',mode:'no-cors',"
            "headers:{'Content-Type':'text/plain'},body:JSON.stringify({prompt:'#fake text pwned'})})"
            ".finally(()=>{document.title='sent'})</script>"
        )

        evil = static_server("127.0.0.2", attack.encode())
        try:
            page = open_page(browser, d)  # signed in: the cookie is in this browser
            page.wait_for_selector("body[data-ready=overview]")
            page.goto(f"http://127.0.0.2:{evil.server_address[1]}/")
            page.wait_for_function("() => document.title === 'sent'", timeout=10_000)
            page.evaluate("document.getElementById('f').submit()")
            page.wait_for_load_state()
            shot(page, "cross-site-refused")
            assert "pwned" not in page.content() or page.url.endswith("/api/tasks")
        finally:
            evil.shutdown()
            evil.server_close()
        assert not [n for n in os.listdir(oc.tasks_dir) if len(n) == 36]
        assert d.ok("GET", "/api/tasks")["total"] == 0


def test_the_overview_is_readable_at_phone_width(browser: Any, oc: Env) -> None:
    for n in range(3):
        task = oc.start(f"#fake text task {n}")
    oc.wait_status(task["task_id"], "completed")
    with dashboard(oc) as d:
        page = open_page(browser, d, width=390, height=844)
        page.wait_for_selector("body[data-ready=overview]")
        page.wait_for_selector("#tasks tbody tr[data-task-id]")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        assert not page.locator("th.wide").first.is_visible()
        shot(page, "overview-phone")
        page.goto(f"{d.base}/tasks/{task['task_id']}")
        page.wait_for_selector("#log li.e-result")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        shot(page, "task-phone")
