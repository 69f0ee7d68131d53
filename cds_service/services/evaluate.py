"""Evaluate a FHIR Bundle directly (``POST /evaluate``, ``cds-service evaluate``).

The same record, findings and cards as the encounter-start service, without a hook
request: the Bundle is the patient's data and the encounter is named or chosen.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from ..budget import Deadline
from ..errors import ErrorDetail, InvalidBundleError
from ..fhir.record import RecordBuilder
from .call import CallContext, check_response

_BUNDLE_TYPES = {"collection", "transaction", "searchset", "batch", "document", "message",
                 "transaction-response", "batch-response", "history"}


def evaluate_bundle(service: Any, bundle: Any, encounter_id: str | None, *, link_base_url: str = "",
                    budget_ms: float = 1500, now: datetime | None = None) -> dict[str, Any]:
    """Cards for the patient in ``bundle`` at ``encounter_id`` (default: the current encounter).

    Raises:
        InvalidBundleError: not a Bundle, no Patient, several Patients, or an unknown encounter.
        InvalidPrefetchError: a resource the logic reads is not valid FHIR R4.
    """
    check_bundle(bundle)
    builder = RecordBuilder(keep=dict(service.record_filters()))
    builder.add("bundle", bundle)
    patients = {r.get("id") for _, r in _entries(bundle) if r.get("resourceType") == "Patient"}
    if len(patients) != 1:
        raise InvalidBundleError(f"the Bundle must hold exactly one Patient, it holds {len(patients)}")
    record = builder.build(patient_id=None, encounter_id=encounter_id)
    if encounter_id and record.encounter_id != encounter_id:
        raise InvalidBundleError(f"no Encounter with id {encounter_id!r} in the Bundle",
                                 details=[ErrorDetail(path="?encounter", message="unknown encounter id")])
    deadline = Deadline(budget_ms)
    call = CallContext(patient_id=record.patient_id, encounter_id=record.encounter_id,
                       now=now or datetime.now(timezone.utc), link_base_url=link_base_url, deadline=deadline)
    response = {"cards": service.handle(record, call)}
    check_response(response, "evaluate")
    return response


def check_bundle(bundle: Any) -> None:
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise InvalidBundleError("the body must be a FHIR R4 Bundle",
                                 details=[ErrorDetail(path="$.resourceType", message="must be 'Bundle'")])
    if bundle.get("type") not in _BUNDLE_TYPES:
        raise InvalidBundleError(f"unsupported Bundle.type {bundle.get('type')!r}",
                                 details=[ErrorDetail(path="$.type", message=f"one of {sorted(_BUNDLE_TYPES)}")])
    entries = bundle.get("entry", [])
    if not isinstance(entries, list):
        raise InvalidBundleError("Bundle.entry must be an array",
                                 details=[ErrorDetail(path="$.entry", message="must be an array")])


def _entries(bundle: dict[str, Any]) -> list[tuple[str | None, dict[str, Any]]]:
    from ..fhir.record import iter_resources
    return list(iter_resources(bundle))
