"""Building hook requests and reading answers for the fetch tests."""
from __future__ import annotations

import json
import uuid
from typing import Any

import httpx

from cds_service.fhir.prefetch import fill_template

HOOKS = {"leg-weakness": "encounter-start", "leg-weakness-patient-view": "patient-view"}


def hook_request(service_id: str, patient_id: str, encounter_id: str, fhir_server: str | None,
                 token: str | None = None, prefetch: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "hook": HOOKS[service_id], "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/example", "patientId": patient_id, "encounterId": encounter_id},
    }
    if fhir_server:
        body["fhirServer"] = fhir_server
    if token:
        body["fhirAuthorization"] = {"access_token": token, "token_type": "Bearer", "expires_in": 300,
                                     "scope": "user/*.read", "subject": "cds-service"}
    if prefetch is not None:
        body["prefetch"] = prefetch
    return body


def templates(service_url: str, service_id: str) -> dict[str, str]:
    """The prefetch templates the service advertises in discovery."""
    services = httpx.get(service_url + "/cds-services", timeout=10).json()["services"]
    return next(s["prefetch"] for s in services if s["id"] == service_id)


def full_prefetch(fhir_base: str, token: str, tmpl: dict[str, str], context: dict[str, Any],
                  max_pages: int = 5) -> dict[str, Any]:
    """What a conforming EHR would prefetch: every template run against its FHIR server, pages merged."""
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/fhir+json"}
    out: dict[str, Any] = {}
    for key, template in tmpl.items():
        query = fill_template(template, context)
        assert query is not None
        r = httpx.get(f"{fhir_base}/{query}", headers=headers, timeout=30)
        if r.status_code == 404:
            out[key] = None
            continue
        assert r.status_code == 200, (key, r.text[:300])
        value = r.json()
        if value["resourceType"] == "Bundle":
            entries = list(value.get("entry") or [])
            page, pages = value, 1
            while pages < max_pages:
                nxt = next((lnk["url"] for lnk in page.get("link", []) if lnk["relation"] == "next"), None)
                if nxt is None:
                    break
                page = httpx.get(nxt, headers=headers, timeout=30).json()
                entries.extend(page.get("entry") or [])
                pages += 1
            value = {k: v for k, v in value.items() if k not in ("link", "entry", "total")}
            if entries:
                value["entry"] = entries
        out[key] = value
    return out


def call(service_url: str, service_id: str, body: dict[str, Any], timeout: float = 30) -> httpx.Response:
    return httpx.post(f"{service_url}/cds-services/{service_id}", json=body, timeout=timeout)


def card_view(cards: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """What must agree between two answers: topic, indicator and summary of each card (not uuids)."""
    return sorted((str(c.get("source", {}).get("topic", {}).get("code")), c["indicator"], c["summary"])
                  for c in cards)


def log_events(log_text: str, event: str) -> list[dict[str, Any]]:
    out = []
    for line in log_text.splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict) and event in (row.get("event"), row.get("message"), row.get("msg")):
            out.append(row)
    return out
