"""detect_findings on small FHIR records built with RecordBuilder (no HTTP, no Flask)."""
from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from cds_service.clinical.findings import detect_findings
from cds_service.clinical.knowledge import Knowledge, load_knowledge
from cds_service.clinical.model import Findings
from cds_service.fhir.record import RecordBuilder

TODAY = date(2026, 11, 24)
SCT = "http://snomed.info/sct"
ICD = "http://hl7.org/fhir/sid/icd-10-cm"
LOINC = "http://loinc.org"


@pytest.fixture(scope="module")
def knowledge() -> Knowledge:
    return load_knowledge("leg_weakness")


def patient(birth: str = "1970-05-01", gender: str = "female") -> dict[str, Any]:
    return {"resourceType": "Patient", "id": "p1", "birthDate": birth, "gender": gender}


def encounter(reason: str | None = None, coding: list[dict[str, str]] | None = None,
              **extra: Any) -> dict[str, Any]:
    enc: dict[str, Any] = {"resourceType": "Encounter", "id": "e1", "status": "in-progress",
                           "class": {"code": "AMB"}, "subject": {"reference": "Patient/p1"},
                           "period": {"start": "2026-11-24T09:00:00Z"}, **extra}
    if reason or coding:
        enc["reasonCode"] = [{**({"text": reason} if reason else {}), **({"coding": coding} if coding else {})}]
    return enc


def condition(cid: str, system: str, code: str, display: str, *, clinical: str = "active",
              verification: str = "confirmed", onset: str = "2026-11-24", this_encounter: bool = True,
              text: str | None = None) -> dict[str, Any]:
    cond: dict[str, Any] = {
        "resourceType": "Condition", "id": cid, "subject": {"reference": "Patient/p1"},
        "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                       "code": clinical}]},
        "verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                                           "code": verification}]},
        "code": {"coding": [{"system": system, "code": code, "display": display}], **({"text": text} if text else {})},
        "onsetDateTime": onset,
    }
    if this_encounter:
        cond["encounter"] = {"reference": "Encounter/e1"}
    return cond


def observation(oid: str, code: str, **value: Any) -> dict[str, Any]:
    return {"resourceType": "Observation", "id": oid, "status": "final",
            "code": {"coding": [{"system": LOINC, "code": code}]}, "subject": {"reference": "Patient/p1"},
            "encounter": {"reference": "Encounter/e1"}, "effectiveDateTime": "2026-11-24T09:10:00Z", **value}


def medication(mid: str, text: str, status: str = "active") -> dict[str, Any]:
    return {"resourceType": "MedicationRequest", "id": mid, "status": status, "intent": "order",
            "subject": {"reference": "Patient/p1"}, "medicationCodeableConcept": {"text": text}}


def findings(knowledge: Knowledge, *resources: dict[str, Any]) -> Findings:
    builder = RecordBuilder(keep={"Observation": knowledge.is_relevant_observation})
    builder.add("bundle", {"resourceType": "Bundle", "type": "collection",
                           "entry": [{"resource": r} for r in resources]})
    return detect_findings(builder.build(), knowledge, TODAY)


def flags(result: Findings) -> set[str]:
    return {f.id for f in result.red_flags}


def test_reason_text_gives_weakness_with_exact_evidence(knowledge: Knowledge) -> None:
    result = findings(knowledge, patient(), encounter("Weakness in the left leg for 3 days"))
    assert result.anchor and result.anchor.laterality == "left" and result.anchor.onset == "subacute"
    evidence = result.complaint[0].evidence[0]
    assert (evidence.resource_type, evidence.resource_id, evidence.element) == ("Encounter", "e1", "reasonCode[0].text")
    assert evidence.text == "Weakness in the left leg"


def test_coded_reason_and_laterality_from_the_code(knowledge: Knowledge) -> None:
    result = findings(knowledge, patient(), encounter(coding=[
        {"system": SCT, "code": "16018431000119109", "display": "Paresis of right lower limb (finding)"}]))
    assert result.anchor and result.anchor.laterality == "right"
    assert result.complaint[0].evidence[0].code == "16018431000119109"


def test_reason_reference_is_resolved(knowledge: Knowledge) -> None:
    cond = condition("c1", ICD, "G83.4", "Cauda equina syndrome", this_encounter=False, onset="2020-01-01")
    result = findings(knowledge, patient(), encounter(reasonReference=[{"reference": "Condition/c1"}]), cond)
    assert "cauda-equina" in flags(result)


def test_resolved_and_refuted_conditions_are_not_todays_complaint(knowledge: Knowledge) -> None:
    resolved = condition("c1", SCT, "102568007", "Paresis of lower extremity (finding)", clinical="resolved")
    refuted = condition("c2", ICD, "G83.4", "Cauda equina syndrome", verification="refuted")
    result = findings(knowledge, patient(), encounter(), resolved, refuted)
    assert result.anchor is None and not result.red_flags


def test_longstanding_paraplegia_on_the_problem_list_is_not_a_new_complaint(knowledge: Knowledge) -> None:
    old = condition("c1", ICD, "G82.21", "Paraplegia, complete", onset="2009-03-01", this_encounter=False)
    uti = condition("c2", SCT, "386661006", "Fever (finding)")
    result = findings(knowledge, patient(), encounter(), old, uti)
    assert result.anchor is None
    assert not result.red_flags


def test_recent_problem_list_item_counts(knowledge: Knowledge) -> None:
    recent = condition("c1", ICD, "M21.372", "Foot drop, left foot", onset="2026-11-20", this_encounter=False)
    result = findings(knowledge, patient(), encounter(), recent)
    assert result.anchor and result.anchor.laterality == "left"


def test_old_icd_codes_still_match(knowledge: Knowledge) -> None:
    back = condition("c1", ICD, "M54.5", "Low back pain")
    ms = condition("c2", ICD, "G35", "Multiple sclerosis", onset="2015-01-01", this_encounter=False)
    result = findings(knowledge, patient("1995-01-01"), encounter("weak legs"), back, ms)
    assert "back-pain" in {f.concept for f in result.complaint}
    assert "multiple-sclerosis" in {f.concept for f in result.risk_factors}
    without_back_pain = findings(knowledge, patient("1995-01-01"), encounter("weak legs"), ms)
    assert without_back_pain.differential[0].id == "multiple-sclerosis"


def test_chief_complaint_observation_and_fever_in_fahrenheit(knowledge: Knowledge) -> None:
    cc = observation("o1", "8661-1", valueString="back pain and weak legs")
    temp = observation("o2", "8310-5", valueQuantity={"value": 101.3, "unit": "degF", "code": "[degF]",
                                                      "system": "http://unitsofmeasure.org"})
    result = findings(knowledge, patient(), encounter(), cc, temp)
    assert result.anchor is not None
    assert "spinal-infection" in flags(result)
    fever = next(f for f in result.risk_factors if f.concept == "fever")
    assert fever.evidence[0].value == "101.3 degF"


def test_temperature_below_threshold_is_not_fever(knowledge: Knowledge) -> None:
    cc = observation("o1", "8661-1", valueString="back pain and weak legs")
    temp = observation("o2", "8331-1", valueQuantity={"value": 37.9, "unit": "Cel"})
    assert "spinal-infection" not in flags(findings(knowledge, patient(), encounter(), cc, temp))


def test_irrelevant_observations_are_skipped_before_validation(knowledge: Knowledge) -> None:
    assert not knowledge.is_relevant_observation({"code": {"coding": [{"system": LOINC, "code": "29463-7"}]}})
    assert knowledge.is_relevant_observation({"code": {"coding": [{"system": LOINC, "code": "8310-5"}]}})
    assert (LOINC, "8661-1") in knowledge.observation_codes()


def test_medications_by_ingredient_active_and_systemic_only(knowledge: Knowledge) -> None:
    result = findings(knowledge, patient(), encounter("back pain"),
                      medication("m1", "Hydrocortisone 10 MG/ML Topical Cream"),
                      medication("m2", "Warfarin Sodium 5 MG Oral Tablet", status="stopped"),
                      medication("m3", "prednisone 5 MG Oral Tablet"))
    risks = {f.concept for f in result.risk_factors}
    assert "systemic-steroids" in risks and "anticoagulant" not in risks


def test_cancer_history_counts_for_cord_compression(knowledge: Knowledge) -> None:
    old_cancer = condition("c1", SCT, "363346000", "Malignant neoplastic disease (disorder)",
                           clinical="resolved", onset="2012-01-01", this_encounter=False)
    result = findings(knowledge, patient(), encounter("new back pain, legs feel weak"), old_cancer)
    assert "cord-compression" in flags(result)
    negated = findings(knowledge, patient(), encounter("legs feel weak, no history of cancer"))
    assert "cord-compression" not in flags(negated)


def test_possible_ces_reads_as_a_checklist(knowledge: Knowledge) -> None:
    result = findings(knowledge, patient(), encounter("low back pain, r/o cauda equina"))
    flag = next(f for f in result.red_flags if f.id == "cauda-equina")
    assert flag.possible and flag.topic == "red-flag-cauda-equina" and flag.indicator == "critical"


def test_fracture_is_a_warning_for_an_older_patient(knowledge: Knowledge) -> None:
    result = findings(knowledge, patient("1948-01-01"), encounter("back pain and weak legs"))
    flag = next(f for f in result.red_flags if f.id == "fracture")
    assert flag.indicator == "warning"
    assert "age-over-70" in {t.concept for t in flag.triggers}
    assert result.age == 78 and result.sex == "female"


def test_limb_ischaemia_quotes_atrial_fibrillation(knowledge: Knowledge) -> None:
    af = condition("c1", SCT, "49436004", "Atrial fibrillation (disorder)", onset="2019-01-01",
                   this_encounter=False, text="Atrial fibrillation")
    result = findings(knowledge, patient("1950-01-01"), encounter("sudden cold pale left leg, very painful"), af)
    flag = next(f for f in result.red_flags if f.id == "limb-ischemia")
    assert "atrial-fibrillation" in {t.concept for t in flag.triggers}


def test_differential_is_shaped_by_the_patient(knowledge: Knowledge) -> None:
    diabetic = condition("c1", SCT, "44054006", "Diabetes mellitus type 2 (disorder)", onset="2010-01-01",
                         this_encounter=False)
    result = findings(knowledge, patient(), encounter("weak legs over several months, numb feet"), diabetic)
    assert result.differential[0].id == "peripheral-neuropathy"
    assert {r.concept for r in result.differential[0].reasons} >= {"diabetes"}
    sudden = findings(knowledge, patient(), encounter("sudden weakness of the right leg"))
    assert sudden.differential[0].id == "stroke" and "stroke" in flags(sudden)


def test_nothing_to_say_for_an_unrelated_visit(knowledge: Knowledge) -> None:
    result = findings(knowledge, patient(), encounter("sore throat"))
    assert not result.has_anything and result.differential == ()


def test_undated_problem_not_tied_to_this_encounter_is_history(knowledge: Knowledge) -> None:
    cond = condition("c1", ICD, "G82.22", "Paraplegia, incomplete", this_encounter=False)
    del cond["onsetDateTime"]
    result = findings(knowledge, patient(), encounter(), cond)
    assert result.anchor is None
    assert [f.historical for f in result.risk_factors if f.concept == "leg-weakness"] == [True]


def test_odd_but_valid_resources_do_not_crash(knowledge: Knowledge) -> None:
    result = findings(
        knowledge, patient(birth="1970"),
        encounter(coding=[{"code": "102568007"}]),  # no system: not matched
        {"resourceType": "Condition", "id": "c9", "subject": {"reference": "Patient/p1"}},  # no code
        observation("o1", "8310-5", valueQuantity={"unit": "Cel"}),  # no value
        observation("o2", "8661-1"),  # chief complaint without a value
        {"resourceType": "MedicationRequest", "id": "m9", "status": "active", "intent": "order",
         "subject": {"reference": "Patient/p1"}, "medicationReference": {"reference": "Medication/x"}},
    )
    assert not result.has_anything and result.age == 56


def test_no_patient_and_no_encounter(knowledge: Knowledge) -> None:
    result = findings(knowledge, condition("c1", ICD, "G83.4", "Cauda equina syndrome", onset="2026-11-23",
                                           this_encounter=False))
    assert result.age is None and "cauda-equina" in flags(result)


def test_a_stroke_coded_at_another_visit_is_known_not_todays_emergency(knowledge: Knowledge) -> None:
    last_week = condition("c1", SCT, "230690007", "Cerebrovascular accident (disorder)",
                          onset="2026-11-18", this_encounter=False)
    result = findings(knowledge, patient(), encounter("follow-up"), last_week)
    assert "stroke" not in flags(result)
    today = condition("c2", SCT, "230690007", "Cerebrovascular accident (disorder)")
    assert "stroke" in flags(findings(knowledge, patient(), encounter("follow-up"), today))


def test_future_dated_problem_is_not_known_yet(knowledge: Knowledge) -> None:
    later = condition("c1", ICD, "M21.372", "Foot drop, left foot", onset="2027-06-01", this_encounter=False)
    assert findings(knowledge, patient(), encounter(), later).anchor is None


def risk_ids(result: Findings) -> set[str]:
    return {f.concept for f in result.risk_factors}


def test_an_infection_weeks_ago_is_the_gbs_cue_and_one_years_ago_is_not(knowledge: Knowledge) -> None:
    recent = findings(knowledge, patient(), encounter(
        "Campylobacter diarrhoea three weeks ago. Now both legs weaker each day, climbing to the thighs"))
    remote = findings(knowledge, patient(), encounter(
        "Had flu in 2010. Now both legs weaker each day, climbing to the thighs"))
    assert "recent-infection" in risk_ids(recent) and "guillain-barre" in flags(recent)
    assert [f.historical for f in recent.risk_factors if f.concept == "recent-infection"] == [False]
    assert [f.historical for f in remote.risk_factors if f.concept == "recent-infection"] == [True]
    assert "guillain-barre" not in flags(remote)


@pytest.mark.parametrize(("reason", "flag"), [
    ("Weak legs for 3 days. Now also weakness of both sides of the face and difficulty swallowing.",
     "guillain-barre"),
    ("Tingling in both feet, then weak legs, now short of breath. Reflexes absent.", "guillain-barre"),
    ("LBP, bilat leg weakness, PVR 420", "cauda-equina"),
    ("Transient weakness of the L arm and L leg this morning for 20 minutes, now resolved.", "stroke"),
    ("abrupt onset L leg weakness + L arm clumsy 40 min ago, speech slurred", "stroke"),  # overlapping concepts
    ("R leg cold and mottled below the knee, no DP/PT signal, can't wiggle toes", "limb-ischemia"),
    ('His "right leg went floppy". Within minutes speech slurred.', "stroke"),
    ('Both legs "feel weak and heavy". Has to push to get his water going, less feeling than usual when wiping.',
     "cauda-equina"),
])
def test_evolution_and_exam_vocabulary_raise_the_flag(knowledge: Knowledge, reason: str, flag: str) -> None:
    assert flag in flags(findings(knowledge, patient(), encounter(reason)))


@pytest.mark.parametrize("reason", [
    "Weak legs for 3 months; breathless on exertion with heart failure, ankles swollen.",  # gradual: not GBS
    "LBP, bilat leg weakness, PVR 120 mL",  # below the 200 mL the CES pathways act on
    "R sciatica for 2 weeks. BPH on tamsulosin, poor stream for years.",  # a prostate's stream, not a new CES
    "Legs gave out getting up from the toilet, no back pain. Urge incontinence (known overactive bladder).",
])
def test_the_same_words_without_the_picture_raise_nothing(knowledge: Knowledge, reason: str) -> None:
    assert not flags(findings(knowledge, patient(), encounter(reason))) & {"guillain-barre", "cauda-equina"}


def test_a_concept_inside_another_phrase_is_kept_but_a_refined_head_is_not(knowledge: Knowledge) -> None:
    inside = findings(knowledge, patient(), encounter("Now R leg sciatica with weak big toe extension"))
    assert "sciatica" in {f.concept for f in inside.complaint}
    assert "disc-herniation" in {d.id for d in inside.differential}
    skin = findings(knowledge, patient(), encounter("Weak legs. PMH: basal cell carcinoma excised 2020"))
    assert "cancer" not in risk_ids(skin)


DISCHARGE = ("DISCHARGE SUMMARY - VASCULAR SURGERY\nDischarged: {date}\n"
             "Presentation: sudden cold, painful, pulseless left leg with weakness of ankle movements.")


def test_a_discharge_summary_of_an_old_admission_is_history(knowledge: Knowledge) -> None:
    """A text that names its own discharge date tells of that admission (observations.yaml notes)."""
    old = findings(knowledge, patient(), encounter(DISCHARGE.format(date="08/11/2026")))
    assert old.anchor is None and "limb-ischemia" not in flags(old)
    recent = findings(knowledge, patient(), encounter(DISCHARGE.format(date="2026-11-23")))
    assert recent.anchor is not None and "limb-ischemia" in flags(recent)


@pytest.mark.parametrize(("text", "fires"), [
    # claudication: pulseless, weak on walking, eased standing still, feet warm
    ("legs go weak after 150 yds, eases after standing still. Foot pulses absent.", False),
    # acute on chronic: the same claudicant with a sudden change, or a pale pulseless numb leg
    ("known claudication. Sudden pain in the left leg, foot pulses absent.", True),
    ("known claudication. Left leg pale and cold, no pedal pulses, foot numb.", True),
    # a claudicant's cold foot that is numb and cannot move, pulses not felt for (telephone triage)
    ("Usual claudication L calf at 200 yds. Since 06:30 L foot freezing cold, numb, can't move her L toes.", True),
    # a claudicant's cold feet with exertional weakness only: no numbness at rest, no ALI
    ("legs go weak after 150 yds, eases after standing still. Feet cold.", False),
])
def test_limb_ischaemia_and_claudication(knowledge: Knowledge, text: str, fires: bool) -> None:
    assert ("limb-ischemia" in flags(findings(knowledge, patient(), encounter(text)))) is fires


@pytest.mark.parametrize(("text", "age", "fires"), [
    ("back pain after a fall down two steps, legs weak", "1983-01-01", False),
    ("back pain after a 3 m fall from a ladder", "1983-01-01", True),
    ("sudden mid-back pain coughing, point tenderness T11, on prednisolone for 14 months", "1968-01-01", True),
    ("back pain after a fall, legs weak", "1950-01-01", True),
    # a palpable step after any injury is the structural deformity of a fracture
    ("Rugby injury, landed on his back: severe low back pain. Midline tenderness T12/L1 with a palpable step.",
     "2006-01-01", True),
    # a fall caused by weak legs, with tenderness over the spine, is no fracture mechanism at 58
    ("Legs weak for 4 days, fallen once. Tender over T6-T7 spinous processes.", "1968-01-01", False),
    # an old woman who slid off her bed, tender over L1-L2, whatever words her back pain is told in
    ("Slid off the edge of her bed onto her bottom, lay on the floor all night. Cannot lift either leg. "
     "Tender over L1-L2.",
     "1940-01-01", True),
    ('Her back is "awfy sair" low down after she fell.', "1940-01-01", True),
    # a tender vertebra beside a named infection is the infection's
    ("Low back pain, rigors, CRP 212, E. coli discitis L2/3 on MRI. Tender over L2.", "1940-01-01", False),
])
def test_fracture_by_mechanism(knowledge: Knowledge, text: str, age: str, fires: bool) -> None:
    """Major trauma, or minor trauma or point tenderness beside steroids, osteoporosis or age [S12]."""
    assert ("fracture" in flags(findings(knowledge, patient(birth=age), encounter(text)))) is fires


def test_hypokalaemia_lowers_gbs_to_a_checklist(knowledge: Knowledge) -> None:
    """A profound hypokalaemia explains a flaccid weakness [S13] [S28]: GBS is still raised,
    as a warning to confirm, never dropped."""
    text = "Both legs weak since last night, arms weak too, reflexes absent."
    alone = {f.id: f for f in findings(knowledge, patient(), encounter(text)).red_flags}
    assert alone["guillain-barre"].indicator == "critical"
    low_k = {f.id: f for f in findings(knowledge, patient(), encounter(text + " K 1.9 mmol/L.")).red_flags}
    assert low_k["guillain-barre"].indicator == "warning"
    assert "low-potassium" in {t.concept for t in low_k["guillain-barre"].triggers}


def test_a_course_over_months_lowers_gbs_to_a_checklist(knowledge: Knowledge) -> None:
    text = ("~9 months of slowly progressive numbness starting in the toes, now to mid-shins, and over the "
            "last 3-4 months weakness of both ankles.")
    flags_by_id = {f.id: f for f in findings(knowledge, patient(), encounter(text)).red_flags}
    assert flags_by_id["guillain-barre"].indicator == "warning"


@pytest.mark.parametrize(("text", "complaint"), [
    ("Outpatient PT re-eval. Dx: R hemiparesis s/p L MCA CVA 03/2024. No new weakness.", False),
    ("Rehab wk 5. Dx: R MCA infarct (19/10/26) with L hemiparesis. Progressing well.", False),
    ("Acute stroke: sudden L hemiparesis at 09:10, facial droop.", True),
    ("Old CVA 2019. New sudden weakness of the right leg today.", True),
])
def test_a_past_events_deficit_is_its_residual(knowledge: Knowledge, text: str, complaint: bool) -> None:
    result = findings(knowledge, patient(), encounter(text))
    assert (result.anchor is not None) is complaint
    assert ("stroke" in flags(result)) is complaint


@pytest.mark.parametrize(("text", "complaint"), [
    # an earlier encounter the sentence dates more than two weeks back tells of that episode
    ("Presented 29/09/26 with fever, severe low back pain and L leg weakness - MRI L4/5 discitis.", False),
    # ... unless the account comes back to today, or the date starts a complaint that continues
    ("Admitted 01/10/26 with back pain, now weakness of both legs.", True),
    ("Seen 01/10/26 with L leg weakness, which persists.", True),
    ("Weakness of both legs since 01/10/26, worse this week.", True),
    # a dated letter heading is no earlier encounter
    ("Referral letter 01/10/26: progressive weakness of both legs and urinary retention.", True),
    ("Presented 2026-11-23 with L leg weakness.", True),
])
def test_a_sentence_dating_an_earlier_encounter_tells_of_that_episode(knowledge: Knowledge, text: str,
                                                                       complaint: bool) -> None:
    assert (findings(knowledge, patient(), encounter(text)).anchor is not None) is complaint


@pytest.mark.parametrize(("text", "fires"), [
    ("Low back pain for 2 weeks, legs weak. On prednisolone 10 mg for PMR.", True),
    # no back pain: weak legs on steroids is the steroid myopathy's picture [S30]
    ("Proximal leg weakness, difficulty climbing stairs. On prednisolone 20 mg for GCA.", False),
    # back pain the note explains: a fall, a vertebral fracture, a cancer
    ("Slipped off the bed and landed on her bottom: severe low back pain, legs weak. On prednisolone for PMR.", False),
    ("Mid back pain 3 weeks, legs weak. Metastatic NSCLC, on dexamethasone.", False),
])
def test_immunosuppression_alone_raises_spinal_infection_only_for_unexplained_back_pain(
        knowledge: Knowledge, text: str, fires: bool) -> None:
    assert ("spinal-infection" in flags(findings(knowledge, patient(), encounter(text)))) is fires


def test_a_fracture_suspected_from_risk_factors_alone_gives_way_to_a_cancer(knowledge: Knowledge) -> None:
    """Age, back pain and weak legs: a fracture to consider, unless a cancer in the spine explains them,
    whose cord-compression card is the alert [S6]."""
    plain = findings(knowledge, patient(birth="1950-01-01"), encounter("Mid back pain 3 weeks, legs weak."))
    assert "fracture" in flags(plain)
    cancer = findings(knowledge, patient(birth="1950-01-01"),
                      encounter("Mid back pain 3 weeks, legs weak. Hx prostate ca."))
    assert flags(cancer) >= {"cord-compression"} and "fracture" not in flags(cancer)


@pytest.mark.parametrize(("text", "fires"), [
    ("Left leg went weak suddenly yesterday, resolved after 10 minutes.", True),  # a TIA until shown otherwise
    ("Intermittent claudication: the R leg gives out after 200 m; stands still for 2 min and it goes away.", False),
    ("Brief weakness of the left leg last month, resolved after 10 minutes.", False),
])
def test_a_transient_deficit_is_a_tia_and_a_rested_claudication_is_not(knowledge: Knowledge, text: str,
                                                                        fires: bool) -> None:
    assert ("stroke" in flags(findings(knowledge, patient(), encounter(text)))) is fires


@pytest.mark.parametrize("text", [
    'Weak legs: started in the feet 5 days ago, each day higher, "now it is at my knees".',
    "4/7 progressive tingling feet -> knees, legs weak.",
    "Legs weak, feet tingly 4 days ago, weaker every day. His hands are now tingly and clumsy.",
    "Legs weak, reflexes absent. Imp: weakness climbing from the feet over 5 days.",
])
def test_a_climb_from_the_feet_is_the_ascending_course(knowledge: Knowledge, text: str) -> None:
    result = findings(knowledge, patient(), encounter(text))
    assert result.anchor is not None and result.anchor.course == "ascending"


@pytest.mark.parametrize(("text", "side"), [
    # the side written before the part it qualifies, not every side the sentence names
    ("Exam: L pronator drift, L hip flexion 3/5, L DF 4/5, R side 5/5.", "left"),
    ("O/E: L EHL 4-/5, R EHL 4/5.", "bilateral"),
    # a sentence that says both legs covers a part that names no side itself
    ("Left sciatica for 3 weeks. Since yesterday pain in both legs, foot weak too.", "bilateral"),
    # a pattern's gap never crosses a dash standing alone (a clause break in notes)
    ('Both legs "tingling and weak" - can lift L leg off the bed, R only a few cm.', "bilateral"),
    ("Foot numb. Unable to actively DF R ankle or extend toes.", "right"),
    # the side written right after a grade is the weak one; a 5/5 on the other side is the normal leg
    ("Quads 4/5 L (pain-inhibited), 5/5 R. Thigh weak on stairs.", "left"),
    ("Tiptoe weak (2 heel raises vs 15 on the other side), plantarflexion 4/5 R, L normal.", "right"),
    ("L EHL 4/5, L ankle PF 4/5, R ankle PF 4+/5", "bilateral"),
    # the words after a grade stop at the next grade: "EHL 4/5 L 3/5 R" names both sides
    ("Power: ankle DF 4/5, PF 4-/5, EHL 4/5 L 3/5 R.", "bilateral"),
    ("Hip flexion 3/5 R more than L.", "bilateral"),
    # the other side's normal grade does not make it both legs (a sudden one-sided weakness)
    ("Sudden onset 30 min ago. Hip flexion 3/5 L, knee extension 4/5 L, R leg 5/5.", "left"),
])
def test_a_side_qualifies_the_part_written_next_to_it(knowledge: Knowledge, text: str, side: str) -> None:
    result = findings(knowledge, patient(), encounter(text))
    assert result.anchor is not None and result.anchor.laterality == side


def test_the_patients_sex_tells_whose_a_pronoun_is(knowledge: Knowledge) -> None:
    """Patient.gender reaches the text: in a woman's note the husband's weak left side is his."""
    text = "Cough for 5 days. Husband admitted with a stroke on Sunday, his left leg is weak and he can't walk."
    hers = findings(knowledge, patient(gender="female"), encounter(text))
    assert hers.anchor is None and "stroke" not in flags(hers)
    his = findings(knowledge, patient(gender="male"), encounter(text))
    assert his.anchor is not None


def test_a_diagnosis_the_text_lists_as_excluded_is_not_raised_by_its_other_mentions(knowledge: Knowledge) -> None:
    """Another hospital's summary: "brought in as a stroke call", then "Diagnoses excluded: acute stroke"."""
    summary = ("PRESENTING COMPLAINT:\nBrought in as a stroke call: left foot slapping on waking.\n\n"
               "DIAGNOSES EXCLUDED:\n- Acute stroke / TIA (MRI brain normal)\n\n"
               "PRINCIPAL DIAGNOSIS:\n- Left L5 radiculopathy with partial left foot drop\n")
    result = findings(knowledge, patient(), encounter(summary))
    assert result.anchor is not None and "stroke" not in flags(result)
    kept = findings(knowledge, patient(), encounter(summary.replace("DIAGNOSES EXCLUDED", "DIAGNOSES")))
    assert "stroke" in flags(kept)


def test_quadriparesis_is_weakness_of_the_legs_and_the_arms(knowledge: Knowledge) -> None:
    result = findings(knowledge, patient(), encounter(
        "Impression: acute rapidly progressive ascending symmetric flaccid quadriparesis with areflexia."))
    assert result.anchor is not None and result.anchor.laterality == "bilateral"
    assert result.anchor.course == "ascending" and "guillain-barre" in flags(result)



@pytest.mark.parametrize(("text", "sex", "flag"), [
    # a list of diagnoses excluded ends at prose on the next line: what follows is today's
    ("Diagnoses excluded: Acute stroke / TIA (MRI normal)\nMrs X re-presented today with new urinary retention, "
     "saddle anaesthesia and bilateral leg weakness.", None, "cauda-equina"),
    ("Ruled out:\nPE, ACS\nNew sudden left leg weakness, facial droop, slurred speech since 10:00.", None, "stroke"),
    # a prior stroke's residual does not hide a new one
    ("L MCA stroke 03/2019 with residual right-sided weakness. Wife found him at 07:00 with right leg weakness, "
     "facial droop and slurred speech.", None, "stroke"),
    # a relative as the one who reports, or named before, is not the experiencer of the patient's complaint
    ("Wife has MS, she says the legs gave way this morning and he has not passed urine since. Back pain.", "male",
     "cauda-equina"),
    ("Husband had a stroke last year, he does the driving, sudden weakness of left leg since 9am, face droop.",
     "female", "stroke"),
    # a review of systems' label dash is no "-" sign
    ("ROS:\nNeuro - weakness both legs, saddle anaesthesia\nGU - urinary retention", None, "cauda-equina"),
    # a judgement negates its own clause, not the list before it
    ("Bilateral leg weakness, urinary retention, stroke not suspected.", None, "cauda-equina"),
    # a relative clause stays the relative's only until the patient is named again (b15 mechanisms)
    ("Her mother had MS, which is why she came in: she now has weak legs, urinary retention and saddle numbness.",
     "female", "cauda-equina"),
    ("My dad in Leeds had a stroke, and since 9am my left leg is suddenly weak and my face droops.", None, "stroke"),
    # "which excluded" negates within its clause; a grade of 0 answers only its own cell
    ("CT head which excluded a bleed, now urinary retention, saddle numbness and weak legs.", None, "cauda-equina"),
    ("Toxicity: fever 0, nausea 0. Weak legs, urinary retention and saddle anaesthesia since this morning.", None,
     "cauda-equina"),
    # b16: a "pertinent negatives" list, a conditional pointing back, a stroke unit as a workplace
    ("Pertinent negatives: fever, IVDU. Weak legs, urinary retention and saddle numbness since 6am.", None,
     "cauda-equina"),
    ("Saddle numbness and urinary retention since this morning, weak legs. Other red flags explained, ED if any "
     "develop.", None, "cauda-equina"),
    ("Staff nurse on the stroke unit, sudden L leg weakness and facial droop at work.", "female", "stroke"),
    # b17: an inline allergy line ends with its line; a pipe table's answers are its own cells
    ("Allergies: penicillin (rash).\nCHANGE SINCE LISTING:\nNew leg weakness? YES. Saddle numbness? YES. "
     "Urinary retention, PVR 610 mL.", None, "cauda-equina"),
    ("| Back pain | N |\n| Both legs weak | Y - since Sunday |\n| Bladder | retention, PVR 500 mL |",
     None, "cauda-equina"),
])
def test_the_new_language_rules_never_hide_a_red_flag(knowledge: Knowledge, text: str, sex: str | None,
                                                      flag: str) -> None:
    """Each rule of 2026-12-03 that takes a finding away, against the note that would have lost a red flag."""
    assert flag in flags(findings(knowledge, patient(gender=sex or "female"), encounter(text)))


# A fresh-eyes review of the 2026-12-04 rules (docs/clinical.md) wrote these against the rules that
# take findings away or add them; each failed on the first version of those rules.
REVIEW_2026_12_04 = [
    # informants named with where they are: the patient's complaint
    ("Wife at bedside has noticed L facial droop and L arm and leg weakness since 06:30.", "male", "stroke"),
    ("Daughter from Leeds is with him, reports sudden R leg weakness and slurred speech since 06:00.", "male",
     "stroke"),
    ("Wife on the phone reports sudden L leg weakness and facial droop since 09:00.", "male", "stroke"),
    ("Accompanied by wife (was with him at onset): sudden L arm and leg weakness and slurred speech at 08:15.",
     "male", "stroke"),
    ("Lives with son who had a stroke in 2020, which is why the sudden L leg weakness and facial droop this "
     "morning was recognised quickly.", "male", "stroke"),
    # a dated operation or illness and a colon: what follows is today's
    ("L4/5 discectomy 6 weeks ago: since yesterday urinary retention, saddle anaesthesia and both legs weak.",
     "male", "cauda-equina"),
    ("Lumbar microdiscectomy 3 weeks ago: saddle anaesthesia and retention started last night.", "male",
     "cauda-equina"),
    ("Flu-like illness 3 wks ago: now ascending weakness, areflexic, both legs weak, arms weak.", "female",
     "guillain-barre"),
    ("Dental abscess 1 month ago: fever, back pain and weak legs since Monday.", "male", "spinal-infection"),
    ("Epidural steroid injection 1 month ago: 3 days of fever 39, severe back pain, legs weak.", "male",
     "spinal-infection"),
    # a conditional after symptoms that are present
    ("New saddle numbness and urinary retention - ED if any develop worse.", "female", "cauda-equina"),
    ("111 call: reports new urinary retention and numb bottom, both legs weak - ED if these occur", "female",
     "cauda-equina"),
    ("Pertinent negatives - none relevant, ascending weakness both legs over 3 days after D&V, areflexic.",
     "female", "guillain-barre"),
    # a stroke team or unit named beside today's stroke
    ("D/w doctor on the stroke team: acute stroke, L arm and leg weakness, for CT and thrombolysis.", "male",
     "stroke"),
    ("Suspected acute stroke, FAST positive, pathway for stroke patients activated, L leg weakness.", "female",
     "stroke"),
    ("Seen by nurse on the stroke unit at 10:00: new TIA symptoms, R leg weakness resolved.", "male", "stroke"),
    # "since DATE after X" is a complaint that goes on
    ("82F severe thoracic back pain since 02/11/2026 after fall from ladder, both legs weak.", "female",
     "fracture"),
    ("75M T12 # on CT; back pain since 01/11/2026 after fall from roof, legs weak.", "male", "fracture"),
]


# The second review round, on the narrowed rules: each was worse than c41f365 on the first narrowing.
REVIEW_2026_12_04 += [
    ("Bloods have excluded infection, R leg weakness, slurred speech since 08:00.", "female", "stroke"),
    ("No problems until L4/5 discectomy 2 days ago which left him with urinary retention, saddle anaesthesia "
     "and weak legs.", "male", "cauda-equina"),
    ("Lives with son (who has autism) - sudden R leg weakness and slurred speech since 10:00.", "female", "stroke"),
    ("Brought in by wife (who has dementia): sudden L leg weakness, facial droop at 07:00.", "male", "stroke"),
    ("Brought by daughter (who has been a nurse 20 yrs): urinary retention, saddle numbness, legs weak.", "male",
     "cauda-equina"),
    ("Husband undergoing dialysis, sudden L leg weakness, facial droop and slurred speech at 11:00.", "female",
     "stroke"),
    ("Daughter now having radiotherapy, sudden R leg weakness, face drooping at 09:00.", "female", "stroke"),
    ("T2DM for years. Weakness both legs for 4 days, now arms weak, reflexes absent.", "female", "guillain-barre"),
    ("72M first-ever 'hemiplegic migraine' at 06:00: facial droop, slurred speech, still can't use L side.", "male",
     "stroke"),
    ("Hemiplegic migraine attack since 06:00, facial droop, dysarthria, worse than usual.", "male", "stroke"),
    # third round: "which left him with" is the patient's own, a relative named before it or not
    ("Wife has MS, fall from ladder this morning which left him with weak legs, numb saddle and retention.",
     "male", "cauda-equina"),
    ("Lives with wife who has Parkinson's, fall last night which left him with numb saddle, retention and weak "
     "legs.", "male", "cauda-equina"),
]


@pytest.mark.parametrize(("text", "sex", "flag"), REVIEW_2026_12_04)
def test_the_reviewed_rules_keep_the_red_flag(knowledge: Knowledge, text: str, sex: str, flag: str) -> None:
    assert flag in flags(findings(knowledge, patient(gender=sex), encounter(text)))


@pytest.mark.parametrize(("text", "flag", "indicator"), [
    # an old arm numbness, slurred speech of drink, a Bell's palsy: the CES stays the alert
    ("Saddle anaesthesia, urinary retention 900 ml, bilateral sciatica, both legs weak. Known cervical "
     "radiculopathy with R arm numbness for years.", "cauda-equina", "critical"),
    ("Large L4/5 disc, urinary retention, saddle anaesthesia, leg weakness. Drunk, slurred speech on arrival.",
     "cauda-equina", "critical"),
    ("Saddle numbness and retention since this morning, legs weak. Bell's palsy last week - facial weakness "
     "improving.", "cauda-equina", "critical"),
    # an abscess only in the differential does not lower a GBS
    ("Ascending weakness both legs over 4 days, areflexic, after gastroenteritis. ?GBS, differential includes "
     "epidural abscess - no fever, MRI to exclude.", "guillain-barre", "critical"),
])
def test_the_reviewed_rules_keep_the_alert_critical(knowledge: Knowledge, text: str, flag: str,
                                                     indicator: str) -> None:
    fired = {f.id: f.indicator for f in findings(knowledge, patient(), encounter(text)).red_flags}
    assert fired.get(flag) == indicator


@pytest.mark.parametrize(("text", "flag"), [
    # a claudicant's chronic cold, numb feet with a neuropathy, over months: no acute limb ischaemia
    ("Known PAD, claudication L calf at 100 yds for 2 years. Diabetic neuropathy - feet cold and numb, legs weak "
     "on stairs for 6 months. ABPI 0.7, stable.", "limb-ischemia"),
    # sudden weakness of both legs lifting is no stroke: "3/5 L and R", "3/5 R and 4/5 L" are both
    ("Sudden onset of weakness at 07:00 lifting at work. Hip flexion 3/5 L and R. No face/arm/speech change.",
     "stroke"),
    ("Sudden weakness at 07:00, hip flexion 3/5 R and 4/5 L, numb R side, no back pain.", "stroke"),
])
def test_the_reviewed_rules_raise_no_unwarranted_alert(knowledge: Knowledge, text: str, flag: str) -> None:
    assert flag not in flags(findings(knowledge, patient(gender="male"), encounter(text)))


@pytest.mark.parametrize(("text", "side"), [
    # a leg movement's abbreviation with its MRC grade, a foot gone "floppy", a "Legs:" heading over one side
    ("Pain after squatting; Hip flex 4-/5, hip ext 4/5 b/l, distal 5/5.", "bilateral"),
    ("R foot has gone floppy since this afternoon.", "right"),
    ("Sudden onset at 07:30 hanging laundry. Legs: L hip flex 3/5, knee ext 3/5, ankle DF 4/5. R leg 5/5.", "left"),
    ("Legs: weak 4/5, ascending over 3 days.", "bilateral"),
    ("Lower limbs - L 4/5, R 3/5 since Monday.", "bilateral"),
    ("Lower limbs - L 4/5, R 5/5 since Monday.", "left"),
])
def test_grade_abbreviations_and_lay_foot_drop_words_are_leg_weakness(knowledge: Knowledge, text: str,
                                                                      side: str) -> None:
    result = findings(knowledge, patient(), encounter(text))
    assert result.anchor is not None and result.anchor.laterality == side


#: The fresh-eyes review of the evening's rules (2026-12-04): notes on which a first version of a
#: rule hid or downgraded a red flag that b07b915 raised. Each rule was narrowed or withdrawn
#: (docs/clinical.md, "Review of the 2026-12-04 evening rules"); the note keeps its critical card.
REVIEW_EVENING = [
    # an escort in brackets is no experiencer ("with" and "accompanied by" are not "has")
    ("Ambulance: Pt found at home by husband (Dave) with sudden R leg weakness and R facial droop at 08:40, "
     "FAST +ve.", "female", "stroke"),
    ("Seen with wife (Jean) with sudden L leg weakness and L facial droop since 07:30, AF not anticoagulated.",
     "male", "stroke"),
    ("Brought in by son (Paul) with 2 days of back pain, both legs weak and retention - residual 1.1 L. "
     "Known prostate ca.", "male", "cauda-equina"),
    ("Brought in by son (Paul) with 2 days of back pain, both legs weak and retention - residual 1.1 L. "
     "Known prostate ca.", "male", "cord-compression"),
    ("Attends with daughter (interpreting) with fever 38.9, back pain, IVDU, now L leg weak.", "male",
     "spinal-infection"),
    ("Accompanied by partner (Chris) - had a sudden weakness R leg at 07:00 today, R face droop.", "male", "stroke"),
    # a procedure's risks are hypothetical; its reported complications, risk factors and a review are not
    ("Discharge summary. L4/5 microdiscectomy 20/11. Post-op complications included a new L foot drop and "
     "urinary retention requiring catheter, saddle numbness persists at discharge.", "female", "cauda-equina"),
    ("Red flag screen: key risks are her known breast ca with bone mets and steroids; 4 weeks thoracic back "
     "pain, both legs weaker this week.", "female", "cord-compression"),
    ("Anticoagulation: risks are bleeding vs stroke, discussed, he has sudden R leg weakness and aphasia since "
     "08:00.", "male", "stroke"),
    ("Possible complications of the biopsy reviewed with him - new saddle numbness and urinary retention since "
     "last night, both legs weak.", "male", "cauda-equina"),
    ("Falls risk: high - risks are new weakness L leg since this morning and new confusion, sudden onset.",
     "male", "stroke"),
    # "In <year>" dates only "he had ..." in its clause; "Past:" is no label
    ("Physio: In 2026, the patient reports new saddle numbness and bladder urgency, both legs weak, since the "
     "weekend.", "female", "cauda-equina"),
    ("In 2026 we started him on dex for MSCC; today new weakness of both legs and sensory level T8.", "male",
     "cord-compression"),
    ("Past: 3 days of fever and back pain, Present: both legs weak, T 38.7.", "male", "spinal-infection"),
    # dots followed by a line of prose are an ellipsis, not a form's leader
    ("Neuro exam: no focal deficit elsewhere.... L leg 2/5 throughout, L facial droop, onset 40 min ago.",
     "female", "stroke"),
    ("Denies bladder or bowel change.... Now says legs weak both sides and can't pass urine since last night, "
     "numb saddle.", "male", "cauda-equina"),
    # a pair of labelled boxes answers with the ticked one
    ("Leg weakness: ☐ No ☑ Yes - L leg, sudden onset 10:20\nFacial droop: ☐ No ☑ Yes", "male", "stroke"),
    # a named acute limb ischaemia leaves a cancer's cord compression critical
    ("Metastatic prostate ca. MRI today: cord compression at T9. Also new cold, pulseless R foot - acute limb "
     "ischaemia, vascular called.", "male", "cord-compression"),
    ("Lung ca on chemo. Sudden cold pale L leg, no pulses, numb - acute limb ischaemia, vascular aware. Back "
     "pain and weak legs for 2 weeks with retention.", "female", "cord-compression"),
    # a new time frame ends the negation before it (missed in both trees)
    ("Stroke risks are high: AF, not anticoagulated, and today sudden L leg weakness 1h ago with facial droop.",
     "male", "stroke"),
    # the climb is the weakness's, not the infection's before it
    ("Weakness both legs, ascending to the arms after diarrhoea.", "male", "guillain-barre"),
    # an onset stays with the infection it describes; a course goes to the weakness
    ("Legs weak both sides for 3 days, rising to the hips, after diarrhoea, reflexes absent.", "male",
     "guillain-barre"),
    # review round 2: a relative with an aside is the history's source or an escort
    ("Here with daughter (Sue) - had sudden R leg weakness and facial droop at 09:30.", "female", "stroke"),
    ("Wife (Jane) - has called 999 as he suddenly couldn't move his L leg, L facial droop.", "male", "stroke"),
    ("History from son (GP) - has had 2 days of progressive weakness both legs and urinary retention.", "female",
     "cauda-equina"),
    # an ellipsis of four dots in prose is no form's leader
    ("No focal deficit.... L leg 2/5, facial droop", "male", "stroke"),
    ("No fever.... Saddle anaesthesia today", "male", "cauda-equina"),
    ("Denies trauma.... Both legs weak, ascending", "male", "guillain-barre"),
    # a risk list without a consent's frequency word, a past event and today
    ("Post-op course: complications include urinary retention requiring catheter and new R foot drop, saddle "
     "numbness.", "male", "cauda-equina"),
    ("Her main risks include metastatic breast cancer and osteoporosis. New thoracic back pain, both legs weak for "
     "3 days.", "female", "cord-compression"),
    ("In 2019 she had a stroke and today sudden onset L leg weakness.", "female", "stroke"),
    ("In 2026 pt developed sudden weakness of the R leg at 07:00 today.", "male", "stroke"),
    # a labelled pair of boxes without a colon
    ("Cauda equina screen: saddle anaesthesia ☐ No ☑ Yes", "male", "cauda-equina"),
    # review round 4: "advice / precautions given:" before the patient's own current findings
    ("Advice given verbally: MRI arranged today as he has saddle numbness and reduced anal tone on exam.", "male",
     "cauda-equina"),
    ("Advice discussed: he has had a fever of 38.9 and severe back pain with new leg weakness since yesterday; IV "
     "drug use.", "male", "spinal-infection"),
    ("Precautions explained verbally: current saddle numbness, retention. Sent to ED now.", "female", "cauda-equina"),
    # review round 3: a past year's event joined by "and" to today's, or timed today
    ("In 2024 pt had spinal surgery and developed fever, back pain and leg weakness 2 days ago.", "male",
     "spinal-infection"),
    ("In 2024 she had a fall and presents with saddle anaesthesia and retention.", "female", "cauda-equina"),
    ("In 2020 he had a stroke and sudden L leg weakness 40 minutes ago.", "male", "stroke"),
    ("In 2025 he had a cold white L leg 3 hours ago, pulseless, AF not anticoagulated.", "male", "limb-ischemia"),
    ("In 2016 she had a renal transplant and fever with back pain and weak legs for 4 days.", "female",
     "spinal-infection"),
    # a ticked item's own box, a side word between them
    ("FAST: ☑ face ☑ L leg weakness ☐ speech\nSudden onset 30 min ago.", "male", "stroke"),
    # what the patient has now ends a risk list
    ("Rare risks include infection and she has noticed saddle numbness since the injection.", "female",
     "cauda-equina"),
]


#: The review of the b22 rules (2026-12-08, docs/clinical.md): notes on which the first version hid a
#: red flag c02591d's base raised, and the second and third reviews' (on later versions). A qualified
#: heading opens only a chief complaint, HPI or review of systems, and not with a date or a copy in its
#: qualifier; the "3 weeks ago she had" opening, "METs", "either side", "out of nowhere", feet that
#: slap, a one-leg line label and a leg that cannot lift off the bed were withdrawn; the stroke
#: homonyms are whole words. Each note keeps its red flag.
REVIEW_B22 = [
    ("Alcohol (units/wk): 20\nWoke this morning unable to move right leg, slurred speech, R facial droop.", "stroke"),
    ("Drug use (IV): heroin, last used yesterday\nFever 38.9, severe thoracic back pain, both legs weak since last "
     "night.", "spinal-infection"),
    ("Smoking (pack years): 40\nSudden cold pale painful R leg, no pulses below the femoral, can't move his toes.",
     "limb-ischemia"),
    ("SAFETY NETTING (re-attended 16:40): Returned with saddle anaesthesia and painless urinary retention, legs "
     "weaker.", "cauda-equina"),
    ("SH (independent, mobile with stick):\nTonight legs gave way, unable to weight bear, incontinent of urine, "
     "back pain++", "cauda-equina"),
    ("FH (adopted): unknown\nR sided weakness of arm and leg, started suddenly 1 hour ago, FAST positive.", "stroke"),
    ("BACKGROUND (ED triage):\n70M, sudden R leg weakness 40 min ago, R facial droop, on apixaban.", "stroke"),
    ("Return Precautions (N/A - admitted):\nAdmitted with cauda equina syndrome, for MRI tonight.", "cauda-equina"),
    ("Tobacco (current): 10/day.\nBoth legs went weak this afternoon with back pain, known prostate cancer.",
     "cord-compression"),
    ("Social Hx (carer 4x daily):\nCarer found her on the floor this am, can't move L leg, L facial droop, speech "
     "slurred.", "stroke"),
    ("3 weeks ago she had a sore throat followed by progressive weakness of both legs and tingling in her hands.",
     "guillain-barre"),
    ("3 weeks ago he had diarrhoea. Since then progressive weakness in his legs, struggling with stairs.",
     "guillain-barre"),
    ("5 weeks ago he had Campylobacter gastroenteritis. 4 days of tingling feet and progressively weak legs.",
     "guillain-barre"),
    ("3 weeks ago he had fevers and night sweats that have not gone away. Back pain, legs weak.", "spinal-infection"),
    ("Known T12 and L2 METs (primary unknown). New thoracic back pain and both legs weak today.", "cord-compression"),
    ("Bone scan: 2 METs (T8, L1). New back pain, walking unsteadily.", "cord-compression"),
    ("Pt with ca left breast\nstroke alert called by paramedics, LKW 13:20", "stroke"),
    # the second review: "either side" in an exam sentence made a one-sided weakness both legs
    ("Sudden onset L leg weakness 40 mins ago, reflexes brisk on either side, no facial droop.", "stroke"),
    ("Sudden L leg weakness at 0800, tone normal on either side, plantars flexor.", "stroke"),
    ("Sudden R leg weakness 1 h ago, ?any numbness in either leg - not assessed yet.", "stroke"),
    ("Acute R leg weakness, woke with it; unable to weight bear on either foot because of the weakness on the "
     "right.", "stroke"),
    # the third review: a one-leg line label made a sudden one-sided weakness both legs; "seated",
    # "rated" are no rowing word
    ("Sudden onset L leg weakness at 07:00, unable to stand, face and arm normal.\nR leg: TKR 6 weeks ago. Quads "
     "4/5, wound healing well.", "stroke"),
    ("Sudden L leg weakness 1 hour ago.\nR leg: normal tone. Hip flexion 4/5 (OA hip, pain-limited).", "stroke"),
    ("Acute stroke seated in chair at triage, L leg weak.", "stroke"),
    ("Query stroke rated minor by paramedics, weakness of L leg.", "stroke"),
]


#: The reviews of the b22 rules (2026-12-08): a homonym of stroke; a qualified sub-heading inside a family
#: or past history, or advice, had taken "(father)", "(2017)", "(at that time)" or "(as discussed)" out
#: of what is read; "out of nowhere" was a knee's or a gout flare's. None of these raises its card now.
REVIEW_B22_QUIET = [
    # a homonym of stroke, a risk discussed, a rugby "dead leg" (a thigh contusion)
    ("Discussed stroke risks with AF, CHA2DS2-VASc 4, starting apixaban. Back pain after lifting a box.", "stroke"),
    ("Rower, stroke seat in the college eight; back pain after an ergo session, no leg weakness.", "stroke"),
    ("Swims breast stroke 3x/week. R knee pain, leg giving way on stairs.", "stroke"),
    ("Got a knee to the thigh playing rugby, leg suddenly went dead for a minute, now just bruised and sore.",
     "stroke"),
    ("PMH:\nT2DM\nDiagnosis (2017): cauda equina syndrome, decompressed L4/5\nPresents with back pain flare, legs "
     "fine.", "cauda-equina"),
    ("Background:\nImaging (2020): MRI L-spine showing L1 wedge fracture, old.\nNow: mechanical back pain after "
     "gardening, no weakness.", "fracture"),
    ("Safety netting:\nReturn to ED immediately if any of:\nComments (as discussed): saddle numbness, new weakness "
     "in legs, loss of bladder control.\nBack pain mechanical, no red flags today.", "cauda-equina"),
    ("FHx:\nParents both deceased.\nDiagnoses (father): stroke at 55, prostate cancer.\nPt here with back pain and "
     "L leg weakness gradual.", "stroke"),
    ("FHx:\nParents both deceased.\nDiagnoses (father): stroke at 55, prostate cancer.\nPt here with back pain and "
     "L leg weakness gradual.", "cord-compression"),
    ("PMH:\nLumbar decompression 2015.\nExam (at that time): L foot drop, saddle anaesthesia.\nToday URTI.",
     "cauda-equina"),
    ("Family history:\nProblem list (from GP): MS in sister, stroke in brother.\nNo leg symptoms.", "stroke"),
    ("Discharge instructions:\nCome back if leg weakness.\nCourse (in ED): observed 4 h, pain controlled, "
     "mobilising.\nAdvised saddle anaesthesia, bladder problems - return.", "cauda-equina"),
    ("R knee gave way out of nowhere on the stairs. Known ACL rupture 2021, effusion today, no neuro symptoms.",
     "stroke"),
    ("R knee gives way out of nowhere when pivoting at football, clicking, locking.", "stroke"),
    ("Gout flare R big toe came out of nowhere overnight, very painful to walk. Foot slap noted on L for years (old "
     "peroneal palsy).", "stroke"),
    ("Hip pain out of nowhere last week. L leg feels heavy and weak when walking for months.", "stroke"),
    # the third review: a leg that cannot lift off the bed for pain or after a spinal anaesthetic; a
    # qualified heading that dates or copies its section
    ("Known prostate ca with bone mets. Fell onto L hip at home. L leg unable to lift off the bed due to severe "
     "hip pain, shortened and externally rotated.", "cord-compression"),
    ("Post-op day 0 L TKR under spinal. Legs unable to lift off the bed at 14:00, catheterised for retention, "
     "block receding as expected.", "cauda-equina"),
    ("Past medical history: Prostate cancer 2019.\nInterval history (2021-2023): thoracic back pain, bilateral leg "
     "weakness, treated with radiotherapy for T8 MSCC, recovered fully.", "cord-compression"),
    ("Background: T2DM, HTN.\nROS (carried forward from 03/2024): leg weakness, urinary incontinence, saddle "
     "numbness.\nToday patient says he is back to normal and walking unaided.", "cauda-equina"),
]


@pytest.mark.parametrize(("text", "flag"), REVIEW_B22_QUIET)
def test_the_b22_rules_raise_no_unwarranted_card(knowledge: Knowledge, text: str, flag: str) -> None:
    assert flag not in flags(findings(knowledge, patient(), encounter(text)))


#: b23's missed red flag (2026-12-08): a flexion-distraction fracture told by a match doctor
B23_FRACTURE = ("58th min: caught in 3-man tackle, folded forward (hyperflexion), 2 defenders landed on his back. "
                "Severe pain thoracolumbar junction 10/10, step / gap palpable T12-L1. Legs: tingling and heavy, hip "
                "flexion 2/5 both. Dx (pitch side): ?thoracolumbar flexion-distraction (Chance) fracture.")


def test_a_chance_fracture_after_a_tackle_is_a_fracture(knowledge: Knowledge) -> None:
    result = findings(knowledge, patient(birth="2000-05-01", gender="male"), encounter(B23_FRACTURE))
    assert "fracture" in flags(result)
    concepts = {f.concept for rf in result.red_flags for f in rf.triggers}
    assert {"vertebral-fracture", "spinal-step-deformity", "back-pain"} <= concepts


@pytest.mark.parametrize(("text", "fracture"), [
    # the review of the b23 vocabulary (2026-12-08): spinal fractures in the new words ...
    ("Car crash with lap belt, flexion-distraction injury at L1, weakness in both legs.", True),
    ("Thoracolumbar junction fracture after fall down stairs, leg weakness.", True),
    ("Fall from height. Gap palpable between the spinous processes at L1, legs weak.", True),
    ("Age 82, osteoporosis, fell yesterday, pain at the thoracolumbar junction, weak legs.", True),
    # ... and what its first version read wrongly: a negative report, another bone, a tendon's gap
    ("Fell. Thoracolumbar CT: no fracture. Right leg weak.", False),
    ("Fell, thoracolumbar x-ray no fracture seen. Weak left leg.", False),
    ("Fell. Thoracolumbar imaging negative for fracture. Weak legs.", False),
    ("Fell, thoracolumbar tenderness and scaphoid fracture, weak legs.", False),
    ("Thoracolumbar scoliosis and NOF fracture, now weak right leg.", False),
    ("Fell playing football, Achilles rupture, step/gap palpable above heel, leg weak.", False),
    ("Quadriceps tendon injury, step and gap felt above patella, cannot lift leg, fell.", False),
])
def test_the_b23_fracture_words(knowledge: Knowledge, text: str, fracture: bool) -> None:
    assert ("fracture" in flags(findings(knowledge, patient(birth="1960-05-01"), encounter(text)))) is fracture


@pytest.mark.parametrize(("text", "flag"), REVIEW_B22)
def test_the_b22_rules_keep_the_red_flag(knowledge: Knowledge, text: str, flag: str) -> None:
    assert flag in flags(findings(knowledge, patient(), encounter(text)))


@pytest.mark.parametrize(("text", "side"), [
    ("ROS (clinic form): Fever N / Incontinence N / Saddle numbness N / Leg weakness Y (L foot push-off) / Rash N.",
     "left"),
    ("O/E dorsal flexion of right big toe 4/5, otherwise power 5/5. Sciatica R L5 distribution.", "right"),
    # a one-leg line label gives no side (withdrawn after the second and third reviews)
    ("L leg: DVT on rivaroxaban, swollen calf. Weakness is in the other leg: hip flexion 4/5.", "unspecified"),
    ("Left leg - swollen. Weakness 4/5 hip flexion on the opposite side.", "unspecified"),
])
def test_the_b22_vocabulary_and_layout_find_the_leg(knowledge: Knowledge, text: str, side: str) -> None:
    result = findings(knowledge, patient(), encounter(text))
    assert result.anchor is not None and result.anchor.laterality == side


@pytest.mark.parametrize(("text", "sex", "flag"), REVIEW_EVENING)
def test_the_evening_rules_keep_the_critical_card(knowledge: Knowledge, text: str, sex: str, flag: str) -> None:
    fired = {f.id: f.indicator for f in findings(knowledge, patient(gender=sex), encounter(text)).red_flags}
    assert fired.get(flag) == "critical"


@pytest.mark.parametrize(("text", "sex"), [
    # bare digits after a leg movement are ranges, pain scores, exercise sets and spasticity scores
    ("Post-op R TKR day 3. ROM: R knee ext 0, flex 95. Mobilising with frame, wound clean. PMH breast ca 2015.",
     "female"),
    ("Pain (NRS) on movement: hip flex 4, knee ext 2, at rest 0. Known breast ca on letrozole, hip OA.", "female"),
    ("Physio HEP: SLR x10, hip flex 3, knee ext 3, bridges x10 - sets per day. Hx breast ca, mechanical LBP.",
     "female"),
    ("MAS (spasticity): hip flex 1, knee flex 2, PF 3. Chronic MS, stable, reviewed for splint. Hx prostate ca.",
     "male"),
    # a wrist's dorsiflexion; floppy feet of hypermobility; an expected nerve block
    ("Woke with R wrist drop after sleeping on arm in chair. R wrist DF 1/5, finger ext 2/5, grip weak. "
     "Legs normal.", "female"),
    ("Hypermobile (Beighton 8/9). Lifelong flat floppy feet, uses orthotics. Known breast ca 2012, in remission.",
     "female"),
    ("Post-op ankle ORIF. R foot floppy post popliteal block - expected. PMH breast ca 2019 on tamoxifen.",
     "female"),
    # review round 2: a tick under "Denies:", pulses weak, a wrist's DF, an onset that was the infection's
    ("Denies: ☑ saddle anaesthesia ☑ urinary retention ☑ leg weakness. Mechanical LBP.", "male"),
    ("Legs: pulses weak bilaterally, cool to touch, capillary refill 4s. Known metastatic lung cancer.", "female"),
    ("R wrist drop on waking after sleeping on arm. Wrist: DF 1/5, finger ext 1/5. Sudden onset.", "male"),
    ("Sudden diarrhoea, R leg weak for weeks since hip replacement.", "male"),
    ("Known metastatic prostate ca on ADT. Physio day 2 post R TKR: knee flex 3/5 pain-limited, knee ext 4/5.",
     "male"),
    ("Symptoms (tick): ✓ back pain ✓ L leg sciatica ☐ saddle numbness ☐ retention ☐ leg weakness", "male"),
    ("Sudden onset vomiting and diarrhoea yesterday. R leg weakness for 6 months, known MS, unchanged.", "female"),
    # a relative's own illness, however it is told
    ("Wife has been noticing her own legs giving way since her spinal mets were found; he attends with chest "
     "pain.", "male"),
])
def test_the_evening_rules_raise_no_unwarranted_card(knowledge: Knowledge, text: str, sex: str) -> None:
    result = findings(knowledge, patient(gender=sex), encounter(text))
    assert not {f.id for f in result.red_flags if f.indicator == "critical"}


@pytest.mark.parametrize(("text", "flag"), [
    # review round 4: a side after one finding does not make a bilateral picture one-sided (no stroke card)
    ("Sudden foot drop on the right with bilateral saddle anaesthesia. Retention.", "stroke"),
    ("Sudden foot drop on the left with bilateral leg numbness and thoracic back pain, known myeloma.", "stroke"),
    ("Sudden weakness of lower limbs mainly on the right bilaterally. Known breast cancer with bone mets.", "stroke"),
])
def test_a_bilateral_picture_raises_no_one_sided_alert(knowledge: Knowledge, text: str, flag: str) -> None:
    assert flag not in flags(findings(knowledge, patient(), encounter(text)))
