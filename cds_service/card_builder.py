"""Findings + card content (``cards/``) -> CDS Hooks cards a clinician can act on.

This is the only module that knows both the clinical findings and the card format.
All wording and every code come from the YAML in ``cards/`` (each entry names its
guideline source); this module only chooses, orders and assembles them:

* one card per red flag (``red-flag-<id>``), critical before warning before info;
* ``leg-weakness-workup`` (history, exam, tests with when each is indicated) and
  ``leg-weakness-differential`` (causes ordered for this patient, with the facts behind each);
* no card at all when there is nothing to say (``Findings.has_anything`` is False).

Orders are proposed as draft ``ServiceRequest`` resources (CDS Hooks 2.0 ``create``
actions). A test already ordered or resulted within its look-back window (data, per
test) is not proposed again; the card says so instead.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from functools import cache
from typing import TYPE_CHECKING, Any

from . import resources
from .clinical.knowledge import Source, load_knowledge
from .clinical.model import Evidence, Finding, Findings, RedFlag
from .errors import ConfigurationError
from .fhir.record import PatientRecord

if TYPE_CHECKING:
    from .services.call import CallContext

_INDICATOR_RANK = {"critical": 0, "warning": 1, "info": 2}
_PRIORITIES = frozenset({"routine", "urgent", "asap", "stat"})
_CODE_STATUSES = frozenset({"V", "S"})
_SELECTIONS = frozenset({"any", "at-most-one"})
#: FHIR R4 ServiceRequest.reasonReference: Reference(Condition|Observation|DiagnosticReport|DocumentReference).
_REASON_REFERENCE_TYPES = frozenset({"Condition", "Observation", "DiagnosticReport", "DocumentReference"})
_SUMMARY_LIMIT = 140  # CDS Hooks 2.0 Card.summary: "<140-character summary"
_SYSTEM_LABELS = {"http://loinc.org": "LOINC", "http://snomed.info/sct": "SNOMED CT",
                  "http://www.ama-assn.org/go/cpt": "CPT"}
_CPT_SYSTEM = "http://www.ama-assn.org/go/cpt"


# --------------------------------------------------------------------------- the card library (data)

@dataclass(frozen=True)
class Code:
    """One coding of an orderable test, with its verification status and where it was verified."""

    system: str
    code: str
    display: str
    status: str  # V verified, S secondary
    code_source: str
    match_only: bool = False  # recognised as "already done" but never sent in an order

    @property
    def is_cpt(self) -> bool:
        return self.system == _CPT_SYSTEM

    def coding(self) -> dict[str, str]:
        return {"system": self.system, "code": self.code, "display": self.display}


@dataclass(frozen=True)
class Order:
    """An orderable test: its codes and how long a previous order or result counts as current."""

    id: str
    text: str
    category: str
    window_days: int
    codes: tuple[Code, ...] = ()

    def key_set(self) -> frozenset[tuple[str, str]]:
        return frozenset((c.system, c.code) for c in self.codes)


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
    topic: str
    display: str
    indicator: str
    summary: str
    sources: tuple[str, ...]
    history: str
    history_sources: tuple[str, ...]
    exam: str
    exam_sources: tuple[str, ...]
    imaging_text: str
    imaging_sources: tuple[str, ...]
    tests: tuple[WorkupTest, ...]


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
    topic: str
    display: str
    indicator: str
    summary: str
    sources: tuple[str, ...]
    default_order: tuple[str, ...]
    causes: Mapping[str, Cause]


@dataclass(frozen=True)
class CardLibrary:
    """Every card's content, loaded and checked once at start-up from ``cards/``."""

    topic_system: str = ""
    source_label: str = ""
    caveat: str = ""
    why_prefix: str = "Why this card:"
    handout_path: str = ""
    handout_label: str = ""
    red_flag_precedence: str = ""
    already_done_heading: str = ""
    override_reasons: tuple[Mapping[str, str], ...] = ()
    sources: Mapping[str, Source] = field(default_factory=dict)
    orders: Mapping[str, Order] = field(default_factory=dict)
    red_flags: Mapping[str, RedFlagTemplate] = field(default_factory=dict)
    workup: WorkupTemplate | None = None
    differential: DifferentialTemplate | None = None

    def all_codes(self) -> Iterator[Code]:
        for order in self.orders.values():
            yield from order.codes

    @property
    def topics(self) -> tuple[str, ...]:
        """Every card topic this library can produce."""
        fixed = tuple(t.topic for t in (self.workup, self.differential) if t is not None)
        return tuple(self.red_flags) + fixed


@dataclass(frozen=True)
class CardOptions:
    """Site choices about card content (from Settings)."""

    guideline_links: bool = True
    handout_link: bool = True
    cpt_codes: bool = False  # send CPT (secondary source, AMA-licensed) codings in proposed orders


@cache
def load_card_library() -> CardLibrary:
    """Load and check ``cards/*.yaml``; a bad file stops start-up, not a later request.

    Raises:
        ConfigurationError: a file is malformed or refers to an unknown source or order.
    """
    root = resources.service_root("leg_weakness") / "cards"
    base = _mapping(resources.load_data(root, "library.yaml"), "library.yaml")
    sources = load_sources()
    orders = {oid: _order(oid, o) for oid, o in
              _mapping(resources.load_data(root, "orders.yaml"), "orders.yaml")["orders"].items()}
    red_flags = {topic: _red_flag(topic, r) for topic, r in
                 _mapping(resources.load_data(root, "red-flags.yaml"), "red-flags.yaml")["red_flags"].items()}
    library = CardLibrary(
        topic_system=str(base["topic_system"]), source_label=str(base["source_label"]),
        caveat=str(base["caveat"]), why_prefix=str(base["why_prefix"]),
        handout_path=str(base["handout_path"]), handout_label=str(base["handout_label"]),
        red_flag_precedence=str(base["red_flag_precedence"]),
        already_done_heading=str(base["already_done_heading"]),
        override_reasons=tuple({"system": str(r["system"]), "code": str(r["code"]), "display": str(r["display"])}
                               for r in base["override_reasons"]),
        sources=sources, orders=orders, red_flags=red_flags,
        workup=_workup(_mapping(resources.load_data(root, "workup.yaml"), "workup.yaml")["workup"]),
        differential=_differential(
            _mapping(resources.load_data(root, "differential.yaml"), "differential.yaml")["differential"]),
    )
    _check_library(library)
    return library


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigurationError(f"cards/{where}: expected a mapping")
    return value


def load_sources() -> dict[str, Source]:
    """The guideline sources, from the clinical knowledge base: one registry for rules and cards."""
    return dict(load_knowledge().sources)


def _order(oid: str, raw: Mapping[str, Any]) -> Order:
    codes = tuple(Code(system=str(c["system"]), code=str(c["code"]), display=str(c["display"]),
                       status=str(c["status"]), code_source=str(c.get("code_source", "")),
                       match_only=bool(c.get("match_only", False))) for c in raw.get("codes") or ())
    return Order(id=oid, text=str(raw["text"]), category=str(raw["category"]),
                 window_days=int(raw["window_days"]), codes=codes)


def _red_flag(topic: str, raw: Mapping[str, Any]) -> RedFlagTemplate:
    return RedFlagTemplate(
        topic=topic, display=str(raw["display"]), indicator=str(raw["indicator"]), danger=str(raw["danger"]),
        summary=str(raw["summary"]), summary_possible=str(raw["summary_possible"]),
        actions=tuple(raw["actions"]), checklist=tuple(raw.get("checklist") or ()),
        time_target=str(raw["time_target"]), sources=tuple(raw["sources"]), orders=tuple(raw.get("orders") or ()),
        selection=str(raw.get("selection", "any")), priority=str(raw["priority"]), recommended=raw.get("recommended"))


def _workup(raw: Mapping[str, Any]) -> WorkupTemplate:
    tests = tuple(WorkupTest(order=str(t["order"]), when=str(t["when"]), sources=tuple(t["sources"]),
                             only_if_differential=tuple(t.get("only_if_differential") or ()))
                  for t in raw["tests"])
    return WorkupTemplate(
        topic=str(raw["topic"]), display=str(raw["display"]), indicator=str(raw["indicator"]),
        summary=str(raw["summary"]), sources=tuple(raw["sources"]),
        history=str(raw["history"]["text"]), history_sources=tuple(raw["history"]["sources"]),
        exam=str(raw["exam"]["text"]), exam_sources=tuple(raw["exam"]["sources"]),
        imaging_text=str(raw["imaging_text"]), imaging_sources=tuple(raw["imaging_sources"]), tests=tests)


def _differential(raw: Mapping[str, Any]) -> DifferentialTemplate:
    causes = {cid: Cause(id=cid, label=str(c["label"]), group=str(c["group"]), features=str(c["features"]),
                         key_test=str(c["key_test"]), sources=tuple(c["sources"]))
              for cid, c in raw["causes"].items()}
    return DifferentialTemplate(
        topic=str(raw["topic"]), display=str(raw["display"]), indicator=str(raw["indicator"]),
        summary=str(raw["summary"]), sources=tuple(raw["sources"]),
        default_order=tuple(raw["default_order"]), causes=causes)


def _check_library(library: CardLibrary) -> None:
    """Cross-check references, limits and vocabularies of the loaded data."""
    problems: list[str] = []
    cited: list[tuple[str, Iterable[str]]] = []
    for topic, red in library.red_flags.items():
        cited.append((topic, red.sources))
        problems += [f"{topic}: unknown order {o!r}" for o in red.orders if o not in library.orders]
        if red.recommended and red.recommended not in red.orders:
            problems.append(f"{topic}: recommended order {red.recommended!r} is not among its orders")
        problems += _check_card_fields(topic, red.indicator, (red.summary, red.summary_possible))
        if red.selection not in _SELECTIONS or red.priority not in _PRIORITIES:
            problems.append(f"{topic}: bad selection or priority")
    for template in (library.workup, library.differential):
        if template is None:
            problems.append("workup.yaml and differential.yaml are required")
            continue
        cited.append((template.topic, template.sources))
        problems += _check_card_fields(template.topic, template.indicator, (template.summary,))
    if library.workup is not None:
        cited += [(library.workup.topic, library.workup.history_sources + library.workup.exam_sources
                   + library.workup.imaging_sources)]
        for test in library.workup.tests:
            cited.append((f"workup test {test.order}", test.sources))
            if test.order not in library.orders:
                problems.append(f"workup: unknown order {test.order!r}")
    if library.differential is not None:
        cited += [(f"cause {c.id}", c.sources) for c in library.differential.causes.values()]
        problems += [f"differential: unknown cause {c!r}" for c in library.differential.default_order
                     if c not in library.differential.causes]
    for where, ids in cited:
        problems += [f"{where}: unknown source {s!r}" for s in ids if s not in library.sources]
    for order in library.orders.values():
        problems += [f"order {order.id}: code {c.code} has status {c.status!r} (V or S only) or no source"
                     for c in order.codes if c.status not in _CODE_STATUSES or not c.code_source]
    if problems:
        raise ConfigurationError("cards/ data: " + "; ".join(problems))


def _check_card_fields(topic: str, indicator: str, summaries: Iterable[str]) -> list[str]:
    out = [f"{topic}: summary is {len(s)} characters (limit {_SUMMARY_LIMIT - 1})"
           for s in summaries if len(s) >= _SUMMARY_LIMIT]
    if indicator not in _INDICATOR_RANK:
        out.append(f"{topic}: unknown indicator {indicator!r}")
    return out


# --------------------------------------------------------------------------- what is already done

@dataclass(frozen=True)
class DoneOrder:
    """A previous order or result that makes a test current: where and when."""

    reference: str
    when: date | None


_INACTIVE = frozenset({"revoked", "entered-in-error", "cancelled", "not-done"})
_PENDING = frozenset({"draft", "active", "on-hold"})


def find_done_orders(record: PatientRecord, orders: Mapping[str, Order], now: datetime) -> dict[str, DoneOrder]:
    """Tests ordered or resulted within their window, matched by code (order id -> where it was seen)."""
    by_code: dict[tuple[str, str], list[Order]] = {}
    for order in orders.values():
        for key in order.key_set():
            by_code.setdefault(key, []).append(order)
    today = now.date()
    done: dict[str, DoneOrder] = {}
    for reference, status, codings, when in _previous_orders(record):
        if status in _INACTIVE:
            continue
        for key in codings:
            for order in by_code.get(key, ()):
                if order.id in done or not _is_current(when, status, order.window_days, today):
                    continue
                done[order.id] = DoneOrder(reference=reference, when=when)
    return done


def _is_current(when: date | None, status: str, window_days: int, today: date) -> bool:
    if when is None:
        return status in _PENDING  # an undated open order still stands; an undated result does not
    return when >= today - timedelta(days=window_days)


def _previous_orders(record: PatientRecord) -> Iterator[tuple[str, str, list[tuple[str, str]], date | None]]:
    """(reference, status, codings, date) of every order, report, study, procedure and lab result."""
    for sr in record.service_requests:
        yield (_ref(sr), str(sr.status or ""), _codings([sr.code]),
               _day(sr.authoredOn) or _day(sr.occurrenceDateTime))
    for report in record.diagnostic_reports:
        yield (_ref(report), str(report.status or ""), _codings([report.code]),
               _day(report.effectiveDateTime) or _day(report.issued))
    for study in record.imaging_studies:
        yield _ref(study), str(study.status or ""), _codings(study.procedureCode or []), _day(study.started)
    for proc in record.procedures:
        start = proc.performedPeriod.start if proc.performedPeriod is not None else None
        yield _ref(proc), str(proc.status or ""), _codings([proc.code]), _day(proc.performedDateTime) or _day(start)
    for obs in record.observations:
        yield (_ref(obs), str(obs.status or ""), _codings([obs.code]),
               _day(obs.effectiveDateTime) or _day(obs.issued))


def _ref(resource: Any) -> str:
    return f"{resource.get_resource_type()}/{resource.id}" if resource.id else resource.get_resource_type()


def _codings(concepts: Iterable[Any]) -> list[tuple[str, str]]:
    return [(str(c.system), str(c.code)) for concept in concepts if concept is not None
            for c in (concept.coding or []) if c.system and c.code]


def _day(value: Any) -> date | None:
    """A FHIR date/dateTime/instant (model value or string) as a calendar date."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).date() if value.tzinfo else value.date()
    if isinstance(value, date):
        return value
    text = str(value)
    try:
        return date.fromisoformat(text[:10]) if len(text) >= 10 else date(int(text[:4]), int(text[5:7] or 1), 1)
    except ValueError:
        return None


# --------------------------------------------------------------------------- building cards

def build_cards(findings: Findings, record: PatientRecord, library: CardLibrary, options: CardOptions,
                call: CallContext) -> list[dict[str, Any]]:
    """The cards for these findings: red flags (critical, then warning), then workup and differential.

    Returns an empty list when ``findings.has_anything`` is False: a service that has
    nothing to say sends no card (CDS Hooks 2.0: ``"cards": []`` means no guidance).
    """
    if not findings.has_anything:
        return []
    builder = _Builder(findings, record, library, options, call,
                       find_done_orders(record, library.orders, call.now))
    cards = [builder.red_flag_card(flags) for flags in _group_by_topic(findings.red_flags)]
    if findings.leg_weakness and library.workup is not None and library.differential is not None:
        cards.append(builder.workup_card(library.workup))
        cards.append(builder.differential_card(library.differential))
    return sorted(cards, key=lambda c: _INDICATOR_RANK[c["indicator"]])


def _group_by_topic(flags: Sequence[RedFlag]) -> list[list[RedFlag]]:
    """One card per topic: red flags sharing a topic are merged into one card."""
    groups: dict[str, list[RedFlag]] = {}
    for flag in flags:
        groups.setdefault(flag.topic, []).append(flag)
    return list(groups.values())


@dataclass
class _Builder:
    findings: Findings
    record: PatientRecord
    library: CardLibrary
    options: CardOptions
    call: CallContext
    done: Mapping[str, DoneOrder]
    proposed: set[str] = field(default_factory=set)  # orders a red-flag card already proposes

    # ----- red flags

    def red_flag_card(self, flags: list[RedFlag]) -> dict[str, Any]:
        topic = flags[0].topic
        triggers = _unique_findings(t for f in flags for t in f.triggers)
        possible = all(f.possible for f in flags)
        indicator: str = min((f.indicator for f in flags), key=lambda i: _INDICATOR_RANK.get(i, 2))
        template = self.library.red_flags.get(topic) or _generic_red_flag(flags[0], indicator, self.library)
        if indicator not in _INDICATOR_RANK:
            indicator = template.indicator
        summary = template.summary_possible if possible else template.summary
        reason_text = f"{'Suspected' if possible else 'Possible'} {template.danger}"
        orders = [self.library.orders[o] for o in template.orders if o in self.library.orders]
        suggestions = self.suggestions(orders, template.priority, triggers, reason_text, template.recommended,
                                       template.selection)
        self.proposed.update(o.id for o in orders if o.id not in self.done)
        lines = [f"**{reason_text}.** " + ("Confirm the findings below, then act."
                                           if possible else "Act now: see the action and time target below."),
                 "", self.why_line(triggers), "", "**Triggering findings**"]
        lines += [f"- {_md(t.label)}: " + "; ".join(_md(e.quote()) for e in t.evidence) if t.evidence
                  else f"- {_md(t.label)}" for t in triggers]
        if possible and template.checklist:
            lines += ["", "**Checklist to confirm**"] + [f"- [ ] {item}" for item in template.checklist]
        lines += ["", "**Action**"] + [f"{i}. {a}" for i, a in enumerate(template.actions, 1)]
        lines += ["", f"**Time target:** {template.time_target} {self.cite(template.sources)}"]
        lines += self.done_lines(orders) + self.code_lines(orders)
        lines += ["", self.sources_line(template.sources), "", f"_{self.library.caveat}_"]
        return self.card(topic, template.display, summary, indicator, lines, template.sources, suggestions,
                         template.selection)

    # ----- workup

    def workup_card(self, template: WorkupTemplate) -> dict[str, Any]:
        complaint = _unique_findings(self.findings.complaint)
        differential_ids = {d.id for d in self.findings.differential}
        lines = []
        if self.findings.red_flags:
            lines += [f"**{self.library.red_flag_precedence}**", ""]
        lines += [self.why_line(complaint), "",
                  f"**History:** {template.history} {self.cite(template.history_sources)}", "",
                  f"**Examination:** {template.exam} {self.cite(template.exam_sources)}", "",
                  f"**Imaging:** {template.imaging_text} {self.cite(template.imaging_sources)}", "",
                  "**Tests and when each is indicated**"]
        chosen: list[Order] = []
        for test in template.tests:
            order = self.library.orders[test.order]
            lines.append(f"- {order.text}: {test.when} {self.cite(test.sources)}")
            if not test.only_if_differential or differential_ids & set(test.only_if_differential):
                chosen.append(order)
        suggestions = self.suggestions(chosen, "routine", complaint, "Leg weakness", None, "any")
        elsewhere = [o.text for o in chosen if o.id in self.proposed]
        if elsewhere:
            lines += ["", f"**Proposed on the red-flag card (not repeated here):** {'; '.join(elsewhere)}"]
        lines += self.done_lines(chosen) + self.code_lines([o for o in chosen if o.id not in self.proposed])
        cited = _unique(template.sources + template.history_sources + template.exam_sources
                        + template.imaging_sources + tuple(s for t in template.tests for s in t.sources))
        lines += ["", self.sources_line(cited), "", f"_{self.library.caveat}_"]
        return self.card(template.topic, template.display, template.summary, template.indicator, lines,
                         template.sources, suggestions, "any", handout=True)

    # ----- differential

    def differential_card(self, template: DifferentialTemplate) -> dict[str, Any]:
        ranked = sorted(enumerate(self.findings.differential),
                        key=lambda p: (p[1].rank if p[1].rank > 0 else 1_000_000, p[0]))
        lines = [self.why_line(_unique_findings(r for _, e in ranked for r in e.reasons)
                               or _unique_findings(self.findings.complaint)), "",
                 "**For this patient, most likely first**"]
        listed: set[str] = set()
        for number, (_, entry) in enumerate(ranked, 1):
            cause = template.causes.get(entry.id)
            label = cause.label if cause else entry.label
            group = cause.group if cause else entry.group
            lines.append(f"{number}. **{_md(label)}** ({group})")
            facts = [f"{_md(r.label)} ({'; '.join(_md(e.quote()) for e in r.evidence[:2])})" if r.evidence
                     else _md(r.label) for r in entry.reasons]
            if facts:
                lines.append(f"   - Patient facts: {'; '.join(facts)}")
            if cause:
                lines.append(f"   - {cause.features} Key test: {cause.key_test} {self.cite(cause.sources)}")
            listed.add(entry.id)
        rest = [template.causes[c] for c in template.default_order if c not in listed]
        for group, heading in (("spinal", "Also consider: spinal causes"),
                               ("non-spinal", "Also consider: non-spinal causes")):
            members = [c for c in rest if c.group == group]
            if members:
                lines += ["", f"**{heading}**"]
                lines += [f"- **{c.label}**: {c.features} Key test: {c.key_test} {self.cite(c.sources)}"
                          for c in members]
        cited = _unique(template.sources + tuple(s for c in template.causes.values() for s in c.sources))
        lines += ["", self.sources_line(cited), "", f"_{self.library.caveat}_"]
        return self.card(template.topic, template.display, template.summary, template.indicator, lines,
                         template.sources, [], "any")

    # ----- pieces

    def card(self, topic: str, display: str, summary: str, indicator: str, lines: list[str],
             sources: Sequence[str], suggestions: list[dict[str, Any]], selection: str,
             handout: bool = False) -> dict[str, Any]:
        primary = self.library.sources[sources[0]]
        card: dict[str, Any] = {
            "uuid": self.call.new_id(),
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
        base = self.call.link_base_url.rstrip("/")
        if handout and self.options.handout_link and base.startswith(("http://", "https://")):
            out.append({"label": self.library.handout_label, "url": base + self.library.handout_path,
                        "type": "absolute"})
        if self.options.guideline_links:
            out += [{"label": f"Guideline: {self.library.sources[s].title}", "url": self.library.sources[s].url,
                     "type": "absolute"} for s in sources]
        return out

    def why_line(self, findings: Sequence[Finding]) -> str:
        quotes = [f"{_md(f.label)} ({_md(f.evidence[0].quote())})" if f.evidence else _md(f.label)
                  for f in findings[:3]]
        more = f" and {len(findings) - 3} more" if len(findings) > 3 else ""
        return f"**{self.library.why_prefix}** " + ("; ".join(quotes) + more if quotes else "leg weakness reported")

    def cite(self, ids: Sequence[str]) -> str:
        return " ".join(f"[{s}]" for s in ids)

    def sources_line(self, ids: Sequence[str]) -> str:
        return "**Sources:** " + "; ".join(f"[{s}] [{self.library.sources[s].title}]({self.library.sources[s].url})"
                                            for s in ids)

    def done_lines(self, orders: Sequence[Order]) -> list[str]:
        done = [(o, self.done[o.id]) for o in orders if o.id in self.done]
        if not done:
            return []
        return ["", f"**{self.library.already_done_heading}**"] + [
            f"- {o.text}: {_md(d.reference)}" + (f" ({d.when.isoformat()})" if d.when else "") for o, d in done]

    def code_lines(self, orders: Sequence[Order]) -> list[str]:
        shown = [o for o in orders if o.id not in self.done]
        if not shown:
            return []
        lines = ["", "**Codes in the proposed orders**"]
        for order in shown:
            codes = self.sent_codes(order)
            text = ", ".join(f"{_SYSTEM_LABELS.get(c.system, c.system)} {c.code}"
                             + (" (secondary source: confirm locally)" if c.status == "S" else "") for c in codes)
            lines.append(f"- {order.text}: {text or 'no verified code; ordered by text'}")
        return lines

    def sent_codes(self, order: Order) -> list[Code]:
        return [c for c in order.codes if not c.match_only and (self.options.cpt_codes or not c.is_cpt)]

    def suggestions(self, orders: Sequence[Order], priority: str, reasons: Sequence[Finding], reason_text: str,
                    recommended: str | None, selection: str) -> list[dict[str, Any]]:
        patient_id = self.call.patient_id or self.record.patient_id
        if not patient_id:
            return []  # a ServiceRequest needs a subject
        out = []
        for order in orders:
            if order.id in self.done or order.id in self.proposed:
                continue
            suggestion: dict[str, Any] = {
                "label": f"Order {order.text} ({priority})",
                "uuid": self.call.new_id(),
                "actions": [{"type": "create",
                             "description": f"Propose a draft {priority} order: {order.text}",
                             "resource": self.service_request(order, priority, reasons, reason_text, patient_id)}],
            }
            if recommended == order.id and selection == "at-most-one":
                suggestion["isRecommended"] = True
            out.append(suggestion)
        return out

    def service_request(self, order: Order, priority: str, reasons: Sequence[Finding], reason_text: str,
                        patient_id: str) -> dict[str, Any]:
        """A draft FHIR R4 ServiceRequest (intent proposal) for one test, citing the evidence."""
        code: dict[str, Any] = {"text": order.text}
        codings = [c.coding() for c in self.sent_codes(order)]
        if codings:
            code["coding"] = codings
        evidence = [e for f in reasons for e in f.evidence]
        first_quote = next((e.quote() for e in evidence), None)
        resource: dict[str, Any] = {
            "resourceType": "ServiceRequest",
            "status": "draft",
            "intent": "proposal",
            "priority": priority,
            "category": [{"text": order.category}],
            "code": code,
            "subject": {"reference": f"Patient/{patient_id}"},
        }
        encounter_id = self.call.encounter_id or self.record.encounter_id
        if encounter_id:
            resource["encounter"] = {"reference": f"Encounter/{encounter_id}"}
        resource["authoredOn"] = self.call.now.astimezone(timezone.utc).isoformat(timespec="seconds")
        resource["reasonCode"] = [{"text": f"{reason_text}: {first_quote}" if first_quote else reason_text}]
        references = _reason_references(evidence)
        if references:
            resource["reasonReference"] = [{"reference": r} for r in references]
        return resource


def _reason_references(evidence: Iterable[Evidence]) -> list[str]:
    out: list[str] = []
    for item in evidence:
        ref = item.reference
        if ref and item.resource_type in _REASON_REFERENCE_TYPES and ref not in out:
            out.append(ref)
    return out


def _unique(ids: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(ids))


def _unique_findings(findings: Iterable[Finding]) -> list[Finding]:
    seen: dict[str, Finding] = {}
    for finding in findings:
        seen.setdefault(finding.concept, finding)
    return list(seen.values())


def _generic_red_flag(flag: RedFlag, indicator: str, library: CardLibrary) -> RedFlagTemplate:
    """A plain card for a red flag the card data does not describe (never silently drop a red flag)."""
    name = flag.id.replace("-", " ")
    return RedFlagTemplate(
        topic=flag.topic, display=f"Red flag: {name}", indicator=indicator if indicator in _INDICATOR_RANK
        else "critical", danger=name, summary=f"Red flag: possible {name}: assess urgently"[:139],
        summary_possible=f"Suspected {name}: confirm and assess urgently"[:139],
        actions=("Assess urgently according to the local pathway.",), checklist=(), time_target="Urgent.",
        sources=tuple(s for s in flag.rule_source if s in library.sources) or (next(iter(library.sources)),),
        orders=(), selection="any", priority="urgent")


_MD_SPECIAL = "\\`*_[]<>|~&!"


def _md(text: str) -> str:
    """Escape patient-derived text for GitHub Markdown, so it can never become HTML or a link."""
    return "".join("\\" + ch if ch in _MD_SPECIAL else ch for ch in " ".join(text.split()))
