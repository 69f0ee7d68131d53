"""The leg-weakness CDS service: its discovery definitions next to its handler.

record -> findings (clinical layer) -> cards (card builder). The same logic answers
``encounter-start`` (what EHRs call) and ``patient-view`` (what the CDS Hooks sandbox
can fire); only the prefetch templates for the encounter differ.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from ...errors import ConfigurationError
from ...card_builder import CardLibrary, CardOptions, build_cards
from ...clinical.findings import detect_findings
from ...clinical.knowledge import Knowledge
from ...fhir.record import DEFERRED_TYPES, PatientRecord, code_filter
from ...protocol.registry import ServiceDefinition
from ..call import CallContext

ENCOUNTER_START_ID = "leg-weakness"
PATIENT_VIEW_ID = "leg-weakness-patient-view"

_DESCRIPTION = (
    "Detects a complaint of weakness in one or both legs from the encounter reason, chief "
    "complaint, conditions and observations, and answers with red-flag warnings that need "
    "action now (cauda equina syndrome, stroke, spinal cord compression, spinal infection, "
    "fracture, Guillain-Barre syndrome, acute limb ischaemia), the diagnostic workup to "
    "consider and a differential ordered for this patient. Decision support, not a diagnosis."
)
_USAGE = (
    "FHIR R4. Needs the Patient and (for encounter-start) the Encounter; reads Conditions, "
    "chief-complaint, temperature and lab Observations, active MedicationRequests and recent "
    "ServiceRequests, DiagnosticReports, ImagingStudies and Procedures. Missing prefetch is "
    "fetched from fhirServer with fhirAuthorization; requests must carry a JWT signed by a "
    "trusted CDS client."
)


def _patient_templates(observation_query: str) -> dict[str, str]:
    """Templates shared by both hooks (everything except the encounter)."""
    return {
        "patient": "Patient/{{context.patientId}}",
        "conditions": "Condition?patient={{context.patientId}}",
        "observations": f"Observation?patient={{{{context.patientId}}}}&{observation_query}",
        "medications": "MedicationRequest?patient={{context.patientId}}&status=active",
        "serviceRequests": "ServiceRequest?patient={{context.patientId}}&_sort=-authored&_count=50",
        "diagnosticReports": "DiagnosticReport?patient={{context.patientId}}&_sort=-date&_count=50",
        "imagingStudies": "ImagingStudy?patient={{context.patientId}}&_sort=-started&_count=20",
        "procedures": "Procedure?patient={{context.patientId}}&_sort=-date&_count=50",
    }


@dataclass(frozen=True)
class LegWeaknessService:
    """Holds the loaded knowledge base and card library; one instance serves both hooks."""

    knowledge: Knowledge
    cards: CardLibrary
    options: CardOptions

    def definitions(self) -> list[ServiceDefinition]:
        codes = ",".join(f"{system}|{code}" for system, code in self.knowledge.observation_codes())
        if not codes:  # an empty code= would match nothing; the knowledge base must list them
            raise ConfigurationError("the knowledge base lists no Observation codes to prefetch")
        observation_query = f"code={codes}&_sort=-date&_count=200"
        shared = _patient_templates(observation_query)
        encounter_start = ServiceDefinition(
            id=ENCOUNTER_START_ID, hook="encounter-start",
            title="Leg weakness: red flags, workup and differential",
            description=_DESCRIPTION, usage_requirements=_USAGE,
            prefetch={"patient": shared["patient"], "encounter": "Encounter/{{context.encounterId}}",
                      **{k: v for k, v in shared.items() if k != "patient"}},
            required_prefetch=("patient", "encounter"),
        )
        patient_view = ServiceDefinition(
            id=PATIENT_VIEW_ID, hook="patient-view",
            title="Leg weakness (patient-view, for the CDS Hooks sandbox)",
            description=_DESCRIPTION + " Same logic as 'leg-weakness', on the patient's latest encounter.",
            usage_requirements=_USAGE,
            prefetch={"patient": shared["patient"],
                      "encounter": "Encounter?patient={{context.patientId}}&_sort=-date&_count=10",
                      **{k: v for k, v in shared.items() if k != "patient"}},
            required_prefetch=("patient",),
        )
        return [encounter_start, patient_view]

    def record_filters(self) -> Mapping[str, Any]:
        """Per-type filters for the record builder: validate only the Observations we read, and
        only the orders and results whose codes an orderable test of the cards matches."""
        return self._filters

    @cached_property
    def _filters(self) -> Mapping[str, Any]:
        orders = {key for order in self.cards.orders.values() for key in order.key_set()}
        return {"Observation": self.knowledge.is_relevant_observation,
                **{rtype: code_filter(rtype, orders) for rtype in DEFERRED_TYPES}}

    def handle(self, record: PatientRecord, call: CallContext) -> list[dict[str, Any]]:
        """Findings for this record, turned into cards (an empty list when there is nothing to say)."""
        with call.deadline.stage("detect"):
            findings = detect_findings(record, self.knowledge, call.now.date())
        with call.deadline.stage("cards"):
            return build_cards(findings, record, self.cards, self.options, call)
