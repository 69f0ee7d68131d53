"""The pipeline's overrun rule, independent of the clinical layer: on overrun only
red-flag cards go out. The handler here is a stand-in that returns one card of each kind;
the fetcher and the hanging FHIR server are real."""
from __future__ import annotations

from typing import Any

from cds_service.budget import Deadline
from cds_service.fhir.fetch import FetchLimits, HttpxFetcher
from cds_service.services.call import CallOptions, run_hook_call
from cds_service.services.catalog import build_services
from cds_service.settings import Settings
from tests.fetch.conftest import FaultServer
from tests.fetch.hookcalls import hook_request
from tests.fetch.test_fetch_faults import EID, PID, TOKEN, _at_hand


def _card(topic: str) -> dict[str, Any]:
    return {"uuid": f"00000000-0000-4000-8000-{abs(hash(topic)) % 10**12:012d}", "summary": topic,
            "indicator": "critical" if topic.startswith("red-flag-") else "info",
            "source": {"label": "test", "topic": {"system": "urn:test:topics", "code": topic, "display": topic}}}


def _handler(record, call) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    return [_card("red-flag-cauda-equina"), _card("workup"), _card("differential")]


def _run(fhir_server: str, budget_ms: float, prefetch: dict[str, Any] | None):  # type: ignore[no-untyped-def]
    registry, services, _ = build_services(Settings(require_auth=False))
    definition = next(d for d in services["leg-weakness"].definitions() if d.id == "leg-weakness")
    fetcher = HttpxFetcher(FetchLimits(reserve_ms=100))
    try:
        return run_hook_call(definition, _handler, hook_request("leg-weakness", PID, EID, fhir_server, TOKEN, prefetch),
                             fetcher=fetcher, options=CallOptions(allow_http_fhir_server=True),
                             deadline=Deadline(budget_ms=budget_ms))
    finally:
        fetcher.close()


def test_overrun_keeps_only_red_flag_cards(fault_server: FaultServer) -> None:
    result = _run(fault_server.base("hang"), 400, _at_hand())
    assert result.outcome == "overrun"
    assert [c["source"]["topic"]["code"] for c in result.response["cards"]] == ["red-flag-cauda-equina"]
    assert "timed out" in result.unavailable["conditions"]


def test_no_overrun_keeps_every_card(fault_server: FaultServer) -> None:
    result = _run(fault_server.base("status500"), 5000, _at_hand())
    assert result.outcome == "ok"
    assert len(result.response["cards"]) == 3
    assert "HTTP 500" in result.unavailable["conditions"]


def test_required_data_lost_to_the_budget_gives_no_cards(fault_server: FaultServer) -> None:
    result = _run(fault_server.base("hang"), 400, None)
    assert result.outcome == "overrun"
    assert result.response == {"cards": []}
