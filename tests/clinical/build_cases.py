"""Expand the compact vignette specs below into the leg-weakness corpus
(``cds_service/services/leg_weakness/corpus/*.json``).

Run ``python tests/clinical/build_cases.py`` after editing a spec; commit the JSON it
writes (the corpus is data, this script only saves typing). Every code used here is
marked VERIFIED (V) in tests/data/reference/clinical-reference.md §5, except where a
comment says SECONDARY (S). No RxNorm code is verified there, so medications are
text-only.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cds_service.card_builder import load_cards
from cds_service.clinical.knowledge import load_knowledge

CASES = Path(__file__).resolve().parents[2] / "cds_service" / "services" / "leg_weakness" / "corpus"
TODAY = "2026-11-24"
SCT = "http://snomed.info/sct"
ICD = "http://hl7.org/fhir/sid/icd-10-cm"
LOINC = "http://loinc.org"
FLAGS = [rule.id for rule in load_knowledge("leg_weakness").red_flags]  # the knowledge base is the list
LEG_TOPICS = [card.topic for card in load_cards("leg_weakness").anchor_cards]
ENC = "enc-1"
PAT = "pat-1"


def _ref(rtype: str, rid: str) -> dict[str, str]:
    return {"reference": f"{rtype}/{rid}"}


def patient(age: int, sex: str) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": PAT, "gender": sex, "birthDate": f"{2026 - age}-03-15"}


def encounter(reason: str | None, codes: list[tuple[str, str, str]], setting: str) -> dict[str, Any]:
    enc: dict[str, Any] = {
        "resourceType": "Encounter", "id": ENC, "status": "in-progress",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": setting},
        "subject": _ref("Patient", PAT), "period": {"start": f"{TODAY}T09:00:00Z"},
    }
    if reason or codes:
        concept: dict[str, Any] = {}
        if codes:
            concept["coding"] = [{"system": s, "code": c, "display": d} for s, c, d in codes]
        if reason:
            concept["text"] = reason
        enc["reasonCode"] = [concept]
    return enc


def condition(n: int, system: str, code: str, display: str, *, status: str = "active",
              verification: str = "confirmed", category: str = "encounter-diagnosis",
              onset: str = TODAY) -> dict[str, Any]:
    cond: dict[str, Any] = {
        "resourceType": "Condition", "id": f"cond-{n}",
        "verificationStatus": {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": verification}]},
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-category",
                                  "code": category}]}],
        "code": {"coding": [{"system": system, "code": code, "display": display}], "text": display},
        "subject": _ref("Patient", PAT), "onsetDateTime": onset, "recordedDate": onset,
    }
    if verification != "entered-in-error":  # FHIR con-5: no clinicalStatus when entered-in-error
        cond["clinicalStatus"] = {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": status}]}
    if category == "encounter-diagnosis":
        cond["encounter"] = _ref("Encounter", ENC)
    return cond


def chief_complaint(text: str, status: str = "final") -> dict[str, Any]:
    # LOINC 8661-1 "Chief complaint - Reported" is SECONDARY (S) in the reference (§5.6).
    return {"resourceType": "Observation", "id": "obs-cc", "status": status,
            "code": {"coding": [{"system": LOINC, "code": "8661-1", "display": "Chief complaint - Reported"}]},
            "subject": _ref("Patient", PAT), "encounter": _ref("Encounter", ENC),
            "effectiveDateTime": f"{TODAY}T09:05:00Z", "valueString": text}


def temperature(celsius: float, when: str = f"{TODAY}T09:10:00Z", code: tuple[str, str] = ("8310-5", "Body temperature"),
                unit: str = "Cel") -> dict[str, Any]:
    return {"resourceType": "Observation", "id": "obs-temp", "status": "final",
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                      "code": "vital-signs"}]}],
            "code": {"coding": [{"system": LOINC, "code": code[0], "display": code[1]}]},
            "subject": _ref("Patient", PAT), "effectiveDateTime": when,
            "valueQuantity": {"value": celsius, "unit": unit, "system": "http://unitsofmeasure.org",
                              "code": unit}}


def medication(n: int, text: str) -> dict[str, Any]:
    return {"resourceType": "MedicationRequest", "id": f"med-{n}", "status": "active", "intent": "order",
            "medicationCodeableConcept": {"text": text}, "subject": _ref("Patient", PAT),
            "authoredOn": "2026-01-10"}


def case(cid: str, kind: str, description: str, source: str, *, reason: str | None = None,
         reason_codes: list[tuple[str, str, str]] | None = None, cc: str | None = None,
         cc_status: str = "final", age: int = 45, sex: str = "female",
         conditions: list[dict[str, Any]] | None = None, temp: float | None = None,
         temp_when: str | None = None, meds: list[str] | None = None, setting: str = "AMB",
         expect: dict[str, Any] | None = None, forbid: dict[str, Any] | None = None,
         forbid_all_but: list[str] | None = None, temp_code: tuple[str, str] | None = None,
         temp_unit: str = "Cel", extra: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """One vignette. ``forbid_all_but`` forbids every red flag not listed (and not expected);
    ``extra`` adds resources as they are (another encounter, a coded chief complaint)."""
    resources: list[dict[str, Any]] = [patient(age, sex), encounter(reason, reason_codes or [], setting)]
    for i, cond in enumerate(conditions or [], start=1):
        cond = dict(cond)
        cond["id"] = f"cond-{i}"
        resources.append(cond)
    if cc:
        resources.append(chief_complaint(cc, cc_status))
    if temp is not None:
        resources.append(temperature(temp, temp_when or f"{TODAY}T09:10:00Z", temp_code or ("8310-5", "Body temperature"),
                                     temp_unit))
    resources.extend(extra or [])
    for i, text in enumerate(meds or [], start=1):
        resources.append(medication(i, text))
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": f"https://corpus.example/fhir/{r['resourceType']}/{r['id']}", "resource": r}
        for r in resources]}
    expect = dict(expect or {})
    forbid = dict(forbid or {})
    if forbid_all_but is not None:
        keep = set(forbid_all_but) | set(expect.get("red_flags", []))
        forbid["red_flags"] = sorted(set(forbid.get("red_flags", [])) | (set(FLAGS) - keep))
    if expect.get("leg_weakness") is False:
        forbid["topics"] = sorted(set(forbid.get("topics", [])) | set(LEG_TOPICS))
    out = {"id": cid, "description": description, "source": source, "kind": kind, "today": TODAY,
           "encounter": ENC, "bundle": bundle, "expect": expect}
    if forbid:
        out["forbid"] = forbid
    return out


def quiet(cid: str, kind: str, description: str, source: str, **kw: Any) -> dict[str, Any]:
    """A vignette with no current leg complaint: no leg-weakness topic, no red flag."""
    return case(cid, kind, description, source, expect={"leg_weakness": False}, forbid_all_but=[], **kw)


def c(n: int, system: str, code: str, display: str, **kw: Any) -> dict[str, Any]:
    return condition(n, system, code, display, **kw)


# --- codes (all V in clinical-reference §5 unless marked) -----------------------------
CES_SCT = (SCT, "192970008", "Cauda equina syndrome")
CES_INCOMPLETE = (SCT, "782388003", "Incomplete cauda equina syndrome")
CES_ICD = (ICD, "G83.4", "Cauda equina syndrome")
RETENTION_ICD = (ICD, "R33.9", "Retention of urine, unspecified")
RETENTION_SCT = (SCT, "267064002", "Retention of urine")
URINARY_INCONT_ICD = (ICD, "R32", "Unspecified urinary incontinence")
SPINAL_PARAPARESIS = (SCT, "23042008", "Spinal paraparesis")
STROKE_SCT = (SCT, "230690007", "Cerebrovascular accident")
INFARCT_ICD = (ICD, "I63.9", "Cerebral infarction, unspecified")
TIA_ICD = (ICD, "G45.9", "Transient cerebral ischemic attack, unspecified")
TIA_SCT = (SCT, "266257000", "Transient ischemic attack")
CORD_COMP_ICD = (ICD, "G95.20", "Unspecified cord compression")
SPINAL_METS = (SCT, "285619009", "Metastasis to vertebral column of unknown primary")
BONE_METS_ICD = (ICD, "C79.51", "Secondary malignant neoplasm of bone")
CANCER_SCT = (SCT, "363346000", "Malignant neoplastic disease")
CANCER_HX_ICD = (ICD, "Z85.9", "Personal history of malignant neoplasm, unspecified")
EPIDURAL_ABSCESS = (SCT, "63627007", "Spinal epidural abscess")
INTRASPINAL_ABSCESS_ICD = (ICD, "G06.1", "Intraspinal abscess and granuloma")
DISCITIS_ICD = (ICD, "M46.46", "Discitis, unspecified, lumbar region")
VERT_OSTEO = (SCT, "203241002", "Osteomyelitis of vertebra")
FEVER_SCT = (SCT, "386661006", "Fever")
FEVER_ICD = (ICD, "R50.9", "Fever, unspecified")
STEROIDS_ICD = (ICD, "Z79.52", "Long term (current) use of systemic steroids")
OSTEOPOROSIS_SCT = (SCT, "64859006", "Osteoporosis")
OSTEOPOROSIS_ICD = (ICD, "M81.0", "Age-related osteoporosis without current pathological fracture")
VERT_FRACTURE_SCT = (SCT, "15724005", "Fracture of vertebral column without spinal cord injury")
LUMBAR_FRACTURE_ICD = (ICD, "S32.009A", "Unspecified fracture of unspecified lumbar vertebra, initial encounter "
                       "for closed fracture")
GBS_SCT = (SCT, "40956001", "Guillain-Barre syndrome")
GBS_ICD = (ICD, "G61.0", "Guillain-Barre syndrome")
ALI_ICD = (ICD, "I74.3", "Embolism and thrombosis of arteries of the lower extremities")
LEG_PARESIS = (SCT, "102568007", "Paresis of lower extremity")
LEFT_LEG_PARESIS = (SCT, "16018391000119104", "Paresis of left lower limb")
RIGHT_LEG_PARESIS = (SCT, "16018431000119109", "Paresis of right lower limb")
BILATERAL_PARESIS = (SCT, "127378008", "Bilateral paresis")
DRAGGING_LEG = (SCT, "275313006", "Dragging leg")
DIFFICULTY_WALKING_ICD = (ICD, "R26.2", "Difficulty in walking, not elsewhere classified")
FOOT_DROP_RIGHT_ICD = (ICD, "M21.371", "Foot drop, right foot")
PARAPLEGIA_ICD = (ICD, "G82.20", "Paraplegia, unspecified")
SCIATICA_LEFT_ICD = (ICD, "M54.42", "Lumbago with sciatica, left side")
SCIATICA_ICD = (ICD, "M54.41", "Lumbago with sciatica, right side")
LBP_ICD = (ICD, "M54.50", "Low back pain, unspecified")
PAD_ICD = (ICD, "I73.9", "Peripheral vascular disease, unspecified")
CLAUDICATION_SCT = (SCT, "63491006", "Intermittent claudication")
DM_NEURO_ICD = (ICD, "E11.42", "Type 2 diabetes mellitus with diabetic polyneuropathy")
MS_SCT = (SCT, "24700007", "Multiple sclerosis")
ANTICOAG_ICD = (ICD, "Z79.01", "Long term (current) use of anticoagulants")
# Used by the spec batches (tests/clinical/specs/*.yaml); all V in clinical-reference §5.
URINARY_INCONT_SCT = (SCT, "165232002", "Urinary incontinence")
FAECAL_INCONT_ICD = (ICD, "R15.9", "Full incontinence of feces")
SADDLE_NUMBNESS = (SCT, "449813001", "Numbness of saddle area")
CES_RETENTION = (SCT, "782390002", "Painless urinary retention due to cauda equina syndrome")
PARAPLEGIA_INCOMPLETE_ICD = (ICD, "G82.22", "Paraplegia, incomplete")
MUSCLE_WEAKNESS = (SCT, "26544005", "Muscle weakness")
MUSCLE_WEAKNESS_ICD = (ICD, "M62.81", "Muscle weakness (generalized)")
WEAKNESS_ICD = (ICD, "R53.1", "Weakness")
REPEATED_FALLS_ICD = (ICD, "R29.6", "Repeated falls")
UNSTEADY = (SCT, "22631008", "Unsteady when walking")
SCIATICA_RIGHT_ICD = (ICD, "M54.31", "Sciatica, right side")
SCIATICA_LEFT_ONLY_ICD = (ICD, "M54.32", "Sciatica, left side")
LUMBAR_RADICULOPATHY_ICD = (ICD, "M54.16", "Radiculopathy, lumbar region")
LUMBAR_RADICULOPATHY_SCT = (SCT, "128196005", "Lumbar radiculopathy")
DISC_RADICULOPATHY_ICD = (ICD, "M51.16", "Intervertebral disc disorders with radiculopathy, lumbar region")
STENOSIS_CLAUDICATION_ICD = (ICD, "M48.062", "Spinal stenosis, lumbar region with neurogenic claudication")
CHRONIC_LBP = (SCT, "278860009", "Chronic low back pain")
CEREBRAL_INFARCT_SCT = (SCT, "432504007", "Cerebral infarction")
SECONDARY_CANCER = (SCT, "128462008", "Secondary malignant neoplastic disease")
CANCER_UNSPECIFIED_ICD = (ICD, "C80.1", "Malignant (primary) neoplasm, unspecified")
OPIOID_DEPENDENCE_ICD = (ICD, "F11.20", "Opioid dependence, uncomplicated")  # V (proxy for IVDU)
OSTEOPOROTIC_VERT_FRACTURE_ICD = (ICD, "M80.08XA", "Age-related osteoporosis with current pathological "
                                  "fracture, vertebra(e), initial encounter for fracture")
PAST_STEROIDS_ICD = (ICD, "Z92.241", "Personal history of systemic steroid therapy")
POLYNEUROPATHY_ICD = (ICD, "G62.9", "Polyneuropathy, unspecified")
T2DM_SCT = (SCT, "44054006", "Diabetes mellitus type 2")
T2DM_ICD = (ICD, "E11.9", "Type 2 diabetes mellitus without complications")
PERONEAL_LEFT_ICD = (ICD, "G57.32", "Lesion of lateral popliteal nerve, left lower limb")
FOOT_DROP_LEFT_ICD = (ICD, "M21.372", "Foot drop, left foot")
PAD_SCT = (SCT, "399957001", "Peripheral arterial occlusive disease")
MS_RR_ICD = (ICD, "G35.A", "Relapsing-remitting multiple sclerosis")

R1 = "clinical-reference §1 row 1 (S1, S3, S4)"
R2 = "clinical-reference §1 row 2 (S7, S9, S10)"
R3 = "clinical-reference §1 row 3 (S6, S24)"
R4 = "clinical-reference §1 row 4 (S11, S12)"
R5 = "clinical-reference §1 row 5 (S12, S16, S17)"
R6 = "clinical-reference §1 row 6 (S13)"
R9 = "clinical-reference §1 row 9 (S15)"
CTX = "clinical-reference §6.2 ConText behaviour rules"
LEX = "clinical-reference §6.1 complaint lexicon"
DIFF = "clinical-reference §3 differential"


def cauda_equina() -> list[dict[str, Any]]:
    ces = {"red_flags": ["cauda-equina"]}
    return [
        case("ces-text-bilateral-retention", "text-only",
             "Both legs weak for two days and unable to pass urine: bilateral deficit plus retention.", R1,
             reason="Both legs weak and numb for 2 days, unable to pass urine since this morning",
             setting="EMER", expect={**ces, "leg_weakness": True, "laterality": "bilateral"},
             forbid_all_but=["guillain-barre"]),
        case("ces-cc-sciatica-saddle-incontinence", "text-only",
             "Chief complaint: sciatica with saddle numbness and new urinary incontinence.", R1,
             cc="Low back pain with sciatica down the left leg, numbness in the saddle area and new "
                "urinary incontinence", expect=ces,
             forbid={"red_flags": ["stroke", "limb-ischemia", "spinal-infection", "guillain-barre"]}),
        case("ces-lay-cant-feel-wee", "red-flag",
             "Lay wording: weak legs, cannot feel when she needs to wee, numb down below.", R1,
             cc="my legs have gone weak and I can't feel when I need to wee, I'm numb down below",
             expect={**ces, "leg_weakness": True},
             forbid={"red_flags": ["stroke", "limb-ischemia", "spinal-infection", "fracture"]}),
        case("ces-clinical-ble-saddle-pvr", "red-flag",
             "Clinical shorthand: BLE weakness 4/5, saddle anaesthesia, large post-void residual.", R1,
             reason="BLE weakness 4/5 with saddle anaesthesia, post-void residual 450 mL", setting="EMER",
             expect={**ces, "leg_weakness": True, "laterality": "bilateral"},
             forbid={"red_flags": ["stroke", "limb-ischemia", "spinal-infection", "fracture"]}),
        case("ces-bilateral-faecal-incontinence", "red-flag",
             "Weakness in both legs since yesterday with faecal incontinence.", R1,
             reason="Weakness in both legs since yesterday and faecal incontinence",
             expect={**ces, "leg_weakness": True, "laterality": "bilateral"},
             forbid={"red_flags": ["stroke", "limb-ischemia", "spinal-infection", "fracture"]}),
        case("ces-unilateral-became-bilateral", "red-flag",
             "Right sciatica that became bilateral leg weakness with hesitancy starting to urinate.", R1,
             cc="Right sciatica for 2 weeks, now pain and weakness in both legs and difficulty starting to "
                "urinate", sex="male",
             expect={**ces, "leg_weakness": True, "laterality": "bilateral"},
             forbid={"red_flags": ["stroke", "limb-ischemia", "spinal-infection", "fracture"]}),
        case("ces-possible-rule-out", "red-flag",
             "Clinician already suspects CES ('r/o cauda equina'): the card shows as a checklist.",
             "clinical-reference §6.2 rule 6; §1 row 1",
             reason="Back pain with bilateral sciatica, r/o cauda equina", expect=ces,
             forbid={"red_flags": ["stroke", "limb-ischemia", "spinal-infection", "guillain-barre"]}),
        case("ces-code-snomed", "code-only", "Encounter diagnosis coded SNOMED 192970008 only.",
             "clinical-reference §5.3 (VSAC …114.12.1012)", conditions=[c(1, *CES_SCT)], expect=ces,
             forbid={"red_flags": ["stroke", "limb-ischemia", "guillain-barre"]}),
        case("ces-code-icd", "code-only", "Encounter diagnosis coded ICD-10-CM G83.4 only.",
             "clinical-reference §5.3 (ICD-10-CM 2026)", conditions=[c(1, *CES_ICD)], expect=ces,
             forbid={"red_flags": ["stroke", "limb-ischemia", "guillain-barre"]}),
        case("ces-code-incomplete", "code-only", "Incomplete CES (SNOMED 782388003) as reason code.",
             "clinical-reference §5.3", reason_codes=[CES_INCOMPLETE], expect=ces,
             forbid={"red_flags": ["stroke", "limb-ischemia", "guillain-barre"]}),
        case("ces-code-paraparesis-retention", "code-only",
             "New spinal paraparesis (both legs) plus urinary retention, both coded: CES rule.", R1,
             conditions=[c(1, *SPINAL_PARAPARESIS), c(2, *RETENTION_ICD)],
             expect={**ces, "leg_weakness": True},
             forbid={"red_flags": ["stroke", "limb-ischemia", "spinal-infection"]}),
        case("ces-code-bilateral-paresis-incontinence", "code-only",
             "Bilateral paresis plus urinary incontinence, coded (SNOMED 127378008, ICD R32).", R1,
             conditions=[c(1, *BILATERAL_PARESIS), c(2, *URINARY_INCONT_ICD)],
             expect={**ces, "leg_weakness": True},
             forbid={"red_flags": ["stroke", "limb-ischemia", "spinal-infection"]}),
        # negated / hypothetical / family / historical / resolved / traps
        quiet("ces-negated-all", "negated",
              "Mechanical back pain; leg weakness, numbness and sphincter symptoms all denied.", CTX,
              reason="Low back pain after lifting. Denies leg weakness, numbness, bladder or bowel problems."),
        quiet("ces-negated-no-saddle", "negated",
              "Back pain documented with 'no saddle anaesthesia, no incontinence, no leg weakness'.", CTX,
              cc="Lower back pain for a week. No saddle anaesthesia, no incontinence, no leg weakness."),
        quiet("ces-hypothetical-safety-net", "hypothetical",
              "Safety-netting advice only: return if leg weakness or incontinence develops.", CTX,
              reason="Low back pain. Advised to return if leg weakness, numbness or incontinence develops."),
        quiet("ces-family-sister", "family", "Sister had cauda equina syndrome; patient has a backache only.",
              CTX, cc="Backache for 3 days. Her sister had cauda equina syndrome."),
        quiet("ces-historical-text", "historical",
              "History of CES surgery years ago, fully recovered; here for a flu vaccine.", CTX,
              reason="Flu vaccine. History of cauda equina syndrome in 2015, fully recovered."),
        quiet("ces-resolved-condition", "resolved", "CES Condition with clinicalStatus resolved (2015).",
              "clinical-reference §4 (clinicalStatus)", reason="Blood pressure check",
              conditions=[c(1, *CES_SCT, status="resolved", category="problem-list-item", onset="2015-06-01")]),
        quiet("ces-entered-in-error", "entered-in-error", "G83.4 entered in error must not count.",
              "clinical-reference §4 (verificationStatus)", reason="Sore throat",
              conditions=[c(1, *CES_ICD, verification="entered-in-error")]),
        quiet("ces-refuted", "entered-in-error", "CES diagnosis refuted after MRI must not count.",
              "clinical-reference §4 (verificationStatus)", reason="Follow-up after normal MRI",
              conditions=[c(1, *CES_SCT, verification="refuted")]),
        quiet("trap-weak-urine-stream", "trap", "'Weak urine stream' in an older man is not leg weakness.",
              LEX, reason="Weak urine stream and nocturia for 6 months", age=64, sex="male"),
        quiet("trap-bike-saddle-sore", "trap", "Bicycle saddle sore after a long ride: not saddle anaesthesia.",
              "clinical-reference §6.1 ambiguity guard",
              cc="Saddle sore after a long bike ride at the weekend", age=38, sex="male"),
        case("trap-weakness-negated-sphincter", "trap",
             "Left leg weakness with sciatica; bladder, bowel and saddle symptoms explicitly denied.", CTX,
             cc="Left leg weakness and sciatica for a week; no bladder or bowel incontinence, no saddle numbness",
             expect={"leg_weakness": True, "laterality": "left"}, forbid_all_but=[]),
        case("trap-unilateral-sciatica-no-sphincter", "trap",
             "Unilateral sciatica with weakness and no sphincter cue: not CES.", R1,
             reason="Right sciatica with weakness of the right leg for 5 days",
             expect={"leg_weakness": True, "laterality": "right", "differential": ["disc-herniation"]},
             forbid_all_but=[]),
    ]


def stroke() -> list[dict[str, Any]]:
    st = {"red_flags": ["stroke"]}
    spinal = ["cauda-equina", "cord-compression", "spinal-infection", "fracture", "guillain-barre"]
    return [
        case("stroke-sudden-left-leg", "red-flag", "Sudden weakness of the left leg an hour ago.", R2,
             reason="Sudden weakness of the left leg 1 hour ago", age=67, sex="male", setting="EMER",
             expect={**st, "leg_weakness": True, "laterality": "left", "onset": "sudden"},
             forbid={"red_flags": spinal}),
        case("stroke-befast-face-arm-leg", "red-flag",
             "Right facial droop, slurred speech, right arm and leg weakness (BE-FAST).", R2,
             cc="Right face droop, slurred speech and weakness of the right arm and leg", age=72,
             setting="EMER", expect={**st, "leg_weakness": True, "laterality": "right"},
             forbid={"red_flags": ["cauda-equina", "spinal-infection", "guillain-barre"]}),
        case("stroke-woke-up-with", "red-flag", "Woke up with right leg weakness and trouble speaking.", R2,
             reason="Woke up with weakness in her right leg and trouble speaking", age=70,
             expect={**st, "leg_weakness": True, "laterality": "right", "onset": "sudden"},
             forbid={"red_flags": ["cauda-equina", "spinal-infection", "guillain-barre"]}),
        case("stroke-lay-all-of-a-sudden", "red-flag", "Lay wording: 'all of a sudden my left leg gave way'.",
             R2, cc="All of a sudden my left leg gave way and I couldn't get up", age=61, sex="male",
             expect={**st, "leg_weakness": True, "laterality": "left"},
             forbid={"red_flags": ["cauda-equina", "spinal-infection", "guillain-barre"]}),
        case("stroke-anticoagulated-sudden", "red-flag",
             "Sudden right leg weakness in a patient on long-term anticoagulants (Z79.01).", R2,
             reason="Suddenly could not move the right leg this afternoon", age=76,
             conditions=[c(1, *ANTICOAG_ICD, category="problem-list-item", onset="2022-01-01")],
             expect={**st, "leg_weakness": True, "laterality": "right"},
             forbid={"red_flags": ["cauda-equina", "spinal-infection", "guillain-barre"]}),
        case("stroke-code-snomed", "code-only", "Encounter diagnosis CVA (SNOMED 230690007).",
             "clinical-reference §5.3", age=74, conditions=[c(1, *STROKE_SCT)], expect=st,
             forbid={"red_flags": ["cauda-equina", "guillain-barre"]}),
        case("stroke-code-icd-infarct", "code-only", "Encounter diagnosis I63.9 cerebral infarction.",
             "clinical-reference §5.3", age=74, conditions=[c(1, *INFARCT_ICD)], expect=st,
             forbid={"red_flags": ["cauda-equina", "guillain-barre"]}),
        case("stroke-code-tia-icd", "code-only", "Encounter diagnosis G45.9 TIA.", "clinical-reference §5.3",
             age=69, conditions=[c(1, *TIA_ICD)], expect=st,
             forbid={"red_flags": ["cauda-equina", "guillain-barre"]}),
        case("stroke-code-tia-reason", "code-only", "TIA (SNOMED 266257000) as the encounter reason code.",
             "clinical-reference §5.3", age=69, reason_codes=[TIA_SCT], expect=st,
             forbid={"red_flags": ["cauda-equina", "guillain-barre"]}),
        quiet("stroke-negated", "negated", "Headache; sudden weakness, facial droop and slurred speech denied.",
              CTX, reason="Headache for two days. Denies sudden weakness, facial droop or slurred speech."),
        quiet("stroke-hypothetical", "hypothetical", "Safety net: call 911 if sudden weakness occurs.", CTX,
              cc="Migraine. Call 911 if sudden weakness of face, arm or leg or trouble speaking occurs."),
        quiet("stroke-family-father", "family", "Father had a stroke; here for a blood pressure check.", CTX,
              reason="Blood pressure check. Father had a stroke at 60.", age=52, sex="male"),
        quiet("stroke-historical-text", "historical", "History of stroke in 2019 with full recovery.", CTX,
              reason="Flu vaccine. History of stroke in 2019 with full recovery.", age=71),
        quiet("stroke-resolved-condition", "resolved", "CVA Condition resolved in 2019.",
              "clinical-reference §4 (clinicalStatus)", reason="Annual physical", age=71,
              conditions=[c(1, *STROKE_SCT, status="resolved", category="problem-list-item",
                            onset="2019-02-01")]),
        quiet("stroke-entered-in-error", "entered-in-error", "I63.9 entered in error must not count.",
              "clinical-reference §4 (verificationStatus)", reason="Cough",
              conditions=[c(1, *INFARCT_ICD, verification="entered-in-error")]),
        quiet("stroke-cc-entered-in-error", "entered-in-error",
              "A chief-complaint Observation marked entered-in-error must not count.",
              "clinical-reference §4", cc="Sudden left leg weakness", cc_status="entered-in-error",
              reason="Annual physical"),
        case("trap-arm-only-weakness", "trap", "Weakness of the right arm and hand only, gradual: not leg.",
             LEX, reason="Weakness of the right arm and hand for 3 weeks, gradually worse",
             expect={"leg_weakness": False},
             forbid={"red_flags": ["cauda-equina", "cord-compression", "spinal-infection", "fracture",
                                   "guillain-barre", "limb-ischemia"]}),
    ]


def cord_compression() -> list[dict[str, Any]]:
    cc_ = {"red_flags": ["cord-compression"]}
    no = ["stroke", "limb-ischemia", "cauda-equina"]
    return [
        case("cord-history-breast-cancer-text", "red-flag",
             "Progressive bilateral leg weakness and mid-back pain; 'history of breast cancer' counts.", R3,
             cc="Back pain and progressive weakness in both legs over 2 weeks. History of breast cancer "
                "treated in 2019.", age=58,
             expect={**cc_, "leg_weakness": True, "laterality": "bilateral"}, forbid={"red_flags": no}),
        case("cord-active-cancer-code", "red-flag",
             "Active malignancy (SNOMED 363346000) with new back pain and left leg weakness.", R3,
             reason="New back pain and left leg weakness", age=63, sex="male",
             conditions=[c(1, *CANCER_SCT, category="problem-list-item", onset="2025-09-01")],
             expect={**cc_, "leg_weakness": True, "laterality": "left"}, forbid={"red_flags": no}),
        case("cord-z85-history", "red-flag", "Personal history of cancer (Z85.9) with right leg weakness.", R3,
             cc="Right leg weakness for 5 days", age=66,
             conditions=[c(1, *CANCER_HX_ICD, category="problem-list-item", onset="2018-01-01")],
             expect={**cc_, "leg_weakness": True, "laterality": "right"}, forbid={"red_flags": no}),
        case("cord-cancer-in-remission", "red-flag",
             "Cancer Condition in remission still counts as cancer history; new leg weakness.", R3,
             reason="Weak legs, difficulty walking for a week", age=61,
             conditions=[c(1, *CANCER_SCT, status="remission", category="problem-list-item",
                           onset="2017-04-01")],
             expect={**cc_, "leg_weakness": True}, forbid={"red_flags": no}),
        case("cord-bone-mets-code", "red-flag", "Bone metastases (C79.51) with heavy, weak legs.", R3,
             cc="Legs feel heavy and weak, difficulty walking", age=70, sex="male",
             conditions=[c(1, *BONE_METS_ICD, category="problem-list-item", onset="2026-06-01")],
             expect={**cc_, "leg_weakness": True}, forbid={"red_flags": ["stroke", "limb-ischemia"]}),
        case("cord-prostate-cancer-text", "text-only",
             "Known prostate cancer; legs weak and giving way for a week.", R3,
             reason="Known prostate cancer. Legs weak and giving way for a week.", age=68, sex="male",
             expect={**cc_, "leg_weakness": True}, forbid={"red_flags": no}),
        case("cord-spinal-mets-back-pain", "red-flag",
             "Vertebral metastasis (SNOMED 285619009) with new night back pain, no weakness stated.", R3,
             reason="New thoracic back pain, worse at night", age=59,
             conditions=[c(1, *SPINAL_METS, category="problem-list-item", onset="2026-08-01")],
             expect=cc_, forbid={"red_flags": ["stroke", "limb-ischemia"]}),
        case("cord-code-compression", "code-only", "Encounter diagnosis G95.20 cord compression.",
             "clinical-reference §5.3", age=64, conditions=[c(1, *CORD_COMP_ICD)], expect=cc_,
             forbid={"red_flags": ["stroke", "limb-ischemia"]}),
        quiet("cord-negated", "negated", "Back pain after gardening; no history of cancer, no leg weakness.",
              CTX, reason="Back pain for 3 days after gardening. No history of cancer, no leg weakness."),
        quiet("cord-family-father-cancer", "family", "Father had prostate cancer; patient has a backache.",
              CTX, cc="Low back ache. Father had prostate cancer.", sex="male"),
        case("cord-entered-in-error-cancer", "entered-in-error",
             "Cancer Condition entered in error: the leg weakness stays, cord compression must not fire.",
             "clinical-reference §4 (verificationStatus)", reason="Left leg weakness for 3 days",
             conditions=[c(1, *CANCER_SCT, verification="entered-in-error")],
             expect={"leg_weakness": True, "laterality": "left"},
             forbid={"red_flags": ["cord-compression", "cauda-equina", "spinal-infection", "fracture",
                                   "limb-ischemia", "guillain-barre"]}),
        case("cord-family-cancer-with-weakness", "trap",
             "Mother's breast cancer is not the patient's: gradual left leg weakness, no cord flag.", CTX,
             cc="Left leg weakness over 2 months. Mother had breast cancer.",
             expect={"leg_weakness": True, "laterality": "left"}, forbid_all_but=[]),
    ]


def spinal_infection() -> list[dict[str, Any]]:
    inf = {"red_flags": ["spinal-infection"]}
    no = ["stroke", "limb-ischemia", "cauda-equina", "cord-compression"]
    return [
        case("infection-temperature-obs", "red-flag",
             "Back pain and right leg weakness with a measured temperature of 38.6 °C.", R4,
             reason="Severe low back pain and weakness in the right leg", temp=38.6,
             expect={**inf, "leg_weakness": True, "laterality": "right"}, forbid={"red_flags": no}),
        case("infection-temperature-threshold", "red-flag",
             "Temperature exactly 38.0 °C is fever (>= 38.0) with back pain and left leg weakness.", R4,
             cc="Back pain and left leg weakness for 4 days", temp=38.0,
             expect={**inf, "leg_weakness": True, "laterality": "left"}, forbid={"red_flags": no}),
        case("infection-fever-text", "text-only", "Fever and chills with back pain; now legs weak.", R4,
             reason="Fever and chills with back pain for 4 days, now legs weak",
             expect={**inf, "leg_weakness": True}, forbid={"red_flags": ["stroke", "limb-ischemia",
                                                                         "cord-compression"]}),
        case("infection-ivdu-text", "red-flag", "IV drug user with back pain and new left leg weakness.", R4,
             cc="IV drug user, back pain and new weakness of the left leg", age=34, sex="male",
             expect={**inf, "leg_weakness": True, "laterality": "left"}, forbid={"red_flags": no}),
        case("infection-fever-code", "red-flag",
             "Fever coded (R50.9) plus back pain and difficulty walking.", R4,
             reason="Back pain and difficulty walking", conditions=[c(1, *FEVER_ICD)],
             expect=inf, forbid={"red_flags": ["stroke", "limb-ischemia", "cord-compression"]}),
        case("infection-fever-snomed-weakness", "red-flag",
             "Fever coded (SNOMED 386661006) with coded paresis of the right leg.", R4,
             conditions=[c(1, *FEVER_SCT), c(2, *RIGHT_LEG_PARESIS)],
             expect={**inf, "leg_weakness": True, "laterality": "right"}, forbid={"red_flags": no}),
        case("infection-steroids-immunosuppressed", "red-flag",
             "Long-term systemic steroids (Z79.52) with back pain and leg weakness: infection and fracture.",
             f"{R4}; {R5}", reason="Back pain and weakness of both legs for 3 days", age=55,
             conditions=[c(1, *STEROIDS_ICD, category="problem-list-item", onset="2024-01-01")],
             expect={"red_flags": ["spinal-infection", "fracture"], "leg_weakness": True},
             forbid={"red_flags": ["stroke", "limb-ischemia", "cord-compression"]}),
        case("infection-code-epidural-abscess", "code-only", "Spinal epidural abscess (SNOMED 63627007).",
             "clinical-reference §5.3", conditions=[c(1, *EPIDURAL_ABSCESS)], expect=inf,
             forbid={"red_flags": ["stroke", "limb-ischemia"]}),
        case("infection-code-intraspinal-abscess", "code-only", "Intraspinal abscess (G06.1).",
             "clinical-reference §5.3", conditions=[c(1, *INTRASPINAL_ABSCESS_ICD)], expect=inf,
             forbid={"red_flags": ["stroke", "limb-ischemia"]}),
        case("infection-code-discitis", "code-only", "Lumbar discitis (M46.46).", "clinical-reference §5.3",
             conditions=[c(1, *DISCITIS_ICD)], expect=inf, forbid={"red_flags": ["stroke", "limb-ischemia"]}),
        case("infection-code-vertebral-osteomyelitis", "code-only", "Vertebral osteomyelitis (203241002).",
             "clinical-reference §5.3", conditions=[c(1, *VERT_OSTEO)], expect=inf,
             forbid={"red_flags": ["stroke", "limb-ischemia"]}),
        quiet("infection-negated", "negated", "Back pain; no fever, no IV drug use, no leg weakness.", CTX,
              reason="Back pain. No fever, no IV drug use, no leg weakness."),
        case("trap-temperature-below-threshold", "trap",
             "Temperature 37.9 °C is below the fever threshold: weakness yes, infection no.", R4,
             reason="Back pain and right leg weakness", temp=37.9,
             expect={"leg_weakness": True, "laterality": "right"}, forbid_all_but=[]),
        case("trap-stale-fever", "trap",
             "A 39 °C temperature from January 2024 is not a current fever.", R4,
             reason="Back pain and left leg weakness for a week", temp=39.0,
             temp_when="2024-01-10T10:00:00Z",
             expect={"leg_weakness": True, "laterality": "left"}, forbid_all_but=[]),
        case("trap-no-fever-stated", "trap", "'No fever or chills' with real weakness: no infection flag.",
             CTX, cc="Weakness in the left leg and back pain, no fever or chills",
             expect={"leg_weakness": True, "laterality": "left"}, forbid_all_but=[]),
        quiet("infection-uri-fever", "plain", "Fever with a cold and no back or leg symptoms.", R4,
              reason="Cough, runny nose and fever", temp=38.4),
    ]


def fracture() -> list[dict[str, Any]]:
    fx = {"red_flags": ["fracture"]}
    no = ["stroke", "limb-ischemia", "cauda-equina", "guillain-barre"]
    return [
        case("fracture-fall-elderly", "red-flag", "Fall down the stairs at 78, back pain, legs weak.", R5,
             reason="Fell down the stairs yesterday, back pain and legs feel weak", age=78,
             expect={**fx, "leg_weakness": True}, forbid={"red_flags": no}),
        case("fracture-osteoporosis-code", "red-flag",
             "Osteoporosis (SNOMED 64859006) with back pain after lifting and left leg weakness.", R5,
             cc="Back pain since lifting a box 3 days ago and weakness in the left leg", age=66,
             conditions=[c(1, *OSTEOPOROSIS_SCT, category="problem-list-item", onset="2020-01-01")],
             expect={**fx, "leg_weakness": True, "laterality": "left"}, forbid={"red_flags": no}),
        case("fracture-osteoporosis-icd", "red-flag", "Osteoporosis (M81.0) with back pain and right leg "
             "weakness.", R5, reason="Low back pain and right leg weakness", age=64,
             conditions=[c(1, *OSTEOPOROSIS_ICD, category="problem-list-item", onset="2021-01-01")],
             expect={**fx, "leg_weakness": True, "laterality": "right"}, forbid={"red_flags": no}),
        case("fracture-age-only", "red-flag", "Age 82 with back pain and weakness of both legs.", R5,
             reason="Low back pain and weakness of both legs for 3 days", age=82, sex="male",
             expect={**fx, "leg_weakness": True, "laterality": "bilateral"},
             forbid={"red_flags": ["stroke", "limb-ischemia", "cauda-equina"]}),
        case("fracture-car-accident-young", "red-flag", "Car accident at 30: back pain and weak legs.", R5,
             reason="Car accident today, back pain with numbness and weakness in both legs", age=30,
             sex="male", setting="EMER", expect={**fx, "leg_weakness": True, "laterality": "bilateral"},
             forbid={"red_flags": ["limb-ischemia", "spinal-infection", "cord-compression"]}),
        case("fracture-long-term-prednisone-text", "text-only",
             "Long-term prednisone (text) with back pain and weak legs.", R5,
             cc="On long-term prednisone for asthma; back pain and weak legs for 2 days", age=60,
             expect={**fx, "leg_weakness": True},
             forbid={"red_flags": ["stroke", "limb-ischemia", "cauda-equina", "cord-compression"]}),
        case("fracture-code-with-weakness", "code-only",
             "Lumbar fracture (S32.009A) coded with coded lower-limb paresis.", R5,
             conditions=[c(1, *LUMBAR_FRACTURE_ICD), c(2, *LEG_PARESIS)], age=50,
             expect={**fx, "leg_weakness": True}, forbid={"red_flags": ["stroke", "limb-ischemia"]}),
        case("fracture-snomed-vertebral", "code-only",
             "Vertebral fracture (SNOMED 15724005) with difficulty walking (R26.2).", R5, age=74,
             conditions=[c(1, *VERT_FRACTURE_SCT), c(2, *DIFFICULTY_WALKING_ICD)], expect=fx,
             forbid={"red_flags": ["stroke", "limb-ischemia"]}),
        quiet("fracture-negated", "negated", "Fall with a bruised elbow; no back pain, no leg weakness.", CTX,
              reason="Fell yesterday, bruised right elbow. No back pain, no leg weakness.", age=50),
        case("trap-elderly-no-back-pain", "trap",
             "Gradual right leg weakness at 72 with no back pain: fracture rule needs back pain.", R5,
             reason="Right leg gradually weaker over 6 months, no back pain", age=72,
             expect={"leg_weakness": True, "laterality": "right"}, forbid_all_but=["cord-compression"]),
    ]


def guillain_barre() -> list[dict[str, Any]]:
    gbs = {"red_flags": ["guillain-barre"]}
    no = ["cauda-equina", "limb-ischemia", "fracture", "cord-compression"]
    return [
        case("gbs-ascending-after-diarrhoea", "red-flag",
             "Tingling feet, weakness rising up both legs over 3 days, diarrhoea 2 weeks ago.", R6,
             reason="Tingling feet then weakness rising up both legs over 3 days; diarrhoea 2 weeks ago",
             age=35, expect={**gbs, "leg_weakness": True, "laterality": "bilateral"},
             forbid={"red_flags": no}),
        case("gbs-lay-worse-each-day", "red-flag",
             "Lay: legs weaker every day, spreading to arms, after a chest infection.", R6,
             cc="My legs get weaker every day and now it's going up into my arms. Had a chest infection "
                "last month.", age=41, sex="male", expect={**gbs, "leg_weakness": True},
             forbid={"red_flags": no}),
        case("gbs-clinical-areflexia", "red-flag",
             "Rapidly progressive ascending weakness of both legs with areflexia after gastroenteritis.", R6,
             reason="Rapidly progressive ascending weakness of both legs, areflexia, after gastroenteritis",
             setting="EMER",
             expect={**gbs, "leg_weakness": True, "laterality": "bilateral", "course": "ascending"},
             forbid={"red_flags": no}),
        case("gbs-ascending-two-days", "red-flag", "Ascending weakness in both legs over two days.", R6,
             cc="Ascending weakness in both legs over 2 days", age=28,
             expect={**gbs, "leg_weakness": True, "laterality": "bilateral", "course": "ascending"},
             forbid={"red_flags": no}),
        case("gbs-code-snomed", "code-only", "Guillain-Barré syndrome (SNOMED 40956001).",
             "clinical-reference §5.3", conditions=[c(1, *GBS_SCT)], expect=gbs,
             forbid={"red_flags": ["cauda-equina", "limb-ischemia", "fracture"]}),
        case("gbs-code-icd", "code-only", "Guillain-Barré syndrome (G61.0) as the encounter reason code.",
             "clinical-reference §5.3", reason_codes=[GBS_ICD], expect=gbs,
             forbid={"red_flags": ["cauda-equina", "limb-ischemia", "fracture"]}),
        quiet("gbs-negated", "negated", "Sore throat; no weakness, numbness or tingling.", CTX,
              reason="Sore throat and fever for 2 days. No weakness, no numbness or tingling.", temp=38.2),
        quiet("gbs-historical-text", "historical", "History of Guillain-Barré in 2018, recovered.", CTX,
              reason="Annual physical. History of Guillain-Barre syndrome in 2018, recovered."),
        quiet("gbs-resolved-condition", "resolved", "GBS Condition resolved (2018).",
              "clinical-reference §4 (clinicalStatus)", reason="Annual physical",
              conditions=[c(1, *GBS_ICD, status="resolved", category="problem-list-item", onset="2018-03-01")]),
        quiet("gbs-entered-in-error", "entered-in-error", "GBS diagnosis entered in error.",
              "clinical-reference §4 (verificationStatus)", reason="Ear ache",
              conditions=[c(1, *GBS_SCT, verification="entered-in-error")]),
        case("trap-bilateral-over-months", "trap",
             "Both legs slowly weaker over months, not ascending, no sphincter cue: no red flag.", DIFF,
             cc="Both legs have slowly become weaker over several months", age=48,
             expect={"leg_weakness": True, "laterality": "bilateral"}, forbid_all_but=["cord-compression"]),
    ]


def limb_ischemia() -> list[dict[str, Any]]:
    ali = {"red_flags": ["limb-ischemia"]}
    no = ["cauda-equina", "spinal-infection", "guillain-barre", "cord-compression"]
    return [
        case("ali-classic-six-ps", "red-flag",
             "Sudden painful, cold, pale left leg with no foot pulse; AF without anticoagulation.", R9,
             reason="Sudden severe pain in the left leg, leg cold and pale, no pulse in the foot. Known atrial "
                    "fibrillation, not anticoagulated.", age=77, setting="EMER", expect=ali,
             forbid={"red_flags": no}),
        case("ali-paralysis", "red-flag", "Right leg suddenly cold and numb, cannot move the toes, pulseless.",
             R9, cc="Right leg suddenly cold and numb, cannot move the toes, no pulses", age=70, sex="male",
             expect=ali, forbid={"red_flags": no}),
        case("ali-lay-white-cold", "red-flag", "Lay: left leg suddenly went white and cold, very painful.", R9,
             cc="My left leg suddenly went white and freezing cold and it really hurts", age=69, expect=ali,
             forbid={"red_flags": no}),
        case("ali-code-icd", "code-only", "Arterial embolism/thrombosis of the lower extremity (I74.3).",
             "clinical-reference §5.3", age=72, conditions=[c(1, *ALI_ICD)], expect=ali,
             forbid={"red_flags": ["cauda-equina", "guillain-barre"]}),
        quiet("ali-negated", "negated", "Night cramps; no pallor, no coldness, pulses present.", CTX,
              reason="Leg cramps at night. No pallor, no coldness, no loss of pulses.", age=66),
        case("trap-claudication-pad", "trap",
             "Exertional calf pain relieved by rest in known PAD: claudication, not acute ischaemia.", DIFF,
             reason="Calf pain when walking that goes away with rest", age=68, sex="male",
             conditions=[c(1, *PAD_ICD, category="problem-list-item", onset="2023-05-01")],
             expect={"leg_weakness": False}, forbid_all_but=[]),
    ]


def laterality_and_course() -> list[dict[str, Any]]:
    quiet_flags = ["cauda-equina", "stroke", "spinal-infection", "fracture", "guillain-barre", "limb-ischemia",
                   "cord-compression"]
    f = {"red_flags": quiet_flags}
    return [
        case("lat-left-text", "laterality", "Left leg weakness for a week.", LEX,
             reason="Left leg weakness for a week", expect={"leg_weakness": True, "laterality": "left"},
             forbid=f),
        case("lat-right-text", "laterality", "Weak right leg for 10 days.", LEX,
             cc="Weak right leg for 10 days", expect={"leg_weakness": True, "laterality": "right"}, forbid=f),
        case("lat-both-text", "laterality", "Weakness in both legs for three weeks, no bladder symptoms.", LEX,
             reason="Weakness in both legs for 3 weeks, no bladder or bowel symptoms",
             expect={"leg_weakness": True, "laterality": "bilateral"},
             forbid={"red_flags": [x for x in quiet_flags if x not in ("cord-compression", "guillain-barre")]}),
        case("lat-rle-abbrev", "laterality", "Abbreviation RLE weakness.", LEX,
             reason="RLE weakness x 1 week", expect={"leg_weakness": True, "laterality": "right"}, forbid=f),
        case("lat-lle-abbrev", "laterality", "Abbreviation LLE weakness with strength 4/5 at the ankle.", LEX,
             cc="LLE weakness, 4/5 power ankle dorsiflexion", expect={"leg_weakness": True, "laterality": "left"},
             forbid=f),
        case("lat-code-left", "laterality", "Coded paresis of the left lower limb.", "clinical-reference §5.1",
             conditions=[c(1, *LEFT_LEG_PARESIS)], expect={"leg_weakness": True, "laterality": "left"},
             forbid=f),
        case("lat-code-right", "laterality", "Coded paresis of the right lower limb as the reason code.",
             "clinical-reference §5.1", reason_codes=[RIGHT_LEG_PARESIS],
             expect={"leg_weakness": True, "laterality": "right"}, forbid=f),
        case("lat-code-bilateral", "laterality", "Coded bilateral paresis.", "clinical-reference §5.1",
             conditions=[c(1, *BILATERAL_PARESIS)], expect={"leg_weakness": True, "laterality": "bilateral"},
             forbid={"red_flags": ["stroke", "limb-ischemia", "spinal-infection", "fracture"]}),
        case("lat-code-unspecified", "laterality", "Coded paresis of lower extremity, side not stated.",
             "clinical-reference §5.1", conditions=[c(1, *LEG_PARESIS)],
             expect={"leg_weakness": True, "laterality": "unspecified"}, forbid=f),
        case("lat-termination-but", "laterality", "'No back pain but both legs feel weak': weakness affirmed.",
             "clinical-reference §6.2 rule 2", cc="No back pain but both legs feel weak",
             expect={"leg_weakness": True, "laterality": "bilateral"},
             forbid={"red_flags": ["stroke", "limb-ischemia", "spinal-infection", "fracture", "cauda-equina"]}),
        case("course-gradual-months", "differential", "Right leg weakness gradually worse over months.", LEX,
             reason="Right leg weakness, gradually worse over months",
             expect={"leg_weakness": True, "laterality": "right", "onset": "gradual"},
             forbid={"red_flags": ["stroke", "limb-ischemia", "spinal-infection", "fracture", "cauda-equina",
                                   "guillain-barre"]}),
        case("course-worse-each-day-left", "differential", "Left leg weakness getting worse each day.", LEX,
             cc="Left leg weakness getting worse each day for a week",
             expect={"leg_weakness": True, "laterality": "left", "course": "progressive"},
             forbid={"red_flags": ["stroke", "limb-ischemia", "spinal-infection", "fracture", "cauda-equina"]}),
        case("diff-foot-drop", "differential", "Right foot drop, tripping over the toes for two weeks.",
             f"{LEX}; {DIFF}", reason="Right foot drop, tripping over my toes for 2 weeks",
             expect={"leg_weakness": True, "laterality": "right"}, forbid=f),
        case("diff-foot-drop-code", "differential", "Foot drop, right foot (M21.371) coded.",
             "clinical-reference §5.1", conditions=[c(1, *FOOT_DROP_RIGHT_ICD)],
             expect={"leg_weakness": True, "laterality": "right"}, forbid=f),
        case("diff-sciatica-weakness", "differential",
             "Left sciatica (M54.42) with weakness lifting the left foot: disc herniation first.",
             f"{DIFF} (S16)", cc="Weakness lifting the left foot and pain down the back of the left leg",
             conditions=[c(1, *SCIATICA_LEFT_ICD)],
             expect={"leg_weakness": True, "laterality": "left", "differential": ["disc-herniation"]},
             forbid=f),
        case("diff-neurogenic-claudication", "differential",
             "Heavy weak legs on walking relieved by sitting or bending forward: spinal stenosis.",
             f"{DIFF} (S26)", reason="Legs heavy and weak when walking, relieved by sitting or bending forward",
             age=68, expect={"leg_weakness": True},
             forbid={"red_flags": ["stroke", "limb-ischemia", "spinal-infection", "cauda-equina",
                                   "guillain-barre"]}),
        case("diff-dragging-leg-code", "differential", "Dragging leg (SNOMED 275313006) coded.",
             "clinical-reference §5.1", conditions=[c(1, *DRAGGING_LEG)], expect={"leg_weakness": True},
             forbid={"red_flags": ["limb-ischemia", "spinal-infection", "cauda-equina", "guillain-barre"]}),
        case("diff-diabetic-neuropathy", "differential",
             "Type 2 diabetes with polyneuropathy (E11.42); numb feet and weak ankles over a year.",
             f"{DIFF} (S19)", cc="Numb feet and weak ankles, both legs, slowly over a year", age=62,
             conditions=[c(1, *DM_NEURO_ICD, category="problem-list-item", onset="2022-01-01")],
             expect={"leg_weakness": True, "laterality": "bilateral"},
             forbid={"red_flags": ["stroke", "limb-ischemia", "spinal-infection", "cauda-equina",
                                   "guillain-barre", "fracture"]}),
        case("diff-ms-known", "differential", "Known MS (SNOMED 24700007) with new right leg weakness over days.",
             f"{DIFF} (S23)", reason="Right leg weakness over several days", age=36,
             conditions=[c(1, *MS_SCT, category="problem-list-item", onset="2020-01-01")],
             expect={"leg_weakness": True, "laterality": "right"},
             forbid={"red_flags": ["limb-ischemia", "spinal-infection", "cauda-equina", "fracture",
                                   "cord-compression"]}),
        case("diff-legs-giving-way", "text-only", "Lay: legs giving way on the stairs.", LEX,
             cc="My legs keep giving way on the stairs", expect={"leg_weakness": True},
             forbid={"red_flags": ["stroke", "limb-ischemia", "spinal-infection", "cauda-equina"]}),
        case("diff-cannot-stand", "text-only", "Unable to stand, legs buckle.", LEX,
             reason="Unable to stand, legs buckling since last week", age=55, expect={"leg_weakness": True},
             forbid={"red_flags": ["stroke", "limb-ischemia", "spinal-infection", "cauda-equina"]}),
    ]


def plain_and_traps() -> list[dict[str, Any]]:
    return [
        quiet("plain-uri", "plain", "Cough and sore throat.", "no leg cue",
              reason="Cough and sore throat for 3 days"),
        quiet("plain-annual-physical", "plain", "Annual physical, no complaint.", "no leg cue",
              reason="Annual physical", age=50, sex="male"),
        quiet("plain-no-reason", "plain", "An encounter with no reason and no data.", "no leg cue"),
        quiet("plain-back-pain-only", "plain", "Mechanical low back pain (M54.50) and nothing else.",
              "clinical-reference §2 (no red flags, no imaging)", reason="Low back pain",
              conditions=[c(1, *LBP_ICD)], age=40, sex="male"),
        quiet("plain-paraplegia-longstanding", "plain",
              "Long-standing paraplegia (G82.20) on the problem list since 2010: not a new complaint.",
              "clinical-reference §4", reason="Annual wellness visit", age=44, sex="male",
              conditions=[c(1, *PARAPLEGIA_ICD, category="problem-list-item", onset="2010-05-01")]),
        quiet("trap-paraplegia-uti-fever", "trap",
              "Long-standing paraplegia with a febrile UTI: no new weakness, no back pain, no red flag.",
              "clinical-reference §4; §1 row 4", reason="Burning on urination and cloudy urine", temp=38.3,
              age=44, sex="male",
              conditions=[c(1, *PARAPLEGIA_ICD, category="problem-list-item", onset="2010-05-01")]),
        quiet("trap-knee-pain", "trap", "Knee pain after running: a leg complaint but no weakness.", LEX,
              reason="Right knee pain after running", age=29),
        quiet("trap-generalized-fatigue", "trap", "Tired and weak all over, no leg-specific weakness.", LEX,
              cc="Feeling tired and weak all over, low energy for a month"),
        quiet("trap-weak-grip", "trap", "Weak grip in the left hand only.", LEX,
              reason="Weak grip in the left hand when opening jars", age=58),
        quiet("historical-sciatica-only", "historical",
              "'History of sciatica 10 years ago' is the only leg cue.", CTX,
              reason="Flu vaccine. History of sciatica 10 years ago.", age=55),
        quiet("historical-sciatica-resolved-code", "resolved", "Sciatica Condition (M54.41) resolved in 2015.",
              "clinical-reference §4 (clinicalStatus)", reason="Blood pressure check",
              conditions=[c(1, *SCIATICA_ICD, status="resolved", category="problem-list-item",
                            onset="2015-01-01")]),
        quiet("historical-leg-weakness-text", "historical", "h/o left leg weakness after surgery, resolved.", CTX,
              reason="Medication review. h/o left leg weakness after knee surgery in 2019, resolved."),
        quiet("resolved-paresis-condition", "resolved", "Paresis of lower extremity resolved in 2021.",
              "clinical-reference §4 (clinicalStatus)", reason="Travel vaccines",
              conditions=[c(1, *LEG_PARESIS, status="resolved", category="problem-list-item",
                            onset="2021-02-01")]),
        quiet("entered-in-error-paresis", "entered-in-error", "Leg paresis Condition entered in error.",
              "clinical-reference §4 (verificationStatus)", reason="Annual physical",
              conditions=[c(1, *LEG_PARESIS, verification="entered-in-error")]),
        quiet("negated-leg-weakness", "negated", "'Denies leg weakness' with a headache.", CTX,
              cc="Headache, denies leg weakness or numbness"),
        quiet("family-ms-mother", "family", "Mother had MS; patient here for an anxiety review.", CTX,
              reason="Anxiety review. Mother had MS.", age=30),
        quiet("family-brother-weak-legs", "family", "Brother has weak legs from polio; patient well.", CTX,
              cc="Routine check. Her brother has weak legs from polio."),
        quiet("hypothetical-return-if-weak", "hypothetical",
              "'Come back if your legs become weak' after an ankle sprain.", CTX,
              reason="Left ankle sprain. Come back if your legs become weak or numb.", age=25),
        quiet("hypothetical-risks-of", "hypothetical", "Consent note: 'risks of leg weakness' discussed.", CTX,
              cc="Pre-op consent for back surgery discussed, including risks of leg weakness and incontinence"),
    ]


def phrasing_variants() -> list[dict[str, Any]]:
    """Second batch, written after the clinical logic was first tuned on the groups above:
    new wordings of the same rules, to measure how the detection generalises."""
    ces, st, cord = {"red_flags": ["cauda-equina"]}, {"red_flags": ["stroke"]}, {"red_flags": ["cord-compression"]}
    inf, fx, gbs = {"red_flags": ["spinal-infection"]}, {"red_flags": ["fracture"]}, {"red_flags": ["guillain-barre"]}
    ali = {"red_flags": ["limb-ischemia"]}
    not_vascular = {"red_flags": ["stroke", "limb-ischemia"]}
    return [
        case("pv-ces-jelly-legs-wetting", "red-flag", "Lay: both legs 'like jelly' and wetting herself.", R1,
             cc="Hurt my back 3 days ago, now both legs feel like jelly and I keep wetting myself",
             expect={**ces, "leg_weakness": True, "laterality": "bilateral"}, forbid=not_vascular),
        case("pv-ces-toilet-paper", "red-flag",
             "Bilateral sciatica and cannot feel the toilet paper when wiping (saddle sensory loss).", R1,
             reason="Sciatica down both legs and can't feel the toilet paper when wiping", expect=ces,
             forbid=not_vascular),
        case("pv-ces-clinical-pvr-perianal", "red-flag",
             "Bilateral LE weakness, urinary retention with PVR 600 mL, reduced perianal sensation.", R1,
             reason="Bilateral lower extremity weakness with urinary retention (PVR 600 mL) and reduced perianal "
                    "sensation", setting="EMER",
             expect={**ces, "leg_weakness": True, "laterality": "bilateral"}, forbid=not_vascular),
        case("pv-ces-normal-sphincter-exam", "trap",
             "Left leg weakness; bladder and bowel function normal, perineal sensation intact.", CTX,
             cc="Left leg weakness for 4 days. Bladder and bowel function normal. Perineal sensation intact.",
             expect={"leg_weakness": True, "laterality": "left"}, forbid_all_but=[]),
        quiet("pv-ces-leaflet", "hypothetical",
              "CES safety-net leaflet given: 'seek help if you develop numbness around your bottom'.", CTX,
              reason="Low back pain. CES safety-net leaflet given: seek help urgently if you develop numbness "
                     "around your bottom or problems passing urine."),
        case("pv-stroke-abrupt-left-sided", "red-flag", "Abrupt left-sided weakness of arm and leg.", R2,
             reason="Abrupt onset left-sided weakness, arm and leg, 40 minutes ago", age=71, setting="EMER",
             expect={**st, "leg_weakness": True, "laterality": "left"},
             forbid={"red_flags": ["cauda-equina", "spinal-infection", "guillain-barre"]}),
        case("pv-stroke-speech-leg-stopped", "red-flag",
             "Husband: her speech went funny and her right leg stopped working at breakfast.", R2,
             cc="Husband says her speech went slurred and her right leg stopped working at breakfast", age=73,
             expect={**st, "leg_weakness": True, "laterality": "right"},
             forbid={"red_flags": ["cauda-equina", "spinal-infection", "guillain-barre"]}),
        case("pv-stroke-hemiparesis", "red-flag", "Right hemiparesis with onset two hours ago.", R2,
             reason="Right hemiparesis, onset 2 hours ago", age=66, sex="male", setting="EMER",
             expect={**st, "leg_weakness": True, "laterality": "right"},
             forbid={"red_flags": ["cauda-equina", "spinal-infection", "guillain-barre"]}),
        quiet("pv-stroke-mum-worried", "family", "Mum had a stroke last year; patient has no symptoms.", CTX,
              cc="Worried because mum had a stroke last year. No symptoms herself."),
        case("pv-cord-myeloma-walking", "red-flag", "Myeloma with new difficulty walking.", R3,
             reason="Myeloma patient, new difficulty walking and band-like chest pain", age=67, sex="male",
             expect=cord, forbid={"red_flags": ["limb-ischemia", "cauda-equina"]}),
        case("pv-cord-pmh-lung-carcinoma", "red-flag",
             "'PMH: lung carcinoma 2021' (historical counts) with a week of bilateral leg weakness.", R3,
             cc="PMH: lung carcinoma 2021. Presents with 1 week of bilateral leg weakness.", age=64,
             expect={**cord, "leg_weakness": True, "laterality": "bilateral"},
             forbid={"red_flags": ["limb-ischemia", "cauda-equina", "stroke"]}),
        case("pv-cord-no-malignancy", "trap", "Right leg weakness; 'no personal history of malignancy'.", CTX,
             reason="Right leg weakness for 1 week; no personal history of malignancy",
             expect={"leg_weakness": True, "laterality": "right"}, forbid_all_but=[]),
        case("pv-infection-temp-text", "red-flag",
             "Temperature 38.9 measured at home (text), back pain, cannot lift the left leg.", R4,
             cc="Hot and sweaty, temp 38.9 at home, back pain and can't lift my left leg",
             expect={**inf, "leg_weakness": True, "laterality": "left"},
             forbid={"red_flags": ["stroke", "limb-ischemia", "cauda-equina"]}),
        case("pv-infection-hiv", "red-flag", "HIV with back pain and weakness of both legs.", R4,
             reason="HIV positive, back pain and weakness in both legs", age=39, sex="male",
             expect={**inf, "leg_weakness": True, "laterality": "bilateral"},
             forbid={"red_flags": ["stroke", "limb-ischemia", "cauda-equina"]}),
        case("pv-infection-transplant", "red-flag", "Renal transplant on tacrolimus with new back pain.", R4,
             reason="Renal transplant on tacrolimus, new back pain for 5 days", age=52, expect=inf,
             forbid={"red_flags": ["stroke", "limb-ischemia", "cauda-equina"]}),
        case("pv-infection-afebrile", "trap", "'Afebrile' with back pain and right leg weakness.", CTX,
             reason="Afebrile. Back pain and right leg weakness.",
             expect={"leg_weakness": True, "laterality": "right"}, forbid_all_but=[]),
        case("pv-fracture-slipped-on-ice", "red-flag", "Age 74: slipped on ice, back pain, legs weak.", R5,
             reason="Slipped on ice, now severe low back pain and legs weak", age=74,
             expect={**fx, "leg_weakness": True}, forbid={"red_flags": ["stroke", "limb-ischemia"]}),
        case("pv-fracture-osteoporosis-cough", "red-flag",
             "Known osteoporosis; back pain after a coughing fit; legs weak.", R5,
             cc="Known osteoporosis, back pain after a coughing fit, legs weak", age=68,
             expect={**fx, "leg_weakness": True}, forbid={"red_flags": ["stroke", "limb-ischemia"]}),
        case("pv-gbs-campylobacter", "red-flag",
             "Campylobacter three weeks ago; legs weaker each day, spreading from feet to thighs and hands.", R6,
             cc="Campylobacter 3 weeks ago; now legs weaker each day, started in my feet and is now in my thighs "
                "and hands", age=33, expect={**gbs, "leg_weakness": True},
             forbid={"red_flags": ["cauda-equina", "limb-ischemia", "fracture"]}),
        case("pv-gbs-moving-up-after-cold", "red-flag",
             "Weakness moving up from feet to knees over 48 hours after a bad cold.", R6,
             reason="Weakness moving up from my feet to my knees over 48 hours after a bad cold", age=26,
             expect={**gbs, "leg_weakness": True},
             forbid={"red_flags": ["cauda-equina", "limb-ischemia", "fracture"]}),
        case("pv-ali-mottled-foot", "red-flag",
             "Mottled cold right foot, severe pain, absent dorsalis pedis pulse, AF.", R9,
             reason="Mottled cold right foot with severe pain, absent dorsalis pedis pulse, known AF", age=81,
             expect=ali, forbid={"red_flags": ["cauda-equina", "guillain-barre", "spinal-infection"]}),
        case("pv-ali-pale-pulseless", "red-flag", "Left leg painful, pale and pulseless since this morning.", R9,
             cc="Left leg painful, pale and pulseless since this morning", age=74, sex="male", expect=ali,
             forbid={"red_flags": ["cauda-equina", "guillain-barre", "spinal-infection"]}),
        case("pv-lat-l-abbrev", "laterality", "'L leg weakness'.", LEX, reason="L leg weakness x 2 weeks",
             expect={"leg_weakness": True, "laterality": "left"}, forbid_all_but=[]),
        case("pv-lat-bilateral-lower-extremity", "laterality", "'Bilateral lower extremity weakness'.", LEX,
             cc="Bilateral lower extremity weakness for 10 days",
             expect={"leg_weakness": True, "laterality": "bilateral"},
             forbid={"red_flags": ["stroke", "limb-ischemia", "spinal-infection", "cauda-equina", "fracture"]}),
        case("pv-lat-one-leg", "laterality", "'One leg feels weak': side not stated.", LEX,
             reason="One leg feels weak when climbing stairs",
             expect={"leg_weakness": True, "laterality": "unspecified"}, forbid_all_but=[]),
        quiet("pv-negated-strength-normal", "negated", "Back pain with documented 5/5 strength in both legs.", CTX,
              cc="Back pain. Strength 5/5 in both legs, sensation intact."),
        quiet("pv-hypothetical-re-attend", "hypothetical",
              "Improving sciatica; re-attend if legs go weak or bladder control is lost.", CTX,
              reason="Sciatica improving. Re-attend if your legs go weak or you lose control of your bladder."),
        quiet("pv-family-daughter-gbs", "family", "Daughter was treated for Guillain-Barre; parent here for a flu jab.",
              CTX, reason="Flu jab. Daughter recently treated for Guillain-Barre syndrome."),
        quiet("pv-historical-pmh-cva", "historical", "'PMH: CVA 2015, no residual deficit'; sore throat today.", CTX,
              cc="PMH: CVA 2015, no residual deficit. Today: sore throat.", age=69),
        quiet("pv-trap-restless-legs", "trap", "Restless legs at night is not weakness.", LEX,
              reason="Restless legs at night"),
        quiet("pv-trap-heat-stroke", "trap", "Heat stroke after a marathon, recovered: not a stroke.", LEX,
              reason="Follow-up after heat stroke during a marathon, fully recovered", age=31, sex="male"),
        quiet("pv-trap-chronic-cold-feet", "trap", "Cold feet for years, worse in winter: not acute ischaemia.",
              R9, cc="Cold feet for years, worse in winter", age=35),
    ]


def old_encounter(reason: str) -> dict[str, Any]:
    """A finished encounter from last year: its reason is not today's complaint."""
    return {"resourceType": "Encounter", "id": "enc-old", "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "EMER"},
            "subject": _ref("Patient", PAT), "period": {"start": "2025-02-03T10:00:00Z", "end": "2025-02-05T12:00:00Z"},
            "reasonCode": [{"text": reason}]}


def coded_chief_complaint(system: str, code: str, display: str) -> dict[str, Any]:
    cc = chief_complaint("")
    del cc["valueString"]
    cc["id"] = "obs-cc-coded"
    cc["valueCodeableConcept"] = {"coding": [{"system": system, "code": code, "display": display}]}
    return cc


def structured_data() -> list[dict[str, Any]]:
    """Third batch: structured-data handling (units, LOINC variants, coded chief complaint,
    other encounters, medications), age boundaries and ConText scope."""
    inf, fx, st = {"red_flags": ["spinal-infection"]}, {"red_flags": ["fracture"]}, {"red_flags": ["stroke"]}
    return [
        case("sd-temp-fahrenheit", "red-flag",
             "Temperature 100.8 [degF] (38.2 °C) with back pain and right leg weakness.", R4,
             reason="Back pain and right leg weakness", temp=100.8, temp_unit="[degF]",
             expect={**inf, "leg_weakness": True, "laterality": "right"},
             forbid={"red_flags": ["stroke", "limb-ischemia", "cauda-equina"]}),
        case("sd-temp-fahrenheit-normal", "trap",
             "Temperature 98.6 [degF] (37.0 °C) is normal: no infection flag.", R4,
             reason="Back pain and left leg weakness", temp=98.6, temp_unit="[degF]",
             expect={"leg_weakness": True, "laterality": "left"}, forbid_all_but=[]),
        case("sd-temp-oral-loinc", "red-flag", "Oral temperature (LOINC 8331-1) 38.5 °C, back pain, weak legs.",
             R4, cc="Back pain and weak legs for 3 days", temp=38.5, temp_code=("8331-1", "Oral temperature"),
             expect={**inf, "leg_weakness": True},
             forbid={"red_flags": ["stroke", "limb-ischemia", "cauda-equina"]}),
        case("sd-chief-complaint-coded", "code-only",
             "Chief-complaint Observation with valueCodeableConcept paresis of left lower limb.",
             "clinical-reference §4 (8661-1 valueCodeableConcept)",
             extra=[coded_chief_complaint(*LEFT_LEG_PARESIS)],
             expect={"leg_weakness": True, "laterality": "left"}, forbid_all_but=[]),
        quiet("sd-old-encounter-reason", "historical",
              "Last year's finished ED encounter said 'sudden left leg weakness'; today is an annual physical.",
              "clinical-reference §4 (Encounter.reasonCode of the current encounter)", reason="Annual physical",
              age=62, extra=[old_encounter("Sudden left leg weakness")]),
        case("sd-reason-code-icd-stroke", "code-only", "Encounter.reasonCode ICD-10-CM I63.9 without text.",
             "clinical-reference §5.3", reason_codes=[INFARCT_ICD], age=77, expect=st,
             forbid={"red_flags": ["cauda-equina", "guillain-barre"]}),
        case("sd-age-71-fracture", "red-flag", "Age 71 (>70) with back pain and right leg weakness.", R5,
             reason="Back pain and right leg weakness for 4 days", age=71,
             expect={**fx, "leg_weakness": True, "laterality": "right"},
             forbid={"red_flags": ["stroke", "limb-ischemia", "cauda-equina", "spinal-infection"]}),
        case("sd-age-65-no-fracture", "trap",
             "Age 65 with back pain and right leg weakness and no other fracture risk: no fracture flag.", R5,
             reason="Back pain and right leg weakness for 4 days", age=65,
             expect={"leg_weakness": True, "laterality": "right"}, forbid_all_but=[]),
        case("sd-med-prednisolone", "red-flag",
             "Active MedicationRequest 'prednisolone 30 mg daily' (text) with back pain and weak legs.", R5,
             reason="Back pain and weak legs for 2 days", age=50, meds=["Prednisolone 30 mg tablets, once daily"],
             expect={**fx, "leg_weakness": True},
             forbid={"red_flags": ["stroke", "limb-ischemia", "cauda-equina", "cord-compression"]}),
        case("sd-med-topical-steroid", "trap",
             "Hydrocortisone 1% cream is not a systemic steroid: no fracture or infection flag.", R5,
             reason="Back pain and right leg weakness", age=50, meds=["Hydrocortisone 1% cream, apply twice daily"],
             expect={"leg_weakness": True, "laterality": "right"}, forbid_all_but=[]),
        case("sd-termination-denies-but", "red-flag",
             "'Denies bladder problems but has new weakness of both legs and perianal numbness'.",
             "clinical-reference §6.2 rule 2; §1 row 1",
             cc="Denies bladder problems but has new weakness of both legs and perianal numbness",
             expect={"red_flags": ["cauda-equina"], "leg_weakness": True, "laterality": "bilateral"},
             forbid={"red_flags": ["stroke", "limb-ischemia"]}),
        case("sd-family-then-patient", "red-flag",
             "'Father had a stroke. Sudden right leg weakness today.' The second sentence is the patient.",
             "clinical-reference §6.2 rule 4 (sentence scope)",
             reason="Father had a stroke. Sudden right leg weakness today.", age=58, sex="male",
             expect={**st, "leg_weakness": True, "laterality": "right"},
             forbid={"red_flags": ["cauda-equina", "spinal-infection", "guillain-barre"]}),
        case("sd-possible-gbs", "red-flag", "'Concern for GBS': legs weak and tingling for 3 days.",
             "clinical-reference §6.2 rule 6; §1 row 6", cc="Concern for GBS: legs weak and tingling for 3 days",
             expect={"red_flags": ["guillain-barre"], "leg_weakness": True},
             forbid={"red_flags": ["limb-ischemia", "cauda-equina"]}),
        case("sd-hypothetical-then-present", "red-flag",
             "Safety-net advice in one sentence, then the feared symptoms actually present in the next.",
             "clinical-reference §6.2 rule 3 (sentence scope); §1 row 1",
             reason="Was told to return if weakness develops. Now both legs are weak and he cannot pass urine.",
             sex="male", expect={"red_flags": ["cauda-equina"], "leg_weakness": True, "laterality": "bilateral"},
             forbid={"red_flags": ["stroke", "limb-ischemia"]}),
    ]


def context_pseudo_triggers() -> list[dict[str, Any]]:
    """Fourth batch: NegEx pseudo-triggers, words that look like negation but affirm
    (clinical-reference §6.2; Chapman 2001 [N1] pseudo-negation)."""
    spinal_quiet = {"red_flags": ["cauda-equina", "spinal-infection", "fracture", "cord-compression",
                                  "limb-ischemia"]}
    return [
        case("ctx-no-longer-able-to-walk", "red-flag",
             "'No longer able to walk, both legs weak, wet herself': 'no longer able' affirms.", f"{CTX}; {R1}",
             cc="No longer able to walk since yesterday, both legs weak, and she wet herself",
             expect={"red_flags": ["cauda-equina"], "leg_weakness": True, "laterality": "bilateral"},
             forbid={"red_flags": ["stroke", "limb-ischemia"]}),
        case("ctx-no-improvement", "differential",
             "'No improvement in the left leg weakness after physio': the weakness is present.", CTX,
             reason="No improvement in the left leg weakness after 4 weeks of physio",
             expect={"leg_weakness": True, "laterality": "left"}, forbid=spinal_quiet),
        case("ctx-not-improving", "differential", "'Right leg weakness is not improving': present.", CTX,
             cc="Right leg weakness is not improving after two weeks",
             expect={"leg_weakness": True, "laterality": "right"}, forbid=spinal_quiet),
        case("ctx-without-warning", "red-flag",
             "'Without warning her left leg gave way': 'without' here is not a negation.", f"{CTX}; {R2}",
             reason="Without warning her left leg suddenly gave way and she fell", age=69,
             expect={"red_flags": ["stroke"], "leg_weakness": True, "laterality": "left"},
             forbid={"red_flags": ["cauda-equina", "spinal-infection", "guillain-barre"]}),
        case("ctx-cannot-rule-out", "red-flag",
             "'Cannot rule out cauda equina' with bilateral sciatica: a possible CES, shown as a checklist.",
             f"{CTX} rule 6; {R1}", reason="Bilateral sciatica, cannot rule out cauda equina",
             expect={"red_flags": ["cauda-equina"]}, forbid={"red_flags": ["stroke", "limb-ischemia"]}),
        quiet("ctx-ruled-out", "negated", "'Cauda equina ruled out on MRI' after back pain.", CTX,
              reason="Back pain follow-up. Cauda equina ruled out on MRI, no leg weakness."),
        quiet("ctx-negative-for", "negated", "'Negative for weakness, numbness and incontinence.'", CTX,
              cc="Back strain. Negative for weakness, numbness and incontinence."),
    ]


def fifth_batch() -> list[dict[str, Any]]:
    """Fifth batch: Condition statuses, negation scope across sentences, more lay and
    shorthand wordings, and a long-standing deficit with a new red-flag cue."""
    ces = {"red_flags": ["cauda-equina"]}
    spinal_quiet = {"red_flags": ["cauda-equina", "spinal-infection", "fracture", "cord-compression",
                                  "limb-ischemia", "stroke"]}
    return [
        case("b5-ces-provisional-condition", "code-only",
             "CES Condition with verificationStatus provisional: a suspected CES still raises the card.",
             "clinical-reference §6.2 rule 6; §4", conditions=[c(1, *CES_ICD, verification="provisional")],
             expect=ces, forbid={"red_flags": ["stroke", "limb-ischemia"]}),
        quiet("b5-stroke-inactive-condition", "resolved", "Stroke Condition with clinicalStatus inactive (2020).",
              "clinical-reference §4 (clinicalStatus)", reason="Repeat prescription", age=75,
              conditions=[c(1, *STROKE_SCT, status="inactive", category="problem-list-item", onset="2020-07-01")]),
        case("b5-bilat-abbrev", "laterality", "'bilat LE weakness' shorthand.", LEX,
             reason="bilat LE weakness x 5 days",
             expect={"leg_weakness": True, "laterality": "bilateral"},
             forbid={"red_flags": ["stroke", "limb-ischemia", "spinal-infection", "fracture", "cauda-equina"]}),
        case("b5-lle-3-of-5", "laterality", "'LLE 3/5' power grade.", LEX, cc="LLE 3/5 power, hip flexion",
             expect={"leg_weakness": True, "laterality": "left"}, forbid_all_but=[]),
        case("b5-knees-gave-way", "text-only", "'My knees gave way twice this week'.", LEX,
             cc="My knees gave way twice this week", age=59, expect={"leg_weakness": True},
             forbid={"red_flags": ["stroke", "limb-ischemia", "spinal-infection", "cauda-equina"]}),
        case("b5-heavy-legs-code", "code-only", "Heavy legs (SNOMED 161873000) coded.", "clinical-reference §5.1",
             conditions=[c(1, SCT, "161873000", "Heavy legs")], expect={"leg_weakness": True},
             forbid={"red_flags": ["stroke", "limb-ischemia", "spinal-infection", "cauda-equina"]}),
        case("b5-cant-climb-stairs", "text-only", "'Can't climb the stairs any more, thighs weak'.", LEX,
             reason="Can't climb the stairs any more, my thighs feel weak", age=63,
             expect={"leg_weakness": True}, forbid=spinal_quiet),
        case("b5-paraplegic-new-fever-back-pain", "red-flag",
             "Long-standing paraplegia (G82.20, 2010) with a new fever of 39.1 °C and new back pain.", R4,
             reason="New back pain for 3 days", temp=39.1, age=44, sex="male",
             conditions=[c(1, *PARAPLEGIA_ICD, category="problem-list-item", onset="2010-05-01")],
             expect={"red_flags": ["spinal-infection"]}, forbid={"red_flags": ["stroke", "limb-ischemia"]}),
        case("b5-ali-af-stopped-warfarin", "red-flag",
             "AF, stopped warfarin; left leg suddenly numb, cold and painful.", R9,
             cc="AF, stopped warfarin last month. Left leg suddenly numb, cold and painful.", age=79,
             expect={"red_flags": ["limb-ischemia"]},
             forbid={"red_flags": ["cauda-equina", "guillain-barre", "spinal-infection"]}),
        case("b5-negation-stays-in-sentence", "red-flag",
             "'No fever, chills or weight loss.' does not negate the next sentence's weakness and retention.",
             f"{CTX}; {R1}",
             reason="No fever, chills or weight loss. Progressive weakness of both legs for 2 weeks with urinary "
                    "retention.",
             expect={**ces, "leg_weakness": True, "laterality": "bilateral"},
             forbid={"red_flags": ["spinal-infection", "stroke", "limb-ischemia"]}),
        case("b5-no-saddle-but-retention", "red-flag",
             "Saddle sensation denied, but urinary retention with bilateral leg weakness is still CES.", R1,
             cc="No saddle anaesthesia. Urinary retention and bilateral leg weakness since yesterday.",
             expect={**ces, "leg_weakness": True, "laterality": "bilateral"},
             forbid={"red_flags": ["stroke", "limb-ischemia", "spinal-infection"]}),
        quiet("b5-family-then-denies", "family", "'Brother has MS. Patient denies weakness or numbness.'", CTX,
              cc="Brother has MS. Patient denies weakness or numbness.", age=33),
    ]


GROUPS = {
    "cauda-equina": cauda_equina, "stroke": stroke, "cord-compression": cord_compression,
    "spinal-infection": spinal_infection, "fracture": fracture, "guillain-barre": guillain_barre,
    "limb-ischemia": limb_ischemia, "laterality-course-differential": laterality_and_course,
    "plain-and-traps": plain_and_traps, "phrasing-variants": phrasing_variants,
    "structured-data": structured_data, "context-pseudo-triggers": context_pseudo_triggers,
    "fifth-batch": fifth_batch,
}


# --- spec batches (tests/clinical/specs/*.yaml) -----------------------------------------
# Later batches are written as readable YAML, one file per batch, note text as block
# scalars; each expands into ``corpus/<file stem>.json``. Format: docs/corpus.md.

SPECS = Path(__file__).resolve().parent / "specs"

#: Every verified code above, by constant name: a spec names a code (``CES_SCT``), never
#: writes one, so only codes marked V (or the labelled S) in the reference can appear.
CODES: dict[str, tuple[str, str, str]] = {
    name: value for name, value in dict(globals()).items()
    if name.isupper() and isinstance(value, tuple) and len(value) == 3 and value[0] in (SCT, ICD)}

#: Laboratory Observations a spec may add: LOINC V in clinical-reference §5.6 (no potassium
#: LOINC is verified there, so potassium appears only as text in the notes).
LABS: dict[str, tuple[str, str, str]] = {
    "CK": ("2157-6", "Creatine kinase [Enzymatic activity/volume] in Serum or Plasma", "U/L"),
    "TSH": ("3016-3", "Thyrotropin [Units/volume] in Serum or Plasma", "m[IU]/L"),
    "CRP": ("1988-5", "C reactive protein [Mass/volume] in Serum or Plasma", "mg/L"),
    "GLUCOSE": ("2345-7", "Glucose [Mass/volume] in Serum or Plasma", "mg/dL"),
    "HBA1C": ("4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "%"),
    "CREATININE": ("2160-0", "Creatinine [Mass/volume] in Serum or Plasma", "mg/dL"),
}

#: Source shorthands a spec may use in ``source`` (a string or a list, joined by "; ").
SOURCE_ALIASES = {"R1": R1, "R2": R2, "R3": R3, "R4": R4, "R5": R5, "R6": R6, "R9": R9,
                  "R7": "clinical-reference §1 row 7 (S16, S17, S4, S12)",
                  "R10": "clinical-reference §1 row 10 (S3, S16, S24, S12)",
                  "CTX": CTX, "LEX": LEX, "DIFF": DIFF}

_CASE_KEYS = {"reason", "cc", "cc_status", "age", "sex", "setting", "temp", "temp_when", "meds",
              "expect", "forbid", "forbid_all_but", "temp_unit"}
_SPEC_KEYS = _CASE_KEYS | {"id", "kind", "description", "source", "quiet", "conditions", "labs",
                           "old_reason", "classes", "text", "html", "pdf", "charset"}


def lab(n: int, name: str, value: float, when: str = f"{TODAY}T09:40:00Z") -> dict[str, Any]:
    code, display, unit = LABS[name]
    return {"resourceType": "Observation", "id": f"obs-lab-{n}", "status": "final",
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                      "code": "laboratory"}]}],
            "code": {"coding": [{"system": LOINC, "code": code, "display": display}]},
            "subject": _ref("Patient", PAT), "encounter": _ref("Encounter", ENC), "effectiveDateTime": when,
            "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit}}


def _b64(data: bytes) -> str:
    import base64
    return base64.b64encode(data).decode("ascii")


def note_html(text: str, title: str) -> str:
    """The note as an EHR's HTML rendition: section headers bold, bullets as a list,
    other lines as paragraphs, with a style block and entities a reader must strip."""
    import html
    import re
    out = [f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
           "<style>body{font-family:Arial,sans-serif;font-size:10pt} h3{margin:6px 0}</style></head><body>"]
    in_list = False
    for line in text.splitlines():
        bullet = re.match(r"^\s*[-*\u2022]\s+(.*)$", line)
        if in_list and not bullet:
            out.append("</ul>")
            in_list = False
        if bullet:
            if not in_list:
                out.append("<ul>")
                in_list = True
            out.append(f"<li>{html.escape(bullet.group(1))}</li>")
        elif re.match(r"^[A-Z][A-Z /&()-]+:\s*$", line.strip()):
            out.append(f"<h3>{html.escape(line.strip())}</h3>")
        elif line.strip():
            out.append(f"<p>{html.escape(line.strip())}</p>")
    if in_list:
        out.append("</ul>")
    out.append("</body></html>")
    return "\n".join(out)


def tiny_pdf(title: str) -> bytes:
    """A minimal valid one-page PDF (the EHR's print rendition); the service must ignore it."""
    stream = f"BT /F1 12 Tf 72 720 Td ({title} - printed copy) Tj ET".encode("latin-1")
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
               b"/Resources << /Font << /F1 5 0 R >> >> >>",
               b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    body, offsets = b"%PDF-1.4\n", []
    for i, obj in enumerate(objects, start=1):
        offsets.append(len(body))
        body += b"%d 0 obj\n" % i + obj + b"\nendobj\n"
    xref = len(body)
    body += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    body += b"".join(b"%010d 00000 n \n" % off for off in offsets)
    body += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return body


def document_reference(nid: str, text: str, *, html_form: bool, pdf: bool, charset: bool,
                       title: str) -> dict[str, Any]:
    """The note as a DocumentReference of the encounter: status current, base64 inline data;
    the type is text only (no note-type LOINC is verified in the reference)."""
    if html_form:
        content_type, data = "text/html", note_html(text, title).encode("utf-8")
    else:
        content_type, data = "text/plain", text.encode("utf-8")
    if charset:
        content_type += "; charset=utf-8"
    content = [{"attachment": {"contentType": content_type, "language": "en", "data": _b64(data),
                               "title": title, "creation": f"{TODAY}T10:30:00Z"}}]
    if pdf:
        content.append({"attachment": {"contentType": "application/pdf", "data": _b64(tiny_pdf(title)),
                                       "title": f"{title} (PDF)", "creation": f"{TODAY}T10:31:00Z"}})
    return {"resourceType": "DocumentReference", "id": f"doc-{nid}", "status": "current", "docStatus": "final",
            "type": {"text": title}, "subject": _ref("Patient", PAT), "date": f"{TODAY}T10:30:00Z",
            "author": [{"display": "Treating clinician"}], "description": title,
            "content": content,
            "context": {"encounter": [_ref("Encounter", ENC)],
                        "period": {"start": f"{TODAY}T09:00:00Z"}}}


def _source(value: Any) -> str:
    parts = value if isinstance(value, list) else [value]
    return "; ".join(SOURCE_ALIASES.get(str(part), str(part)) for part in parts)


def _spec_conditions(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for n, item in enumerate(items, start=1):
        item = dict(item)
        system, code, display = CODES[item.pop("code")]  # KeyError: not a verified code constant
        out.append(condition(n, system, code, display, **item))
    return out


def _spec_case(spec: dict[str, Any], origin: str, *, vid: str | None = None, kind: str | None = None,
               reason: str | None = None, extra: list[dict[str, Any]] | None = None,
               description: str | None = None) -> dict[str, Any]:
    unknown = set(spec) - _SPEC_KEYS
    if unknown:
        raise ValueError(f"{origin}: vignette {spec.get('id')!r} has unknown keys {sorted(unknown)}")
    kw = {k: v for k, v in spec.items() if k in _CASE_KEYS}
    if reason is not None or "text" in spec:
        kw["reason"] = reason
    resources = list(extra or [])
    resources += [lab(n, item["test"], item["value"]) for n, item in enumerate(spec.get("labs", []), start=1)]
    if spec.get("old_reason"):
        resources.append(old_encounter(spec["old_reason"]))
    kw["extra"] = resources
    kw["conditions"] = _spec_conditions(spec.get("conditions", []))
    if spec.get("quiet"):
        kw["expect"] = {**kw.get("expect", {}), "leg_weakness": False}
        kw["forbid_all_but"] = []
    out = case(vid or spec["id"], kind or spec["kind"], description or spec["description"],
               _source(spec["source"]), **kw)
    out["classes"] = sorted(spec.get("classes", []))
    return out


def _spec_note(spec: dict[str, Any], origin: str) -> list[dict[str, Any]]:
    """A full note, delivered twice: as a DocumentReference of the encounter (no reason
    text) and as the encounter reason text. Same labels for both."""
    text = spec["text"].rstrip() + "\n"
    title = spec.get("title", "Clinical note")
    doc = document_reference(spec["id"], text, html_form=bool(spec.get("html")), pdf=bool(spec.get("pdf")),
                             charset=bool(spec.get("charset")), title=title)
    base = {k: v for k, v in spec.items() if k != "title"}
    form = "HTML" if spec.get("html") else "plain-text"
    return [
        _spec_case(base, origin, vid=f"{spec['id']}-docref", kind="note", reason=None, extra=[doc],
                   description=f"{spec['description']} [{form} DocumentReference"
                               f"{' + PDF' if spec.get('pdf') else ''}]"),
        _spec_case(base, origin, vid=f"{spec['id']}-reason", kind="note", reason=text,
                   description=f"{spec['description']} [encounter reason text]"),
    ]


def spec_batches() -> dict[str, list[dict[str, Any]]]:
    """Every spec file expanded: ``{file stem: vignettes}``."""
    import yaml
    batches: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(SPECS.glob("*.yaml")):
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
        vignettes = [_spec_case(v, path.name) for v in spec.get("vignettes", [])]
        for note in spec.get("notes", []):
            vignettes += _spec_note(note, path.name)
        if path.stem in GROUPS:
            raise ValueError(f"{path.name}: the name {path.stem!r} is taken by a built-in group")
        batches[path.stem] = vignettes
    return batches


def main() -> None:
    """Write every group and every spec batch; any other JSON in the corpus folder is stale
    (a renamed or removed batch) and is deleted, so the folder is exactly what this builds."""
    CASES.mkdir(exist_ok=True)
    batches = {name: build() for name, build in GROUPS.items()} | spec_batches()
    for stale in CASES.glob("*.json"):
        if stale.stem not in batches:
            stale.unlink()
    for name, vignettes in batches.items():
        (CASES / f"{name}.json").write_text(json.dumps(vignettes, indent=1, ensure_ascii=False) + "\n",
                                            encoding="utf-8")
    print(f"wrote {sum(map(len, batches.values()))} vignettes in {len(batches)} files to {CASES}")


if __name__ == "__main__":
    main()
