"""Suggestions: draft FHIR R4 ServiceRequests (CDS Hooks 2.0 ``create`` actions) for the
orders a card proposes, each citing the evidence that made the card fire."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import timezone
from typing import Any

from ..clinical.model import Evidence, Finding
from ..clinical.orders import Order
from .card import CardWriter

#: FHIR R4 ServiceRequest.reasonReference: Reference(Condition|Observation|DiagnosticReport|DocumentReference).
_REASON_REFERENCE_TYPES = frozenset({"Condition", "Observation", "DiagnosticReport", "DocumentReference"})


def suggestions(writer: CardWriter, orders: Sequence[Order], priority: str, reasons: Sequence[Finding],
                reason_text: str, recommended: str | None = None,
                selection: str = "any") -> list[dict[str, Any]]:
    """One suggestion per order; ``isRecommended`` only where at most one may be chosen."""
    patient_id = writer.context.patient_id or writer.record.patient_id
    if not patient_id:
        return []  # a ServiceRequest needs a subject
    out = []
    for order in orders:
        suggestion: dict[str, Any] = {
            "label": writer.library.words("suggestion_label", order=order.text, priority=priority),
            "uuid": writer.context.new_id(),
            "actions": [{"type": "create",
                         "description": writer.library.words("suggestion_action", order=order.text,
                                                             priority=priority),
                         "resource": service_request(writer, order, priority, reasons, reason_text, patient_id)}],
        }
        if recommended == order.id and selection == "at-most-one":
            suggestion["isRecommended"] = True
        out.append(suggestion)
    return out


def service_request(writer: CardWriter, order: Order, priority: str, reasons: Sequence[Finding],
                    reason_text: str, patient_id: str) -> dict[str, Any]:
    """A draft FHIR R4 ServiceRequest (intent proposal) for one test, citing the evidence."""
    code: dict[str, Any] = {"text": order.text}
    codings = [c.coding() for c in writer.sent_codes(order)]
    if codings:
        code["coding"] = codings
    evidence = [e for f in reasons for e in f.evidence]
    first_quote = next((e.quote() for e in evidence), None)
    resource: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "status": "draft",
        "intent": "proposal",
        "priority": priority,
        "category": [{"text": order.category}],
        "code": code,
        "subject": {"reference": f"Patient/{patient_id}"},
    }
    encounter_id = writer.context.encounter_id or writer.record.encounter_id
    if encounter_id:
        resource["encounter"] = {"reference": f"Encounter/{encounter_id}"}
    resource["authoredOn"] = writer.context.now.astimezone(timezone.utc).isoformat(timespec="seconds")
    resource["reasonCode"] = [{"text": f"{reason_text}: {first_quote}" if first_quote else reason_text}]
    references = _reason_references(evidence)
    if references:
        resource["reasonReference"] = [{"reference": r} for r in references]
    return resource


def _reason_references(evidence: Iterable[Evidence]) -> list[str]:
    out: list[str] = []
    for item in evidence:
        ref = item.reference
        if ref and item.resource_type in _REASON_REFERENCE_TYPES and ref not in out:
            out.append(ref)
    return out
