"""Clinical notes given by ``url``: fetched from fhirServer only, within the time budget, capped.

A real ``cds-service serve`` (default 1.5 s budget) reads DocumentReferences from the
prefetch; their attachments point at a real HTTP server on loopback that we control,
which answers the note, hangs, sends 2 MB, or sends a PDF.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from tests.fetch.conftest import (
    FAULT_BUDGET_MS,
    NOTE_TEXT,
    OPTIONAL_KEYS,
    RED_FLAG_TEXT,
    FaultServer,
    note_document,
    vignette_bundle,
)
from tests.fetch.hookcalls import call, hook_request, log_events

TOKEN = "note-test-token"
MARGIN_S = 1.0  # behaviour, not a benchmark: answered within the budget plus a generous margin
PID, EID = "np1", "ne1"


class NoteServer(FaultServer):
    """The fault server, plus Binary answers: ``/notes-<mode>/fhir/Binary/<id>``."""

    @staticmethod
    def _text(h: BaseHTTPRequestHandler, body: bytes, ctype: str = "text/plain; charset=utf-8") -> None:
        FaultServer.send(h, 200, body, ctype)

    def _notes_ok(self, h: BaseHTTPRequestHandler) -> None:
        self._text(h, NOTE_TEXT.encode())

    def _notes_big(self, h: BaseHTTPRequestHandler) -> None:
        self._text(h, (NOTE_TEXT + "Observations stable. " * 100_000).encode())  # ~2 MB

    def _notes_pdf(self, h: BaseHTTPRequestHandler) -> None:
        self._text(h, b"%PDF-1.4 not a text note", "application/pdf")

    def _notes_hang(self, h: BaseHTTPRequestHandler) -> None:
        self.release.wait(30)
        self._text(h, NOTE_TEXT.encode())

    def _elsewhere(self, h: BaseHTTPRequestHandler) -> None:
        self._text(h, NOTE_TEXT.encode())


@pytest.fixture(scope="module")
def note_server() -> Iterator[NoteServer]:
    server = NoteServer()
    yield server
    server.stop()


def _request(fhir_server: str | None, document: dict[str, Any], reason: str = "review") -> dict[str, Any]:
    """Everything prefetched (empty where there is nothing), the note's DocumentReference included."""
    resources = [e["resource"] for e in vignette_bundle(PID, EID, reason)["entry"]]
    empty = {"resourceType": "Bundle", "type": "searchset", "total": 0}
    prefetch = {"patient": resources[0], "encounter": resources[1], **{k: empty for k in OPTIONAL_KEYS},
                "documents": {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": document}]}}
    return hook_request("leg-weakness", PID, EID, fhir_server, TOKEN if fhir_server else None, prefetch)


def _answer(server: Any, body: dict[str, Any]) -> tuple[list[str], float]:
    start = time.monotonic()
    r = call(server.url, "leg-weakness", body)
    took = time.monotonic() - start
    assert r.status_code == 200, r.text[:500]
    return [c["source"]["topic"]["code"] for c in r.json()["cards"]], took


def _skipped(server: Any, body: dict[str, Any]) -> list[dict[str, str]]:
    time.sleep(0.2)  # the log line is written after the response
    rows = [r for r in log_events(server.log_text(), "notes-skipped") if r.get("hookInstance") == body["hookInstance"]]
    return rows[-1]["skipped"] if rows else []


def test_an_inline_note_is_read_without_any_fhir_server(tight_server) -> None:
    body = _request(None, note_document(PID, EID, NOTE_TEXT))
    topics, _ = _answer(tight_server, body)
    assert topics[0] == "red-flag-cauda-equina", topics


def test_a_url_note_is_fetched_from_fhir_server_with_its_token(tight_server, note_server) -> None:
    body = _request(note_server.base("notes-ok"), note_document(PID, EID, None, url="Binary/b1"))
    topics, _ = _answer(tight_server, body)
    assert topics[0] == "red-flag-cauda-equina", topics
    assert note_server.paths_for("notes-ok") == [("/notes-ok/fhir/Binary/b1", f"Bearer {TOKEN}")]


@pytest.mark.parametrize("url", ["http://localhost:9/fhir/Binary/b1", "ELSEWHERE/fhir/Binary/b1"])
def test_a_note_elsewhere_is_never_fetched(tight_server, note_server, url: str) -> None:
    """The token is for fhirServer only: another origin, or another base path on the same host, is not asked."""
    url = url.replace("ELSEWHERE", f"{note_server.url}/elsewhere")
    body = _request(note_server.base("notes-ok"), note_document(PID, EID, None, url=url))
    topics, _ = _answer(tight_server, body)
    assert topics == []  # the encounter says only "review"; the note was not read
    assert note_server.paths_for("elsewhere") == []
    assert any("not on fhirServer" in s["reason"] for s in _skipped(tight_server, body))


def test_a_hanging_note_server_costs_no_more_than_the_budget(tight_server, note_server) -> None:
    """The red flag in the encounter reason still goes out, in time; the note is skipped as timed out."""
    body = _request(note_server.base("notes-hang"), note_document(PID, EID, None, url="Binary/b1"), RED_FLAG_TEXT)
    topics, took = _answer(tight_server, body)
    assert took < FAULT_BUDGET_MS / 1000 + MARGIN_S
    assert "red-flag-cauda-equina" in topics, topics
    assert any("timed out" in s["reason"] for s in _skipped(tight_server, body))


def test_a_2_mb_note_is_read_up_to_the_cap_in_time(tight_server, note_server) -> None:
    body = _request(note_server.base("notes-big"), note_document(PID, EID, None, url="Binary/b1"))
    topics, took = _answer(tight_server, body)
    assert took < FAULT_BUDGET_MS / 1000 + MARGIN_S
    assert topics[0] == "red-flag-cauda-equina", topics


def test_a_pdf_answer_is_skipped_with_the_reason(tight_server, note_server) -> None:
    body = _request(note_server.base("notes-pdf"), note_document(PID, EID, None, url="Binary/b1"))
    topics, _ = _answer(tight_server, body)
    assert topics == []
    assert any("application/pdf" in s["reason"] for s in _skipped(tight_server, body))


def test_a_note_about_another_patient_is_refused(tight_server) -> None:
    """As for every resource: deciding on another patient's note could show their red flag here."""
    body = _request(None, note_document("someone-else", EID, NOTE_TEXT))
    r = call(tight_server.url, "leg-weakness", body)
    assert r.status_code == 400, r.text
    assert "another patient" in r.text


@pytest.mark.parametrize("url", ["https://[::1/Binary/x", "https://h.example:99999/fhir/Binary/x"])
def test_a_note_url_that_does_not_parse_is_skipped_not_a_500(tight_server, note_server, url: str) -> None:
    """A DocumentReference url that does not parse is not on the FHIR server: skipped, never fetched."""
    body = _request(note_server.base("notes-ok"), note_document(PID, EID, None, url=url))
    topics, _ = _answer(tight_server, body)
    assert topics == []
    assert any("not on fhirServer" in s["reason"] for s in _skipped(tight_server, body))
