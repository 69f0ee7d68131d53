"""The workup card: targeted history, examination, imaging advice, and the tests to consider
with when each is indicated. When a red-flag card is shown too, it says first that the
red-flag action comes first (naming it), and gives no "no early imaging" advice."""
from __future__ import annotations

from typing import Any

from ..clinical.model import Findings
from ..clinical.orders import Order
from .card import CardWriter
from .markdown import bullets, heading
from .red_flag import unique_findings
from .suggestions import suggestions
from .templates import CardLibrary, WorkupTemplate


def wanted_orders(template: WorkupTemplate, library: CardLibrary, findings: Findings) -> tuple[Order, ...]:
    """The tests this card would propose: each listed test, unless it is meant only for causes
    not on this patient's differential (an ABI without arterial disease on the list)."""
    causes = {d.id for d in findings.differential}
    return tuple(library.orders[t.order] for t in template.tests
                 if not t.only_if_differential or causes & set(t.only_if_differential))


def render(writer: CardWriter, template: WorkupTemplate) -> dict[str, Any]:
    words = writer.library.words
    complaint = unique_findings(writer.findings.complaint)
    flagged = tuple(dict.fromkeys(writer.library.red_flags[f.topic].danger for f in writer.findings.red_flags))
    lines = [heading(words("red_flag_first", dangers=", ".join(flagged))), ""] if flagged else []
    imaging = template.imaging_red_flag_text if flagged else template.imaging_text
    lines += [writer.why_line(complaint), "",
              f"{heading(words('history'))} {template.history} {writer.cite(template.history_sources)}", "",
              f"{heading(words('examination'))} {template.exam} {writer.cite(template.exam_sources)}", "",
              f"{heading(words('imaging'))} {imaging} {writer.cite(template.imaging_sources)}", "",
              heading(words("tests"))]
    lines += bullets(f"{writer.library.orders[t.order].text}: {t.when} {writer.cite(t.sources)}"
                     for t in template.tests)
    elsewhere = writer.plan.elsewhere.get(template.topic, ())
    if elsewhere:
        lines += ["", f"{heading(words('proposed_elsewhere'))} {'; '.join(o.text for o in elsewhere)}"]
    lines += writer.order_lines(template.topic) + writer.closing(template.cited())
    return writer.card(template.topic, template.display, template.summary_red_flag if flagged else template.summary,
                       template.indicator, lines,
                       template.sources,
                       suggestions(writer, writer.plan.proposes(template.topic), "routine", complaint,
                                   template.reason),
                       "any", handout=True)
