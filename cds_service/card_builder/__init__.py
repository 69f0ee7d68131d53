"""Findings + a service's card templates -> CDS Hooks cards a clinician can act on.

The only package that knows both the clinical findings and the card format. Every word
and every code comes from the service's ``cards/`` data (each entry names its guideline
source); this package chooses, orders and assembles:

* one card per red-flag topic, critical before warning before info;
* the anchor cards (for leg weakness: the workup and the differential) when the anchor
  complaint is present;
* no card at all when there is nothing to say (``Findings.has_anything`` is False).

Orders are proposed as draft ``ServiceRequest`` resources (CDS Hooks 2.0 ``create``
actions); which card proposes which order is planned before any card is rendered
(``plan.py``), and a test already ordered or resulted within its window is not proposed.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..clinical.model import Findings
from ..clinical.orders import Order, find_done_orders
from ..fhir.record import PatientRecord
from ..protocol.context import HookContext
from . import differential, red_flag, workup
from .card import CardOptions, CardWriter
from .library import load_cards, load_cards_from
from .plan import plan_orders
from .templates import INDICATOR_RANK, AnchorTemplate, CardLibrary, WorkupTemplate


def build_cards(findings: Findings, record: PatientRecord, library: CardLibrary, options: CardOptions,
                context: HookContext) -> list[dict[str, Any]]:
    """The cards for these findings: red flags (critical, then warning), then the anchor cards.

    Returns an empty list when ``findings.has_anything`` is False: a service that has
    nothing to say sends no card (CDS Hooks 2.0: ``"cards": []`` means no guidance).
    """
    if not findings.has_anything:
        return []
    flags = red_flag.group_by_topic(findings.red_flags)
    anchors = library.anchor_cards if findings.anchor is not None else ()
    wanted: list[tuple[str, Sequence[Order]]] = [
        (group[0].topic, tuple(library.orders[o] for o in library.red_flags[group[0].topic].orders))
        for group in flags]
    wanted += [(t.topic, workup.wanted_orders(t, library, findings) if isinstance(t, WorkupTemplate) else ())
               for t in anchors]
    done = find_done_orders(record, library.orders.values(), context.now.date())
    can_order = bool(context.patient_id or record.patient_id)
    writer = CardWriter(findings, record, library, options, context, plan_orders(wanted, done, can_order))
    cards = [red_flag.render(writer, group, library.red_flags[group[0].topic]) for group in flags]
    cards += [_render_anchor(writer, template) for template in anchors]
    return sorted(cards, key=lambda c: INDICATOR_RANK[c["indicator"]])


def _render_anchor(writer: CardWriter, template: AnchorTemplate) -> dict[str, Any]:
    if isinstance(template, WorkupTemplate):
        return workup.render(writer, template)
    return differential.render(writer, template)


__all__ = ["CardLibrary", "CardOptions", "build_cards", "load_cards", "load_cards_from"]
