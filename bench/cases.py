"""Hook requests as a CDS client would send them, built from Synthea bundles and corpus vignettes.

Each request carries prefetch as a client fills the service's own discovery templates:
the Patient, the chosen Encounter, and one searchset Bundle per search template,
filtered the way the query would filter (type, codes, status, ``_sort``, ``_count``).

Synthea patients carry no leg complaint, so on their own they measure only the quiet path.
``with_complaint`` writes one of a few complaint texts into the encounter's reason, so the
same patient data (its Conditions, reports, procedures and labs) goes through detection
and the card path too. The bench and ``tests/perf`` build their requests here, so the
bench measures what the card-equality test checks.
"""
from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

ROOT = Path(__file__).resolve().parents[1]
SYNTHEA = ROOT / "tests" / "data" / "fhir" / "synthea" / "generated-sample-data-r4"
CORPUS = ROOT / "cds_service" / "services" / "leg_weakness" / "corpus"

#: Complaints written into a Synthea encounter's reason (free text, as a clinician types it).
#: Each leads to cards; together they reach red-flag, workup and differential cards.
COMPLAINTS = (
    "sudden weakness of both legs with urinary retention and saddle numbness",
    "left leg weakness since this morning, facial droop",
    "progressive weakness in both legs over two weeks, history of prostate cancer, back pain at night",
    "ascending weakness of both legs after a diarrhoeal illness",
    "sudden weakness of the right leg, the foot cold, pale and pulseless",
    "gradual weakness of the right leg with low back pain radiating down the leg",
)

#: FHIR search parameter -> the element(s) it sorts on, for the _sort values our templates use.
SORT_FIELDS = {
    "date": ("effectiveDateTime", "issued", "performedDateTime", "performedPeriod.start", "recordedDate",
             "period.start"),
    "authored": ("authoredOn",),
    "started": ("started",),
}


@dataclass(frozen=True)
class Case:
    """One hook request and the moment it is answered at (decisions depend on the date).

    ``resources`` and ``encounter_id`` are the patient data it was built from, so the same
    patient can be sent to another service, filled from that service's own templates.
    """

    name: str
    service: str
    body: dict[str, Any]
    now: datetime
    complaint: bool = False
    resources: tuple[dict[str, Any], ...] = field(default=(), repr=False, compare=False)
    encounter_id: str | None = None

    def request_for(self, templates: Mapping[str, str], hook: str) -> dict[str, Any]:
        """This patient's call to another service (its discovery ``prefetch`` templates and hook)."""
        encounter = next((r for r in self.resources if r.get("resourceType") == "Encounter"
                          and r.get("id") == self.encounter_id), None)
        return build_request(list(self.resources), templates, hook, encounter)


def _get(resource: Mapping[str, Any], dotted: str) -> Any:
    value: Any = resource
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _sort_key(resource: Mapping[str, Any], parameter: str) -> str:
    for name in SORT_FIELDS.get(parameter, ()):
        value = _get(resource, name)
        if isinstance(value, str):
            return value
    return ""


def _codes(resource: Mapping[str, Any]) -> set[tuple[str, str]]:
    codings = (_get(resource, "code") or {}).get("coding") or []
    return {(c.get("system", ""), c.get("code", "")) for c in codings if isinstance(c, dict)}


def search(resources: Iterable[dict[str, Any]], query: str) -> dict[str, Any]:
    """A searchset Bundle: ``query`` (``Type?param=value&...``) evaluated over one patient's resources."""
    rtype, _, params = query.partition("?")
    hits = [r for r in resources if r.get("resourceType") == rtype]
    count: int | None = None
    for name, value in parse_qsl(params, keep_blank_values=True):
        if name == "code":
            wanted = {tuple(v.split("|", 1)) if "|" in v else ("", v) for v in value.split(",") if v}
            if wanted:  # an empty list is a malformed query; a server would ignore it
                hits = [r for r in hits if _codes(r) & wanted or {("", c) for _, c in _codes(r)} & wanted]
        elif name == "status":
            hits = [r for r in hits if r.get("status") in value.split(",")]
        elif name == "_sort":
            descending = value.startswith("-")
            hits.sort(key=lambda r: _sort_key(r, value.lstrip("-")), reverse=descending)
        elif name == "_count":
            count = int(value)
    if count is not None:
        hits = hits[:count]
    return {"resourceType": "Bundle", "type": "searchset", "total": len(hits),
            "entry": [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r, "search": {"mode": "match"}}
                      for r in hits]}


def resources_of(bundle: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle.get("entry") or [] if isinstance(e.get("resource"), dict)]


def latest_encounter(resources: list[dict[str, Any]]) -> dict[str, Any] | None:
    encounters = [r for r in resources if r.get("resourceType") == "Encounter"]
    if not encounters:
        return None
    return max(encounters, key=lambda e: str(_get(e, "period.start") or _get(e, "period.end") or ""))


def build_request(resources: list[dict[str, Any]], templates: Mapping[str, str], hook: str,
                  encounter: Mapping[str, Any] | None, hook_instance: str | None = None) -> dict[str, Any]:
    """A hook call for the patient in ``resources`` (and ``encounter``, for encounter-start)."""
    patient = next(r for r in resources if r.get("resourceType") == "Patient")
    context: dict[str, Any] = {"userId": "Practitioner/bench", "patientId": patient["id"]}
    if encounter is not None:
        context["encounterId"] = encounter["id"]
    prefetch: dict[str, Any] = {}
    for key, template in templates.items():
        query = template.replace("{{context.patientId}}", patient["id"])
        if encounter is not None:
            query = query.replace("{{context.encounterId}}", encounter["id"])
        if query == f"Patient/{patient['id']}":
            prefetch[key] = patient
        elif encounter is not None and query == f"Encounter/{encounter['id']}":
            prefetch[key] = encounter
        elif "?" in query:
            prefetch[key] = search(resources, query)
    return {"hook": hook, "hookInstance": hook_instance or str(uuid.uuid4()), "context": context,
            "prefetch": prefetch}


def with_complaint(resources: list[dict[str, Any]], encounter_id: str, text: str) -> list[dict[str, Any]]:
    """A copy of ``resources`` whose encounter ``encounter_id`` gives ``text`` as its reason."""
    out = []
    for resource in resources:
        if resource.get("resourceType") == "Encounter" and resource.get("id") == encounter_id:
            resource = copy.deepcopy(resource)
            resource["status"] = "in-progress"
            resource["reasonCode"] = [{"text": text}]
        out.append(resource)
    return out


def _day_of(encounter: Mapping[str, Any]) -> datetime:
    """Noon UTC on the encounter's day: the decision is made while the patient is there."""
    start = str(_get(encounter, "period.start") or "")[:10]
    day = date.fromisoformat(start) if len(start) == 10 else date(2026, 11, 24)
    return datetime(day.year, day.month, day.day, 12, tzinfo=timezone.utc)


def synthea_cases(templates: Mapping[str, Mapping[str, str]], folder: Path = SYNTHEA,
                  complaint_every: int = 1, limit: int = 0) -> Iterator[Case]:
    """Per bundle: the latest encounter as it is, then (every ``complaint_every``-th bundle) the
    same encounter with a complaint written in. ``templates``: service id -> prefetch templates."""
    files = sorted(folder.glob("*.json"))[: limit or None]
    for i, path in enumerate(files):
        resources = resources_of(json.loads(path.read_text(encoding="utf-8")))
        encounter = latest_encounter(resources)
        assert encounter is not None, path.name
        ids = iter(uuid.UUID(int=(i << 16) + n) for n in range(2))
        yield Case(path.stem, "leg-weakness",
                   build_request(resources, templates["leg-weakness"], "encounter-start", encounter, str(next(ids))),
                   _day_of(encounter), resources=tuple(resources), encounter_id=encounter["id"])
        if complaint_every and i % complaint_every == 0:
            text = COMPLAINTS[(i // complaint_every) % len(COMPLAINTS)]
            changed = with_complaint(resources, encounter["id"], text)
            chosen = next(r for r in changed if r.get("resourceType") == "Encounter" and r["id"] == encounter["id"])
            yield Case(f"{path.stem}+complaint", "leg-weakness",
                       build_request(changed, templates["leg-weakness"], "encounter-start", chosen, str(next(ids))),
                       _day_of(encounter), complaint=True, resources=tuple(changed), encounter_id=encounter["id"])


def corpus_cases(templates: Mapping[str, Mapping[str, str]], folder: Path = CORPUS) -> Iterator[Case]:
    """Each labelled vignette as an encounter-start call on its encounter, at its ``today``."""
    for path in sorted(folder.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        for n, vignette in enumerate(data if isinstance(data, list) else [data]):
            resources = resources_of(vignette["bundle"])
            wanted = vignette.get("encounter")
            encounter = next((r for r in resources if r.get("resourceType") == "Encounter" and r.get("id") == wanted),
                             None) or latest_encounter(resources)
            today = date.fromisoformat(vignette.get("today") or "2026-11-24")
            hook_instance = str(uuid.uuid5(uuid.NAMESPACE_URL, f"vignette:{vignette['id']}:{n}"))
            yield Case(f"vignette:{vignette['id']}", "leg-weakness",
                       build_request(resources, templates["leg-weakness"], "encounter-start", encounter,
                                     hook_instance),
                       datetime(today.year, today.month, today.day, 12, tzinfo=timezone.utc),
                       complaint=_expects_cards(vignette), resources=tuple(resources),
                       encounter_id=encounter["id"] if encounter else None)


def _expects_cards(vignette: Mapping[str, Any]) -> bool:
    """Whether the vignette's labels say a card must come out (a topic, a red flag, leg weakness)."""
    expect = vignette.get("expect") or {}
    return bool(expect.get("topics") or expect.get("red_flags") or expect.get("leg_weakness"))
