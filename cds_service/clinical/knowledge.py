"""The clinical knowledge base: concepts, codes, text rules, red-flag rules, differential.

Everything clinical is data in ``clinical/knowledge/`` (read through ``resources``), each
entry with its guideline source, so a code list or a rule changes without a code change.
The files are checked when the app starts (``load_knowledge``): a bad file raises
``ConfigurationError`` there, never later on a request. The loaded object, including the
medspaCy pipeline, is built once and cached.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

import yaml

from ..errors import ConfigurationError
from ..resources import load_data, service_root
from .codes import CodeEntry, CodeSet, parse_code_entries
from .assertion import load_assertion_engine, load_assertion_engine_from
from .text import TextEngine, parse_targets

ConceptKind = Literal["complaint", "history"]
#: Concepts computed by the logic rather than read from codes or text.
DERIVED_CONCEPTS = frozenset({"bilateral-legs", "unilateral"})


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


@dataclass(frozen=True)
class RedFlagRule:
    """One red flag: fires when any alternative holds (every group has a present concept)."""

    id: str
    topic: str
    indicator: Literal["info", "warning", "critical"]
    label: str
    sources: tuple[str, ...]
    when: tuple[tuple[tuple[str, ...], ...], ...]
    supporting: tuple[str, ...] = ()


@dataclass(frozen=True)
class DifferentialRule:
    id: str
    label: str
    group: Literal["spinal", "non-spinal"]
    base_rank: int
    sources: tuple[str, ...]
    supported_by: tuple[str, ...]


@dataclass(frozen=True)
class Source:
    id: str
    title: str
    url: str


@dataclass(frozen=True)
class Knowledge:
    """The loaded knowledge base (immutable; shared by every request)."""

    concepts: Mapping[str, Concept]
    codes: CodeSet
    text: TextEngine
    red_flags: tuple[RedFlagRule, ...]
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


@cache
def load_knowledge() -> Knowledge:
    """The packaged knowledge base, loaded and checked once per process.

    Raises:
        ConfigurationError: see ``load_knowledge_from``.
    """
    return load_knowledge_from(service_root("leg_weakness") / "knowledge")


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
        if row.get("kind") not in ("complaint", "history") or not row.get("label"):
            raise ValueError(f"{where}: needs label and kind complaint|history")
        if row.get("onset") not in (None, "sudden", "acute", "subacute", "gradual") or \
                row.get("course") not in (None, "progressive", "ascending", "stable", "improving"):
            raise ValueError(f"{where}: bad onset or course value")
        concepts[cid] = Concept(cid, str(row["label"]), row["kind"], _source_ids(row, sources, where),
                                tuple(row.get("attribute_of") or ()), row.get("onset"), row.get("course"),
                                bool(row.get("risk_factor", False)), bool(row.get("encounter_only", False)))
        entries.extend(parse_code_entries(cid, row.get("codes") or [], systems, where))
    known = set(concepts) | DERIVED_CONCEPTS
    for concept in concepts.values():
        _check_concepts(concept.attribute_of, set(concepts), f"codes.yaml: {concept.id} attribute_of")

    text_doc = _mapping(load_data(root, "text-rules.yaml"), "text-rules.yaml")
    for cid, rule in _mapping(text_doc["rules"], "text-rules.yaml rules").items():
        _source_ids(rule, sources, f"text-rules.yaml: {cid}")
    targets = parse_targets(text_doc["rules"], set(concepts))

    red_flags = tuple(_parse_red_flag(r, known, sources)
                      for r in load_data(root, "red-flags.yaml")["rules"])
    diff_doc = _mapping(load_data(root, "differential.yaml"), "differential.yaml")
    differential = tuple(_parse_differential(r, known, sources) for r in diff_doc["entries"])

    obs = _mapping(load_data(root, "observations.yaml"), "observations.yaml")
    obs_systems = _mapping(obs["systems"], "observations.yaml systems")

    def code_pairs(section: str) -> frozenset[tuple[str, str]]:
        block = _mapping(obs[section], f"observations.yaml {section}")
        _source_ids(block, sources, f"observations.yaml {section}")
        parsed = parse_code_entries(section, block["codes"], obs_systems, f"observations.yaml {section}")
        return frozenset((e.system, e.code) for e in parsed)

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
        concepts=concepts, codes=CodeSet.from_entries(entries), text=engine, red_flags=red_flags,
        differential=differential, differential_weight=int(diff_doc.get("weight", 10)), sources=sources,
        chief_complaint_codes=code_pairs("chief_complaint"), temperature_codes=code_pairs("temperature"),
        lab_codes=code_pairs("labs"),
        observation_code_set=code_pairs("chief_complaint") | code_pairs("temperature") | code_pairs("labs"),
        fever_celsius=float(obs["temperature"]["fever_celsius"]),
        temperature_recent_days=int(obs["temperature"]["recent_days"]),
        problem_recent_days=int(obs["problem_list"]["recent_days"]),
        age_over=ages["age_over"], age_under=ages["age_under"],
    )


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{where} must be a mapping")
    return value


def _parse_sources(raw: Any) -> dict[str, Source]:
    out = {}
    for sid, row in _mapping(raw, "sources.yaml sources").items():
        if not isinstance(row, Mapping) or not row.get("title") or not str(row.get("url", "")).startswith("https://"):
            raise ValueError(f"sources.yaml: {sid} needs a title and an https url")
        out[sid] = Source(sid, str(row["title"]), str(row["url"]))
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
    if row.get("indicator") not in ("info", "warning", "critical") or row.get("topic") != f"red-flag-{rid}":
        raise ValueError(f"{where}: needs indicator info|warning|critical and topic red-flag-{rid}")
    when = row.get("when")
    if not isinstance(when, list) or not when:
        raise ValueError(f"{where}: needs a non-empty when list")
    alternatives = tuple(tuple(_check_concepts(group, known, where) for group in alt) for alt in when)
    if any(not alt or any(not g for g in alt) for alt in alternatives):
        raise ValueError(f"{where}: empty alternative or group")
    return RedFlagRule(id=rid, topic=row["topic"], indicator=row["indicator"], label=str(row.get("label", rid)),
                       sources=_source_ids(row, sources, where), when=alternatives,
                       supporting=_check_concepts(row.get("supporting") or [], known, where))


def _parse_differential(row: Mapping[str, Any], known: set[str], sources: Mapping[str, Source]) -> DifferentialRule:
    where = f"differential.yaml: {row.get('id')}"
    if row.get("group") not in ("spinal", "non-spinal"):
        raise ValueError(f"{where}: group must be spinal or non-spinal")
    return DifferentialRule(id=str(row["id"]), label=str(row["label"]), group=row["group"],
                            base_rank=int(row["base_rank"]), sources=_source_ids(row, sources, where),
                            supported_by=_check_concepts(row.get("supported_by") or [], known, where))
