"""Evaluate a document from disk (``cds-service evaluate FILE``): a Bundle or a hook request."""
from __future__ import annotations

from typing import Any

from .catalog import build_services
from ..budget import Deadline
from ..errors import BadRequestError
from ..settings import Settings
from .call import CallOptions, run_hook_call
from .evaluate import evaluate_bundle


def evaluate_document(document: Any, encounter_id: str | None, settings: Settings) -> dict[str, Any]:
    """Cards for a FHIR Bundle, or the response to a CDS Hooks request, without a server."""
    registry, services, fetcher = build_services(settings)
    if isinstance(document, dict) and document.get("resourceType") == "Bundle":
        service = services["leg-weakness"]
        return evaluate_bundle(service, document, encounter_id, budget_ms=settings.time_budget_ms)
    if isinstance(document, dict) and isinstance(document.get("hook"), str):
        matching = [d for d, _ in registry.entries.values() if d.hook == document["hook"]]
        if not matching:
            raise BadRequestError(f"no service answers hook {document['hook']!r}")
        definition = matching[0]
        service = services[definition.id]
        result = run_hook_call(definition, service.handle, document, fetcher=fetcher,
                               options=CallOptions(allow_http_fhir_server=settings.allow_http_fhir_server),
                               deadline=Deadline(settings.time_budget_ms), keep=service.record_filters())
        return result.response
    raise BadRequestError("FILE must hold a FHIR R4 Bundle or a CDS Hooks request")
