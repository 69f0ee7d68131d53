"""The differential card: the causes this patient's facts support, ranked, with the cause
behind a fired red flag first and the facts behind each; then the other causes named in
one short line, grouped (spinal, non-spinal). A cause the record makes not worth naming
(an isolated foot drop for a two-leg complaint) is left out altogether."""
from __future__ import annotations

from typing import Any

from ..clinical.model import DifferentialEntry, Finding
from .card import CardWriter
from .markdown import escape, heading, numbered
from .red_flag import unique_findings
from .templates import DifferentialTemplate


def render(writer: CardWriter, template: DifferentialTemplate) -> dict[str, Any]:
    words = writer.library.words
    findings = writer.findings
    ranked = sorted(findings.differential, key=lambda e: e.rank)
    reasons = unique_findings(r for e in ranked for r in e.reasons)
    lines = [writer.why_line(reasons or unique_findings(findings.complaint)), "", heading(words("ranked"))]
    lines += numbered(_item(writer, template, e) for e in ranked) if ranked else [words("none_supported")]
    named = {e.id for e in ranked} | set(findings.excluded_causes)
    rest = [template.causes[c] for c in template.default_order if c not in named]
    groups = [f"{g}: " + ", ".join(escape(c.label) for c in rest if c.group == g) for g in template.groups
              if any(c.group == g for c in rest)]
    if groups:
        lines += ["", f"{heading(words('also_consider'))} " + "; ".join(groups) + "."]
    lines += writer.closing(template.cited())
    return writer.card(template.topic, template.display, template.summary, template.indicator, lines,
                       template.sources, [], "any")


def _item(writer: CardWriter, template: DifferentialTemplate, entry: DifferentialEntry) -> tuple[str, list[str]]:
    words = writer.library.words
    cause = template.causes.get(entry.id)
    subs = [words("behind_red_flag")] if entry.red_flag else []
    if entry.reasons:
        subs.append(f"{words('patient_facts')} " + "; ".join(_fact(r) for r in entry.reasons))
    if cause:
        subs.append(f"{cause.features} {words('key_test')} {cause.key_test} {writer.cite(cause.sources)}")
    label = cause.label if cause else entry.label
    return f"**{escape(label)}** ({cause.group if cause else entry.group})", subs


def _fact(finding: Finding) -> str:
    """``label (first two quotes)``: enough to see why a cause is ranked where it is."""
    if not finding.evidence:
        return escape(finding.label)
    return f"{escape(finding.label)} ({'; '.join(escape(e.quote()) for e in finding.evidence[:2])})"
