"""Against a real FHIR server (SEKMET): fetched data gives the same cards as full prefetch.

The "full prefetch" is built the way a conforming EHR would: every advertised template
run against the same FHIR server. Cards are compared by topic, indicator and summary.
"""
from __future__ import annotations

from typing import Any

import pytest

from tests.fetch.conftest import SYNTHEA_FILES, Sekmet
from tests.fetch.hookcalls import call, card_view, full_prefetch, hook_request, log_events, templates

PATIENTS = (*SYNTHEA_FILES, "red-flag", "plain", "fever", "note", "note-url")


def _context(sekmet: Sekmet, name: str) -> dict[str, Any]:
    return {"userId": "Practitioner/example", "patientId": sekmet.patients[name],
            "encounterId": sekmet.encounters[name]}


def _answer(server_url: str, service_id: str, sekmet: Sekmet, name: str,
            prefetch: dict[str, Any] | None) -> list[dict[str, Any]]:
    ctx = _context(sekmet, name)
    body = hook_request(service_id, ctx["patientId"], ctx["encounterId"], sekmet.base, sekmet.token, prefetch)
    r = call(server_url, service_id, body)
    assert r.status_code == 200, r.text[:500]
    return r.json()["cards"]


def _full(server_url: str, service_id: str, sekmet: Sekmet, name: str) -> dict[str, Any]:
    return full_prefetch(sekmet.base, sekmet.token, templates(server_url, service_id), _context(sekmet, name))


@pytest.mark.parametrize("service_id", ["leg-weakness", "leg-weakness-patient-view"])
@pytest.mark.parametrize("name", PATIENTS)
def test_no_prefetch_gives_the_cards_of_full_prefetch(fetching_server, sekmet, service_id, name) -> None:
    full = _full(fetching_server.url, service_id, sekmet, name)
    assert full["patient"]["id"] == sekmet.patients[name]
    expected = _answer(fetching_server.url, service_id, sekmet, name, full)
    assert card_view(_answer(fetching_server.url, service_id, sekmet, name, None)) == card_view(expected)


@pytest.mark.parametrize("name", PATIENTS)
def test_partial_prefetch_gives_the_cards_of_full_prefetch(fetching_server, sekmet, name) -> None:
    full = _full(fetching_server.url, "leg-weakness", sekmet, name)
    expected = card_view(_answer(fetching_server.url, "leg-weakness", sekmet, name, full))
    keys = sorted(full)
    for part in ({k: full[k] for k in ("patient", "encounter")},
                 {k: full[k] for k in keys[::2]},
                 {k: full[k] for k in keys if k not in ("patient", "encounter")}):
        assert card_view(_answer(fetching_server.url, "leg-weakness", sekmet, name, part)) == expected


@pytest.mark.parametrize("name", PATIENTS)
def test_operation_outcome_entries_are_refetched(fetching_server, sekmet, name) -> None:
    full = _full(fetching_server.url, "leg-weakness", sekmet, name)
    expected = card_view(_answer(fetching_server.url, "leg-weakness", sekmet, name, full))
    outcome = {"resourceType": "OperationOutcome",
               "issue": [{"severity": "error", "code": "timeout", "diagnostics": "EHR query timed out"}]}
    bundle_of_outcome = {"resourceType": "Bundle", "type": "searchset",
                         "entry": [{"resource": outcome, "search": {"mode": "outcome"}}]}
    given = dict(full) | {"patient": outcome, "encounter": outcome, "conditions": bundle_of_outcome,
                          "observations": bundle_of_outcome}
    assert card_view(_answer(fetching_server.url, "leg-weakness", sekmet, name, given)) == expected


def test_red_flag_vignette_gives_red_flag_cards_when_fetched(fetching_server, sekmet) -> None:
    """Once the clinical layer detects the red flag, fetching must not lose it."""
    cards = _answer(fetching_server.url, "leg-weakness", sekmet, "red-flag", None)
    topics = [c["source"]["topic"]["code"] for c in cards]
    assert topics, "the red flag in the encounter reason is detected"
    assert any(t.startswith("red-flag-") for t in topics), topics


def test_red_flag_that_needs_fetched_data_is_found(fetching_server, sekmet) -> None:
    """The fever is only in the Observations: without fetching them, the spinal-infection flag is lost."""
    ctx = _context(sekmet, "fever")
    full = _full(fetching_server.url, "leg-weakness", sekmet, "fever")
    fetched = [c["source"]["topic"]["code"] for c in _answer(fetching_server.url, "leg-weakness", sekmet, "fever", None)]
    assert "red-flag-spinal-infection" in fetched, fetched
    withheld = dict.fromkeys(full) | {"patient": full["patient"], "encounter": full["encounter"]}
    body = hook_request("leg-weakness", ctx["patientId"], ctx["encounterId"], None, None, withheld)
    r = call(fetching_server.url, "leg-weakness", body)
    assert r.status_code == 200, r.text
    assert "red-flag-spinal-infection" not in [c["source"]["topic"]["code"] for c in r.json()["cards"]]


def test_wrong_token_is_412_naming_the_required_keys(fetching_server, sekmet) -> None:
    ctx = _context(sekmet, "red-flag")
    body = hook_request("leg-weakness", ctx["patientId"], ctx["encounterId"], sekmet.base, "not-the-token")
    r = call(fetching_server.url, "leg-weakness", body)
    assert r.status_code == 412, r.text
    missing = {m["key"]: m["reason"] for m in r.json()["missing"]}
    assert set(missing) == {"patient", "encounter"}
    assert all("HTTP 401" in reason for reason in missing.values()), missing
    assert "not-the-token" not in r.text


def test_unknown_patient_is_412(fetching_server, sekmet) -> None:
    body = hook_request("leg-weakness", "no-such-patient", "no-such-encounter", sekmet.base, sekmet.token)
    r = call(fetching_server.url, "leg-weakness", body)
    assert r.status_code == 412, r.text
    missing = {m["key"]: m["reason"] for m in r.json()["missing"]}
    assert set(missing) == {"patient", "encounter"}
    assert "404" in missing["patient"]


def test_the_token_never_reaches_our_log(fetching_server, sekmet) -> None:
    _answer(fetching_server.url, "leg-weakness", sekmet, "plain", None)
    text = fetching_server.log_text()
    assert log_events(text, "hook-call"), "the service logs each hook call"
    assert sekmet.token not in text


def _ids(value: Any) -> list[str]:
    if value is None:
        return []
    if value["resourceType"] != "Bundle":
        return [f"{value['resourceType']}/{value['id']}"]
    return sorted(f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in value.get("entry", []))


@pytest.mark.parametrize("name", SYNTHEA_FILES)
def test_fetcher_returns_what_the_ehr_would_prefetch(fetching_server, sekmet, name) -> None:
    """The fetcher itself, against SEKMET: same resources as the EHR's prefetch, pages merged."""
    from cds_service.budget import Deadline
    from cds_service.fhir.fetch import HttpxFetcher
    from cds_service.fhir.prefetch import fill_template

    tmpl = templates(fetching_server.url, "leg-weakness")
    ctx = _context(sekmet, name)
    tmpl["reportsPaged"] = "DiagnosticReport?patient={{context.patientId}}&_count=1"
    queries = {k: fill_template(t, ctx) for k, t in tmpl.items()}
    fetcher = HttpxFetcher()
    try:
        got = fetcher.fetch(queries, sekmet.base, sekmet.token, Deadline(budget_ms=10_000))
    finally:
        fetcher.close()
    expected = full_prefetch(sekmet.base, sekmet.token, tmpl, ctx)
    assert {k: r.error for k, r in got.items() if not r.ok} == {}
    assert {k: _ids(r.value) for k, r in got.items()} == {k: _ids(v) for k, v in expected.items()}
    # one resource per page: the pages were followed and merged
    assert _ids(got["reportsPaged"].value) == _ids(got["diagnosticReports"].value)
    if name == SYNTHEA_FILES[0]:
        assert len(_ids(got["reportsPaged"].value)) == 4
    assert sum(len(_ids(r.value)) for r in got.values()) > 5, "the Synthea patient has data"


@pytest.mark.parametrize("name", ["note", "note-url"])
@pytest.mark.parametrize("prefetched", [False, True])
def test_a_red_flag_only_in_a_clinical_note_is_found(fetching_server, sekmet, name, prefetched) -> None:
    """The encounter says only 'review'; the triage note (inline, or a Binary on the FHIR server
    that the DocumentReference points to) says retention and saddle numbness."""
    full = _full(fetching_server.url, "leg-weakness", sekmet, name) if prefetched else None
    cards = _answer(fetching_server.url, "leg-weakness", sekmet, name, full)
    topics = [c["source"]["topic"]["code"] for c in cards]
    assert topics[0] == "red-flag-cauda-equina", topics
    assert "Clinical note (ED triage note)" in cards[0]["detail"]
