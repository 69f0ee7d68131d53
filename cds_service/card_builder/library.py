"""Load and check a service's card templates (``cards/*.yaml``) against its knowledge base.

Checked when the app starts, so a bad file stops start-up instead of a later request:
every red-flag rule of the knowledge base has a card template and every template a rule
(a rule without a card would fire silently, a card without a rule is dead data); every
order, source, cause and group a template names exists; summaries fit the spec's 140
characters; codes are verified (V) or secondary (S) with the place they were checked.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any

import yaml

from .. import resources
from ..clinical.knowledge import Knowledge, load_knowledge
from ..clinical.orders import Code, Order
from ..errors import ConfigurationError
from .templates import (
    INDICATOR_RANK,
    AnchorTemplate,
    CardLibrary,
    Cause,
    DifferentialTemplate,
    RedFlagTemplate,
    WorkupTemplate,
    WorkupTest,
)

_PRIORITIES = frozenset({"routine", "urgent", "asap", "stat"})
_CODE_STATUSES = frozenset({"V", "S"})
_SELECTIONS = frozenset({"any", "at-most-one"})
_SUMMARY_LIMIT = 140  # CDS Hooks 2.0 Card.summary: "<140-character summary"
#: Wording every card kind uses (``library.yaml`` ``text:``); a missing key stops start-up.
TEXT_KEYS = frozenset({
    "caveat", "why_prefix", "no_evidence", "more", "possible", "suspected", "act_now", "confirm_first",
    "triggering", "checklist", "action", "time_target", "history", "examination", "imaging", "tests",
    "proposed_elsewhere", "ranked", "patient_facts", "key_test", "also_consider", "none_supported",
    "behind_red_flag", "codes",
    "secondary_code", "text_only", "already_done", "sources", "red_flag_first", "handout_label",
    "suggestion_label", "suggestion_action"})


@cache
def load_cards(name: str) -> CardLibrary:
    """The card library of the packaged service ``name``, checked against its knowledge base.

    Raises:
        ConfigurationError: see ``load_cards_from``.
    """
    return load_cards_from(resources.service_root(name) / "cards", load_knowledge(name))


def load_cards_from(folder: Any, knowledge: Knowledge) -> CardLibrary:
    """Load ``folder``'s card YAML (a Traversable or Path) and check it against ``knowledge``.

    Raises:
        ConfigurationError: a file is missing or malformed, or names an unknown order,
            source, cause, rule or group.
    """
    try:
        library = _build(folder, knowledge)
    except (KeyError, TypeError, ValueError, OSError, AttributeError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"cards/ data is invalid: {type(exc).__name__}: {exc}") from None
    problems = list(library_problems(library, knowledge))
    if problems:
        raise ConfigurationError("cards/ data: " + "; ".join(problems))
    return library


def _build(root: Any, knowledge: Knowledge) -> CardLibrary:
    base = _mapping(resources.load_data(root, "library.yaml"), "library.yaml")
    orders = {oid: _order(oid, o) for oid, o in
              _mapping(resources.load_data(root, "orders.yaml"), "orders.yaml")["orders"].items()}
    red_flags = {topic: _red_flag(topic, r) for topic, r in
                 _mapping(resources.load_data(root, "red-flags.yaml"), "red-flags.yaml")["red_flags"].items()}
    anchors: list[AnchorTemplate] = []
    for name in base.get("anchor_cards") or ():
        doc = _mapping(resources.load_data(root, f"{name}.yaml"), f"{name}.yaml")
        anchors.append(_workup(doc["workup"]) if "workup" in doc else _differential(doc["differential"]))
    handout_file = base.get("handout_file")
    return CardLibrary(
        topic_system=str(base["topic_system"]), source_label=str(base["source_label"]),
        text={str(k): str(v) for k, v in _mapping(base["text"], "library.yaml text").items()},
        override_reasons=tuple({"system": str(r["system"]), "code": str(r["code"]), "display": str(r["display"])}
                               for r in base["override_reasons"]),
        sources=knowledge.sources, orders=orders, red_flags=red_flags, anchor_cards=tuple(anchors),
        handout_path=str(base.get("handout_path", "")),
        handout=_mapping(resources.load_data(root, str(handout_file)), str(handout_file)) if handout_file else {})


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{where}: expected a mapping")
    return value


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
        summary=str(raw["summary"]), summary_red_flag=str(raw["summary_red_flag"]), reason=str(raw["reason"]),
        sources=tuple(raw["sources"]),
        history=str(raw["history"]["text"]), history_sources=tuple(raw["history"]["sources"]),
        exam=str(raw["exam"]["text"]), exam_sources=tuple(raw["exam"]["sources"]),
        imaging_text=str(raw["imaging_text"]), imaging_red_flag_text=str(raw["imaging_red_flag_text"]),
        imaging_sources=tuple(raw["imaging_sources"]), tests=tests)


def _differential(raw: Mapping[str, Any]) -> DifferentialTemplate:
    causes = {cid: Cause(id=cid, label=str(c["label"]), group=str(c["group"]), features=str(c["features"]),
                         key_test=str(c["key_test"]), sources=tuple(c["sources"]))
              for cid, c in raw["causes"].items()}
    return DifferentialTemplate(
        topic=str(raw["topic"]), display=str(raw["display"]), indicator=str(raw["indicator"]),
        summary=str(raw["summary"]), sources=tuple(raw["sources"]), groups=tuple(raw["groups"]),
        default_order=tuple(raw["default_order"]), causes=causes)


def library_problems(library: CardLibrary, knowledge: Knowledge) -> Iterable[str]:
    """Every cross-reference, limit and vocabulary problem of the loaded data."""
    yield from (f"library.yaml text: missing {k!r}" for k in sorted(TEXT_KEYS - set(library.text)))
    rules = set(knowledge.red_flag_topics)
    yield from (f"red-flag rule {t!r} has no card in red-flags.yaml" for t in sorted(rules - set(library.red_flags)))
    yield from (f"card {t!r} has no red-flag rule that can fire it" for t in sorted(set(library.red_flags) - rules))
    for topic, red in library.red_flags.items():
        yield from _card_problems(topic, red.indicator, (red.summary, red.summary_possible), red.sources, library)
        yield from (f"{topic}: unknown order {o!r}" for o in red.orders if o not in library.orders)
        if red.recommended and red.recommended not in red.orders:
            yield f"{topic}: recommended order {red.recommended!r} is not among its orders"
        if red.selection not in _SELECTIONS or red.priority not in _PRIORITIES:
            yield f"{topic}: bad selection or priority"
    if not library.anchor_cards:
        yield "library.yaml: anchor_cards names no card"
    for template in library.anchor_cards:
        summaries = (template.summary, template.summary_red_flag) if isinstance(template, WorkupTemplate) \
            else (template.summary,)
        yield from _card_problems(template.topic, template.indicator, summaries, template.cited(), library)
        if isinstance(template, WorkupTemplate):
            yield from _workup_problems(template, library, knowledge)
        else:
            yield from _differential_problems(template, knowledge)
    for order in library.orders.values():
        yield from (f"order {order.id}: code {c.code} has status {c.status!r} (V or S only) or no source"
                    for c in order.codes if c.status not in _CODE_STATUSES or not c.code_source)


def _card_problems(topic: str, indicator: str, summaries: Iterable[str], sources: Iterable[str],
                   library: CardLibrary) -> Iterable[str]:
    yield from (f"{topic}: summary is {len(s)} characters (limit {_SUMMARY_LIMIT - 1})"
                for s in summaries if len(s) >= _SUMMARY_LIMIT)
    if indicator not in INDICATOR_RANK:
        yield f"{topic}: unknown indicator {indicator!r}"
    yield from (f"{topic}: unknown source {s!r}" for s in sources if s not in library.sources)


def _workup_problems(template: WorkupTemplate, library: CardLibrary, knowledge: Knowledge) -> Iterable[str]:
    causes = {d.id for d in knowledge.differential}
    for test in template.tests:
        if test.order not in library.orders:
            yield f"{template.topic}: unknown order {test.order!r}"
        yield from (f"{template.topic}: test {test.order} names unknown cause {c!r}"
                    for c in test.only_if_differential if c not in causes)


def _differential_problems(template: DifferentialTemplate, knowledge: Knowledge) -> Iterable[str]:
    yield from (f"{template.topic}: unknown cause {c!r} in default_order"
                for c in template.default_order if c not in template.causes)
    yield from (f"{template.topic}: differential entry {d.id!r} has no cause text"
                for d in knowledge.differential if d.id not in template.causes)
    yield from (f"{template.topic}: cause {c.id} has unknown group {c.group!r}"
                for c in template.causes.values() if c.group not in template.groups)
