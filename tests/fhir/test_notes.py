"""DocumentReference attachments -> note text: plain and HTML read, PDFs ignored, bad data
skipped with a reason (never an error), big notes capped."""
from __future__ import annotations

import base64
import time
from typing import Any

import pytest

from cds_service.fhir.notes import Note, NoteLimits, Pending, SkippedNote, html_to_text, read_document


def _doc(*attachments: dict[str, Any], status: str = "current") -> dict[str, Any]:
    return {"resourceType": "DocumentReference", "id": "doc-1", "status": status, "date": "2026-11-24T09:30:00Z",
            "subject": {"reference": "Patient/p1"}, "context": {"encounter": [{"reference": "Encounter/e1"}]},
            "content": [{"attachment": a} for a in attachments]}


def _b64(text: str, encoding: str = "utf-8") -> str:
    return base64.b64encode(text.encode(encoding)).decode()


def test_plain_text_is_read_with_its_encounter() -> None:
    notes, pending, skipped = read_document(_doc({"contentType": "text/plain", "data": _b64("CC: weak legs")}),
                                            NoteLimits())
    assert notes == [Note("doc-1", "content[0].attachment", "CC: weak legs", "Encounter/e1", "2026-11-24T09:30:00Z")]
    assert pending == [] and skipped == []


def test_html_is_stripped_to_lines_per_block() -> None:
    html = ("<html><head><title>x</title><style>p{}</style></head><body><h2>HPI</h2><p>Both legs "
            "<b>weak</b> since Tuesday.</p><ul><li>Retention: yes</li></ul><script>alert(1)</script></body></html>")
    notes, _, _ = read_document(_doc({"contentType": "text/html; charset=utf-8", "data": _b64(html)}), NoteLimits())
    assert notes[0].text == "HPI\n\nBoth legs weak since Tuesday.\n\nRetention: yes"


def test_charset_is_honoured_and_a_pdf_is_ignored() -> None:
    doc = _doc({"contentType": "application/pdf", "data": base64.b64encode(b"%PDF-1.4 ...").decode()},
               {"contentType": "text/plain; charset=iso-8859-1", "data": _b64("Fièvre 38.9", "latin-1")})
    notes, _, skipped = read_document(doc, NoteLimits())
    assert [n.text for n in notes] == ["Fièvre 38.9"] and [n.element for n in notes] == ["content[1].attachment"]
    assert skipped == []


@pytest.mark.parametrize(("attachment", "reason"), [
    ({"contentType": "text/plain", "data": "***not base64***"}, "not valid base64"),
    ({"contentType": "text/plain", "data": base64.b64encode(b"\xff\xfe bad").decode()}, "not valid utf-8"),
    ({"contentType": "text/plain; charset=klingon", "data": _b64("x")}, "unknown charset"),
    ({"contentType": "text/plain", "data": _b64("   ")}, "no text"),
    ({"contentType": "text/plain"}, "neither data nor url"),
])
def test_unreadable_attachments_are_skipped_with_a_reason(attachment: dict[str, Any], reason: str) -> None:
    notes, _, skipped = read_document(_doc(attachment), NoteLimits())
    assert notes == [] and len(skipped) == 1 and reason in skipped[0].reason


def test_a_superseded_document_is_not_read() -> None:
    notes, _, skipped = read_document(_doc({"contentType": "text/plain", "data": _b64("x")}, status="superseded"),
                                      NoteLimits())
    assert notes == [] and skipped == [SkippedNote("doc-1", "status", "status 'superseded' is not current")]


def test_a_url_attachment_is_left_to_fetch() -> None:
    _, pending, _ = read_document(_doc({"contentType": "text/plain", "url": "Binary/b1"}), NoteLimits())
    assert pending == [Pending("doc-1", "content[0].attachment", "Binary/b1", "text/plain", "Encounter/e1",
                               "2026-11-24T09:30:00Z")]


def test_a_2_mb_note_is_capped_quickly() -> None:
    big = "é" + "Weak legs. " * 200_000  # about 2.2 MB, a two-byte character first
    started = time.monotonic()
    notes, _, skipped = read_document(_doc({"contentType": "text/plain", "data": _b64(big)}),
                                      NoteLimits(max_chars=5000))
    assert time.monotonic() - started < 1.0
    assert skipped == [] and len(notes[0].text) == 5000 and notes[0].truncated


def test_html_text_keeps_entities_and_drops_markup() -> None:
    assert html_to_text("<div>BP 120/80 &amp; HR 90</div><div>&lt;not a tag&gt;</div>") == \
        "BP 120/80 & HR 90\n\n<not a tag>"
