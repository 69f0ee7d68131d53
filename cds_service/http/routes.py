"""Blueprint: discovery, hook calls and developer evaluation. JSON in, JSON out.

Paths answer directly, never with a redirect (a redirect breaks the browser's CORS
preflight): ``/cds-services/{id}/``, ``//cds-services/{id}`` and ``/cds-services//{id}`` (the
sandbox builds ``discoveryUrl + "/" + id``, so a discovery URL typed with a trailing slash
gives ``//{id}``) are routes of their own.
"""
from __future__ import annotations

import logging
import time
from datetime import datetime, timezone
from typing import Any

from flask import Blueprint, Response, jsonify, request

from ..budget import Deadline
from ..errors import ServiceError
from ..events import UNKNOWN_SERVICE, CardSummary, HookCallEvent
from ..logs import hash_patient_id, log_event
from ..services.bundle import answer_bundle, bundle_service
from ..services.call import CallOptions, run_hook_call
from .body import read_json
from .state import AppState, get_state

bp = Blueprint("cds", __name__)


def _public_base(state: AppState) -> str:
    return (state.settings.base_urls[:1] or (request.host_url.rstrip("/"),))[0]


def link_base(state: AppState) -> str:
    return (state.settings.link_base_url or _public_base(state)).rstrip("/")


@bp.get("/cds-services", strict_slashes=False)
@bp.get("//cds-services", strict_slashes=False)
def discovery() -> Response:
    return jsonify(get_state().registry.discovery())


@bp.post("/cds-services/<service_id>", strict_slashes=False)
@bp.post("//cds-services/<service_id>", strict_slashes=False)
@bp.post("/cds-services//<service_id>", strict_slashes=False)
def call_service(service_id: str) -> Response:
    """A hook call: authenticate, validate, gather data, decide, answer."""
    state = get_state()
    started = time.monotonic()
    deadline = Deadline(state.settings.time_budget_ms)
    # an id we do not serve is never logged, counted or stored as sent (it is the caller's text)
    event: dict[str, Any] = {"service_id": service_id if service_id in state.registry.entries else UNKNOWN_SERVICE,
                             "hook": None, "hook_instance": None, "issuer": None, "patient_hash": None,
                             "admitted": False}
    phi: dict[str, Any] = {}
    try:
        event["issuer"] = state.verifier.verify(request.headers.get("Authorization"), request.path)
        definition, service = state.registry.get(service_id)
        event["admitted"] = True  # authenticated, and a service we serve: from here on it is audited
        body = read_json(request, state.settings.max_body_bytes)
        if isinstance(body, dict):
            event["hook"] = body.get("hook") if isinstance(body.get("hook"), str) else None
            event["hook_instance"] = (body.get("hookInstance")
                                      if isinstance(body.get("hookInstance"), str) else None)
            context = body.get("context")
            if isinstance(context, dict) and isinstance(context.get("patientId"), str):
                event["patient_hash"] = hash_patient_id(context["patientId"], state.settings.patient_hash_salt)
                if state.settings.log_phi:  # CDS_LOG_PHI=true: debugging only, never in production
                    phi["patientId"] = context["patientId"]
        options = CallOptions.from_settings(state.settings, link_base(state))
        result = run_hook_call(definition, service, body, fetcher=state.fetcher, options=options,
                               deadline=deadline)
    except ServiceError as exc:
        _notify(state, event, exc.status, str(exc.status), started, deadline, [], phi)
        raise
    except Exception:
        _notify(state, event, 500, "error", started, deadline, [], phi)
        raise
    if result.unavailable:
        log_event("prefetch-unavailable", level=logging.WARNING, service=service_id,
                  hookInstance=event["hook_instance"], keys=result.unavailable)
    if result.notes_skipped:
        log_event("notes-skipped", service=service_id, hookInstance=event["hook_instance"],
                  read=result.notes_read, skipped=result.notes_skipped)
        event["notes_skipped"] = tuple(result.notes_skipped)
    _notify(state, event, 200, result.outcome, started, deadline, result.response["cards"], phi)
    return jsonify(result.response)


def _notify(state: AppState, event: dict[str, Any], status: int, outcome: str, started: float,
            deadline: Deadline, cards: list[dict[str, Any]], phi: dict[str, Any]) -> None:
    """Log the call and hand it to the observers (audit, metrics).

    ``phi`` is empty unless ``CDS_LOG_PHI=true``; then the raw patient id joins the log
    line (never the audit row or the metrics).
    """
    duration = (time.monotonic() - started) * 1000.0
    call = HookCallEvent(time=datetime.now(timezone.utc), http_status=status, outcome=outcome,
                         duration_ms=round(duration, 2),
                         stages={k: round(v, 2) for k, v in deadline.stages.items()},
                         cards=tuple(CardSummary.of(c) for c in cards), **event)
    level = logging.WARNING if outcome == "overrun" or status >= 400 else logging.INFO
    log_event("hook-call", level=level, service=call.service_id, hook=call.hook,
              hookInstance=call.hook_instance, status=status, outcome=outcome,
              durationMs=call.duration_ms, stages=call.stages, patient=call.patient_hash,
              cards=[c.topic for c in call.cards],
              slowestStage=deadline.slowest_stage() if outcome == "overrun" else None, **phi)
    for observer in state.observers:
        try:
            observer(call)
        except Exception:  # an observer must never break the answer
            log_event("observer-failed", level=logging.ERROR, exc_info=True, hookInstance=call.hook_instance)


@bp.post("/evaluate")
def evaluate() -> Response:
    """For developers: a FHIR R4 Bundle in, the cards the encounter-start service would give out."""
    state = get_state()
    body = read_json(request, state.settings.max_body_bytes)
    encounter_id = request.args.get("encounter") or None
    _, service = bundle_service(state.registry)
    response = answer_bundle(service, body, encounter_id, budget_ms=state.settings.time_budget_ms,
                             options=CallOptions.from_settings(state.settings, link_base(state)))
    return jsonify(response)
