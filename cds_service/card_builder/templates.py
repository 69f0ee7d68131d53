"""The card templates of one service (its ``cards/`` folder), as typed values.

A red-flag template is keyed by the card topic its knowledge-base rule names; anchor
templates (the workup and the differential) go out whenever the service's anchor
complaint is present, in file order. Every word a clinician reads is here, in data.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ..clinical.knowledge import Source
from ..clinical.orders import Order

INDICATOR_RANK = {"critical": 0, "warning": 1, "info": 2}


@dataclass(frozen=True)
class RedFlagTemplate:
    """The content of one red-flag card (``cards/red-flags.yaml``)."""

    topic: str
    display: str
    indicator: str
    danger: str
    summary: str
    summary_possible: str
    actions: tuple[str, ...]
    checklist: tuple[str, ...]
    time_target: str
    sources: tuple[str, ...]
    orders: tuple[str, ...]
    selection: str
    priority: str
    recommended: str | None = None


@dataclass(frozen=True)
class WorkupTest:
    order: str
    when: str
    sources: tuple[str, ...]
    only_if_differential: tuple[str, ...] = ()


@dataclass(frozen=True)
class WorkupTemplate:
    """An anchor card: the targeted history, examination, imaging advice and tests."""

    topic: str
    display: str
    indicator: str
    summary: str
    summary_red_flag: str
    reason: str
    sources: tuple[str, ...]
    history: str
    history_sources: tuple[str, ...]
    exam: str
    exam_sources: tuple[str, ...]
    imaging_text: str
    imaging_red_flag_text: str
    imaging_sources: tuple[str, ...]
    tests: tuple[WorkupTest, ...]

    def cited(self) -> tuple[str, ...]:
        """Every source the card cites, in order, once."""
        ids = (self.sources + self.history_sources + self.exam_sources + self.imaging_sources
               + tuple(s for t in self.tests for s in t.sources))
        return tuple(dict.fromkeys(ids))


@dataclass(frozen=True)
class Cause:
    id: str
    label: str
    group: str
    features: str
    key_test: str
    sources: tuple[str, ...]


@dataclass(frozen=True)
class DifferentialTemplate:
    """An anchor card: the causes to consider, ranked for this patient."""

    topic: str
    display: str
    indicator: str
    summary: str
    sources: tuple[str, ...]
    groups: tuple[str, ...]
    default_order: tuple[str, ...]
    causes: Mapping[str, Cause]

    def cited(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.sources + tuple(s for c in self.causes.values() for s in c.sources)))


AnchorTemplate = WorkupTemplate | DifferentialTemplate


@dataclass(frozen=True)
class CardLibrary:
    """Every card's content for one service, loaded and checked once at start-up."""

    topic_system: str
    source_label: str
    text: Mapping[str, str]
    override_reasons: tuple[Mapping[str, str], ...]
    sources: Mapping[str, Source]
    orders: Mapping[str, Order]
    red_flags: Mapping[str, RedFlagTemplate]
    anchor_cards: tuple[AnchorTemplate, ...]
    handout_path: str = ""
    handout: Mapping[str, object] = field(default_factory=dict)

    @property
    def topics(self) -> tuple[str, ...]:
        """Every card topic this library can produce."""
        return tuple(self.red_flags) + tuple(t.topic for t in self.anchor_cards)

    def words(self, key: str, **values: object) -> str:
        """A piece of card wording from ``library.yaml`` ``text:``, with its fields filled."""
        return self.text[key].format(**values) if values else self.text[key]
