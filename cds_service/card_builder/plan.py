"""Which card proposes which order, decided once before any card is rendered.

Several cards may want the same test (cauda equina and cord compression both want an
MRI of the whole spine; the workup lists tests a red-flag card already orders). Each
test is proposed by the first card that wants it, in the order the cards are built
(red flags first), and by no other; a test already ordered or resulted is proposed by
none. Every card then lists exactly what it proposes, says which tests another card
proposes, and which are already done: no card lists a code it does not suggest.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..clinical.orders import DoneOrder, Order


@dataclass(frozen=True)
class OrderPlan:
    """For each card topic: the orders it proposes, those another card proposes, those done."""

    proposed: Mapping[str, tuple[Order, ...]]
    elsewhere: Mapping[str, tuple[Order, ...]]
    done: Mapping[str, tuple[tuple[Order, DoneOrder], ...]]

    def proposes(self, topic: str) -> tuple[Order, ...]:
        return self.proposed.get(topic, ())


def plan_orders(wanted: Sequence[tuple[str, Sequence[Order]]], done: Mapping[str, DoneOrder],
                propose: bool = True) -> OrderPlan:
    """Assign every wanted order to one card.

    Args:
        wanted: (card topic, the orders it would propose) in card-building order.
        done: order id -> where the record shows it already ordered or resulted.
        propose: False when no order can be drafted (no patient to order for): every card
            then still says what is done, but proposes and lists nothing.
    """
    owner: dict[str, str] = {}
    proposed: dict[str, tuple[Order, ...]] = {}
    elsewhere: dict[str, tuple[Order, ...]] = {}
    already: dict[str, tuple[tuple[Order, DoneOrder], ...]] = {}
    for topic, orders in wanted:
        mine: list[Order] = []
        others: list[Order] = []
        for order in orders:
            if order.id in done or not propose:
                continue
            holder = owner.setdefault(order.id, topic)
            (mine if holder == topic else others).append(order)
        proposed[topic] = tuple(mine)
        elsewhere[topic] = tuple(others)
        already[topic] = tuple((o, done[o.id]) for o in orders if o.id in done)
    return OrderPlan(proposed=proposed, elsewhere=elsewhere, done=already)
