"""Answer a FHIR Bundle or a hook request outside a hook call (``POST /evaluate``,
``cds-service evaluate``).

The same record, findings and cards as the encounter-start service, without an EHR: the
Bundle is the patient's data and the encounter is named or chosen (the latest in
progress, else the most recent). A hook-request document runs the full hook pipeline.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from ..budget import Deadline
from ..errors import BadRequestError, ErrorDetail, InvalidBundleError
from ..fhir.prefetch import Fetcher
from ..fhir.record import RecordBuilder, iter_resources
from ..protocol.context import HookContext
from ..protocol.registry import Registry, ServiceDefinition
from .call import CallOptions, check_response, run_hook_call
from .service import CdsService

#: The hook whose service answers a bare Bundle: what EHRs call when an encounter starts.
BUNDLE_HOOK = "encounter-start"
_BUNDLE_TYPES = {"collection", "transaction", "searchset", "batch", "document", "message",
                 "transaction-response", "batch-response", "history"}


def bundle_service(registry: Registry[CdsService]) -> tuple[ServiceDefinition, CdsService]:
    """The service that answers Bundles: the first registered for ``encounter-start``.

    Raises:
        BadRequestError: no service answers that hook.
    """
    answering = registry.for_hook(BUNDLE_HOOK)
    if not answering:
        raise BadRequestError(f"no service answers hook {BUNDLE_HOOK!r}, so a Bundle cannot be evaluated")
    return answering[0]


def answer_bundle(service: CdsService, bundle: Any, encounter_id: str | None, *, budget_ms: float = 1500,
                  now: datetime | None = None, options: CallOptions | None = None) -> dict[str, Any]:
    """Cards for the patient in ``bundle`` at ``encounter_id`` (default: the current encounter).

    Raises:
        InvalidBundleError: not a Bundle, no Patient, several Patients, or an unknown encounter.
        InvalidPrefetchError: a resource the logic reads is not valid FHIR R4.
    """
    check_bundle(bundle)
    patients = {r.get("id") for _, r in iter_resources(bundle) if r.get("resourceType") == "Patient"}
    if len(patients) != 1:
        raise InvalidBundleError(f"the Bundle must hold exactly one Patient, it holds {len(patients)}")
    options = options or CallOptions()
    builder = RecordBuilder(keep=dict(service.record_filters()), note_limits=options.note_limits)
    builder.add("bundle", bundle)
    record = builder.build(patient_id=None, encounter_id=encounter_id)
    if encounter_id and record.encounter_id != encounter_id:
        raise InvalidBundleError(f"no Encounter with id {encounter_id!r} in the Bundle",
                                 details=[ErrorDetail(path="?encounter", message="unknown encounter id")])
    context = HookContext(hook=BUNDLE_HOOK, deadline=Deadline(budget_ms), now=now or datetime.now(timezone.utc),
                          patient_id=record.patient_id, encounter_id=record.encounter_id,
                          link_base_url=options.link_base_url)
    response = {"cards": service.handle(record, context)}
    check_response(response, "evaluate")
    return response


def answer_document(registry: Registry[CdsService], fetcher: Fetcher | None, document: Any,
                    encounter_id: str | None, *, budget_ms: float, options: CallOptions | None = None,
                    ) -> dict[str, Any]:
    """Cards for a FHIR Bundle, or the response to a CDS Hooks request, without a server.

    Raises:
        BadRequestError: neither a Bundle nor a hook request, or no service for its hook.
    """
    if isinstance(document, dict) and document.get("resourceType") == "Bundle":
        _, service = bundle_service(registry)
        return answer_bundle(service, document, encounter_id, budget_ms=budget_ms, options=options)
    if isinstance(document, dict) and isinstance(document.get("hook"), str):
        answering = registry.for_hook(document["hook"])
        if not answering:
            raise BadRequestError(f"no service answers hook {document['hook']!r}")
        definition, service = answering[0]
        result = run_hook_call(definition, service, document, fetcher=fetcher,
                               options=options or CallOptions(),
                               deadline=Deadline(budget_ms))
        return result.response
    raise BadRequestError("FILE must hold a FHIR R4 Bundle or a CDS Hooks request")


def check_bundle(bundle: Any) -> None:
    """Raises InvalidBundleError unless ``bundle`` is a FHIR Bundle of a known type with an entry array."""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise InvalidBundleError("the body must be a FHIR R4 Bundle",
                                 details=[ErrorDetail(path="$.resourceType", message="must be 'Bundle'")])
    if bundle.get("type") not in _BUNDLE_TYPES:
        raise InvalidBundleError(f"unsupported Bundle.type {bundle.get('type')!r}",
                                 details=[ErrorDetail(path="$.type", message=f"one of {sorted(_BUNDLE_TYPES)}")])
    if not isinstance(bundle.get("entry", []), list):
        raise InvalidBundleError("Bundle.entry must be an array",
                                 details=[ErrorDetail(path="$.entry", message="must be an array")])

