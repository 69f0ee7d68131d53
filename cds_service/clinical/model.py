"""The vocabulary of the clinical layer: Evidence, Finding, Anchor, RedFlag, DifferentialEntry, Findings.

These are values (frozen dataclasses). Cards quote ``Evidence`` so a clinician sees
why a card fired: the resource, the element, and the code or exact text span.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..fhir.labels import element_label, system_label

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
        where = element_label(self.resource_type, self.element)
        if self.text:
            named = f"{where} ({self.display})" if self.display else where  # "Clinical note (ED triage note)"
            return f"{named}: '{self.text}'"
        if self.value:
            label = self.display or self.code or ""
            return f"{where}: {label} {self.value}".strip()
        if self.code:
            shown = self.display or self.code
            return f"{where}: {shown} ({system_label(self.system)} {self.code})"
        return where


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
        id: stable kebab-case id (``cauda-equina``), as in the knowledge base's red-flags.yaml.
        topic: the card topic code the rule names (``red-flag-cauda-equina``).
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
    """One cause to consider, with the patient facts that put it on the list.

    Attributes:
        red_flag: the fired red flag this cause is behind (it is then listed first).
    """

    id: str
    label: str
    group: str
    reasons: tuple[Finding, ...] = ()
    rank: int = 0
    red_flag: str | None = None


@dataclass(frozen=True)
class Anchor:
    """The complaint a service is about (its knowledge base's ``anchor`` concept), with the
    attributes a clinician asks of it first: which side, how it began, how it is going."""

    finding: Finding
    laterality: Laterality = "unspecified"
    onset: Onset = "unknown"
    course: Course = "unknown"

    @property
    def concept(self) -> str:
        return self.finding.concept


@dataclass(frozen=True)
class Findings:
    """What the clinical layer concluded about one patient and encounter.

    Attributes:
        anchor: the service's complaint when it is current, else None.
        complaint: the current complaint findings (the anchor first).
        differential: the causes the record supports, ranked (see ``rank_differential``).
        excluded_causes: causes the record makes not worth naming at all.
    """

    anchor: Anchor | None = None
    complaint: tuple[Finding, ...] = ()
    red_flags: tuple[RedFlag, ...] = ()
    differential: tuple[DifferentialEntry, ...] = ()
    excluded_causes: tuple[str, ...] = ()
    risk_factors: tuple[Finding, ...] = ()
    age: int | None = None
    sex: str | None = None

    @property
    def has_anything(self) -> bool:
        """True when there is a complaint or a red flag: otherwise no card at all."""
        return self.anchor is not None or bool(self.red_flags)
