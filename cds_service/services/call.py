"""One hook call, start to finish: validate, gather data, decide, answer, check the answer.

This is the pipeline every service shares (HAPI's ``callService``); the HTTP layer
calls it once and turns its result or error into a response.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..budget import Deadline
from ..errors import HookMismatchError, InvalidPrefetchError, PreconditionFailedError, ServiceError
from ..fhir.notes import Note, NoteLimits, SkippedNote, decode_fetched
from ..fhir.prefetch import Fetcher, FetchResult, KeyStatus, classify, fill_template
from ..fhir.record import PatientRecord, RecordBuilder
from ..logs import log_event
from ..network import is_allowed_url
from ..protocol import validation
from ..protocol.context import HookContext, IdFactory, new_uuid, utc_now
from ..protocol.registry import ServiceDefinition
from ..settings import Settings
from .service import CdsService


@dataclass
class CallResult:
    """The answer to one hook call and what the log, audit and metrics need to know of it."""

    response: dict[str, Any]
    outcome: str = "ok"  # ok | overrun | 412 | error
    unavailable: dict[str, str] = field(default_factory=dict)  # key -> reason
    notes_read: int = 0  # clinical notes (DocumentReference text) read
    notes_skipped: list[dict[str, str]] = field(default_factory=list)  # {element, reason} of notes not read


@dataclass(frozen=True)
class CallOptions:
    """Settings the pipeline needs (passed in, never read from the environment here)."""

    allow_http_fhir_server: bool = False
    link_base_url: str = ""
    clock: Callable[[], datetime] = utc_now
    new_id: IdFactory = new_uuid
    prefetch_max_resources: int | None = 1000  # CDS_PREFETCH_MAX_RESOURCES: resources read per key
    note_limits: NoteLimits = field(default_factory=NoteLimits)  # CDS_NOTE_MAX_CHARS, CDS_NOTE_MAX_COUNT
    reserve_ms: float = 150.0  # CDS_FETCH_RESERVE_MS: budget kept back from reading data for detection and cards

    @classmethod
    def from_settings(cls, settings: Settings, link_base_url: str = "") -> CallOptions:
        """The options the ``CDS_*`` settings give (one place maps settings to the pipeline)."""
        return cls(allow_http_fhir_server=settings.allow_http_fhir_server, link_base_url=link_base_url,
                   prefetch_max_resources=settings.prefetch_max_resources, reserve_ms=settings.fetch_reserve_ms,
                   note_limits=NoteLimits(max_chars=settings.note_max_chars, max_count=settings.note_max_count))


def run_hook_call(definition: ServiceDefinition, service: CdsService, body: Any, *,
                  fetcher: Fetcher | None, options: CallOptions, deadline: Deadline) -> CallResult:
    """Answer one hook call.

    Raises:
        SchemaValidationError: the request is not a valid CDS Hooks 2.0 request (400).
        HookMismatchError: the request's hook is not this service's hook (400).
        InvalidPrefetchError: a prefetched resource the logic reads is invalid FHIR (400).
        PreconditionFailedError: required data is neither prefetched nor fetchable (412).
    """
    with deadline.stage("validate"):
        validation.validate(body, "hook-request", "hook request")
        if body["hook"] != definition.hook:
            raise HookMismatchError(
                f"service {definition.id!r} answers hook {definition.hook!r}, not {body['hook']!r}")
    context: Mapping[str, Any] = body["context"]
    builder = RecordBuilder(keep=dict(service.record_filters()), max_per_source=options.prefetch_max_resources,
                            note_limits=options.note_limits)
    statuses = classify(body.get("prefetch"), definition.prefetch)
    with deadline.stage("validate"):
        for key, status in statuses.items():
            if status is KeyStatus.PRESENT:
                builder.add(key, body["prefetch"][key])
    wanted = [k for k, s in statuses.items() if s in (KeyStatus.MISSING, KeyStatus.FAILED)]
    unavailable: dict[str, str] = {}
    results: dict[str, FetchResult] = {}
    if wanted:
        with deadline.stage("fetch"):
            results, unavailable = _fetch_missing(definition, wanted, body, statuses, fetcher, options,
                                                  deadline)
    for key, result in results.items():
        if result.ok and result.value is not None:
            builder.add(f"fetched:{key}", result.value)
    for key in unavailable:
        builder.mark_unavailable(key)
    required_missing = {k: v for k, v in unavailable.items() if k in definition.required_prefetch}
    timed_out = {k for k, r in results.items() if r.timed_out and k in unavailable}
    overrun = bool(timed_out) or deadline.expired()
    if required_missing and not set(required_missing) <= timed_out:
        # Refused, absent or not fetchable: the client can fix that (412). Missing only
        # because our budget ran out is not the client's fault: empty cards, in time.
        raise PreconditionFailedError(
            "required data is neither prefetched nor obtainable from the FHIR server",
            extra={"missing": [{"key": k, "reason": r} for k, r in sorted(required_missing.items())]})
    with deadline.stage("validate"), _fetched_invalid_is_412():
        record = builder.build(context.get("patientId"), context.get("encounterId"), deadline, options.reserve_ms)
    if builder.truncated:
        log_event("prefetch-truncated", level=logging.WARNING, service=definition.id,
                  hookInstance=body.get("hookInstance"), limit=options.prefetch_max_resources,
                  notRead=builder.truncated)
    if record.pending_notes:
        with deadline.stage("fetch"):
            record = _fetch_notes(record, body, fetcher, options, deadline)
    overrun = overrun or record.partial
    hook_context = HookContext.from_request(body, deadline=deadline, now=options.clock(),
                                            link_base_url=options.link_base_url, new_id=options.new_id)
    if overrun and required_missing:
        cards: list[dict[str, Any]] = []
    else:
        with _fetched_invalid_is_412():  # orders and results are validated when the card path reads them
            cards = service.handle(record, hook_context)
    overrun = overrun or deadline.expired()
    if overrun:
        cards = keep_urgent(cards, service.urgent_topics)
    response = {"cards": cards}
    with deadline.stage("check"):
        check_response(response, definition.id)
    return CallResult(response=response, outcome="overrun" if overrun else "ok", unavailable=unavailable,
                      notes_read=len(record.notes),
                      notes_skipped=[{"element": f"DocumentReference.{n.element}", "reason": n.reason}
                                     for n in record.skipped_notes])


def _fetch_notes(record: PatientRecord, body: Mapping[str, Any], fetcher: Fetcher | None, options: CallOptions,
                 deadline: Deadline) -> PatientRecord:
    """The record once the notes given by ``url`` are fetched from ``fhirServer`` (or skipped, with why)."""
    pending = record.pending_notes
    why_not = _why_not_fetchable(body.get("fhirServer"), fetcher, options)
    if why_not or fetcher is None:
        why = f"attachment url not read: {why_not or 'not fetchable'}"
        return record.with_fetched_notes((), [SkippedNote(p.resource_id, p.element, why) for p in pending])
    token = (body.get("fhirAuthorization") or {}).get("access_token")
    fetched = fetcher.fetch_attachments({str(i): p.url for i, p in enumerate(pending)}, str(body["fhirServer"]),
                                        token, deadline, options.note_limits.max_chars * 4)
    notes: list[Note] = []
    skipped: list[SkippedNote] = []
    for i, item in enumerate(pending):
        result = decode_fetched(item, fetched.get(str(i)), options.note_limits)
        (notes.append(result) if isinstance(result, Note) else skipped.append(result))
    return record.with_fetched_notes(notes, skipped)


@contextmanager
def _fetched_invalid_is_412() -> Iterator[None]:
    """Invalid FHIR from the FHIR server is not the client's request error: 412, not 400."""
    try:
        yield
    except InvalidPrefetchError as exc:
        if str(exc.extra.get("prefetchKey", "")).startswith("fetched:"):
            raise PreconditionFailedError("data fetched from the FHIR server is not valid FHIR R4",
                                          details=exc.details) from None
        raise


def keep_urgent(cards: list[dict[str, Any]], urgent_topics: frozenset[str]) -> list[dict[str, Any]]:
    """On overrun only the service's urgent cards go out (see ``CdsService.urgent_topics``)."""
    return [c for c in cards if ((c.get("source") or {}).get("topic") or {}).get("code") in urgent_topics]


def _fetch_missing(definition: ServiceDefinition, wanted: list[str], body: Mapping[str, Any],
                   statuses: Mapping[str, KeyStatus], fetcher: Fetcher | None, options: CallOptions,
                   deadline: Deadline) -> tuple[dict[str, FetchResult], dict[str, str]]:
    """Fetch the keys the client did not fulfil; returns results and {key: reason} for the rest."""
    unavailable: dict[str, str] = {}
    queries: dict[str, str] = {}
    for key in wanted:
        query = fill_template(definition.prefetch[key], body["context"])
        if query is None:
            unavailable[key] = "template cannot be filled from the hook context"
        else:
            queries[key] = query
    server = body.get("fhirServer")
    why_not = _why_not_fetchable(server, fetcher, options)
    if why_not or fetcher is None or server is None:
        for key in queries:
            unavailable[key] = _reason(statuses[key], why_not or "not fetchable")
        return {}, unavailable
    token = (body.get("fhirAuthorization") or {}).get("access_token")
    results = fetcher.fetch(queries, server, token, deadline)
    for key in queries:
        result = results.get(key)
        if result is None or not result.ok:
            unavailable[key] = _reason(statuses[key], (result.error if result else None) or "not fetched")
    return results, unavailable


def _reason(status: KeyStatus, why: str) -> str:
    head = "client sent an OperationOutcome" if status is KeyStatus.FAILED else "not prefetched"
    return f"{head}; {why}"


def _why_not_fetchable(server: str | None, fetcher: Fetcher | None, options: CallOptions) -> str | None:
    """Why the FHIR server cannot be contacted, or None when it can.

    Per the CDS Hooks specification the ``fhirServer`` scheme MUST be https for real
    data; plain http is allowed only to loopback and only when configured for tests.
    """
    if not server:
        return "no fhirServer in the request"
    if fetcher is None:
        return "fetching from the FHIR server is not configured"
    if is_allowed_url(server, allow_http_loopback=options.allow_http_fhir_server):
        return None
    return "fhirServer is not https (plain http is allowed only to loopback with CDS_ALLOW_HTTP_FHIR_SERVER=true)"


def check_response(response: Mapping[str, Any], service_id: str) -> None:
    """Check our own answer against the response schema; a violation is our bug (500).

    Raises:
        ServiceError: never sends a card the spec forbids.
    """
    found = validation.problems(response, "response")
    if found:
        log_event("invalid-response", level=logging.ERROR, service=service_id,
                  problems=[d.to_json() for d in found])
        raise ServiceError("the service produced an invalid response")
