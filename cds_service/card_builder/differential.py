"""The differential card: causes ranked for this patient, each with the patient facts behind
it, then the other causes to consider, grouped (spinal, non-spinal)."""
from __future__ import annotations

from typing import Any

from .card import CardWriter
from ..clinical.model import Finding
from .markdown import escape, heading, numbered
from .red_flag import unique_findings
from .templates import DifferentialTemplate


def render(writer: CardWriter, template: DifferentialTemplate) -> dict[str, Any]:
    words = writer.library.words
    findings = writer.findings
    ranked = sorted(enumerate(findings.differential),
                    key=lambda p: (p[1].rank if p[1].rank > 0 else 1_000_000, p[0]))
    reasons = unique_findings(r for _, e in ranked for r in e.reasons)
    lines = [writer.why_line(reasons or unique_findings(findings.complaint)), "", heading(words("ranked"))]
    items = []
    for _, entry in ranked:
        cause = template.causes.get(entry.id)
        subs = []
        if entry.reasons:
            subs.append(f"{words('patient_facts')} " + "; ".join(_fact(r) for r in entry.reasons))
        if cause:
            subs.append(f"{cause.features} {words('key_test')} {cause.key_test} {writer.cite(cause.sources)}")
        label = cause.label if cause else entry.label
        items.append((f"**{escape(label)}** ({cause.group if cause else entry.group})", subs))
    lines += numbered(items)
    listed = {entry.id for _, entry in ranked}
    rest = [template.causes[c] for c in template.default_order if c not in listed]
    for group in template.groups:
        members = [c for c in rest if c.group == group]
        if members:
            lines += ["", heading(words("also_consider", group=group))]
            lines += [f"- **{c.label}**: {c.features} {words('key_test')} {c.key_test} {writer.cite(c.sources)}"
                      for c in members]
    lines += writer.closing(template.cited())
    return writer.card(template.topic, template.display, template.summary, template.indicator, lines,
                       template.sources, [], "any")


def _fact(finding: Finding) -> str:
    """``label (first two quotes)``: enough to see why a cause is ranked where it is."""
    if not finding.evidence:
        return escape(finding.label)
    return f"{escape(finding.label)} ({'; '.join(escape(e.quote()) for e in finding.evidence[:2])})"
