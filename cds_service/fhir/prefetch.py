"""Prefetch semantics (CDS Hooks 2.0 §Prefetch): which declared keys are usable, empty or missing.

Per the CDS Hooks specification:

- key present with a resource or Bundle: use it;
- key present with ``null``: the client has no data, do not re-query;
- key absent, or holding an OperationOutcome (or a Bundle of only OperationOutcomes):
  not fulfilled, so the service fetches it from ``fhirServer`` itself, and answers
  412 only when data the logic cannot do without truly cannot be had.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, Protocol
from urllib.parse import quote

from ..budget import Deadline


class KeyStatus(str, Enum):
    PRESENT = "present"
    EMPTY = "null"
    MISSING = "missing"
    FAILED = "operation-outcome"


_TOKEN = re.compile(r"\{\{\s*([A-Za-z][A-Za-z0-9_.]*)\s*\}\}")
_USER_TOKENS = {
    "userPractitionerId": "Practitioner",
    "userPractitionerRoleId": "PractitionerRole",
    "userPatientId": "Patient",
    "userRelatedPersonId": "RelatedPerson",
}


def classify(prefetch: Mapping[str, Any] | None, declared: Mapping[str, str]) -> dict[str, KeyStatus]:
    """Status of each declared prefetch key in a request's ``prefetch`` object."""
    given = prefetch or {}
    out: dict[str, KeyStatus] = {}
    for key in declared:
        if key not in given:
            out[key] = KeyStatus.MISSING
        elif given[key] is None:
            out[key] = KeyStatus.EMPTY
        elif is_operation_outcome(given[key]):
            out[key] = KeyStatus.FAILED
        else:
            out[key] = KeyStatus.PRESENT
    return out


def is_operation_outcome(value: Any) -> bool:
    """True for an OperationOutcome, or a Bundle whose entries are all OperationOutcomes.

    A searchset Bundle that carries an OperationOutcome *beside* real results (a
    warning, ``search.mode = outcome``) is still usable and is not a failure.
    """
    if not isinstance(value, dict):
        return False
    if value.get("resourceType") == "OperationOutcome":
        return True
    if value.get("resourceType") == "Bundle":
        resources = [e.get("resource") for e in value.get("entry") or [] if isinstance(e, dict)]
        types = {r.get("resourceType") for r in resources if isinstance(r, dict)}
        return types == {"OperationOutcome"}
    return False


def fill_template(template: str, context: Mapping[str, Any]) -> str | None:
    """Fill a prefetch template's tokens from the hook context; None when a token cannot be filled.

    Only root-level primitive context fields (``{{context.patientId}}``) and the 2.0 user
    tokens (``{{userPractitionerId}}`` ...) are allowed, as the spec requires.
    """
    missing = False

    def replace(match: re.Match[str]) -> str:
        nonlocal missing
        name = match.group(1)
        value: Any = None
        if name.startswith("context."):
            value = context.get(name[len("context."):])
        elif name in _USER_TOKENS:
            user = str(context.get("userId") or "")
            rtype, _, rid = user.partition("/")
            value = rid if rtype == _USER_TOKENS[name] and rid else None
        if not isinstance(value, (str, int, float)) or isinstance(value, bool) or value == "":
            missing = True
            return ""
        return quote(str(value), safe="")

    filled = _TOKEN.sub(replace, template)
    return None if missing else filled


def prefetch_from_resources(templates: Mapping[str, str], resources: list[dict[str, Any]],
                            context: Mapping[str, Any]) -> dict[str, Any]:
    """Prefetch answered from resources at hand, as a FHIR server would answer each template.

    ``Type/{id}`` reads the resource of that type and id (``None`` when there is none, the
    spec's "no data"); ``Type?...`` is a searchset of every resource of that type (search
    parameters other than the patient are not applied: the resources are one patient's).
    A template whose tokens cannot be filled is left out (not fulfilled).
    """
    out: dict[str, Any] = {}
    for key, template in templates.items():
        query = fill_template(template, context)
        if query is None:
            continue
        path, _, search = query.partition("?")
        rtype, _, rid = path.partition("/")
        matching = [r for r in resources if r.get("resourceType") == rtype]
        if rid and not search:
            out[key] = next((r for r in matching if r.get("id") == rid), None)
        else:
            out[key] = {"resourceType": "Bundle", "type": "searchset", "total": len(matching),
                        "entry": [{"resource": r} for r in matching]}
    return out


@dataclass(frozen=True)
class FetchResult:
    """The outcome of fetching one prefetch key from the FHIR server."""

    key: str
    value: Any | None = None  # a resource or searchset Bundle (pages merged)
    error: str | None = None  # why it is unavailable (never contains a token)
    timed_out: bool = False  # unavailable because the time budget ran out, not because it was refused

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class FetchedAttachment:
    """The bytes of one attachment fetched by its ``url`` (a note's text), or why not."""

    data: bytes | None = None
    content_type: str = ""  # as the server answered it, parameters included (``text/plain; charset=utf-8``)
    cut: bool = False  # longer than asked for: only the head was read
    error: str | None = None  # never contains a token


class Fetcher(Protocol):
    """Fetches prefetch queries, and attachments, from a FHIR server before a deadline."""

    def fetch(self, queries: Mapping[str, str], fhir_server: str, access_token: str | None,
              deadline: Deadline) -> dict[str, FetchResult]: ...

    def fetch_attachments(self, urls: Mapping[str, str], fhir_server: str, access_token: str | None,
                          deadline: Deadline, max_bytes: int) -> dict[str, FetchedAttachment]: ...
