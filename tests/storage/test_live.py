"""Storage behind a real gunicorn server (several workers), on SQLite and PostgreSQL.

Round trip (hook call -> card uuid -> feedback -> report), /metrics across workers,
concurrency without lost rows or "database is locked", and durability of every
acknowledged feedback post when the whole process group is SIGKILLed.
"""
from __future__ import annotations

import json
import os
import signal
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from cds_service.cli import main
from cds_service.storage import Storage
from tests.conftest import LiveServer
from tests.storage.helpers import accepted, count, feedback, feedback_rows, hook_calls, overridden, vignette_call

FEEDBACK = "/cds-services/leg-weakness/feedback"


def _env(tmp_path: Path, database_url: str) -> dict[str, str]:
    return {"CDS_REQUIRE_AUTH": "false", "CDS_DATA_DIR": str(tmp_path / "data"), "CDS_DATABASE_URL": database_url}


@pytest.fixture
def storage(database_url: str) -> Iterator[Storage]:
    store = Storage(database_url)
    yield store
    store.close()


def _metric(url: str, name: str, **labels: str) -> float:
    text = httpx.get(url + "/metrics").text
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


def test_round_trip_metrics_and_concurrency(tmp_path: Path, database_url: str, storage: Storage) -> None:
    """One 3-worker server: a real round trip and /metrics first, then a concurrent burst."""
    server = LiveServer(_env(tmp_path, database_url), workers=3, log_path=tmp_path / "server.log")
    try:
        all_cards, with_suggestion = _round_trip_and_metrics(server)
        _concurrent_burst(server, storage)
    finally:
        server.stop()
    assert "database is locked" not in server.log_text()
    assert count(storage, hook_calls) == 5 + N_CALLS  # audit rows flushed on graceful stop
    result = CliRunner().invoke(main, ["report", "--format", "json"], env={"CDS_DATABASE_URL": database_url})
    report = json.loads(result.output)
    assert report["services"][0]["calls"] == 5 + N_CALLS
    first_five = all_cards  # cards of the round trip; the burst's vignette calls add more of the same topics
    assert sum(t["shown"] for t in report["topics"]) >= len(first_five)
    assert sum(t["overridden"] for t in report["topics"]) == 1
    assert sum(t["accepted"] for t in report["topics"]) == (1 if with_suggestion else 0)


def _round_trip_and_metrics(server: LiveServer) -> tuple[list[Any], Any]:
    assert _metric(server.url, "cds_hook_calls_total") == 0
    with httpx.Client(base_url=server.url, timeout=10) as http:
        answers = [http.post("/cds-services/leg-weakness", json=vignette_call()) for _ in range(4)]
        assert [a.status_code for a in answers] == [200] * 4
        assert http.post("/cds-services/leg-weakness", json={"hook": 1}).status_code == 400
        all_cards = [c for a in answers for c in a.json()["cards"]]
        shown = [c for c in all_cards if c.get("uuid")]
        assert shown, "the cauda equina vignette must give cards with a uuid for a real round trip"
        items = [overridden(shown[0]["uuid"])]
        with_suggestion = next((c for c in shown[1:] if c.get("suggestions")), None)
        if with_suggestion is not None:
            items.append(accepted(with_suggestion["uuid"], with_suggestion["suggestions"][0]["uuid"]))
        posted = http.post(server.url + "/" + FEEDBACK, json={"feedback": items})  # //cds-services/... (sandbox)
        assert posted.status_code == 200, posted.text
        assert posted.json() == {"stored": len(items), "duplicates": 0, "unknownCards": []}
    # counters are summed over every worker's file
    assert _metric(server.url, "cds_hook_calls_total", service="leg-weakness", status="200") == 4
    assert _metric(server.url, "cds_hook_calls_total", service="leg-weakness", status="400") == 1
    assert _metric(server.url, "cds_hook_call_duration_seconds_count", service="leg-weakness") == 5
    assert _metric(server.url, "cds_cards_total") == len(all_cards)
    assert _metric(server.url, "cds_feedback_total", outcome="overridden") == 1
    return all_cards, with_suggestion


N_FEEDBACK, N_CALLS = 200, 40


def _concurrent_burst(server: LiveServer, storage: Storage) -> None:
    """Feedback posts and hook calls at once on every worker: all 200, no row lost or doubled."""
    before = count(storage, feedback)
    with httpx.Client(base_url=server.url, timeout=30, limits=httpx.Limits(max_connections=24)) as http:
        def post_feedback(i: int) -> int:
            body = {"feedback": [accepted(f"card-{i}", f"s-{i}"), accepted(f"card-{i}", f"s-{i}")]}
            return http.post(FEEDBACK, json=body).status_code

        def call(_: int) -> int:
            return http.post("/cds-services/leg-weakness", json=vignette_call()).status_code

        with ThreadPoolExecutor(24) as pool:
            futures = [pool.submit(post_feedback, i) for i in range(N_FEEDBACK)]
            futures += [pool.submit(call, i) for i in range(N_CALLS)]
            statuses = [f.result() for f in futures]
    assert statuses == [200] * (N_FEEDBACK + N_CALLS)
    assert count(storage, feedback) == before + N_FEEDBACK  # each batch repeated its item: stored once


def test_every_acknowledged_feedback_survives_sigkill(tmp_path: Path, database_url: str, storage: Storage) -> None:
    server = LiveServer(_env(tmp_path, database_url), workers=2, log_path=tmp_path / "server.log", new_session=True)
    acknowledged: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def stream() -> None:
        with httpx.Client(base_url=server.url, timeout=5) as http:
            while not stop.is_set():
                card = str(uuid.uuid4())
                try:
                    response = http.post(FEEDBACK, json={"feedback": [overridden(card)]})
                except httpx.HTTPError:
                    continue  # the server is gone: this post was never acknowledged
                if response.status_code == 200:
                    with lock:
                        acknowledged.append(card)

    threads = [threading.Thread(target=stream) for _ in range(4)]
    try:
        for thread in threads:
            thread.start()
        while len(acknowledged) < 60:
            stop.wait(0.02)
        os.killpg(server.process.pid, signal.SIGKILL)  # master and workers, mid-stream
        server.process.wait(10)
        stop.wait(0.3)
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)
        server.stop()
    stored = {r["card_uuid"] for r in feedback_rows(storage)}
    assert len(acknowledged) >= 60
    assert set(acknowledged) <= stored
