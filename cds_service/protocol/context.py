"""HookContext: what one hook call tells a service, typed, plus the call's clock, ids and deadline.

A leaf module (it imports only the standard library and ``budget``), so every layer that
answers a call can take it: the pipeline builds it from the validated request, and a
service's handler reads it. Per the CDS Hooks 2.0 hook definitions, ``encounter-start``
and ``patient-view`` carry ``userId``/``patientId``/``encounterId``; ``order-select``
and ``order-sign`` add ``draftOrders`` (a FHIR Bundle) and ``order-select`` adds
``selections`` (references into it).
"""
from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from types import MappingProxyType
from typing import Any

from ..budget import Deadline

IdFactory = Callable[[], str]


def new_uuid() -> str:
    """A random uuid string (cards and suggestions need one for feedback)."""
    return str(uuid.uuid4())


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class HookContext:
    """The request's hook context, typed, and what the call needs to mint its answer.

    Attributes:
        hook: the hook that fired (``encounter-start``).
        hook_instance: the request's ``hookInstance`` uuid (None outside a hook call).
        user_id, patient_id, encounter_id: the context fields of that name.
        draft_orders: ``context.draftOrders`` (a FHIR Bundle) for order hooks, else None.
        selections: ``context.selections`` for order-select, else empty.
        fields: every context field as received (read-only), for hooks with others.
        now: the decision time (tests pass a fixed clock).
        link_base_url: base URL for links to the service's own pages, as the EHR sees it.
        deadline: the call's time budget and stage timings.
        new_id: mints card and suggestion uuids (tests pass a counter).
    """

    hook: str
    deadline: Deadline
    now: datetime = field(default_factory=utc_now)
    hook_instance: str | None = None
    user_id: str | None = None
    patient_id: str | None = None
    encounter_id: str | None = None
    draft_orders: Mapping[str, Any] | None = None
    selections: tuple[str, ...] = ()
    fields: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    link_base_url: str = ""
    new_id: IdFactory = new_uuid

    @classmethod
    def from_request(cls, body: Mapping[str, Any], *, deadline: Deadline, now: datetime,
                     link_base_url: str = "", new_id: IdFactory = new_uuid) -> HookContext:
        """The context of a request already validated against the hook-request schema."""
        context: Mapping[str, Any] = body.get("context") or {}
        draft = context.get("draftOrders")
        selections = context.get("selections")
        return cls(hook=str(body["hook"]), hook_instance=_text(body.get("hookInstance")),
                   user_id=_text(context.get("userId")), patient_id=_text(context.get("patientId")),
                   encounter_id=_text(context.get("encounterId")),
                   draft_orders=draft if isinstance(draft, Mapping) else None,
                   selections=tuple(s for s in selections if isinstance(s, str))
                   if isinstance(selections, list) else (),
                   fields=MappingProxyType(dict(context)), now=now, deadline=deadline,
                   link_base_url=link_base_url, new_id=new_id)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
