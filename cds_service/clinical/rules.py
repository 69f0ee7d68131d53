"""Red-flag rules fired and the differential ranked, from data (red-flags.yaml, differential.yaml).

A rule fires when any of its alternatives holds; an alternative holds when every group has
at least one usable finding. Usable: complaint concepts only when current, history concepts
whenever present (clinical-reference section 1, rule-engine notes).
"""
from __future__ import annotations

from collections.abc import Mapping

from .knowledge import Knowledge
from .model import DifferentialEntry, Finding, RedFlag


def usable_findings(by_concept: Mapping[str, Finding], knowledge: Knowledge) -> dict[str, Finding]:
    """The findings a rule may use: history concepts always, the rest only when current."""
    out = {}
    for concept, finding in by_concept.items():
        known = knowledge.concepts.get(concept)
        if (known is not None and known.kind == "history") or not finding.historical:
            out[concept] = finding
    return out


def fire_red_flags(usable: Mapping[str, Finding], knowledge: Knowledge) -> tuple[RedFlag, ...]:
    """Every red flag whose criteria hold, in the order of red-flags.yaml."""
    fired = []
    for rule in knowledge.red_flags:
        triggers: dict[str, Finding] = {}
        for alternative in rule.when:
            groups = [[usable[c] for c in group if c in usable] for group in alternative]
            if all(groups):
                for group in groups:
                    triggers.update((f.concept, f) for f in group)
        if not triggers:
            continue
        possible = all(f.possible for f in triggers.values())
        supporting = {c: usable[c] for c in rule.supporting if c in usable and c not in triggers}
        fired.append(RedFlag(id=rule.id, topic=rule.topic, indicator=rule.indicator,
                             triggers=tuple(triggers.values()) + tuple(supporting.values()),
                             possible=possible, rule_source=rule.sources))
    return tuple(fired)


def rank_differential(usable: Mapping[str, Finding], knowledge: Knowledge) -> tuple[DifferentialEntry, ...]:
    """Every differential entry, ranked for this patient (1 = most likely): each present
    supporting finding moves an entry up by the configured weight."""
    scored = []
    for order, entry in enumerate(knowledge.differential):
        reasons = tuple(usable[c] for c in entry.supported_by if c in usable)
        scored.append((entry.base_rank - knowledge.differential_weight * len(reasons), order, entry, reasons))
    scored.sort(key=lambda item: (item[0], item[1]))
    return tuple(DifferentialEntry(id=entry.id, label=entry.label, group=entry.group, reasons=reasons, rank=i)
                 for i, (_, _, entry, reasons) in enumerate(scored, start=1))
