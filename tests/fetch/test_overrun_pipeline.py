"""The pipeline's overrun rule, independent of the clinical layer: on overrun only the
service's urgent cards go out. The service here is a stand-in (the real leg-weakness
discovery entries, a handler that returns one card of each kind); the fetcher and the
hanging FHIR server are real."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cds_service.budget import Deadline
from cds_service.card_builder import CardOptions
from cds_service.fhir.fetch import FetchLimits, HttpxFetcher
from cds_service.fhir.record import PatientRecord, ResourceFilter
from cds_service.protocol.context import HookContext
from cds_service.protocol.registry import ServiceDefinition
from cds_service.services import leg_weakness
from cds_service.services.call import CallOptions, run_hook_call
from cds_service.services.service import Handout
from tests.fetch.conftest import FaultServer
from tests.fetch.hookcalls import hook_request
from tests.fetch.test_fetch_faults import EID, PID, TOKEN, _at_hand


def _card(topic: str) -> dict[str, Any]:
    return {"uuid": f"00000000-0000-4000-8000-{abs(hash(topic)) % 10**12:012d}", "summary": topic,
            "indicator": "critical" if topic.startswith("red-flag-") else "info",
            "source": {"label": "test", "topic": {"system": "urn:test:topics", "code": topic, "display": topic}}}


@dataclass(frozen=True)
class StandIn:
    """A CdsService whose answer does not depend on the data."""

    definitions: tuple[ServiceDefinition, ...]
    urgent_topics: frozenset[str] = frozenset({"red-flag-cauda-equina"})

    def record_filters(self) -> Mapping[str, ResourceFilter]:
        return {}

    def handle(self, record: PatientRecord, context: HookContext) -> list[dict[str, Any]]:
        return [_card("red-flag-cauda-equina"), _card("workup"), _card("differential")]

    def handouts(self) -> tuple[Handout, ...]:
        return ()


def _run(fhir_server: str, budget_ms: float, prefetch: dict[str, Any] | None):  # type: ignore[no-untyped-def]
    service = StandIn(leg_weakness.create(CardOptions()).definitions)
    definition = next(d for d in service.definitions if d.id == "leg-weakness")
    fetcher = HttpxFetcher(FetchLimits(reserve_ms=100))
    try:
        return run_hook_call(definition, service, hook_request("leg-weakness", PID, EID, fhir_server, TOKEN, prefetch),
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
