"""A FHIR server that hangs, fails, answers HTML, pages forever or drops the connection.

All against a real HTTP server on loopback that we control, called through a real
``cds-service serve`` with the default 1.5 s budget.
"""
from __future__ import annotations

import time
from typing import Any

import pytest

from tests.fetch.conftest import FAULT_BUDGET_MS, OPTIONAL_KEYS, RED_FLAG_TEXT, FaultServer, vignette_bundle
from tests.fetch.hookcalls import call, hook_request, log_events

TOKEN = "fault-test-token"
MARGIN_S = 1.0  # behaviour, not a benchmark: answered within the budget plus a generous margin
PID, EID = "p1", "e1"


def _at_hand(reason: str = RED_FLAG_TEXT) -> dict[str, Any]:
    """Patient and encounter as the EHR would prefetch them; the other keys are left to fetch."""
    resources = [e["resource"] for e in vignette_bundle(PID, EID, reason)["entry"]]
    return {"patient": resources[0], "encounter": resources[1]}


def _timed_call(server_url: str, body: dict[str, Any]) -> tuple[Any, float]:
    start = time.monotonic()
    r = call(server_url, "leg-weakness", body)
    return r, time.monotonic() - start


def _hook_call_log(server, body: dict[str, Any]) -> dict[str, Any]:
    rows = [r for r in log_events(server.log_text(), "hook-call") if r.get("hookInstance") == body["hookInstance"]]
    assert rows, "the call is logged"
    return rows[-1]


def test_hanging_server_without_prefetch_answers_empty_cards_in_time(tight_server, fault_server) -> None:
    """Required data missing only because the budget ran out: 200 with no cards, not the client's fault."""
    body = hook_request("leg-weakness", PID, EID, fault_server.base("hang"), TOKEN)
    r, took = _timed_call(tight_server.url, body)
    assert r.status_code == 200, r.text
    assert r.json() == {"cards": []}
    assert took < FAULT_BUDGET_MS / 1000 + MARGIN_S
    time.sleep(0.2)  # the log line is written after the response
    row = _hook_call_log(tight_server, body)
    assert row["outcome"] == "overrun" and row["slowestStage"] == "fetch"
    unavailable = [r for r in log_events(tight_server.log_text(), "prefetch-unavailable")
                   if r.get("hookInstance") == body["hookInstance"]]
    assert unavailable and "timed out" in unavailable[-1]["keys"]["patient"]


def test_trickling_server_is_cut_at_the_budget(tight_server, fault_server) -> None:
    body = hook_request("leg-weakness", PID, EID, fault_server.base("trickle"), TOKEN)
    r, took = _timed_call(tight_server.url, body)
    assert r.status_code == 200, r.text
    assert r.json() == {"cards": []}
    assert took < FAULT_BUDGET_MS / 1000 + MARGIN_S


def test_hanging_server_with_data_at_hand_keeps_only_red_flag_cards(tight_server, fault_server) -> None:
    body = hook_request("leg-weakness", PID, EID, fault_server.base("hang"), TOKEN, _at_hand())
    r, took = _timed_call(tight_server.url, body)
    assert r.status_code == 200, r.text
    assert took < FAULT_BUDGET_MS / 1000 + MARGIN_S
    topics = [c["source"]["topic"]["code"] for c in r.json()["cards"]]
    assert all(t.startswith("red-flag-") for t in topics), topics
    time.sleep(0.2)
    assert _hook_call_log(tight_server, body)["outcome"] == "overrun"


def test_hanging_server_red_flag_from_prefetch_still_goes_out(tight_server, fault_server) -> None:
    body = hook_request("leg-weakness", PID, EID, fault_server.base("hang"), TOKEN, _at_hand())
    r, _ = _timed_call(tight_server.url, body)
    topics = [c["source"]["topic"]["code"] for c in r.json()["cards"]]
    assert topics, "the red flag in the encounter reason is detected"
    assert any(t.startswith("red-flag-") for t in topics)


@pytest.mark.parametrize("mode, why", [("status500", "HTTP 500"), ("status401", "HTTP 401"),
                                       ("html", "text/html"), ("close", "cannot reach"),
                                       ("wrongid", "different")])
def test_failing_server_without_prefetch_is_412_naming_keys(tight_server, fault_server, mode, why) -> None:
    body = hook_request("leg-weakness", PID, EID, fault_server.base(mode), TOKEN)
    r, took = _timed_call(tight_server.url, body)
    assert r.status_code == 412, r.text
    missing = {m["key"]: m["reason"] for m in r.json()["missing"]}
    assert set(missing) == {"patient", "encounter"}
    assert all(why in reason for reason in missing.values()), missing
    assert took < FAULT_BUDGET_MS / 1000 + MARGIN_S
    assert TOKEN not in r.text


@pytest.mark.parametrize("mode", ["status500", "status401", "html", "close"])
def test_failing_server_for_optional_data_decides_with_what_is_there(tight_server, fault_server, mode) -> None:
    body = hook_request("leg-weakness", PID, EID, fault_server.base(mode), TOKEN, _at_hand())
    r, _ = _timed_call(tight_server.url, body)
    assert r.status_code == 200, r.text
    time.sleep(0.2)
    rows = [row for row in log_events(tight_server.log_text(), "prefetch-unavailable")
            if row.get("hookInstance") == body["hookInstance"]]
    assert rows and "conditions" in rows[-1]["keys"]
    assert _hook_call_log(tight_server, body)["outcome"] == "ok"


def test_paging_forever_stops_at_the_page_cap(tight_server, fault_server: FaultServer) -> None:
    before = len(fault_server.paths_for("paging"))
    body = hook_request("leg-weakness", PID, EID, fault_server.base("paging"), TOKEN)
    r, _ = _timed_call(tight_server.url, body)
    assert r.status_code == 200, r.text
    paths = [p for p, _ in fault_server.paths_for("paging")[before:]]
    conditions = [p for p in paths if "/fhir/Condition" in p]
    assert len(conditions) == 3  # CDS_FETCH_MAX_PAGES=3
    assert all(auth == f"Bearer {TOKEN}" for _, auth in fault_server.paths_for("paging")[before:])


def test_next_link_to_another_origin_is_not_followed(tight_server, fault_server: FaultServer) -> None:
    before = len(fault_server.paths_for("elsewhere"))
    body = hook_request("leg-weakness", PID, EID, fault_server.base("elsewhere"), TOKEN)
    r, _ = _timed_call(tight_server.url, body)
    assert r.status_code == 200, r.text
    paths = [p for p, _ in fault_server.paths_for("elsewhere")[before:]]
    assert len([p for p in paths if "/fhir/Condition" in p]) == 1


def test_a_next_link_that_is_not_a_url_ends_paging(tight_server, fault_server: FaultServer) -> None:
    body = hook_request("leg-weakness", PID, EID, fault_server.base("badnext"), TOKEN)
    r, _ = _timed_call(tight_server.url, body)
    assert r.status_code == 200, r.text
    assert len([p for p, _ in fault_server.paths_for("badnext") if "/fhir/Condition" in p]) == 1


def test_null_prefetch_is_not_refetched(tight_server, fault_server: FaultServer) -> None:
    before = len(fault_server.paths_for("hang"))
    body = hook_request("leg-weakness", PID, EID, fault_server.base("hang"), TOKEN,
                        _at_hand("right leg feels weak") | dict.fromkeys(OPTIONAL_KEYS))
    r, _ = _timed_call(tight_server.url, body)
    assert r.status_code == 200, r.text
    assert fault_server.paths_for("hang")[before:] == []


def test_missing_required_data_without_fhir_server_is_412(tight_server) -> None:
    body = hook_request("leg-weakness", PID, EID, None)
    r = call(tight_server.url, "leg-weakness", body)
    assert r.status_code == 412, r.text
    missing = {m["key"]: m["reason"] for m in r.json()["missing"]}
    assert set(missing) == {"patient", "encounter"}
    assert "no fhirServer" in missing["patient"]


def test_plain_http_to_a_remote_server_is_never_contacted(tight_server) -> None:
    body = hook_request("leg-weakness", PID, EID, "http://fhir.example.org/r4", TOKEN)
    r, took = _timed_call(tight_server.url, body)
    assert r.status_code == 412, r.text
    assert all("not https" in m["reason"] for m in r.json()["missing"])
    assert took < FAULT_BUDGET_MS / 1000 + MARGIN_S


@pytest.mark.parametrize("server", ["https://[::1", "https://[::1]:99999/r4", "https://c\"u\u00d2\u0084+/"])
def test_an_unparseable_fhir_server_is_412_never_500(tight_server, server: str) -> None:
    """Found by schemathesis: urlsplit raises on an unclosed IPv6 literal; that is a bad URL, not a crash."""
    body = hook_request("leg-weakness", PID, EID, server, TOKEN)
    r = call(tight_server.url, "leg-weakness", body)
    assert r.status_code == 412, r.text
    assert {m["key"] for m in r.json()["missing"]} == {"patient", "encounter"}
