"""Card content and shape: every card kind, ranking, evidence, suggestions, already-done orders."""
from __future__ import annotations

import re
from typing import Any

import pytest
from fhir.resources.R4B.servicerequest import ServiceRequest

from cds_service.card_builder import CardLibrary, CardOptions
from cds_service.clinical.model import Anchor, Evidence, Finding, Findings, RedFlag
from cds_service.protocol.validation import problems

from .conftest import (
    ENCOUNTER_ID,
    LINK_BASE,
    NOW,
    PATIENT_ID,
    RED_FLAG_TRIGGERS,
    WEAK_BOTH,
    card_kinds,
    cards_for,
    make_call,
    make_record,
    red_flag,
    weakness_findings,
)

ALL_KINDS = card_kinds()


def _card(findings: Findings, topic: str, **kwargs: Any) -> dict[str, Any]:
    found = [c for c in cards_for(findings, **kwargs) if c["source"]["topic"]["code"] == topic]
    assert len(found) == 1, f"expected one {topic} card"
    return found[0]


def _resources(card: dict[str, Any]) -> list[dict[str, Any]]:
    return [a["resource"] for s in card.get("suggestions", []) for a in s["actions"]]


def test_every_topic_in_the_library_has_a_representative(library: CardLibrary) -> None:
    assert set(library.topics) == set(ALL_KINDS)


@pytest.mark.parametrize("topic", sorted(ALL_KINDS))
def test_card_kind_is_valid_and_complete(topic: str, library: CardLibrary) -> None:
    card = _card(ALL_KINDS[topic], topic)
    assert problems({"cards": [card]}, "response") == []
    assert len(card["summary"]) < 140 and card["summary"].strip()
    assert card["uuid"] and card["source"]["url"].startswith("https://")
    assert card["source"]["topic"] == {"system": library.topic_system, "code": topic,
                                       "display": card["source"]["topic"]["display"]}
    assert card["overrideReasons"] and all(r["display"] and r["system"] and r["code"]
                                           for r in card["overrideReasons"])
    assert "**Why this card:**" in card["detail"]
    assert "Decision support, not a diagnosis" in card["detail"]
    assert not re.search(r"<[a-zA-Z/!]", card["detail"]), "detail must be Markdown, no HTML"
    assert all(link["type"] == "absolute" and link["url"].startswith("https://") for link in card.get("links", []))
    for suggestion in card.get("suggestions", []):
        assert suggestion["uuid"] and suggestion["label"]
        assert all(a["type"] == "create" and a["description"] for a in suggestion["actions"])
    if card.get("suggestions"):
        assert card["selectionBehavior"] in ("any", "at-most-one")
        if card["selectionBehavior"] == "at-most-one":
            assert sum(bool(s.get("isRecommended")) for s in card["suggestions"]) <= 1


def test_no_card_when_there_is_nothing_to_say() -> None:
    assert cards_for(Findings()) == []
    assert cards_for(Findings(risk_factors=(WEAK_BOTH,))) == []


def test_ranking_critical_then_warning_then_info_one_card_per_topic() -> None:
    duplicate = RedFlag(id="cauda-equina", topic="red-flag-cauda-equina", indicator="critical",
                        triggers=RED_FLAG_TRIGGERS["stroke"])
    findings = weakness_findings(red_flag("fracture"), red_flag("cauda-equina"), duplicate, red_flag("stroke"))
    cards = cards_for(findings)
    indicators = [c["indicator"] for c in cards]
    assert indicators == sorted(indicators, key=["critical", "warning", "info"].index)
    topics = [c["source"]["topic"]["code"] for c in cards]
    assert len(topics) == len(set(topics)) == 5
    merged = next(c for c in cards if c["source"]["topic"]["code"] == "red-flag-cauda-equina")
    assert "sudden right leg and arm weakness" in merged["detail"]  # triggers of both flags kept
    assert len({c["uuid"] for c in cards}) == len(cards)


def test_red_flag_card_names_danger_action_evidence_time_target_and_source() -> None:
    card = _card(Findings(red_flags=(red_flag("cauda-equina"),)), "red-flag-cauda-equina")
    assert card["indicator"] == "critical"
    assert card["summary"].startswith("Possible cauda equina syndrome") and "MRI" in card["summary"]
    assert "Encounter reason: 'cannot urinate since yesterday'" in card["detail"]
    assert "within 4 hours" in card["detail"]
    assert "bestpractice.bmj.com" in card["detail"] and "bestpractice.bmj.com" in card["source"]["url"]
    assert card["selectionBehavior"] == "at-most-one"  # lumbar vs whole-spine MRI exclude each other
    priorities = {r["priority"] for r in _resources(card)}
    assert priorities == {"stat"}


def test_possible_red_flag_reads_as_a_checklist() -> None:
    card = _card(Findings(red_flags=(red_flag("cauda-equina", possible=True),)), "red-flag-cauda-equina")
    assert card["summary"].startswith("Suspected cauda equina syndrome: confirm")
    assert "- [ ] " in card["detail"]


def test_fracture_is_a_warning() -> None:
    assert _card(Findings(red_flags=(red_flag("fracture"),)), "red-flag-fracture")["indicator"] == "warning"


def test_workup_defers_to_red_flag_and_links_handout() -> None:
    quiet = _card(weakness_findings(), "leg-weakness-workup")
    assert "act on that card first" not in quiet["detail"]
    assert "No imaging in the first 6 weeks" in quiet["detail"] and "no early imaging" in quiet["summary"]
    loud = _card(weakness_findings(red_flag("stroke")), "leg-weakness-workup")
    assert "Red flag shown for this patient (stroke or TIA): act on that card first" in loud["detail"]
    # no "no imaging" advice next to a red-flag card
    assert "No imaging" not in loud["detail"] and "no early imaging" not in loud["summary"]
    assert loud["summary"].startswith("Leg weakness: act on the red-flag card first")
    assert loud["selectionBehavior"] == "any"
    handout = [link for link in loud["links"] if "patient-education" in link["url"]]
    assert handout == [{"label": handout[0]["label"], "url": LINK_BASE + "/patient-education/leg-weakness",
                        "type": "absolute"}]
    for needle in ("bladder", "saddle", "anticoagulants", "straight-leg raise", "peripheral pulses",
                   "exception to 'no early imaging'", "Nerve conduction", "HbA1c", "TSH",
                   "Creatine kinase", "ABI"):
        assert needle in loud["detail"], needle


def test_links_follow_options() -> None:
    card = _card(weakness_findings(), "leg-weakness-workup",
                 options=CardOptions(guideline_links=False, handout_link=False))
    assert "links" not in card
    only_guidelines = _card(weakness_findings(), "leg-weakness-workup",
                            options=CardOptions(handout_link=False))
    assert only_guidelines["links"] and all("patient-education" not in k["url"] for k in only_guidelines["links"])
    no_base = _card(weakness_findings(), "leg-weakness-workup", call=make_call(link_base_url=""))
    assert all("patient-education" not in k["url"] for k in no_base["links"])


def test_differential_ordered_by_rank_with_patient_facts() -> None:
    detail = _card(weakness_findings(), "leg-weakness-differential")["detail"]
    disc, neuro, pad = (detail.index(s) for s in ("Lumbar disc herniation", "Peripheral neuropathy",
                                                  "Peripheral artery disease"))
    assert disc < neuro < pad
    assert "Condition: Diabetes mellitus type 2 (disorder) (SNOMED CT 44054006)" in detail
    for other in ("spinal stenosis", "Sciatica", "Multiple sclerosis", "Stroke"):
        assert other.lower() in detail.lower()


def test_abi_suggested_only_when_arterial_disease_is_on_the_differential() -> None:
    with_pad = _card(weakness_findings(), "leg-weakness-workup")
    assert any(r["code"]["text"].startswith("Ankle-brachial") for r in _resources(with_pad))
    without = _card(Findings(anchor=Anchor(WEAK_BOTH), complaint=(WEAK_BOTH,)), "leg-weakness-workup")
    assert not any(r["code"]["text"].startswith("Ankle-brachial") for r in _resources(without))


def test_patient_text_cannot_inject_markdown_or_html() -> None:
    evil = Finding("bladder-dysfunction", "urinary retention",
                   (Evidence("Encounter", ENCOUNTER_ID, "reasonCode[0].text",
                             text="<img src=x onerror=alert(1)> [click](http://evil.example) *bold*"),))
    flag = RedFlag(id="cauda-equina", topic="red-flag-cauda-equina", indicator="critical", triggers=(evil,))
    detail = _card(Findings(red_flags=(flag,)), "red-flag-cauda-equina")["detail"]
    assert not re.search(r"(?<!\\)<", detail) and not re.search(r"(?<!\\)\]\(http://evil", detail)
    assert "\\<img" in detail


def test_suggested_service_requests_validate_as_fhir_r4(library: CardLibrary) -> None:
    everything = weakness_findings(*(red_flag(r) for r in RED_FLAG_TRIGGERS))
    resources = [r for card in cards_for(everything) for r in _resources(card)]
    assert len(resources) > 15
    for resource in resources:
        ServiceRequest.model_validate(resource)
        assert resource["status"] == "draft" and resource["intent"] == "proposal"
        assert resource["subject"] == {"reference": f"Patient/{PATIENT_ID}"}
        assert resource["encounter"] == {"reference": f"Encounter/{ENCOUNTER_ID}"}
        assert resource["priority"] in ("stat", "urgent", "routine")
        assert resource["reasonCode"][0]["text"]
    by_topic = {c["source"]["topic"]["code"]: c for c in cards_for(everything)}
    cord = _resources(by_topic["red-flag-cord-compression"])[0]
    assert cord["reasonReference"] == [{"reference": "Condition/cond-ca"}]


def test_every_suggested_code_comes_from_card_data_and_cites_a_source(library: CardLibrary) -> None:
    known = {(c.system, c.code): c for order in library.orders.values() for c in order.codes}
    everything = weakness_findings(*(red_flag(r) for r in RED_FLAG_TRIGGERS))
    for options in (CardOptions(), CardOptions(cpt_codes=True)):
        for card in cards_for(everything, options=options):
            for resource in _resources(card):
                for coding in resource["code"].get("coding", []):
                    code = known[(coding["system"], coding["code"])]
                    assert code.display == coding["display"] and code.status in ("V", "S") and code.code_source
                    assert not code.match_only
                    if code.is_cpt:
                        assert options.cpt_codes and code.status == "S"
                        assert f"CPT {code.code} (secondary source" in card["detail"]


def test_no_patient_id_means_no_orders_but_card_still_shown() -> None:
    card = _card(Findings(red_flags=(red_flag("stroke"),)), "red-flag-stroke",
                 record=make_record_without_patient(), call=make_call(patient_id=None, encounter_id=None))
    assert "suggestions" not in card and "selectionBehavior" not in card


def make_record_without_patient():  # type: ignore[no-untyped-def]
    from cds_service.fhir.record import PatientRecord
    return PatientRecord()


# ----- already ordered or resulted

def _lab(oid: str, loinc: str, when: str, status: str = "final") -> dict[str, Any]:
    return {"resourceType": "Observation", "id": oid, "status": status,
            "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]},
            "subject": {"reference": f"Patient/{PATIENT_ID}"}, "effectiveDateTime": when}


def _order_texts(card: dict[str, Any]) -> set[str]:
    return {r["code"]["text"] for r in _resources(card)}


def test_recent_results_and_orders_are_not_suggested_again() -> None:
    record = make_record(
        _lab("a1c", "4548-4", "2026-10-01"),           # 54 days ago, window 90: current
        _lab("cbc-old", "58410-2", "2026-11-01"),      # 23 days ago, window 7: stale
        _lab("crp-bad", "1988-5", "2026-11-23", status="cancelled"),
        {"resourceType": "ServiceRequest", "id": "sr-mri", "status": "active", "intent": "order",
         "code": {"coding": [{"system": "http://loinc.org", "code": "30679-5"}]},
         "subject": {"reference": f"Patient/{PATIENT_ID}"}, "authoredOn": "2026-11-20"},
        {"resourceType": "DiagnosticReport", "id": "dr-b12", "status": "final",
         "code": {"coding": [{"system": "http://loinc.org", "code": "2132-9"}]},
         "subject": {"reference": f"Patient/{PATIENT_ID}"}, "effectiveDateTime": "2026-11-10"},
    )
    findings = weakness_findings(red_flag("cauda-equina"))
    workup = _card(findings, "leg-weakness-workup", record=record)
    texts = _order_texts(workup)
    assert "HbA1c" not in texts and "Vitamin B12" not in texts
    assert "Full blood count (CBC)" in texts and "C-reactive protein" in texts
    assert "Observation/a1c (2026-10-01)" in workup["detail"]
    assert "DiagnosticReport/dr-b12" in workup["detail"]
    ces = _card(findings, "red-flag-cauda-equina", record=record)
    assert "MRI lumbar spine without contrast" not in _order_texts(ces)
    assert "ServiceRequest/sr-mri (2026-11-20)" in ces["detail"]
    assert problems({"cards": [workup, ces]}, "response") == []


def test_outside_window_or_unrelated_code_is_suggested() -> None:
    record = make_record(_lab("a1c-old", "4548-4", "2026-05-01"), _lab("other", "8310-5", "2026-11-24"))
    texts = _order_texts(_card(weakness_findings(), "leg-weakness-workup", record=record))
    assert "HbA1c" in texts and "Glucose (serum or plasma)" in texts


def test_imaging_study_and_procedure_count_as_done() -> None:
    record = make_record(
        {"resourceType": "ImagingStudy", "id": "is-1", "status": "available",
         "subject": {"reference": f"Patient/{PATIENT_ID}"}, "started": "2026-11-24T14:00:00Z",
         "procedureCode": [{"coding": [{"system": "http://loinc.org", "code": "30799-1"}]}]},
        {"resourceType": "Procedure", "id": "proc-mri", "status": "completed",
         "subject": {"reference": f"Patient/{PATIENT_ID}"}, "performedDateTime": "2026-11-23",
         "code": {"coding": [{"system": "http://snomed.info/sct", "code": "241645008"}]}},
    )
    ces = _card(Findings(red_flags=(red_flag("cauda-equina"),)), "red-flag-cauda-equina", record=record)
    assert _order_texts(ces) == {"MRI whole spine (cervical, thoracic and lumbar) without contrast"}
    assert "Procedure/proc-mri (2026-11-23)" in ces["detail"]
    card = _card(Findings(red_flags=(red_flag("stroke"),)), "red-flag-stroke", record=record)
    assert "CT head without contrast (emergent)" not in _order_texts(card)
    assert "MRI brain without contrast (emergent)" in _order_texts(card)
    assert "isRecommended" not in card["suggestions"][0]  # the recommended option is already done


def test_clock_is_the_call_clock() -> None:
    resource = _resources(_card(weakness_findings(), "leg-weakness-workup"))[0]
    assert resource["authoredOn"] == NOW.isoformat(timespec="seconds")


def test_workup_does_not_repeat_orders_a_red_flag_card_proposes() -> None:
    cards = cards_for(weakness_findings(red_flag("spinal-infection")))
    infection, workup = (next(c for c in cards if c["source"]["topic"]["code"] == t)
                         for t in ("red-flag-spinal-infection", "leg-weakness-workup"))
    assert {"Full blood count (CBC)", "C-reactive protein", "ESR"} <= _order_texts(infection)
    assert not {"Full blood count (CBC)", "C-reactive protein", "ESR"} & _order_texts(workup)
    assert "Proposed on the red-flag card" in workup["detail"]
    assert {r["priority"] for r in _resources(infection)} == {"stat"}


def test_every_uuid_in_a_response_is_unique() -> None:
    cards = cards_for(weakness_findings(*(red_flag(r) for r in RED_FLAG_TRIGGERS)))
    ids = [c["uuid"] for c in cards] + [s["uuid"] for c in cards for s in c.get("suggestions", [])]
    assert len(ids) == len(set(ids)) > 20
