"""A real browser: Debian's Chromium, driven by Playwright, uses the board served by gunicorn on moto."""

from __future__ import annotations

import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from board_helpers import CONSOLE_SCRIPT, SECRET, dynamodb_client, free_port, safe_env, wait_for_port
from visitor_board.table import create_table

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-default-apps",
    "--disable-domain-reliability",
    "--disable-features=Translate,OptimizationHints,MediaRouter,AutofillServerCommunication",
]

pytestmark = pytest.mark.browser


@pytest.fixture
def live_board(moto, table_name: str, tmp_path: Path) -> Iterator[str]:
    create_table(dynamodb_client(moto.url), table_name)
    port = free_port()
    log = (tmp_path / "gunicorn.log").open("wb")
    process = subprocess.Popen(
        [str(CONSOLE_SCRIPT), "serve", "--bind", f"127.0.0.1:{port}", "--workers", "2"],
        env=safe_env(SECRET_KEY=SECRET, TABLE_NAME=table_name, DYNAMODB_ENDPOINT_URL=moto.url),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port, process=process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


@pytest.fixture
def browser():
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def test_post_a_message_in_a_real_browser(live_board: str, browser, artifacts_dir: Path) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, java_script_enabled=False)
    page = context.new_page()
    console_errors: list[str] = []
    page.on("console", lambda msg: console_errors.append(msg.text) if msg.type == "error" else None)
    # Only the board itself may be fetched (the CSP says so too; this makes it a test failure).
    page.route(
        "**/*",
        lambda route: route.continue_() if route.request.url.startswith(live_board) else route.abort(),
    )

    response = page.goto(live_board + "/")
    assert response is not None and response.status == 200
    assert page.title() == "Visitor Board"
    assert "served by" in page.locator("#served-by").locator("xpath=..").inner_text()
    assert page.locator("#release").inner_text() == "1.0.0"

    page.fill("#name", "Playwright")
    page.fill("#message", "Hello from a real Chromium <b>not bold</b> 🦆")
    page.click("button[type=submit]")
    page.wait_for_load_state()

    assert page.url == live_board + "/"
    assert page.locator(".notice").inner_text() == "Thank you, your message is on the board."
    first = page.locator("li.message").first
    assert first.locator(".author").inner_text() == "Playwright"
    assert first.locator(".text").inner_text() == "Hello from a real Chromium <b>not bold</b> 🦆"
    assert page.locator("li.message b").count() == 0  # escaped, not rendered as markup

    # The stylesheet loaded under the CSP (no inline styles needed): the button got the accent colour.
    # (Playwright's own evaluation still works with the page's JavaScript disabled.)
    colour = page.eval_on_selector("button[type=submit]", "el => getComputedStyle(el).backgroundColor")
    assert colour == "rgb(47, 93, 80)"
    assert not [e for e in console_errors if "Content Security Policy" in e], console_errors

    page.screenshot(path=str(artifacts_dir / "board-mobile.png"), full_page=True)

    # An invalid post keeps the input and explains, in the browser too.
    page.fill("#name", "   ")
    page.fill("#message", "kept text")
    page.click("button[type=submit]")
    page.wait_for_load_state()
    assert page.locator(".field-error").first.inner_text() == "Please enter your name."
    assert page.locator("#message").input_value() == "kept text"
    page.screenshot(path=str(artifacts_dir / "board-invalid.png"), full_page=True)
    context.close()

    with urllib.request.urlopen(live_board + "/readyz", timeout=10) as ready:
        assert ready.status == 200
