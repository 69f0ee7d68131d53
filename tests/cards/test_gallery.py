"""Gallery: every card kind rendered from representative findings, stored as reviewed examples.

``tests/cards/gallery/<topic>.json`` is the exact card (fixed uuids and clock) and
``<topic>.md`` is how its summary and detail read as Markdown. The test fails when the
output changes; after reviewing a deliberate change, regenerate with
``CARDS_GALLERY_REGENERATE=1 python -m pytest tests/cards/test_gallery.py``.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from cds_service.protocol.validation import problems

from .conftest import card_kinds, cards_for, red_flag, weakness_findings

GALLERY = Path(__file__).parent / "gallery"
REGENERATE = os.environ.get("CARDS_GALLERY_REGENERATE") == "1"


def _gallery_cases() -> dict[str, dict[str, Any]]:
    cases: dict[str, dict[str, Any]] = {}
    for topic, findings in card_kinds().items():
        cases[topic] = next(c for c in cards_for(findings) if c["source"]["topic"]["code"] == topic)
    possible = cards_for(weakness_findings(red_flag("cauda-equina", possible=True)))
    cases["red-flag-cauda-equina-possible"] = possible[0]
    cases["leg-weakness-workup-with-red-flag"] = next(
        c for c in possible if c["source"]["topic"]["code"] == "leg-weakness-workup")
    return cases


def _markdown(card: dict[str, Any]) -> str:
    head = f"### [{card['indicator']}] {card['summary']}\n\n"
    suggestions = "".join(f"- Suggestion: {s['label']}\n" for s in card.get("suggestions", []))
    links = "".join(f"- Link: [{k['label']}]({k['url']})\n" for k in card.get("links", []))
    return head + card["detail"] + ("\n" + suggestions + links if suggestions or links else "")


CASES = _gallery_cases()


@pytest.mark.parametrize("name", sorted(CASES))
def test_gallery_card_matches_reviewed_example(name: str) -> None:
    card = CASES[name]
    assert problems({"cards": [card]}, "response") == []
    json_path, md_path = GALLERY / f"{name}.json", GALLERY / f"{name}.md"
    rendered = json.dumps(card, indent=2, ensure_ascii=False) + "\n"
    if REGENERATE or not json_path.exists():
        GALLERY.mkdir(exist_ok=True)
        json_path.write_text(rendered, encoding="utf-8")
        md_path.write_text(_markdown(card), encoding="utf-8")
        if not REGENERATE:
            pytest.fail(f"{json_path.name} was missing and has been written; review and commit it")
    assert json.loads(json_path.read_text(encoding="utf-8")) == card, (
        f"{name} changed; review, then regenerate with CARDS_GALLERY_REGENERATE=1")
    assert md_path.read_text(encoding="utf-8") == _markdown(card)


def test_gallery_holds_no_stale_examples() -> None:
    """Every reviewed example belongs to a card kind the library still produces."""
    stems = {p.stem for p in GALLERY.glob("*.json")} | {p.stem for p in GALLERY.glob("*.md")}
    assert stems == set(CASES)
