"""The red-flag card: what fired and why, the action, the time target, the orders to place.

One card per topic; several fired rules sharing a topic are merged. When every trigger
was only suspected ("r/o cauda equina"), the card reads as a checklist to confirm.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ..clinical.model import Finding, RedFlag
from .card import CardWriter
from .markdown import bullets, heading, numbered
from .suggestions import suggestions
from .templates import INDICATOR_RANK, RedFlagTemplate


def render(writer: CardWriter, flags: Sequence[RedFlag], template: RedFlagTemplate) -> dict[str, Any]:
    """The card for ``flags`` (all of ``template.topic``)."""
    words = writer.library.words
    triggers = unique_findings(t for f in flags for t in f.triggers)
    possible = all(f.possible for f in flags)
    indicator: str = min((f.indicator for f in flags), key=lambda i: INDICATOR_RANK.get(i, len(INDICATOR_RANK)))
    if indicator not in INDICATOR_RANK:
        indicator = template.indicator
    reason_text = f"{words('suspected' if possible else 'possible')} {template.danger}"
    proposed = writer.plan.proposes(template.topic)
    lines = [f"{heading(reason_text + '.')} " + words("confirm_first" if possible else "act_now"), "",
             writer.why_line(triggers), "", heading(words("triggering"))]
    lines += bullets(writer.facts(t) for t in triggers)
    if possible and template.checklist:
        lines += ["", heading(words("checklist"))] + bullets(template.checklist, checkbox=True)
    lines += ["", heading(words("action"))] + numbered((a, ()) for a in template.actions)
    lines += ["", f"{heading(words('time_target'))} {template.time_target} {writer.cite(template.sources)}"]
    lines += writer.order_lines(template.topic) + writer.closing(template.sources)
    return writer.card(template.topic, template.display,
                       template.summary_possible if possible else template.summary, indicator, lines,
                       template.sources,
                       suggestions(writer, proposed, template.priority, triggers, reason_text,
                                   template.recommended, template.selection),
                       template.selection)


def group_by_topic(flags: Iterable[RedFlag]) -> list[list[RedFlag]]:
    """One card per topic: red flags sharing a topic are merged into one card (rule order kept)."""
    groups: dict[str, list[RedFlag]] = {}
    for flag in flags:
        groups.setdefault(flag.topic, []).append(flag)
    return list(groups.values())


def unique_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Each concept once, first occurrence kept."""
    seen: dict[str, Finding] = {}
    for finding in findings:
        seen.setdefault(finding.concept, finding)
    return list(seen.values())
