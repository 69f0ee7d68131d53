"""Card test helpers: hand-built Findings for every card kind, a fixed call context, small records.

Findings are built by hand here (the contract of ``clinical/model.py``), so card tests do
not depend on the detection rules; ids and the clock are fixed so output is reproducible.
"""
from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import pytest

from cds_service.budget import Deadline
from cds_service.card_builder import CardLibrary, CardOptions, build_cards, load_cards
from cds_service.clinical.knowledge import load_knowledge
from cds_service.clinical.model import Anchor, DifferentialEntry, Evidence, Finding, Findings, RedFlag
from cds_service.fhir.record import PatientRecord, RecordBuilder
from cds_service.protocol.context import HookContext

NOW = datetime(2026, 11, 24, 15, 30, tzinfo=timezone.utc)
PATIENT_ID = "pat-1"
ENCOUNTER_ID = "enc-1"
LINK_BASE = "https://cds.example.org"


def fixed_ids(prefix: str = "00000000-0000-4000-8000") -> Callable[[], str]:
    counter = itertools.count(1)
    return lambda: f"{prefix}-{next(counter):012d}"


SERVICE = "leg_weakness"


def make_call(patient_id: str | None = PATIENT_ID, encounter_id: str | None = ENCOUNTER_ID,
              link_base_url: str = LINK_BASE) -> HookContext:
    return HookContext(hook="encounter-start", patient_id=patient_id, encounter_id=encounter_id, now=NOW,
                       link_base_url=link_base_url, deadline=Deadline(budget_ms=10_000), new_id=fixed_ids())


def make_record(*resources: dict[str, Any]) -> PatientRecord:
    builder = RecordBuilder()
    builder.add("patient", {"resourceType": "Patient", "id": PATIENT_ID, "gender": "female",
                            "birthDate": "1961-03-02"})
    builder.add("encounter", {"resourceType": "Encounter", "id": ENCOUNTER_ID, "status": "in-progress",
                              "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                                        "code": "AMB"}})
    for resource in resources:
        builder.add("extra", resource)
    return builder.build(PATIENT_ID, ENCOUNTER_ID)


def reason(text: str) -> Evidence:
    return Evidence("Encounter", ENCOUNTER_ID, "reasonCode[0].text", text=text)


def condition(cid: str, display: str, code: str) -> Evidence:
    return Evidence("Condition", cid, "code", system="http://snomed.info/sct", code=code, display=display)


WEAK_BOTH = Finding("leg-weakness", "weakness of both legs", (reason("both legs weak and giving way"),))
RETENTION = Finding("bladder-dysfunction", "urinary retention", (reason("cannot urinate since yesterday"),))
SADDLE = Finding("saddle-anaesthesia", "saddle numbness", (reason("numb between the legs"),), possible=True)
CANCER = Finding("cancer-history", "history of cancer",
                 (condition("cond-ca", "Malignant neoplastic disease (disorder)", "363346000"),), historical=True)
FEVER = Finding("fever", "fever", (Evidence("Observation", "obs-temp", "valueQuantity", system="http://loinc.org",
                                            code="8310-5", display="Body temperature", value="38.6 Cel"),))
SUDDEN = Finding("sudden-onset", "sudden one-sided weakness", (reason("sudden right leg and arm weakness"),))
STEROIDS = Finding("steroid-use", "long-term corticosteroids",
                   (Evidence("MedicationRequest", "med-1", "medicationCodeableConcept", text="prednisone 20 mg"),))
ASCENDING = Finding("ascending-weakness", "ascending weakness after infection",
                    (reason("weakness spreading up from the feet after diarrhoea"),))
COLD_LEG = Finding("pulseless-limb", "cold pulseless leg", (reason("left leg cold and white"),))
CLAUDICATION = Finding("claudication", "calf pain on walking", (reason("calf pain after 100 m"),))
DIABETES = Finding("diabetes", "diabetes", (condition("cond-dm", "Diabetes mellitus type 2 (disorder)", "44054006"),))

#: Hand-picked evidence for the red flags the tests look at closely; any other rule of the
#: knowledge base (a red flag added as data) gets the both-legs finding.
TRIGGERS: dict[str, tuple[Finding, ...]] = {
    "cauda-equina": (WEAK_BOTH, RETENTION),
    "stroke": (SUDDEN,),
    "cord-compression": (CANCER, WEAK_BOTH),
    "spinal-infection": (FEVER, WEAK_BOTH),
    "fracture": (STEROIDS,),
    "guillain-barre": (ASCENDING,),
    "limb-ischemia": (COLD_LEG,),
}
RULES = {rule.id: rule for rule in load_knowledge(SERVICE).red_flags}
RED_FLAG_TRIGGERS: dict[str, tuple[Finding, ...]] = {rid: TRIGGERS.get(rid, (WEAK_BOTH,)) for rid in RULES}


def red_flag(rid: str, possible: bool = False) -> RedFlag:
    rule = RULES[rid]
    return RedFlag(id=rid, topic=rule.topic, indicator=rule.indicator, triggers=RED_FLAG_TRIGGERS[rid],
                   possible=possible, rule_source=rule.sources)


DIFFERENTIAL = (
    DifferentialEntry("peripheral-neuropathy", "Peripheral neuropathy", "non-spinal", (DIABETES,), rank=2),
    DifferentialEntry("disc-herniation", "Lumbar disc herniation", "spinal", (WEAK_BOTH,), rank=1),
    DifferentialEntry("peripheral-artery-disease", "Peripheral artery disease", "non-spinal", (CLAUDICATION,),
                      rank=3),
)


ANCHOR = Anchor(WEAK_BOTH, laterality="bilateral", onset="subacute", course="progressive")


def weakness_findings(*flags: RedFlag, differential: tuple[DifferentialEntry, ...] = DIFFERENTIAL) -> Findings:
    return Findings(anchor=ANCHOR, complaint=(WEAK_BOTH,), red_flags=flags, differential=differential,
                    risk_factors=(DIABETES,), age=65, sex="female")


def card_kinds() -> dict[str, Findings]:
    """One representative Findings per card kind (topic); the key is the topic the card must have."""
    kinds = {RULES[rid].topic: Findings(red_flags=(red_flag(rid),)) for rid in RULES}
    kinds.update({t.topic: weakness_findings() for t in load_cards(SERVICE).anchor_cards})
    return kinds


@pytest.fixture(scope="session")
def library() -> CardLibrary:
    return load_cards(SERVICE)


def cards_for(findings: Findings, record: PatientRecord | None = None, options: CardOptions | None = None,
              call: HookContext | None = None) -> list[dict[str, Any]]:
    return build_cards(findings, record or make_record(), load_cards(SERVICE), options or CardOptions(),
                       call or make_call())
