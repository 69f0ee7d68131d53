"""`cds-service report --format html`: trend numbers, a self-contained page, and charts that
render in a real browser with the network off.

The database is filled through real hook calls and feedback (in-process app, the examples'
patients) and, for earlier weeks, through the storage API.
"""
from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cds_service import Settings, create_app
from cds_service.cli import main
from cds_service.client import request_from_bundle
from cds_service.storage import Storage
from cds_service.storage.report import week_of
from tests.cards.test_education import CHROMIUM, CHROMIUM_ARGS, _chromium_or_skip
from tests.storage.helpers import accepted, card, event, overridden

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
NOW = datetime.now(timezone.utc)
HOSTILE = "<script>alert(1)</script>"
REASON_SYSTEM = "https://leg-weakness-cds.example.org/override-reason"
CHART_IDS = ("rate-accepted", "rate-overridden", "rate-no-feedback", "override-reasons", "red-flags", "latency")


@dataclass(frozen=True)
class Filled:
    database_url: str
    shown: dict[str, list[str]]  # topic -> card uuids shown by the real calls


def _call(client: Any, example: str) -> list[dict[str, Any]]:
    definition, _ = client.application.extensions["cds"].registry.get("leg-weakness")
    body = request_from_bundle(json.loads((EXAMPLES / example).read_text(encoding="utf-8")), definition.to_json())
    answer = client.post("/cds-services/leg-weakness", json=body)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return list(answer.json["cards"])


def _fill(tmp_path: Path, database_url: str) -> Filled:
    """This week: real calls for four examples, then feedback; two earlier weeks via the storage API."""
    app = create_app(Settings(require_auth=False, data_dir=str(tmp_path / "data"), database_url=database_url))
    storage = app.extensions["cds"].extras["storage"]
    shown: dict[str, list[str]] = {}
    try:
        client = app.test_client()
        for example in ("cauda-equina.json", "stroke.json", "fracture.json", "workup-and-differential.json"):
            for c in _call(client, example):
                shown.setdefault(c["source"]["topic"]["code"], []).append(c["uuid"])
        ces, stroke = shown["red-flag-cauda-equina"][0], shown["red-flag-stroke"][0]
        workup = shown["leg-weakness-workup"]
        items = [
            accepted(ces, at=NOW.isoformat()),
            overridden(stroke, at=NOW.isoformat()),
            overridden(workup[0], at=NOW.isoformat()),
            overridden(workup[1], at=NOW.isoformat()),
        ]
        items[2]["overrideReason"] = {"reason": {"system": REASON_SYSTEM, "code": "already-imaged"}}
        items[3]["overrideReason"] = {"reason": {"system": REASON_SYSTEM, "code": HOSTILE}}
        answer = client.post("/cds-services/leg-weakness/feedback", json={"feedback": items})
        assert answer.status_code == 200 and answer.json["stored"] == 4, answer.get_data(as_text=True)
        storage.audit.flush()
    finally:
        storage.close()
    store = Storage(database_url)
    try:
        for weeks_ago, n in ((2, 3), (1, 1)):
            cards = tuple(card("red-flag-cauda-equina", "critical") for _ in range(n))
            store.audit(event(when=NOW - timedelta(weeks=weeks_ago), card_list=cards, duration_ms=40.0 * n))
            store.audit.flush()
            store.record_feedback({"feedback": [accepted(cards[0].uuid or "")]}, "leg-weakness", None)
    finally:
        store.close()
    return Filled(database_url, shown)


@pytest.fixture
def filled(tmp_path: Path, database_url: str) -> Filled:
    return _fill(tmp_path, database_url)


def test_trends_count_each_week_and_topic(filled: Filled) -> None:
    store = Storage(filled.database_url)
    try:
        trends = store.trends()
        recent = store.trends(since=NOW - timedelta(days=1))
    finally:
        store.close()
    this_week, last_week, two_weeks = week_of(NOW), week_of(NOW - timedelta(weeks=1)), week_of(NOW - timedelta(weeks=2))
    rows = {(w.week, w.topic): w for w in trends.weeks}
    assert week_of(datetime(2026, 11, 22, 23, 0, tzinfo=timezone.utc)) == date(2026, 11, 16)  # Sunday -> Monday
    old = rows[(two_weeks, "red-flag-cauda-equina")]
    assert (old.shown, old.accepted, old.overridden, old.no_feedback) == (3, 1, 0, 2)
    assert rows[(last_week, "red-flag-cauda-equina")].accepted == 1
    now_ces = rows[(this_week, "red-flag-cauda-equina")]
    assert (now_ces.shown, now_ces.accepted) == (1, 1)
    workup = rows[(this_week, "leg-weakness-workup")]
    assert (workup.shown, workup.overridden, workup.no_feedback) == (4, 2, 2)
    assert {(r.topic, r.reason, r.count) for r in trends.reasons} == {
        ("leg-weakness-workup", f"{REASON_SYSTEM}|already-imaged", 1),
        ("leg-weakness-workup", f"{REASON_SYSTEM}|{HOSTILE}", 1),
        ("red-flag-stroke", "(no reason)", 1)}
    assert {w.topic for w in trends.red_flags_per_week()} == {"red-flag-cauda-equina", "red-flag-stroke",
                                                             "red-flag-fracture"}
    stages = {s.stage: s for s in trends.latency}
    assert {"validate", "detect", "cards", "total"} <= set(stages)
    # 4 real calls and 2 stored events (whose stages are validate and handler)
    assert (stages["total"].calls, stages["validate"].calls, stages["detect"].calls) == (6, 6, 4)
    assert all(s.p50_ms is not None and s.p50_ms <= (s.p99_ms or 0) for s in trends.latency)
    assert {w.week for w in recent.weeks} == {this_week} and recent.latency[-1].calls == 4


def _html(filled: Filled, out: Path, *args: str) -> str:
    result = CliRunner().invoke(main, ["report", "--format", "html", "--out", str(out), *args],
                                env={"CDS_DATABASE_URL": filled.database_url})
    assert result.exit_code == 0, result.output
    return out.read_text(encoding="utf-8")


def test_html_report_is_one_self_contained_escaped_file(filled: Filled, tmp_path: Path) -> None:
    page = _html(filled, tmp_path / "report.html")
    assert page.startswith("<!doctype html>") and page.rstrip().endswith("</html>")
    assert "<script" not in page.lower(), "no script: the page is static"
    assert HOSTILE not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "default-src 'none'" in page  # the browser itself blocks any fetch
    fetched = re.findall(r"""(?:src|href)\s*=\s*["']?([^"'\s>]+)""", page, flags=re.I)
    assert [u for u in fetched if not u.startswith(("#", "data:"))] == []
    assert "@import" not in page and "url(http" not in page
    for chart in CHART_IDS:
        block = page.split(f'id="chart-{chart}"', 1)[1].split("</figure>", 1)[0]
        assert "<svg" in block, f"{chart} has no chart"
    for topic in ("red-flag-cauda-equina", "red-flag-stroke", "leg-weakness-workup"):
        assert topic in page


def test_html_report_says_so_when_a_period_has_no_data(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    page = _html(Filled(url, {}), tmp_path / "empty.html")
    assert "<svg" not in page
    assert page.count('class="empty"') >= 6 and "No cards were shown in this period." in page


def test_html_report_without_the_report_extra_names_it(filled: Filled, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "vl_convert", None)  # as if vl-convert-python were not installed
    result = CliRunner().invoke(main, ["report", "--format", "html"], env={"CDS_DATABASE_URL": filled.database_url})
    assert result.exit_code == 1
    assert "pip install 'cds-service[report]'" in result.output and "Traceback" not in result.output


@pytest.fixture
def chromium() -> Iterator[Any]:
    _chromium_or_skip()
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.mark.browser
def test_html_report_renders_its_charts_in_chromium_offline(chromium: Any, tmp_path: Path) -> None:
    """One backend is enough here: the page does not depend on where the numbers came from."""
    filled = _fill(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite3'}")
    path = tmp_path / "report.html"
    _html(filled, path)
    context = chromium.new_context(offline=True, viewport={"width": 1100, "height": 900})
    requests: list[str] = []
    errors: list[str] = []
    context.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file:")
                  else route.abort())
    page = context.new_page()
    page.on("request", lambda r: requests.append(r.url))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(path.as_uri())
    for chart in CHART_IDS:
        svg = page.locator(f"#chart-{chart} svg")
        assert svg.count() == 1, chart
        box = svg.bounding_box()
        assert box is not None and box["width"] > 200 and box["height"] > 100, (chart, box)
        marks = page.locator(f"#chart-{chart} svg .role-mark, #chart-{chart} svg [class*='mark-'] path")
        assert marks.count() > 0, f"{chart}: no marks drawn"
        titles = [t.strip() for t in page.locator(f"#chart-{chart} svg .role-axis-title text").all_text_contents()]
        assert len(titles) == 2 and all(titles), (chart, titles)  # both axes labelled
    rate_titles = page.locator("#chart-rate-accepted svg .role-axis-title text").all_text_contents()
    assert "Week starting (UTC)" in rate_titles
    legend = " ".join(page.locator("#chart-red-flags svg .role-legend").all_text_contents())
    assert "red-flag-cauda-equina" in legend and "red-flag-stroke" in legend
    page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    assert (tmp_path / "report.png").stat().st_size > 10_000
    assert requests == [path.as_uri()], requests  # nothing but the file itself
    assert errors == []
    context.close()
