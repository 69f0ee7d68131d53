"""The vocabulary of the clinical layer: Evidence, Finding, RedFlag, DifferentialEntry, Findings.

These are values (frozen dataclasses). Cards quote ``Evidence`` so a clinician sees
why a card fired: the resource, the element, and the code or exact text span.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Laterality = Literal["left", "right", "bilateral", "unspecified"]
Onset = Literal["sudden", "acute", "subacute", "gradual", "unknown"]
Course = Literal["progressive", "ascending", "stable", "improving", "unknown"]
Indicator = Literal["info", "warning", "critical"]


@dataclass(frozen=True)
class Evidence:
    """Where a finding was seen.

    Attributes:
        resource_type: FHIR type of the resource holding the evidence (``Encounter``).
        resource_id: its id (may be None for resources without ids).
        element: the element path inside it (``reasonCode[0].text``).
        system, code, display: the matching coding, for coded evidence.
        text: the exact text span that matched, for text evidence.
        value: a measured value with unit, for observations (``38.6 Cel``).
    """

    resource_type: str
    resource_id: str | None
    element: str
    system: str | None = None
    code: str | None = None
    display: str | None = None
    text: str | None = None
    value: str | None = None

    @property
    def reference(self) -> str | None:
        return f"{self.resource_type}/{self.resource_id}" if self.resource_id else None

    def quote(self) -> str:
        """A one-line human quote of the evidence, e.g. ``Encounter reason: 'cannot urinate'``."""
        where = _ELEMENT_LABELS.get((self.resource_type, self.element.split("[")[0]),
                                    f"{self.resource_type}.{self.element}")
        if self.text:
            return f"{where}: '{self.text}'"
        if self.value:
            label = self.display or self.code or ""
            return f"{where}: {label} {self.value}".strip()
        if self.code:
            shown = self.display or self.code
            return f"{where}: {shown} ({_SYSTEM_LABELS.get(self.system or '', self.system or '')} {self.code})"
        return where


_ELEMENT_LABELS = {
    ("Encounter", "reasonCode"): "Encounter reason",
    ("Encounter", "reasonReference"): "Encounter reason",
    ("Condition", "code"): "Condition",
    ("Condition", "code.coding"): "Condition",
    ("Condition", "code.text"): "Condition",
    ("Observation", "valueCodeableConcept.coding"): "Chief complaint",
    ("Observation", "valueCodeableConcept.text"): "Chief complaint",
    ("MedicationRequest", "medicationCodeableConcept.text"): "Medication",
    ("MedicationRequest", "medicationCodeableConcept.coding"): "Medication",
    ("Observation", "valueString"): "Chief complaint",
    ("Observation", "valueCodeableConcept"): "Chief complaint",
    ("Observation", "valueQuantity"): "Observation",
    ("Observation", "code"): "Observation",
    ("MedicationRequest", "medicationCodeableConcept"): "Medication",
    ("Patient", "birthDate"): "Patient age",
    ("Patient", "gender"): "Patient sex",
}
_SYSTEM_LABELS = {
    "http://snomed.info/sct": "SNOMED CT",
    "http://hl7.org/fhir/sid/icd-10-cm": "ICD-10-CM",
    "http://loinc.org": "LOINC",
    "http://www.nlm.nih.gov/research/umls/rxnorm": "RxNorm",
}


@dataclass(frozen=True)
class Finding:
    """One clinical fact about the patient, with the evidence for it.

    Attributes:
        concept: a stable kebab-case id from the knowledge base (``bladder-dysfunction``).
        label: a short clinician-facing name (``bladder dysfunction``).
        evidence: every place it was seen.
        possible: only suspected ("r/o cauda equina", "concern for"): show as a checklist.
        historical: a past fact (counts for risk factors, not as today's complaint).
    """

    concept: str
    label: str
    evidence: tuple[Evidence, ...] = ()
    possible: bool = False
    historical: bool = False


@dataclass(frozen=True)
class RedFlag:
    """A red-flag rule that fired.

    Attributes:
        id: stable kebab-case id (``cauda-equina``); the card topic is ``red-flag-<id>``.
        topic: the card topic code (``red-flag-cauda-equina``).
        indicator: ``critical`` unless the rule says otherwise.
        triggers: the findings that satisfied the rule.
        possible: every trigger was only suspected; the card reads as a checklist.
        rule_source: the guideline ids the rule is taken from.
    """

    id: str
    topic: str
    indicator: Indicator
    triggers: tuple[Finding, ...]
    possible: bool = False
    rule_source: tuple[str, ...] = ()


@dataclass(frozen=True)
class DifferentialEntry:
    """One cause to consider, with the patient facts that put it on the list."""

    id: str
    label: str
    group: Literal["spinal", "non-spinal"]
    reasons: tuple[Finding, ...] = ()
    rank: int = 0


@dataclass(frozen=True)
class Findings:
    """What the clinical layer concluded about one patient and encounter."""

    leg_weakness: bool = False
    laterality: Laterality = "unspecified"
    onset: Onset = "unknown"
    course: Course = "unknown"
    complaint: tuple[Finding, ...] = ()
    red_flags: tuple[RedFlag, ...] = ()
    differential: tuple[DifferentialEntry, ...] = ()
    risk_factors: tuple[Finding, ...] = ()
    age: int | None = None
    sex: str | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def has_anything(self) -> bool:
        """True when there is a complaint or a red flag: otherwise no card at all."""
        return self.leg_weakness or bool(self.red_flags)
