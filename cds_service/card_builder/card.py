"""The parts every card shares: the envelope (uuid, source, topic, override reasons, links),
the "why this card" line, citations and sources, and the already-done and code lines.

A ``CardWriter`` is made once per call from the findings, the record, the service's card
library, the site's options and the order plan; each card renderer asks it for these parts.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..clinical.model import Finding, Findings
from ..clinical.orders import Code, Order
from ..fhir.labels import system_label
from ..fhir.record import PatientRecord
from ..protocol.context import HookContext
from .markdown import bullets, escape, heading
from .plan import OrderPlan
from .templates import CardLibrary


@dataclass(frozen=True)
class CardOptions:
    """Site choices about card content (from Settings)."""

    guideline_links: bool = True
    handout_link: bool = True
    cpt_codes: bool = False  # send CPT (secondary source, AMA-licensed) codings in proposed orders


@dataclass(frozen=True)
class CardWriter:
    findings: Findings
    record: PatientRecord
    library: CardLibrary
    options: CardOptions
    context: HookContext
    plan: OrderPlan

    def card(self, topic: str, display: str, summary: str, indicator: str, lines: list[str],
             sources: Sequence[str], suggestions: list[dict[str, Any]], selection: str,
             handout: bool = False) -> dict[str, Any]:
        """The CDS Hooks card: detail from ``lines``, the first source as ``source``."""
        primary = self.library.sources[sources[0]]
        card: dict[str, Any] = {
            "uuid": self.context.new_id(),
            "summary": summary,
            "indicator": indicator,
            "detail": "\n".join(lines).strip() + "\n",
            "source": {"label": f"{self.library.source_label} ({primary.title})"[:200], "url": primary.url,
                       "topic": {"system": self.library.topic_system, "code": topic, "display": display}},
            "overrideReasons": [dict(r) for r in self.library.override_reasons],
        }
        if suggestions:
            card["suggestions"] = suggestions
            card["selectionBehavior"] = selection
        links = self.links(sources, handout)
        if links:
            card["links"] = links
        return card

    def links(self, sources: Sequence[str], handout: bool) -> list[dict[str, str]]:
        out: list[dict[str, str]] = []
        base = self.context.link_base_url.rstrip("/")
        if (handout and self.options.handout_link and self.library.handout_path
                and base.startswith(("http://", "https://"))):
            out.append({"label": self.library.words("handout_label"), "url": base + self.library.handout_path,
                        "type": "absolute"})
        if self.options.guideline_links:
            out += [{"label": f"Guideline: {self.library.sources[s].title}", "url": self.library.sources[s].url,
                     "type": "absolute"} for s in sources]
        return out

    def why_line(self, findings: Sequence[Finding]) -> str:
        quotes = [f"{escape(f.label)} ({escape(f.evidence[0].quote())})" if f.evidence else escape(f.label)
                  for f in findings[:3]]
        more = self.library.words("more", n=len(findings) - 3) if len(findings) > 3 else ""
        said = "; ".join(quotes) + more if quotes else self.library.words("no_evidence")
        return f"{heading(self.library.words('why_prefix'))} {said}"

    @staticmethod
    def facts(finding: Finding) -> str:
        """``label: quote; quote`` for one finding, every place it was seen."""
        if not finding.evidence:
            return escape(finding.label)
        return f"{escape(finding.label)}: " + "; ".join(escape(e.quote()) for e in finding.evidence)

    @staticmethod
    def cite(ids: Sequence[str]) -> str:
        return " ".join(f"[{s}]" for s in ids)

    def sources_line(self, ids: Sequence[str]) -> str:
        cited = "; ".join(f"[{s}] [{self.library.sources[s].title}]({self.library.sources[s].url})" for s in ids)
        return f"{heading(self.library.words('sources'))} {cited}"

    def closing(self, sources: Sequence[str]) -> list[str]:
        """The sources line and the caveat that end every card."""
        return ["", self.sources_line(sources), "", f"_{self.library.words('caveat')}_"]

    def order_lines(self, topic: str) -> list[str]:
        """What the record shows already done, then the codes of the orders this card proposes."""
        lines: list[str] = []
        done = self.plan.done.get(topic, ())
        if done:
            lines += ["", heading(self.library.words("already_done"))]
            lines += bullets(f"{o.text}: {escape(d.reference)}" + (f" ({d.when.isoformat()})" if d.when else "")
                             for o, d in done)
        proposed = self.plan.proposes(topic)
        if proposed:
            lines += ["", heading(self.library.words("codes"))]
            lines += bullets(f"{o.text}: {self.code_text(o)}" for o in proposed)
        return lines

    def code_text(self, order: Order) -> str:
        codes = ", ".join(f"{system_label(c.system)} {c.code}"
                          + (self.library.words("secondary_code") if c.status == "S" else "")
                          for c in self.sent_codes(order))
        return codes or self.library.words("text_only")

    def sent_codes(self, order: Order) -> list[Code]:
        """The codings a proposed order carries: never match-only codes; CPT only when enabled."""
        return [c for c in order.codes if not c.match_only and (self.options.cpt_codes or not c.is_cpt)]
