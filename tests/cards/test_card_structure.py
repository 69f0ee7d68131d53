"""Structure every card must keep, over every combination of red flags: the orders a card
lists are the orders it suggests, and its Markdown lists nest as written (CommonMark)."""
from __future__ import annotations

import itertools
import re
from typing import Any

import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token

from cds_service.clinical.model import DifferentialEntry

from .conftest import DIABETES, RULES, cards_for, red_flag, weakness_findings

CODES_HEADING = "**Codes in the proposed orders**"
PAIRS = list(itertools.combinations(sorted(RULES), 2))


def _listed_orders(card: dict[str, Any]) -> set[str]:
    """Order texts under the card's "Codes in the proposed orders" heading."""
    lines = card["detail"].splitlines()
    if CODES_HEADING not in lines:
        return set()
    listed = []
    for line in lines[lines.index(CODES_HEADING) + 1:]:
        if not line.startswith("- "):
            break
        listed.append(line[2:].split(": ", 1)[0])
    return set(listed)


def _suggested_orders(card: dict[str, Any]) -> set[str]:
    return {a["resource"]["code"]["text"] for s in card.get("suggestions", []) for a in s["actions"]}


@pytest.mark.parametrize(("first", "second"), PAIRS, ids=[f"{a}+{b}" for a, b in PAIRS])
def test_a_card_lists_exactly_the_orders_it_suggests(first: str, second: str) -> None:
    """Two red flags wanting one test: it is proposed and listed once, on the first card.

    Before the card builder planned orders up front, cauda equina + cord compression gave a
    cord-compression card listing "MRI whole spine: LOINC 30854-4" with no such suggestion.
    """
    cards = cards_for(weakness_findings(red_flag(first), red_flag(second)))
    for card in cards:
        assert _listed_orders(card) == _suggested_orders(card), card["source"]["topic"]["code"]
    suggested = [text for card in cards for text in _suggested_orders(card)]
    assert len(suggested) == len(set(suggested)), "an order is proposed by two cards"


def test_cauda_equina_and_cord_compression_share_the_whole_spine_mri() -> None:
    cards = {c["source"]["topic"]["code"]: c for c in
             cards_for(weakness_findings(red_flag("cauda-equina"), red_flag("cord-compression")))}
    whole_spine = "MRI whole spine (cervical, thoracic and lumbar) without contrast"
    assert whole_spine in _suggested_orders(cards["red-flag-cauda-equina"])
    cord = cards["red-flag-cord-compression"]
    assert whole_spine not in _listed_orders(cord) and "LOINC 30854-4" not in cord["detail"]


def _top_level_lists(tokens: list[Token]) -> list[tuple[str, int]]:
    """(kind, item count) of every list that is not inside another list."""
    out, depth, items = [], 0, 0
    for token in tokens:
        if token.type in ("bullet_list_open", "ordered_list_open"):
            if depth == 0:
                kind, items = token.type.split("_")[0], 0
            depth += 1
        elif token.type in ("bullet_list_close", "ordered_list_close"):
            depth -= 1
            if depth == 0:
                out.append((kind, items))
        elif token.type == "list_item_open" and depth == 1:
            items += 1
    return out


def test_a_long_differential_keeps_its_sub_bullets_inside_the_numbered_items() -> None:
    """Item 10's sub-bullet needs four spaces ("10. " is four characters wide); with three,
    CommonMark ends the numbered list and starts a new bullet list."""
    entries = tuple(DifferentialEntry(f"cause-{i}", f"Cause {i}", "spinal", (DIABETES,), rank=i)
                    for i in range(1, 13))
    card = next(c for c in cards_for(weakness_findings(differential=entries))
                if c["source"]["topic"]["code"] == "leg-weakness-differential")
    lists = _top_level_lists(MarkdownIt("commonmark").parse(card["detail"]))
    assert ("ordered", 12) in lists, lists


def _item_depths(markdown: str) -> list[int]:
    """The list depth (1 = top level) of every list item, in document order."""
    depths, depth = [], 0
    for token in MarkdownIt("commonmark").parse(markdown):
        if token.type in ("bullet_list_open", "ordered_list_open"):
            depth += 1
        elif token.type in ("bullet_list_close", "ordered_list_close"):
            depth -= 1
        elif token.type == "list_item_open":
            depths.append(depth)
    return depths


@pytest.mark.parametrize("flag", sorted(RULES))
def test_every_card_renders_its_lists_as_written(flag: str) -> None:
    """Each list line is one list item, top level when flush left, nested when indented."""
    for possible in (False, True):
        for card in cards_for(weakness_findings(red_flag(flag, possible=possible))):
            written = [line for line in card["detail"].splitlines() if re.match(r"\s*(?:- |\d+\. )", line)]
            expected = [2 if line.startswith(" ") else 1 for line in written]
            assert _item_depths(card["detail"]) == expected, card["source"]["topic"]["code"]
