"""Red-flag rules fired and the differential ranked, from data (red-flags.yaml, differential.yaml).

A rule fires when any of its alternatives holds; an alternative holds when every group has
at least one usable finding and none of its ``unless`` concepts is usable; a rule's
``lowered_by`` finding (another cause of the same picture, or a course that argues against
it) lowers it to a checklist. Usable: history concepts whenever present (a past cancer
counts, clinical-reference section 1 rule-engine notes); complaint and exposure concepts
only when current. No red flag fires unless a concept of the service's scope is current
(the complaint the service is about).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

from .knowledge import Knowledge
from .model import DifferentialEntry, Finding, RedFlag


def usable_findings(by_concept: Mapping[str, Finding], knowledge: Knowledge) -> dict[str, Finding]:
    """The findings a rule may use: history concepts always, complaints and exposures only when current."""
    out = {}
    for concept, finding in by_concept.items():
        known = knowledge.concepts.get(concept)
        if (known is not None and known.kind == "history") or not finding.historical:
            out[concept] = finding
    return out


def fire_red_flags(usable: Mapping[str, Finding], knowledge: Knowledge) -> tuple[RedFlag, ...]:
    """Every red flag whose criteria hold, in the order of red-flags.yaml."""
    if knowledge.red_flag_scope and not knowledge.red_flag_scope & set(usable):
        return ()
    fired = []
    for rule in knowledge.red_flags:
        triggers: dict[str, Finding] = {}
        confirmed = False
        for alternative in rule.when:
            groups = [[usable[c] for c in group if c in usable] for group in alternative.groups]
            if all(groups) and not any(c in usable for c in alternative.unless):
                confirmed = confirmed or not alternative.suspected
                for group in groups:
                    triggers.update((f.concept, f) for f in group)
        if not triggers:
            continue
        lowering = {c: usable[c] for c in rule.lowered_by if c in usable}
        if lowering:  # another finding explains the picture or argues against it: ask, do not alarm
            confirmed = False
        possible = not confirmed or all(f.possible for f in triggers.values())
        indicator = rule.indicator if confirmed or rule.indicator != "critical" else "warning"
        supporting = {c: usable[c] for c in (*rule.supporting, *lowering) if c in usable and c not in triggers}
        fired.append(RedFlag(id=rule.id, topic=rule.topic, indicator=indicator,
                             triggers=tuple(triggers.values()) + tuple(supporting.values()),
                             possible=possible, rule_source=rule.sources))
    return tuple(fired)


def rank_differential(usable: Mapping[str, Finding], knowledge: Knowledge,
                      fired: Sequence[RedFlag] = ()) -> tuple[DifferentialEntry, ...]:
    """The causes this patient's facts support, ranked (1 = consider first).

    A cause behind a fired red flag comes first, in red-flag order (the emergency is the
    first thing to exclude); the others follow by score: each supporting finding present
    moves a cause up by the configured weight. A cause no fact supports is not listed, and
    a cause whose ``excluded_by`` concept is present is never named (the card lists the
    rest of the default order in one line).
    """
    flag_order = {flag.id: i for i, flag in enumerate(fired)}
    scored = []
    for order, entry in enumerate(knowledge.differential):
        if any(c in usable for c in entry.excluded_by):
            continue
        behind = [f for f in entry.red_flags if f in flag_order]
        reasons = tuple(usable[c] for c in entry.supported_by if c in usable)
        if reasons:
            reasons += tuple(usable[c] for c in entry.strengthened_by if c in usable)
        if not (reasons or behind):
            continue
        first = min(flag_order[f] for f in behind) if behind else len(flag_order)
        score = entry.base_rank - knowledge.differential_weight * len(reasons)
        scored.append(((first, score, order), entry, reasons, behind[0] if behind else None))
    scored.sort(key=lambda item: item[0])
    return tuple(DifferentialEntry(id=entry.id, label=entry.label, group=entry.group, reasons=reasons, rank=i,
                                   red_flag=flag)
                 for i, (_, entry, reasons, flag) in enumerate(scored, start=1))


def excluded_causes(usable: Mapping[str, Finding], knowledge: Knowledge) -> tuple[str, ...]:
    """Differential causes this patient's facts make not worth naming (``excluded_by``)."""
    return tuple(e.id for e in knowledge.differential if any(c in usable for c in e.excluded_by))
