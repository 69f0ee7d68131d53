"""The patient handout page: served, escaped, linked from the workup card, and readable in a real browser."""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
import yaml

from cds_service import resources
from cds_service.http.education import render_page

from ..conftest import LiveServer
from .conftest import cards_for, make_call, weakness_findings

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


HANDOUT_PATH = "/patient-education/leg-weakness"


def _handout_data() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load(resources.read_text(resources.service_root("leg_weakness") / "cards", "handout.yaml"))


def test_handout_is_served_as_html(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get(HANDOUT_PATH)
    assert response.status_code == 200
    assert response.mimetype == "text/html" and response.mimetype_params.get("charset") == "utf-8"
    page = response.get_data(as_text=True)
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    for section in _handout_data()["sections"]:
        assert f'id="{section["id"]}"' in page
    assert "<script" not in page
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]


def test_handout_text_is_escaped() -> None:
    hostile = "<script>alert(1)</script> & \"quoted\" 'single'"
    data = {"title": hostile, "intro": hostile, "footer": hostile, "sources": ["S1"],
            "sections": [{"id": 'x" onclick="alert(1)', "heading": hostile, "paragraphs": [hostile],
                          "items": [hostile]}]}
    # 9 places: <title>, h1, intro, table of contents, h2, p, li, footer, source
    page = render_page(data, {"S1": {"title": hostile, "url": "https://example.org"}})
    assert "<script" not in page and 'onclick="' not in page
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quoted&quot; &#x27;single&#x27;") == 9
    assert "It does not replace advice" in render_page(_handout_data(), {})


def test_workup_card_links_to_the_handout_that_exists(client) -> None:  # type: ignore[no-untyped-def]
    card = next(c for c in cards_for(weakness_findings(), call=make_call(link_base_url="http://localhost"))
                if c["source"]["topic"]["code"] == "leg-weakness-workup")
    url = next(k["url"] for k in card["links"] if "patient-education" in k["url"])
    assert client.get(urlsplit(url).path).status_code == 200


def _chromium_or_skip() -> None:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("CI is set but /usr/bin/chromium is missing: run .ci/setup-browser.sh")
        pytest.skip("/usr/bin/chromium is not installed (run .ci/setup-browser.sh)")


@pytest.mark.browser
def test_handout_renders_in_headless_chromium(live_server: LiveServer) -> None:
    _chromium_or_skip()
    from playwright.sync_api import sync_playwright

    data = _handout_data()
    origin = live_server.url
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 375, "height": 740}, is_mobile=True)
            errors: list[str] = []
            failed: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
            response = page.goto(origin + HANDOUT_PATH)
            assert response is not None and response.status == 200
            assert page.locator("h1").inner_text() == data["title"]
            assert page.locator("h2").all_inner_texts() == [s["heading"] for s in data["sections"]]
            assert page.locator("#urgent li").count() == len(next(
                s for s in data["sections"] if s["id"] == "urgent")["items"])
            fits = page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
            assert fits, "the page scrolls sideways on a phone-sized screen"
            hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))")
            assert hrefs, "the page should have its table of contents"
            for href in hrefs:
                target = urljoin(page.url, href)
                if urlsplit(target).netloc != urlsplit(origin).netloc:
                    continue
                if urlsplit(target).fragment:
                    assert page.locator(f"[id='{urlsplit(target).fragment}']").count() == 1, href
                else:
                    assert httpx.get(target, timeout=5).status_code == 200, href
            page.click("a[href='#urgent']")
            assert page.locator("#urgent").is_visible()
            # the browser asks for /favicon.ico on its own; the page does not link it
            assert [f for f in failed if not f.endswith("/favicon.ico")] == []
            assert [e for e in errors if not e.startswith("Failed to load resource")] == []
        finally:
            browser.close()


def test_chromium_setup_script_is_present() -> None:
    script = Path(__file__).resolve().parents[2] / ".ci" / "setup-browser.sh"
    assert script.exists() and os.access(script, os.X_OK)
    assert "apt-get install" in script.read_text() and shutil.which("bash")
