"""The chat page in a real browser: Debian's Chromium driven by Playwright.

Skipped, with the reason, where /usr/bin/chromium is missing (CI installs it: .ci/run).
"""

from __future__ import annotations

import socket
import threading
import time

import pytest

from darija_assets.serving.chat_app import build_app
from darija_assets.serving.crisis import CrisisGuard
from darija_assets.serving.store import ChatStore
from darija_assets_tests.browser import CHROMIUM, CHROMIUM_ARGS, needs_browser
from darija_assets_tests.serving.conftest import PATIENT_TEXT

#: generous: the first answer loads nothing, but a shared 2-core machine can be slow
WAIT_MS = 60_000

pytestmark = needs_browser


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def chat_url(tmp_path, tiny_responder):
    import uvicorn

    store = ChatStore(tmp_path / "chat.sqlite")
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            build_app(store, tiny_responder, CrisisGuard()),
            host="127.0.0.1",
            port=port,
            log_level="warning",
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the chat server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/", store
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture()
def page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser.new_page()
        finally:
            browser.close()


def _send(page, text: str):
    page.fill("#input", text)
    page.click("#send")
    answer = page.locator(".message.assistant").last
    page.wait_for_function(
        "() => { const m = [...document.querySelectorAll('.message.assistant')].pop();"
        " return m && m.dataset.messageId; }",
        timeout=WAIT_MS,
    )
    return answer


def test_type_get_an_answer_reload_and_the_conversation_is_still_there(chat_url, page):
    url, store = chat_url
    page.goto(url)
    page.wait_for_selector("body[data-ready=true]", timeout=WAIT_MS)
    assert "This is not a licensed therapist" in page.inner_text("#disclaimer")
    answer = _send(page, PATIENT_TEXT)
    answer_text = answer.inner_text().strip()
    assert answer_text and answer_text != "(the model ended its turn without an answer)"
    assert answer.get_attribute("dir") == "auto"
    # the browser lays the Arabic answer out right to left
    assert answer.evaluate("node => getComputedStyle(node).direction") == "rtl"

    page.reload()
    page.wait_for_selector("body[data-ready=true]", timeout=WAIT_MS)
    texts = page.locator(".message").all_inner_texts()
    assert [t.strip() for t in texts] == [PATIENT_TEXT, answer_text]
    # and it is the SQLite store that kept it
    (conversation,) = store.conversations(1)
    assert [m["content"] for m in store.messages(conversation["id"])] == [PATIENT_TEXT, answer_text]


def test_a_crisis_message_gets_the_safety_answer_in_the_page(chat_url, page):
    url, _ = chat_url
    page.goto(url)
    page.wait_for_selector("body[data-ready=true]", timeout=WAIT_MS)
    answer = _send(page, "بغيت نقتل راسي")
    assert "15" in answer.inner_text() and "not a licensed therapist" in answer.inner_text()
    assert "crisis" in answer.get_attribute("class")
