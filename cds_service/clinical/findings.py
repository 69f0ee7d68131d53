"""PatientRecord -> Findings: the complaint, red flags, risk factors and differential.

Evidence is gathered from the places clinical-reference section 4 names: the encounter's
reasons (codes and text, and the Conditions it points to), Conditions (this encounter's
diagnoses and the active problem list), chief-complaint and temperature Observations,
active MedicationRequests and the Patient's age and sex. Every hit keeps its Evidence
(resource, element, code or exact text span) so a card can say why it fired.

Current vs history: a complaint concept (weakness, bladder change, back pain) counts for
today only when it comes from this encounter or a recent active problem. A long-standing
problem-list item (years-old paraplegia, an old stroke) or a resolved Condition is history:
it is reported as a risk factor, never as today's complaint. History concepts (cancer,
diabetes, steroids) count whenever present [S6: a past cancer still counts].
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any, TypeVar

from ..budget import Deadline
from ..fhir.dates import to_date
from ..fhir.notes import Note, is_reference_to
from ..fhir.record import PatientRecord
from .elapsed import dated_long_ago, days_ago, days_since_labelled_date, told_as_past
from .knowledge import Knowledge, LabFinding, LateralityCues
from .model import Anchor, Evidence, Finding, Findings, Laterality
from .rules import excluded_causes, fire_red_flags, rank_differential, usable_findings
from .text import Mention

T = TypeVar("T")

_IGNORED_VERIFICATION = frozenset({"refuted", "entered-in-error"})
_HISTORY_CLINICAL = frozenset({"resolved", "inactive", "remission"})
_ACTIVE_MEDICATION = frozenset({"active", "on-hold"})
_FAHRENHEIT = frozenset({"[degF]", "degF", "°F", "F"})


@dataclass(frozen=True)
class Hit:
    """One concept seen once: where, whether it is current, and its laterality if known."""

    concept: str
    evidence: Evidence
    current: bool
    possible: bool = False
    laterality: str | None = None
    past: bool = False  # the text itself puts it in the past ("history of", "ex-IVDU")


def detect_findings(record: PatientRecord, knowledge: Knowledge, today: date,
                    deadline: Deadline | None = None) -> Findings:
    """Everything the card builder needs about this patient at this encounter.

    Args:
        record: the typed patient record (encounter may be None for patient-view).
        knowledge: the loaded knowledge base.
        today: the decision date (problem-list recency, age, recent temperatures).
        deadline: notes, the one costly input (~15 ms per 1 000 characters), are not read
            once it has run out; the caller sees the overrun and sends only urgent cards.
    """
    age = _age(record, today)
    hits = list(_collect_hits(record, knowledge, today, age, deadline))
    by_concept = _group(hits, knowledge)
    laterality = _laterality(hits, knowledge.anchor)
    by_concept.update(_derived_findings(hits, laterality, knowledge))
    usable = usable_findings(by_concept, knowledge)
    current_risks = {cid for cid, c in knowledge.concepts.items() if c.risk_factor}
    complaint = tuple(f for cid, f in by_concept.items()
                      if cid in usable and _kind(knowledge, cid) == "complaint" and cid not in current_risks)
    complaint = tuple(sorted(complaint, key=lambda f: f.concept != knowledge.anchor))
    risk_factors = tuple(f for cid, f in by_concept.items()
                         if cid in knowledge.concepts and (_kind(knowledge, cid) != "complaint" or f.historical
                                                           or (cid in current_risks and cid in usable)))
    anchor = None
    if knowledge.anchor in usable:
        anchor = Anchor(finding=usable[knowledge.anchor], laterality=laterality,
                        onset=_attribute(usable, knowledge, "onset"),
                        course=_attribute(usable, knowledge, "course"))
    red_flags = fire_red_flags(usable, knowledge)
    relevant = anchor is not None or bool(red_flags)
    return Findings(anchor=anchor, complaint=complaint, red_flags=red_flags,
                    differential=rank_differential(usable, knowledge, red_flags) if relevant else (),
                    excluded_causes=excluded_causes(usable, knowledge) if relevant else (),
                    risk_factors=risk_factors, age=age, sex=_sex(record))


# ---------------------------------------------------------------- evidence collection

def _collect_hits(record: PatientRecord, knowledge: Knowledge, today: date, age: int | None,
                  deadline: Deadline | None = None) -> Iterator[Hit]:
    encounter_dx = set(_encounter_condition_refs(record))
    yield from _encounter_hits(record, knowledge, today)
    for condition in _in_time(record.conditions, deadline):
        yield from _condition_hits(condition, record, knowledge, today, encounter_dx)
    for observation in _in_time(record.observations, deadline):
        yield from _observation_hits(observation, record, knowledge, today)
    for request in _in_time(record.medication_requests, deadline):
        yield from _medication_hits(request, knowledge)
    yield from _age_hits(record, knowledge, age)
    for note in _in_time(record.notes, deadline):  # this encounter's first (fhir/notes.py)
        yield from _note_hits(note, record, knowledge, today)


def _in_time(items: Iterable[T], deadline: Deadline | None) -> Iterator[T]:
    """``items`` until the call's deadline has passed: each may carry free text, and reading
    text is the one cost that grows with the data (a hostile record of a hundred long
    condition texts would otherwise take minutes). The encounter is always read; the caller
    sees the overrun and sends only urgent cards."""
    for item in items:
        if deadline is not None and deadline.expired():
            return
        yield item


def _note_hits(note: Note, record: PatientRecord, knowledge: Knowledge, today: date) -> Iterator[Hit]:
    """Hits from a clinical note's text. A note speaks of today when it belongs to this
    encounter or is recent (observations.yaml ``notes``); otherwise what it says is history."""
    this_encounter = (record.encounter is not None and bool(record.encounter.id)
                      and is_reference_to(note.encounter, f"Encounter/{record.encounter.id}"))
    when = to_date(note.date)
    recent = when is not None and -1 <= (today - when).days <= knowledge.note_recent_days
    yield from _text_hits(note.text, "DocumentReference", note.resource_id, note.element, knowledge,
                          current=(this_encounter or recent) and not _ended_long_ago(note.text, knowledge, today),
                          display=note.title, today=today, sex=_sex(record))


def _ended_long_ago(text: str, knowledge: Knowledge, today: date) -> bool:
    """Whether ``text`` gives its own end of care (a discharge date) more than
    ``note_recent_days`` back: it then tells of that admission, not of today."""
    days = days_since_labelled_date(text, knowledge.note_end_labels, today)
    return days is not None and days > knowledge.note_recent_days


def _encounter_hits(record: PatientRecord, knowledge: Knowledge, today: date) -> Iterator[Hit]:
    encounter = record.encounter
    if encounter is None:
        return
    for i, concept in enumerate(encounter.reasonCode or []):
        current = not _ended_long_ago(concept.text or "", knowledge, today)
        yield from _concept_hits(concept, "Encounter", encounter.id, f"reasonCode[{i}]", knowledge, current=current,
                                 today=today, sex=_sex(record))


def _encounter_condition_refs(record: PatientRecord) -> Iterator[int]:
    """ids (object identity) of Conditions this encounter names as reason or diagnosis."""
    encounter = record.encounter
    if encounter is None:
        return
    refs = [r.reference for r in encounter.reasonReference or []]
    refs += [d.condition.reference for d in encounter.diagnosis or [] if d.condition is not None]
    for ref in refs:
        resolved = record.resolve(ref)
        if resolved is not None:
            yield id(resolved)


def _is_this_encounter(reference: Any, record: PatientRecord) -> bool:
    if reference is None or record.encounter is None or not reference.reference:
        return False
    resolved = record.resolve(reference.reference)
    if resolved is not None:
        return resolved is record.encounter
    return bool(record.encounter.id) and reference.reference.rstrip("/").endswith(f"Encounter/{record.encounter.id}")


def _condition_hits(condition: Any, record: PatientRecord, knowledge: Knowledge, today: date,
                    encounter_dx: set[int]) -> Iterator[Hit]:
    if _status_code(condition.verificationStatus) in _IGNORED_VERIFICATION:
        return
    if condition.code is None:
        return
    this_encounter = id(condition) in encounter_dx or _is_this_encounter(condition.encounter, record)
    when = to_date(condition.onsetDateTime) or to_date(condition.recordedDate)
    # A date after today (beyond a day of clock skew) is not known yet at this encounter.
    future = when is not None and (when - today) > timedelta(days=1)
    active = _status_code(condition.clinicalStatus) not in _HISTORY_CLINICAL and not future
    if not active:
        current = False
    elif this_encounter:
        current = True
    else:
        # Undated and not tied to this encounter: nothing says it is new, so it is history.
        current = when is not None and (today - when) <= timedelta(days=knowledge.problem_recent_days)
    possible = _status_code(condition.verificationStatus) in ("provisional", "differential", "unconfirmed")
    for hit in _concept_hits(condition.code, "Condition", condition.id, "code", knowledge, current=current):
        if _kind(knowledge, hit.concept) == "exposure":  # lasts while the entry is active, whatever its date
            yield replace(hit, possible=hit.possible or possible, current=active and not hit.past)
            continue
        known_elsewhere = (record.encounter is not None and not this_encounter
                           and knowledge.concepts[hit.concept].encounter_only)
        yield replace(hit, possible=hit.possible or possible, current=hit.current and not known_elsewhere)


def _observation_hits(observation: Any, record: PatientRecord, knowledge: Knowledge, today: date) -> Iterator[Hit]:
    if observation.status in ("entered-in-error", "cancelled"):
        return
    codes = {(c.system, c.code) for c in (observation.code.coding or [])}
    recent = _is_this_encounter(observation.encounter, record) or _is_recent(observation, today,
                                                                             knowledge.temperature_recent_days)
    if codes & knowledge.chief_complaint_codes:
        if observation.valueString:
            yield from _text_hits(observation.valueString, "Observation", observation.id, "valueString",
                                  knowledge, current=recent, sex=_sex(record))
        if observation.valueCodeableConcept is not None:
            yield from _concept_hits(observation.valueCodeableConcept, "Observation", observation.id,
                                     "valueCodeableConcept", knowledge, current=recent)
    yield from _lab_hits(observation, record, knowledge, today, codes)
    if codes & knowledge.temperature_codes and recent:
        celsius = _celsius(observation.valueQuantity)
        if celsius is not None and celsius >= knowledge.fever_celsius:
            quantity = observation.valueQuantity
            shown = next((c.display for c in observation.code.coding or [] if c.display), None)
            code = next(c for c in observation.code.coding or [] if (c.system, c.code) in knowledge.temperature_codes)
            yield Hit("fever", Evidence("Observation", observation.id, "valueQuantity", system=code.system,
                                        code=code.code, display=shown or "temperature",
                                        value=f"{quantity.value} {quantity.unit or quantity.code or ''}".strip()),
                      current=True)


def _lab_hits(observation: Any, record: PatientRecord, knowledge: Knowledge, today: date,
              codes: set[tuple[str, str]]) -> Iterator[Hit]:
    """Lab results judged against their own reference range (observations.yaml ``lab_findings``)."""
    for lab in knowledge.lab_findings:
        matched = codes & lab.codes
        if not matched or not (_is_this_encounter(observation.encounter, record)
                               or _is_recent(observation, today, lab.recent_days)):
            continue
        if _lab_says(observation, lab, knowledge):
            system, code = sorted(matched)[0]
            quantity = observation.valueQuantity
            value = (f"{quantity.value} {quantity.unit or quantity.code or ''}".strip()
                     if quantity is not None and quantity.value is not None else "out of range")
            shown = next((c.display for c in observation.code.coding or [] if c.display), None)
            yield Hit(lab.concept, Evidence("Observation", observation.id, "valueQuantity", system=system, code=code,
                                            display=shown or knowledge.label_of(lab.concept), value=value),
                      current=True)


def _lab_says(observation: Any, lab: LabFinding, knowledge: Knowledge) -> bool:
    """Whether the lab calls the result high/low/abnormal/normal (its flag), or its value against its range."""
    spec = knowledge.interpretation
    flags = {c.code for concept in observation.interpretation or [] for c in concept.coding or []
             if spec is not None and c.system == spec.system and c.code}
    high = bool(spec and flags & spec.high)
    low = bool(spec and flags & spec.low)
    flagged_normal = bool(spec and flags & spec.normal)
    quantity = observation.valueQuantity
    value = float(quantity.value) if quantity is not None and quantity.value is not None else None
    in_range = False
    for lower, upper in _ranges(observation, lab):
        if value is None or (upper is None and lower is None):
            continue
        high = high or (upper is not None and value > upper)
        low = low or (lower is not None and value < lower)
        in_range = True
    abnormal = high or low or bool(spec and flags & spec.abnormal)
    when = lab.when
    if when == "high":
        return high
    if when == "low":
        return low
    if when == "normal":
        return (flagged_normal or in_range) and not abnormal
    return abnormal


def _ranges(observation: Any, lab: LabFinding) -> list[tuple[float | None, float | None]]:
    """(low, high) of the result's own reference ranges, else the lab finding's default range
    when the result is in its unit."""
    own = [(float(r.low.value) if r.low is not None and r.low.value is not None else None,
            float(r.high.value) if r.high is not None and r.high.value is not None else None)
           for r in observation.referenceRange or []]
    if any(low is not None or high is not None for low, high in own) or lab.default_range is None:
        return own
    low, high, unit = lab.default_range
    quantity = observation.valueQuantity
    units = {quantity.unit, quantity.code} if quantity is not None else set()
    return [(low, high)] if unit in units else []


def _medication_hits(request: Any, knowledge: Knowledge) -> Iterator[Hit]:
    """Active systemic steroids, immunosuppressants, anticoagulants, by ingredient name
    (no verified RxNorm list exists in the reference; see text-rules.yaml)."""
    if request.status not in _ACTIVE_MEDICATION or request.medicationCodeableConcept is None:
        return
    concept = request.medicationCodeableConcept
    texts = [("medicationCodeableConcept.text", concept.text)] if concept.text else [
        (f"medicationCodeableConcept.coding[{i}].display", c.display)
        for i, c in enumerate(concept.coding or []) if c.display]
    for element, text in texts:
        for hit in _text_hits(text, "MedicationRequest", request.id, element, knowledge, current=True):
            if _kind(knowledge, hit.concept) in ("history", "exposure"):
                yield hit


def _age_hits(record: PatientRecord, knowledge: Knowledge, age: int | None) -> Iterator[Hit]:
    if age is None or record.patient is None:
        return
    evidence = Evidence("Patient", record.patient.id, "birthDate", value=f"age {age}")
    over_concept, over_years = knowledge.age_over
    under_concept, under_years = knowledge.age_under
    if age > over_years:
        yield Hit(over_concept, evidence, current=True)
    if age < under_years:
        yield Hit(under_concept, evidence, current=True)


def _concept_hits(concept: Any, rtype: str, rid: str | None, element: str, knowledge: Knowledge,
                  current: bool, today: date | None = None, sex: str | None = None) -> Iterator[Hit]:
    """Hits from a CodeableConcept: each listed coding, then its text through the NLP."""
    coded: set[str] = set()
    for i, coding in enumerate(concept.coding or []):
        for entry in knowledge.codes.lookup(coding.system, coding.code):
            coded.add(entry.concept)
            yield Hit(entry.concept, Evidence(rtype, rid, f"{element}.coding[{i}]", system=coding.system,
                                              code=coding.code, display=coding.display or entry.display),
                      current=current, laterality=entry.laterality)
    text = concept.text
    path = f"{element}.text"
    if not text:  # no text: read the displays, e.g. Synthea site-specific cancers
        displays = [c.display for c in concept.coding or [] if c.display]
        text, path = (displays[0], f"{element}.coding[0].display") if displays else (None, path)
    if text:
        for hit in _text_hits(text, rtype, rid, path, knowledge, current=current, today=today, sex=sex):
            if hit.concept not in coded:
                yield hit


def _text_hits(text: str, rtype: str, rid: str | None, element: str, knowledge: Knowledge,
               current: bool, display: str | None = None, today: date | None = None,
               sex: str | None = None) -> Iterator[Hit]:
    """Hits from free text; ``sex`` is the patient's (Patient.gender), which tells whose a
    pronoun is."""
    mentions = knowledge.text.analyze(text, sex)
    # a named diagnosis the text lists as excluded ("DIAGNOSES EXCLUDED: acute stroke / TIA") is
    # not raised by its other mentions in the same text ("brought in as a stroke call"); a
    # symptom or sign is never silenced this way (codes.yaml encounter_only: the named diagnoses)
    excluded = {m.concept for m in mentions if m.section in knowledge.excluding_sections and m.negated
                and knowledge.concepts[m.concept].encounter_only}
    found = [m for m in mentions if m.section not in knowledge.ignored_sections and m.concept not in excluded
             and not (m.section in knowledge.plan_sections and knowledge.concepts[m.concept].kind == "exposure")]
    # what an onset or course cue can be about: a complaint, not a risk factor ("sudden ... AF");
    # a course (a spread) is never an antecedent infection's (``past_within_days``: in "legs weak,
    # rising to the hips after diarrhoea" the climb is the weakness's), but an onset may be
    # ("sudden diarrhoea, R leg weak for weeks": the diarrhoea was sudden)
    findings = [m for m in found if not knowledge.concepts[m.concept].attribute_of
                and knowledge.concepts[m.concept].kind == "complaint"]
    spreading = [m for m in findings if knowledge.concepts[m.concept].past_within_days is None]
    residual_clauses = _residual_clauses(found, knowledge, text, today)
    for mention in found:
        if not mention.is_present:
            continue
        attribute_of = knowledge.concepts[mention.concept].attribute_of
        if attribute_of:
            governed = governed_mention(mention, spreading if knowledge.concepts[mention.concept].course else findings)
            if governed is None or governed.concept not in attribute_of or not governed.is_present:
                continue
        past = (_has_stopped(mention, knowledge) if knowledge.concepts[mention.concept].kind == "exposure"
                else (mention.historical and not _recent_enough(mention, knowledge))
                or mention.assertion.clause in residual_clauses or _in_dated_past(mention, text, today))
        yield Hit(mention.concept, Evidence(rtype, rid, element, display=display, text=mention.text),
                  current=current and not past, possible=mention.possible,
                  laterality=_mention_laterality(mention, knowledge), past=past)


def _residual_clauses(found: Sequence[Mention], knowledge: Knowledge, text: str,
                      today: date | None) -> set[tuple[int, int]]:
    """Clauses that name a past event which leaves a deficit (codes.yaml ``leaves_deficit``):
    past by its words or by a date more than two weeks back ("R MCA infarct (19/10/26) with L
    hemiparesis"). The event and a complaint written beside it are that past event and its
    residual ("R hemiparesis s/p L MCA CVA 03/2024"), not a new complaint. A current mention
    of the event ("acute stroke, L hemiparesis") is no residual."""
    def past(m: Mention) -> bool:
        lo, hi = m.assertion.clause
        return m.historical or (today is not None and dated_long_ago(text[lo:hi], today))
    return {m.assertion.clause for m in found
            if knowledge.concepts[m.concept].leaves_deficit and not m.negated and not m.hypothetical
            and m.experiencer == "patient" and past(m)}


def _in_dated_past(mention: Mention, text: str, today: date | None) -> bool:
    """A mention told as part of an event the sentence dates more than two weeks back
    (``told_as_past``), unless a cue of its own makes it today's ("ongoing", "this morning")."""
    if today is None or any(cue.category == "CURRENT" for cue in mention.assertion.cues):
        return False
    lo, hi = mention.assertion.sentence
    return told_as_past(text[lo:mention.start], text[mention.end:hi], today)


def _recent_enough(mention: Mention, knowledge: Knowledge) -> bool:
    """A past mention of a concept that is about the recent past (``past_within_days``, e.g. an
    infection 1-6 weeks before GBS) counts when every past cue is a relative time within it."""
    window = knowledge.concepts[mention.concept].past_within_days
    cues = [cue for cue in mention.assertion.cues if cue.category == "HISTORICAL"]
    if window is None or not cues:
        return False  # no cue: past by its section (PMH) or the note's form, how long ago unknown
    spans = [days_ago(cue.text) for cue in cues]
    return all(days is not None and days <= window for days in spans)


def _has_stopped(mention: Mention, knowledge: Knowledge) -> bool:
    """An exposure has ended only when a historical cue says it stopped (``cessation_cues``)."""
    def phrases(text: str) -> set[str]:
        words = re.findall(r"[a-z]+", text.lower())
        return set(words) | {f"{a} {b}" for a, b in zip(words, words[1:], strict=False)}

    return mention.historical and any(cue.category == "HISTORICAL" and knowledge.cessation_cues & phrases(cue.text)
                                      for cue in mention.assertion.cues)


def governed_mention(cue: Mention, findings: Sequence[Mention]) -> Mention | None:
    """The finding an onset or course cue speaks of: the nearest finding in its clause, else in
    its sentence, else in the sentence before (``Left leg weakness. Onset was sudden.``), else,
    for a cue standing alone (``Onset: sudden``, ``LKW 07:40``), the nearest finding of its
    section, then of the text. At equal distance the following finding wins: English puts the
    modifier first ("sudden weakness"). So "abrupt back pain while lifting" is about the back
    pain, not a weakness named in another clause.
    """
    def nearest(candidates: Sequence[Mention]) -> Mention | None:
        def distance(m: Mention) -> tuple[int, int]:
            gap = m.start - cue.end if m.start >= cue.end else cue.start - m.end
            return (max(gap, 0), 0 if m.start >= cue.end else 1)
        return min(candidates, key=distance, default=None)

    sentence = [m for m in findings if m.assertion.sentence == cue.assertion.sentence]
    if sentence:
        return nearest([m for m in sentence if m.assertion.clause == cue.assertion.clause]) or nearest(sentence)
    before = [m for m in findings if m.assertion.sentence[1] <= cue.assertion.sentence[0]]
    latest = max((m.assertion.sentence for m in before), default=None)
    return (nearest([m for m in before if m.assertion.sentence == latest])
            or nearest([m for m in findings if m.section == cue.section]) or nearest(findings))


# ---------------------------------------------------------------- assembling findings

def _group(hits: Iterable[Hit], knowledge: Knowledge) -> dict[str, Finding]:
    """One Finding per concept. Historical only if no hit is current; possible only if all are."""
    grouped: dict[str, list[Hit]] = {}
    for hit in hits:
        grouped.setdefault(hit.concept, []).append(hit)
    out = {}
    for concept, items in grouped.items():
        current = [h for h in items if h.current]
        chosen = current or items
        out[concept] = Finding(concept=concept, label=knowledge.label_of(concept),
                               evidence=tuple(dict.fromkeys(h.evidence for h in chosen)),
                               possible=all(h.possible for h in chosen), historical=not current)
    return out


def _laterality(hits: Iterable[Hit], anchor: str) -> Laterality:
    sides = {h.laterality for h in hits if h.concept == anchor and h.current and h.laterality}
    if "bilateral" in sides or {"left", "right"} <= sides:
        return "bilateral"
    if sides == {"left"}:
        return "left"
    if sides == {"right"}:
        return "right"
    return "unspecified"


#: the side word written right before a mention, within its clause ("L EHL 4-/5", "left hip flexion 3/5")
_LEAD_WORDS = re.compile(r"(?:[^\s,;:.]+\s+){1,2}$")
#: up to four words written right after a mention, within its clause and before the next grade ("Quads
#: 4/5 L", "plantarflexion 4/5 R.", "hip flexion 3/5 L and R"; in "EHL 4/5 L 3/5 R" the next grade's)
_TRAIL_WORD = re.compile(r"[ \t]*((?:[^\s,;:.()\d]+[ \t]*){1,4})")
#: a power grade below normal ("4/5", "3+/5") and the one word right after it, when it ends its
#: cell ("3/5 R and", "4/5 L,"; in "3/5 R hip" the "R" is the next item's); the knowledge's
#: laterality cues say whether that word is a side
_WEAK_GRADE_WORD = re.compile(r"(?<!\d)[0-4][+-]?\s*/\s*5(?!\d)[ \t]+([^\s,;:.()\d]+)"
                              r"(?=[ \t]*(?:$|[,;.)(]|and\b|&|\+|/|more\b|worse\b|>))", re.IGNORECASE)


def _mention_laterality(mention: Mention, knowledge: Knowledge) -> str | None:
    """The side a mention names: its own words with the one or two before them (a side is written
    before the part it qualifies: "L hip flexion 3/5, R side 5/5" is the left), or the words
    after a grade ("Quads 4/5 L (pain-inhibited), 5/5 R" is the left: ``_trail_side``), then its sentence. A
    sentence that says both legs outranks the side of a part that names none itself ("pain in
    both legs, R foot weak too": both legs are affected)."""
    laterality = knowledge.laterality
    if laterality is None:
        return None
    offset = mention.start - mention.assertion.sentence[0]
    found = _LEAD_WORDS.search(mention.sentence[:offset]) if 0 < offset <= len(mention.sentence) else None
    lead = found.group(0) if found is not None else ""
    if laterality.side_of(mention.text) is not None:
        return laterality.side_of(lead + mention.text)  # "L EHL 4-/5, R EHL 4/5": both
    sentence = _without_plural_heading(mention.sentence, laterality)
    if laterality.bilateral.search(sentence):
        return "bilateral"
    return laterality.side_of(lead) or _trail_side(mention, offset, laterality) or laterality.side_of(sentence)


#: an exam line's heading of body-part words only ("Legs:", "Lower limbs -", "Neuro LL:", "Power legs:");
#: "Bilateral LL weakness:" or "Both legs:" says both legs, and is no mere heading
_HEADING = re.compile(r"^\s*(?:(?:neuro|power|motor|strength|exam|o/e|lower|legs?|limbs?|extremit(?:y|ies)|LLs?|LEs?)"
                      r"\s*){1,3}[:–—-]\s*", re.IGNORECASE)


def _without_plural_heading(sentence: str, laterality: LateralityCues) -> str:
    """The sentence without a heading that names the legs in the plural when its items name one
    side: in "Legs: L hip flex 3/5, knee ext 3/5" the heading is the exam's layout, not both legs
    affected; "Legs: weak, ascending", "Legs: L 4/5, R 3/5" and "Bilateral LL weakness: L DF 2/5"
    keep both."""
    found = _HEADING.match(sentence)
    if found is None or laterality.side_of(found.group(0)) != "bilateral":
        return sentence
    rest = sentence[found.end():]
    return rest if laterality.side_of(rest) in ("left", "right") else sentence


def _trail_side(mention: Mention, offset: int, laterality: LateralityCues) -> str | None:
    """The side written right after a grade, when the sentence grades only that side as weak
    ("Quads 4/5 L, 5/5 R" is the left; "hip flexion 3/5 L, knee extension 4/5 L, R leg 5/5" too).
    Weak grades of both sides in a sentence ("hip flexion 3/5 R and 4/5 L") are both legs, as the
    words after a grade may say ("3/5 R more than L", "3/5 L and R")."""
    trail = _TRAIL_WORD.match(mention.sentence, offset + len(mention.text)) if offset >= 0 else None
    side = laterality.side_of(trail.group(1)) if trail is not None else None
    if side is None or side == "bilateral" or laterality.side_of(mention.sentence) != "bilateral":
        return side
    weak = {laterality.side_of(found.group(1)) for found in _WEAK_GRADE_WORD.finditer(mention.sentence)}
    return "bilateral" if {"left", "right"} <= weak or "bilateral" in weak else side


def _derived_findings(hits: list[Hit], laterality: Laterality, knowledge: Knowledge) -> dict[str, Finding]:
    """Concepts computed from the anchor's laterality (codes.yaml ``derived``), which rules read."""
    evidence = tuple(dict.fromkeys(h.evidence for h in hits if h.concept == knowledge.anchor and h.current))
    if not evidence:
        return {}
    return {d.id: Finding(d.id, d.label.format(laterality=laterality), evidence)
            for d in knowledge.derived.values() if laterality in d.laterality}


def _kind(knowledge: Knowledge, concept: str) -> str:
    found = knowledge.concepts.get(concept)
    return found.kind if found is not None else "complaint"


def _attribute(usable: dict[str, Finding], knowledge: Knowledge, name: str) -> Any:
    """Findings.onset / .course from the first usable cue carrying it, in codes.yaml order
    (sudden before subacute before gradual; ascending before progressive)."""
    for concept in knowledge.concepts.values():
        value = getattr(concept, name)
        if value is not None and concept.id in usable:
            return value
    return "unknown"


# ---------------------------------------------------------------- small FHIR readers

def _status_code(concept: Any) -> str | None:
    if concept is None:
        return None
    return next((c.code for c in concept.coding or [] if c.code), None)


def _is_recent(observation: Any, today: date, days: int) -> bool:
    when = to_date(observation.effectiveDateTime) or to_date(observation.issued)
    if when is None and observation.effectivePeriod is not None:
        when = to_date(observation.effectivePeriod.end or observation.effectivePeriod.start)
    return when is not None and abs((today - when).days) <= days


def _celsius(quantity: Any) -> float | None:
    if quantity is None or quantity.value is None:
        return None
    value = float(quantity.value)
    unit = quantity.code or quantity.unit or "Cel"
    return (value - 32) * 5 / 9 if unit in _FAHRENHEIT else value


def _age(record: PatientRecord, today: date) -> int | None:
    birth = to_date(record.patient.birthDate) if record.patient is not None else None
    if birth is None:
        return None
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def _sex(record: PatientRecord) -> str | None:
    return record.patient.gender if record.patient is not None else None
