"""Human labels for FHIR code systems and elements, for evidence quotes and card text.

One map of each, shared by the clinical evidence (``Evidence.quote``) and the card builder
(the "codes in the proposed orders" lines), so a system is named the same everywhere.
"""
from __future__ import annotations

SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
CPT = "http://www.ama-assn.org/go/cpt"

_SYSTEMS = {SNOMED: "SNOMED CT", ICD10CM: "ICD-10-CM", LOINC: "LOINC", RXNORM: "RxNorm", CPT: "CPT"}

#: (resource type, element path without indexes) -> how a clinician would name it.
_ELEMENTS = {
    ("Encounter", "reasonCode"): "Encounter reason",
    ("Encounter", "reasonReference"): "Encounter reason",
    ("Condition", "code"): "Condition",
    ("Condition", "code.coding"): "Condition",
    ("Condition", "code.text"): "Condition",
    ("Observation", "valueCodeableConcept.coding"): "Chief complaint",
    ("Observation", "valueCodeableConcept.text"): "Chief complaint",
    ("Observation", "valueString"): "Chief complaint",
    ("Observation", "valueCodeableConcept"): "Chief complaint",
    ("Observation", "valueQuantity"): "Observation",
    ("Observation", "code"): "Observation",
    ("MedicationRequest", "medicationCodeableConcept"): "Medication",
    ("MedicationRequest", "medicationCodeableConcept.text"): "Medication",
    ("MedicationRequest", "medicationCodeableConcept.coding"): "Medication",
    ("DocumentReference", "content"): "Clinical note",
    ("Patient", "birthDate"): "Patient age",
    ("Patient", "gender"): "Patient sex",
}


def system_label(system: str | None) -> str:
    """``LOINC`` for ``http://loinc.org``; an unknown system is shown as its URI."""
    return _SYSTEMS.get(system or "", system or "")


def element_label(resource_type: str, element: str) -> str:
    """``Encounter reason`` for ``Encounter.reasonCode[0].text``; else ``Type.element``."""
    return _ELEMENTS.get((resource_type, element.split("[")[0]), f"{resource_type}.{element}")
