"""The clinical knowledge base: concepts, codes, text rules, red-flag rules, differential.

Everything clinical is data in a service's ``knowledge/`` folder (read through ``resources``), each
entry with its guideline source, so a code list or a rule changes without a code change.
The files are checked when the app starts (``load_knowledge``): a bad file raises
``ConfigurationError`` there, never later on a request. The loaded object, including the
medspaCy pipeline, is built once and cached.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

import yaml

from ..errors import ConfigurationError
from ..resources import load_data, service_root
from .assertion import load_assertion_engine, load_assertion_engine_from
from .codes import CodeEntry, CodeSet, parse_code_entries
from .text import TextEngine, parse_targets

ConceptKind = Literal["complaint", "history", "exposure"]
KINDS: tuple[ConceptKind, ...] = ("complaint", "history", "exposure")
Side = Literal["left", "right", "bilateral"]
SIDES: tuple[Side, ...] = ("left", "right", "bilateral")


@dataclass(frozen=True)
class Concept:
    id: str
    label: str
    kind: ConceptKind
    sources: tuple[str, ...]
    #: an onset/course cue: counts only in a text that also mentions one of these
    attribute_of: tuple[str, ...] = ()
    onset: str | None = None
    course: str | None = None
    #: a complaint concept the card builder also reads as a risk factor (fever, trauma)
    risk_factor: bool = False
    #: a named diagnosis: current only when this encounter records it
    encounter_only: bool = False
    #: a concept about the recent past (an antecedent infection): a past mention still counts
    #: when its time cue is relative and within this many days ("three weeks ago")
    past_within_days: int | None = None
    #: an event that leaves a deficit (a stroke, a GBS): a complaint written in the same clause
    #: as a past mention of it is that event's residual, not a new complaint
    leaves_deficit: bool = False


@dataclass(frozen=True)
class DerivedConcept:
    """A concept computed from the anchor's laterality (``bilateral-legs``), not read from data.

    ``label`` may name ``{laterality}``, filled with the side found.
    """

    id: str
    label: str
    laterality: frozenset[str]
    sources: tuple[str, ...]


@dataclass(frozen=True)
class LateralityCues:
    """Text patterns that say which side a mention of the anchor names."""

    left: re.Pattern[str]
    right: re.Pattern[str]
    bilateral: re.Pattern[str]
    sources: tuple[str, ...]

    def side_of(self, text: str) -> Side | None:
        """The side ``text`` names: bilateral when it says both, or left and right together."""
        left, right = bool(self.left.search(text)), bool(self.right.search(text))
        if self.bilateral.search(text) or (left and right):
            return "bilateral"
        if left:
            return "left"
        if right:
            return "right"
        return None


@dataclass(frozen=True)
class Alternative:
    """One way a red flag holds: every group has a usable concept and no ``unless`` concept is.

    ``suspected`` alternatives raise the flag as a checklist to confirm (warning), not as a
    critical alert: the facts justify asking, not acting (docs/clinical.md, weighting).
    """

    groups: tuple[tuple[str, ...], ...]
    unless: tuple[str, ...] = ()
    suspected: bool = False


@dataclass(frozen=True)
class RedFlagRule:
    """One red flag: fires when any alternative holds."""

    id: str
    topic: str
    indicator: Literal["info", "warning", "critical"]
    label: str
    sources: tuple[str, ...]
    when: tuple[Alternative, ...]
    supporting: tuple[str, ...] = ()
    #: findings that explain the picture another way (a profound hypokalaemia beside a flaccid
    #: weakness) or argue against it (a course over months): the flag is still raised, as a
    #: checklist to confirm, not as a critical alert
    lowered_by: tuple[str, ...] = ()


@dataclass(frozen=True)
class DifferentialRule:
    id: str
    label: str
    group: str
    base_rank: int
    sources: tuple[str, ...]
    supported_by: tuple[str, ...]
    #: risk factors that count for this cause only beside a supporting fact (a statin makes
    #: a myopathy likelier when the muscles are weak or the CK raised, not on its own)
    strengthened_by: tuple[str, ...] = ()
    #: red flags whose firing puts this cause first (the cause behind the emergency)
    red_flags: tuple[str, ...] = ()
    #: concepts that make this cause not worth naming (an isolated foot drop for a two-leg complaint)
    excluded_by: tuple[str, ...] = ()


@dataclass(frozen=True)
class Source:
    id: str
    title: str
    url: str
    #: where the entry comes from when not the clinical reference's source list
    origin: str = ""


@dataclass(frozen=True)
class LabFinding:
    """A lab result that is a finding when out of its own reference range (observations.yaml)."""

    concept: str
    when: Literal["high", "low", "abnormal", "normal"]
    recent_days: int
    codes: frozenset[tuple[str, str]]
    #: (low, high, unit) used only for a result with no range of its own, in that unit
    default_range: tuple[float | None, float | None, str] | None = None


@dataclass(frozen=True)
class Interpretation:
    """Observation.interpretation codes meaning high, low or abnormal."""

    system: str
    high: frozenset[str]
    low: frozenset[str]
    abnormal: frozenset[str]
    normal: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Knowledge:
    """The loaded knowledge base (immutable; shared by every request)."""

    concepts: Mapping[str, Concept]
    #: the complaint concept this service is about (codes.yaml ``anchor``)
    anchor: str
    derived: Mapping[str, DerivedConcept]
    #: None when the anchor has no side (text-rules.yaml has no ``laterality``)
    laterality: LateralityCues | None
    #: note sections whose mentions are no finding at all (a drug in an allergy list)
    ignored_sections: frozenset[str]
    #: note sections where an exposure named is a plan, not an exposure (a drug started now)
    plan_sections: frozenset[str]
    #: note sections that list what was ruled out: a concept negated there is no finding anywhere in that text
    excluding_sections: frozenset[str]
    #: words of a historical cue that end an exposure ("ex-", "abstinent", "stopped")
    cessation_cues: frozenset[str]
    codes: CodeSet
    text: TextEngine
    red_flags: tuple[RedFlagRule, ...]
    #: red flags fire only when one of these is current: the complaints this service is
    #: about (a Bell's palsy is no leg-weakness emergency); empty = no such gate
    red_flag_scope: frozenset[str]
    differential: tuple[DifferentialRule, ...]
    differential_weight: int
    sources: Mapping[str, Source]
    chief_complaint_codes: frozenset[tuple[str, str]]
    temperature_codes: frozenset[tuple[str, str]]
    lab_codes: frozenset[tuple[str, str]]
    fever_celsius: float
    temperature_recent_days: int
    problem_recent_days: int
    age_over: tuple[str, int]
    age_under: tuple[str, int]
    lab_findings: tuple[LabFinding, ...] = ()
    interpretation: Interpretation | None = None
    note_recent_days: int = 0  # a note not of this encounter speaks of today only if this recent
    #: labels of the date a text gives for its own end of care ("Discharged: 13/11/2026")
    note_end_labels: tuple[str, ...] = ()
    #: the union of the three code sets above, precomputed for is_relevant_observation
    observation_code_set: frozenset[tuple[str, str]] = frozenset()

    def observation_codes(self) -> list[tuple[str, str]]:
        """(system, code) of every Observation the logic reads, for the prefetch query."""
        return sorted(self.observation_code_set)

    def is_relevant_observation(self, raw: Mapping[str, Any]) -> bool:
        """Whether a raw Observation carries one of our codes (checked before validation,
        because a Synthea patient has hundreds of Observations we never read)."""
        wanted = self.observation_code_set
        code = raw.get("code")
        codings = code.get("coding") if isinstance(code, Mapping) else None
        for coding in codings or ():
            if isinstance(coding, Mapping) and (coding.get("system"), coding.get("code")) in wanted:
                return True
        return False

    def source_url(self, source_id: str) -> str:
        return self.sources[source_id].url

    def label_of(self, concept: str) -> str:
        """The clinician-facing label of a concept read from data or derived."""
        known = self.concepts.get(concept)
        return known.label if known is not None else self.derived[concept].label

    @property
    def red_flag_topics(self) -> tuple[str, ...]:
        """The card topic of every red-flag rule, in rule order."""
        return tuple(rule.topic for rule in self.red_flags)


@cache
def load_knowledge(name: str) -> Knowledge:
    """The knowledge base of the packaged service ``name`` (``leg_weakness``), loaded and
    checked once per process.

    Raises:
        ConfigurationError: see ``load_knowledge_from``.
    """
    return load_knowledge_from(service_root(name) / "knowledge")


def load_knowledge_from(folder: Any, language: Any = None) -> Knowledge:
    """Load and check every knowledge file in ``folder`` (a Traversable or Path), with the
    clinical-language rules of ``language`` (default: the packaged ``clinical/language``).

    Raises:
        ConfigurationError: a file is missing, malformed, or refers to an unknown concept,
            source or code system.
    """
    try:
        return _build(folder, language)
    except ConfigurationError:
        raise
    except (ValueError, KeyError, TypeError, OSError, AttributeError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"clinical knowledge is invalid: {exc}") from None


def _build(root: Any, language: Any) -> Knowledge:
    sources = _parse_sources(_mapping(load_data(root, "sources.yaml"), "sources.yaml")["sources"])
    codes_doc = _mapping(load_data(root, "codes.yaml"), "codes.yaml")
    systems = _mapping(codes_doc["systems"], "codes.yaml systems")
    concepts: dict[str, Concept] = {}
    entries: list[CodeEntry] = []
    for cid, row in _mapping(codes_doc["concepts"], "codes.yaml concepts").items():
        where = f"codes.yaml: {cid}"
        if row.get("kind") not in KINDS or not row.get("label"):
            raise ValueError(f"{where}: needs a label and a kind, one of {list(KINDS)}")
        if row.get("onset") not in (None, "sudden", "acute", "subacute", "gradual") or \
                row.get("course") not in (None, "progressive", "ascending", "stable", "improving"):
            raise ValueError(f"{where}: bad onset or course value")
        concepts[cid] = Concept(cid, str(row["label"]), row["kind"], _source_ids(row, sources, where),
                                tuple(row.get("attribute_of") or ()), row.get("onset"), row.get("course"),
                                bool(row.get("risk_factor", False)), bool(row.get("encounter_only", False)),
                                _positive_int(row.get("past_within_days"), f"{where}: past_within_days"),
                                bool(row.get("leaves_deficit", False)))
        entries.extend(parse_code_entries(cid, row.get("codes") or [], systems, where))
    derived = _parse_derived(codes_doc.get("derived") or {}, sources)
    clash = set(derived) & set(concepts)
    if clash:
        raise ValueError(f"codes.yaml derived: {sorted(clash)} are also concepts")
    anchor = str(codes_doc.get("anchor"))
    if anchor not in concepts:
        raise ValueError(f"codes.yaml: the anchor {anchor!r} is not a concept")
    known = set(concepts) | set(derived)
    for concept in concepts.values():
        _check_concepts(concept.attribute_of, set(concepts), f"codes.yaml: {concept.id} attribute_of")

    text_doc = _mapping(load_data(root, "text-rules.yaml"), "text-rules.yaml")
    laterality = (_parse_laterality(_mapping(text_doc["laterality"], "text-rules.yaml laterality"), sources)
                  if "laterality" in text_doc else None)
    for cid, rule in _mapping(text_doc["rules"], "text-rules.yaml rules").items():
        _source_ids(rule, sources, f"text-rules.yaml: {cid}")
    targets = parse_targets(text_doc["rules"], set(concepts))

    red_flag_doc = _mapping(load_data(root, "red-flags.yaml"), "red-flags.yaml")
    red_flags = tuple(_parse_red_flag(r, known, sources) for r in red_flag_doc["rules"])
    scope = frozenset(_check_concepts(red_flag_doc.get("scope") or [], known, "red-flags.yaml scope"))
    for attribute in ("id", "topic"):
        values = [getattr(rule, attribute) for rule in red_flags]
        if len(values) != len(set(values)):
            raise ValueError(f"red-flags.yaml: two rules share a {attribute}")
    diff_doc = _mapping(load_data(root, "differential.yaml"), "differential.yaml")
    groups = tuple(str(g) for g in diff_doc.get("groups") or ())
    differential = tuple(_parse_differential(r, known, sources, groups) for r in diff_doc["entries"])
    flag_ids = {rule.id for rule in red_flags}
    for entry in differential:
        unknown = set(entry.red_flags) - flag_ids
        if unknown:
            raise ValueError(f"differential.yaml: {entry.id} names unknown red flags {sorted(unknown)}")

    obs = _mapping(load_data(root, "observations.yaml"), "observations.yaml")
    obs_systems = _mapping(obs["systems"], "observations.yaml systems")

    def code_pairs(section: str) -> frozenset[tuple[str, str]]:
        block = _mapping(obs[section], f"observations.yaml {section}")
        _source_ids(block, sources, f"observations.yaml {section}")
        parsed = parse_code_entries(section, block["codes"], obs_systems, f"observations.yaml {section}")
        return frozenset((e.system, e.code) for e in parsed)

    lab_codes = code_pairs("labs")
    interpretation, lab_findings = _parse_lab_findings(obs, obs_systems, lab_codes, set(concepts), sources)
    demographics = _mapping(obs["demographics"], "observations.yaml demographics")
    ages = {k: (str(v["concept"]), int(v["years"])) for k, v in demographics.items()}
    for age_concept, _ in ages.values():
        if age_concept not in concepts:
            raise ValueError(f"observations.yaml demographics: unknown concept {age_concept!r}")
    # The medspaCy pipeline is built last: every cheaper check has passed by then.
    attributes = frozenset(c.id for c in concepts.values() if c.attribute_of)
    assertions = load_assertion_engine() if language is None else load_assertion_engine_from(language)
    engine = TextEngine(targets, assertions, attributes)
    return Knowledge(
        red_flag_scope=scope,
        concepts=concepts, anchor=anchor, derived=derived, laterality=laterality,
        ignored_sections=frozenset(str(x) for x in text_doc.get("ignored_sections") or ()),
        plan_sections=frozenset(str(x) for x in text_doc.get("plan_sections") or ()),
        excluding_sections=frozenset(str(x) for x in text_doc.get("excluding_sections") or ()),
        cessation_cues=frozenset(str(x).lower() for x in text_doc.get("cessation_cues") or ()),
        codes=CodeSet.from_entries(entries), text=engine, red_flags=red_flags,
        differential=differential, differential_weight=int(diff_doc.get("weight", 10)), sources=sources,
        chief_complaint_codes=code_pairs("chief_complaint"), temperature_codes=code_pairs("temperature"),
        lab_codes=code_pairs("labs"),
        observation_code_set=code_pairs("chief_complaint") | code_pairs("temperature") | code_pairs("labs"),
        fever_celsius=float(obs["temperature"]["fever_celsius"]),
        temperature_recent_days=int(obs["temperature"]["recent_days"]),
        problem_recent_days=int(obs["problem_list"]["recent_days"]),
        note_recent_days=int((obs.get("notes") or {}).get("recent_days", 0)),
        note_end_labels=tuple(str(x) for x in (obs.get("notes") or {}).get("end_of_care_labels") or ()),
        age_over=ages["age_over"], age_under=ages["age_under"],
        lab_findings=lab_findings, interpretation=interpretation,
    )


def _positive_int(value: Any, where: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{where} must be a positive integer")
    return value


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{where} must be a mapping")
    return value


def _parse_sources(raw: Any) -> dict[str, Source]:
    out = {}
    for sid, row in _mapping(raw, "sources.yaml sources").items():
        if not isinstance(row, Mapping) or not row.get("title") or not str(row.get("url", "")).startswith("https://"):
            raise ValueError(f"sources.yaml: {sid} needs a title and an https url")
        out[sid] = Source(sid, str(row["title"]), str(row["url"]), str(row.get("origin", "")))
    return out


def _source_ids(row: Mapping[str, Any], sources: Mapping[str, Source], where: str) -> tuple[str, ...]:
    ids = row.get("sources")
    if not isinstance(ids, list) or not ids:
        raise ValueError(f"{where}: needs a non-empty sources list")
    unknown = [s for s in ids if s not in sources]
    if unknown:
        raise ValueError(f"{where}: unknown sources {unknown}")
    return tuple(ids)


def _check_concepts(names: Sequence[str], known: set[str], where: str) -> tuple[str, ...]:
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"{where}: unknown concepts {unknown}")
    return tuple(names)


def _parse_red_flag(row: Mapping[str, Any], known: set[str], sources: Mapping[str, Source]) -> RedFlagRule:
    rid = str(row.get("id"))
    where = f"red-flags.yaml: {rid}"
    if row.get("indicator") not in ("info", "warning", "critical") or not row.get("topic"):
        raise ValueError(f"{where}: needs indicator info|warning|critical and a card topic")
    when = row.get("when")
    if not isinstance(when, list) or not when:
        raise ValueError(f"{where}: needs a non-empty when list")
    alternatives = tuple(_parse_alternative(alt, known, where) for alt in when)
    return RedFlagRule(id=rid, topic=row["topic"], indicator=row["indicator"], label=str(row.get("label", rid)),
                       sources=_source_ids(row, sources, where), when=alternatives,
                       supporting=_check_concepts(row.get("supporting") or [], known, where),
                       lowered_by=_check_concepts(row.get("lowered_by") or [], known, where))


def _parse_lab_findings(obs: Mapping[str, Any], systems: Mapping[str, str], lab_codes: frozenset[tuple[str, str]],
                        concepts: set[str], sources: Mapping[str, Source]
                        ) -> tuple[Interpretation | None, tuple[LabFinding, ...]]:
    """observations.yaml ``interpretation`` and ``lab_findings`` (both optional)."""
    rows = obs.get("lab_findings") or []
    if not rows:
        return None, ()
    raw = _mapping(obs["interpretation"], "observations.yaml interpretation")
    _source_ids(raw, sources, "observations.yaml interpretation")
    interpretation = Interpretation(str(raw["system"]), frozenset(raw["high"]), frozenset(raw["low"]),
                                    frozenset(raw["abnormal"]), frozenset(raw.get("normal") or ()))
    loinc = systems.get("loinc", "")
    out = []
    for row in rows:
        where = f"observations.yaml lab_findings: {row.get('concept')}"
        _source_ids(row, sources, where)
        codes = frozenset((loinc, str(c)) for c in row.get("codes") or ())
        if row.get("concept") not in concepts or row.get("when") not in ("high", "low", "abnormal", "normal") \
                or not codes or not codes <= lab_codes:
            raise ValueError(f"{where}: needs a known concept, when high|low|abnormal|normal and codes in labs")
        default = row.get("default_range")
        fallback = ((_number(default.get("low")), _number(default.get("high")), str(default["unit"]))
                    if isinstance(default, Mapping) else None)
        out.append(LabFinding(str(row["concept"]), row["when"], int(row["recent_days"]), codes, fallback))
    return interpretation, tuple(out)


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def _parse_alternative(raw: Any, known: set[str], where: str) -> Alternative:
    """A list of groups, or ``{all: [groups], unless: [concepts], level: suspected}``."""
    if isinstance(raw, Mapping):
        unknown_keys = set(raw) - {"all", "unless", "level"}
        if unknown_keys or raw.get("level", "confirmed") not in ("confirmed", "suspected"):
            raise ValueError(f"{where}: an alternative takes all, unless and level (confirmed|suspected)")
        groups, unless, suspected = raw.get("all"), raw.get("unless") or [], raw.get("level") == "suspected"
    else:
        groups, unless, suspected = raw, [], False
    if not isinstance(groups, list) or not groups or any(not isinstance(g, list) or not g for g in groups):
        raise ValueError(f"{where}: empty alternative or group")
    return Alternative(groups=tuple(_check_concepts(g, known, where) for g in groups),
                       unless=_check_concepts(unless, known, where), suspected=suspected)


def _parse_derived(raw: Any, sources: Mapping[str, Source]) -> dict[str, DerivedConcept]:
    out = {}
    for cid, row in _mapping(raw, "codes.yaml derived").items():
        where = f"codes.yaml derived: {cid}"
        sides = row.get("laterality")
        if not row.get("label") or not isinstance(sides, list) or not sides or not set(sides) <= set(SIDES):
            raise ValueError(f"{where}: needs a label and a laterality list of {list(SIDES)}")
        out[cid] = DerivedConcept(cid, str(row["label"]), frozenset(sides), _source_ids(row, sources, where))
    return out


def _parse_laterality(raw: Mapping[str, Any], sources: Mapping[str, Source]) -> LateralityCues:
    where = "text-rules.yaml laterality"
    patterns = {}
    for side in SIDES:
        try:
            patterns[side] = re.compile(str(raw[side]), re.IGNORECASE)
        except (KeyError, re.error) as exc:
            raise ValueError(f"{where}: {side} needs a valid regular expression ({exc})") from None
    return LateralityCues(left=patterns["left"], right=patterns["right"], bilateral=patterns["bilateral"],
                          sources=_source_ids(raw, sources, where))


def _parse_differential(row: Mapping[str, Any], known: set[str], sources: Mapping[str, Source],
                        groups: Sequence[str]) -> DifferentialRule:
    where = f"differential.yaml: {row.get('id')}"
    if row.get("group") not in groups:
        raise ValueError(f"{where}: group must be one of {list(groups)}")
    return DifferentialRule(id=str(row["id"]), label=str(row["label"]), group=row["group"],
                            base_rank=int(row["base_rank"]), sources=_source_ids(row, sources, where),
                            supported_by=_check_concepts(row.get("supported_by") or [], known, where),
                            strengthened_by=_check_concepts(row.get("strengthened_by") or [], known, where),
                            red_flags=tuple(str(r) for r in row.get("red_flags") or ()),
                            excluded_by=_check_concepts(row.get("excluded_by") or [], known, where))
