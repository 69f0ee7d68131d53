"""The card data itself: every code cites the clinical reference, every source has a URL, bad data stops start-up."""
from __future__ import annotations

import dataclasses
import re

import pytest

from cds_service.card_builder import CardLibrary
from cds_service.card_builder.library import library_problems
from cds_service.clinical.knowledge import load_knowledge
from cds_service.errors import ConfigurationError

from ..conftest import DATA

#: The team's clinical reference, copied into the repository (provenance: tests/data/README.md).
REFERENCE = DATA / "reference" / "clinical-reference.md"


def _reference_text() -> str:
    return REFERENCE.read_text(encoding="utf-8")


def test_every_code_is_in_the_clinical_reference_with_a_status(library: CardLibrary) -> None:
    text = _reference_text()
    codes = [c for order in library.orders.values() for c in order.codes]
    assert len(codes) > 20
    for code in codes:
        assert re.search(rf"(?<![\d-]){re.escape(code.code)}(?![\d-])", text), f"{code.code} not in the reference"
        assert code.status in ("V", "S") and code.code_source.startswith("clinical-reference")
        if code.is_cpt:
            assert code.status == "S", "CPT is secondary-source only"


def test_every_source_is_a_reference_source_with_an_https_url(library: CardLibrary) -> None:
    text = _reference_text()
    for sid, source in library.sources.items():
        assert source.url.startswith("https://") and source.title
        if sid == "LEX":  # the reference's own engineering lexicon (section 6.1), not a section-7 source
            continue
        if source.origin:  # added after the reference, and says from where
            continue
        assert re.search(rf"^\| {sid} \|", text, flags=re.M), f"{sid} is not in the reference's source list"


KNOWLEDGE = load_knowledge("leg_weakness")


def _check_library(library: CardLibrary) -> None:
    problems = list(library_problems(library, KNOWLEDGE))
    if problems:
        raise ConfigurationError("; ".join(problems))


def test_library_check_rejects_bad_data(library: CardLibrary) -> None:
    _check_library(library)  # the shipped data passes
    red = library.red_flags["red-flag-stroke"]
    cases = {
        "long summary": dataclasses.replace(red, summary="x" * 140),
        "unknown source": dataclasses.replace(red, sources=("S999",)),
        "unknown order": dataclasses.replace(red, orders=("pet-scan",)),
        "bad indicator": dataclasses.replace(red, indicator="hard-stop"),
    }
    for what, bad in cases.items():
        broken = dataclasses.replace(library, red_flags={**library.red_flags, red.topic: bad})
        with pytest.raises(ConfigurationError):
            _check_library(broken)
        assert what
    mri = library.orders["mri-lumbar"]
    unverified = dataclasses.replace(mri, codes=(dataclasses.replace(mri.codes[0], status="U"),))
    with pytest.raises(ConfigurationError, match="V or S only"):
        _check_library(dataclasses.replace(library, orders={**library.orders, "mri-lumbar": unverified}))


def test_every_red_flag_and_cause_of_the_clinical_layer_has_card_content(library: CardLibrary) -> None:
    assert {r.topic for r in KNOWLEDGE.red_flags} == set(library.red_flags)
    differential = next(t for t in library.anchor_cards if t.topic == "leg-weakness-differential")
    assert {d.id for d in KNOWLEDGE.differential} <= set(differential.causes)  # type: ignore[union-attr]


@pytest.mark.parametrize("what", ["rule without card", "card without rule"])
def test_a_red_flag_rule_and_its_card_must_come_together(library: CardLibrary, what: str) -> None:
    """A rule with no card would fire into a generic card; a card with no rule is dead data."""
    topic = "red-flag-stroke"
    if what == "rule without card":
        broken = dataclasses.replace(library, red_flags={t: r for t, r in library.red_flags.items() if t != topic})
    else:
        extra = dataclasses.replace(library.red_flags[topic], topic="red-flag-unreachable")
        broken = dataclasses.replace(library, red_flags={**library.red_flags, "red-flag-unreachable": extra})
    with pytest.raises(ConfigurationError, match="no card|no red-flag rule"):
        _check_library(broken)


def test_the_response_schema_is_not_vacuous(library: CardLibrary) -> None:
    """Negative control: the schema the card tests rely on does reject broken cards."""
    from cds_service.clinical.model import Findings
    from cds_service.protocol.validation import problems

    from .conftest import cards_for, red_flag

    card = cards_for(Findings(red_flags=(red_flag("stroke"),)))[0]
    assert problems({"cards": [card]}, "response") == []
    for broken in ({k: v for k, v in card.items() if k != "source"}, {**card, "indicator": "hard-stop"},
                   {**card, "overrideReasons": [{"system": "x", "code": "y"}]},
                   {k: v for k, v in card.items() if k != "selectionBehavior"}):
        assert problems({"cards": [broken]}, "response") != []


def test_lab_order_codes_are_in_the_observation_prefetch(library: CardLibrary) -> None:
    """Lab results can only suppress a repeat order if the service asks for (and keeps) them."""

    wanted = set(KNOWLEDGE.observation_codes())
    labs = {(c.system, c.code) for o in library.orders.values() if o.category == "laboratory" for c in o.codes}
    assert labs and labs <= wanted
