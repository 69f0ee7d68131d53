"""Cards from small FHIR records through the real clinical layer (detect_findings), not hand-built findings."""
from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from cds_service.card_builder import CardOptions, build_cards, load_cards
from cds_service.clinical.findings import detect_findings
from cds_service.clinical.knowledge import load_knowledge
from cds_service.fhir.record import RecordBuilder
from cds_service.protocol.validation import problems

from .conftest import make_call

TODAY = date(2026, 11, 24)
# spaCy warns when the clinical layer builds a matcher with no patterns (its concern, not the cards')
pytestmark = pytest.mark.filterwarnings(r"ignore:\[W036\]:UserWarning")


def _cards(reason_text: str) -> list[dict[str, Any]]:
    builder = RecordBuilder()
    builder.add("patient", {"resourceType": "Patient", "id": "pat-1", "gender": "male", "birthDate": "1970-01-01"})
    builder.add("encounter", {"resourceType": "Encounter", "id": "enc-1", "status": "in-progress",
                              "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                                        "code": "EMER"},
                              "reasonCode": [{"text": reason_text}]})
    record = builder.build("pat-1", "enc-1")
    findings = detect_findings(record, load_knowledge("leg_weakness"), TODAY)
    cards = build_cards(findings, record, load_cards("leg_weakness"), CardOptions(), make_call())
    assert problems({"cards": cards}, "response") == []
    return cards


def test_cauda_equina_presentation_gives_the_red_flag_card_first() -> None:
    cards = _cards("weakness in both legs, cannot urinate since yesterday")
    topics = [c["source"]["topic"]["code"] for c in cards]
    assert topics[0] == "red-flag-cauda-equina"
    assert {"leg-weakness-workup", "leg-weakness-differential"} <= set(topics)
    assert "Encounter reason: 'cannot urinate" in cards[0]["detail"]


@pytest.mark.parametrize("text", ["denies leg weakness", "annual physical, no complaints"])
def test_no_complaint_gives_no_card(text: str) -> None:
    assert _cards(text) == []
