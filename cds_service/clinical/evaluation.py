"""Measure the clinical layer on a labelled corpus of vignettes: per-topic TP/FP/FN/TN.

A vignette is a small FHIR R4 Bundle with what must (``expect``) and must not
(``forbid``) come out of :func:`detect_findings` for its encounter. Running the real
record builder and the real findings logic (no HTTP, no cards) measures exactly the
part of the service that decides whether a red flag fires, so a missed cauda equina
shows up here as a false negative, not as a missing card somewhere downstream.

Scoring, per card topic: a vignette is *positive* for a topic it expects and
*negative* for a topic it forbids; topics it names in neither are not scored for it
(a vignette says only what is clinically certain). TP = positive and fired, FN =
positive and silent, FP = negative and fired, TN = negative and silent.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, get_args

from ..errors import ConfigurationError
from ..fhir.record import RecordBuilder
from ..resources import service_root
from .findings import detect_findings
from .knowledge import Knowledge
from .model import Course, Findings, Onset

#: The card topics the service can answer with (the contract with the card builder).
WORKUP_TOPIC = "leg-weakness-workup"
DIFFERENTIAL_TOPIC = "leg-weakness-differential"
RED_FLAG_IDS = ("cauda-equina", "stroke", "cord-compression", "spinal-infection", "fracture",
                "guillain-barre", "limb-ischemia")
RED_FLAG_TOPICS = tuple(f"red-flag-{flag}" for flag in RED_FLAG_IDS)
TOPICS = (WORKUP_TOPIC, DIFFERENTIAL_TOPIC, *RED_FLAG_TOPICS)

#: Vignette kinds; those in QUIET_KINDS describe no current leg complaint at all.
#: ``templated`` (review-of-systems / checklist lines) and ``note`` (a full multi-section
#: note, as a DocumentReference or as the encounter reason) may be positive or quiet.
#: Differential ids in ``expect``/``forbid`` are not checked against differential.yaml on
#: purpose: the corpus may name causes the knowledge base does not list yet (myopathy,
#: hypokalaemia, thyroid-disease for issue 15), and such a label then simply fails.
KINDS = frozenset({"red-flag", "negated", "hypothetical", "family", "historical", "trap", "plain",
                   "code-only", "text-only", "laterality", "differential", "resolved",
                   "entered-in-error", "templated", "note"})
QUIET_KINDS = frozenset({"negated", "hypothetical", "family", "historical"})
DEFAULT_TODAY = date(2026, 11, 24)


@dataclass(frozen=True)
class Expectation:
    """What a vignette says must be present (``expect``) or absent (``forbid``).

    ``topics`` already includes the topics implied by ``red_flags`` and by
    ``leg_weakness: true``, so scoring needs only the topic sets.
    """

    topics: frozenset[str] = frozenset()
    red_flags: frozenset[str] = frozenset()
    differential: frozenset[str] = frozenset()
    leg_weakness: bool | None = None
    laterality: str | None = None
    onset: str | None = None
    course: str | None = None


@dataclass(frozen=True)
class Vignette:
    """One labelled case: a Bundle, the encounter it is about, and its expectations."""

    id: str
    description: str
    source: str
    kind: str
    bundle: Mapping[str, Any]
    encounter: str | None
    today: date
    expect: Expectation
    forbid: Expectation
    origin: str = ""


@dataclass(frozen=True)
class Outcome:
    """What the clinical layer made of one vignette, and every way it missed."""

    vignette: Vignette
    findings: Findings
    topics: frozenset[str]
    failures: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.failures


@dataclass(frozen=True)
class TopicScore:
    """Confusion counts for one topic over the corpus."""

    topic: str
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    @property
    def sensitivity(self) -> float | None:
        """TP / (TP + FN); None when no vignette expects the topic."""
        positives = self.tp + self.fn
        return self.tp / positives if positives else None

    @property
    def specificity(self) -> float | None:
        """TN / (TN + FP); None when no vignette forbids the topic."""
        negatives = self.tn + self.fp
        return self.tn / negatives if negatives else None


@dataclass(frozen=True)
class CorpusReport:
    """Outcomes of every vignette and the per-topic scores."""

    outcomes: tuple[Outcome, ...]
    scores: tuple[TopicScore, ...] = field(default=())

    @property
    def failed(self) -> tuple[Outcome, ...]:
        return tuple(o for o in self.outcomes if not o.passed)

    def missed_red_flags(self) -> tuple[TopicScore, ...]:
        """Red-flag topics whose sensitivity is below 1.0: the release-blocking misses."""
        return tuple(s for s in self.scores
                     if s.topic in RED_FLAG_TOPICS and s.sensitivity is not None and s.sensitivity < 1.0)


def topics_of(findings: Findings) -> frozenset[str]:
    """The card topics these findings lead to (the card builder's contract)."""
    topics = {flag.topic or f"red-flag-{flag.id}" for flag in findings.red_flags}
    if findings.leg_weakness:
        topics |= {WORKUP_TOPIC, DIFFERENTIAL_TOPIC}
    return frozenset(topics)


def load_corpus(directory: Path | Traversable) -> list[Vignette]:
    """Every vignette in ``directory`` (``*.json``, each a vignette or a list of them), sorted by id.

    Raises:
        ConfigurationError: a file is not valid JSON, a vignette is malformed, or two share an id.
    """
    vignettes: list[Vignette] = []
    names = sorted(p.name for p in directory.iterdir() if p.is_file() and p.name.endswith(".json"))
    for name in names:
        try:
            data = json.loads((directory / name).read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ConfigurationError(f"corpus file {name}: not valid JSON ({exc})") from None
        for raw in data if isinstance(data, list) else [data]:
            vignettes.append(parse_vignette(raw, name))
    seen: set[str] = set()
    for vignette in vignettes:
        if vignette.id in seen:
            raise ConfigurationError(f"corpus: duplicate vignette id {vignette.id!r}")
        seen.add(vignette.id)
    if not vignettes:
        raise ConfigurationError(f"corpus folder {directory} holds no vignettes")
    return sorted(vignettes, key=lambda v: v.id)


def parse_vignette(raw: Any, origin: str = "") -> Vignette:
    """One vignette from its JSON form, checking the fields the runner relies on.

    Raises:
        ConfigurationError: naming the file and the vignette.
    """
    where = f"corpus file {origin}"
    if not isinstance(raw, dict):
        raise ConfigurationError(f"{where}: a vignette must be a JSON object")
    vid = raw.get("id")
    if not isinstance(vid, str) or not vid:
        raise ConfigurationError(f"{where}: a vignette has no 'id'")
    where = f"{where}, vignette {vid!r}"
    kind = raw.get("kind")
    if kind not in KINDS:
        raise ConfigurationError(f"{where}: unknown kind {kind!r} (one of {sorted(KINDS)})")
    bundle = raw.get("bundle")
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise ConfigurationError(f"{where}: 'bundle' must be a FHIR Bundle")
    try:
        today = date.fromisoformat(raw["today"]) if raw.get("today") else DEFAULT_TODAY
    except (TypeError, ValueError):
        raise ConfigurationError(f"{where}: 'today' must be an ISO date") from None
    expect = _parse_expectation(raw.get("expect") or {}, where + " expect", forbidding=False)
    forbid = _parse_expectation(raw.get("forbid") or {}, where + " forbid", forbidding=True)
    clash = expect.topics & forbid.topics
    if clash:
        raise ConfigurationError(f"{where}: topics both expected and forbidden: {sorted(clash)}")
    return Vignette(id=vid, description=str(raw.get("description", "")), source=str(raw.get("source", "")),
                    kind=kind, bundle=bundle, encounter=raw.get("encounter"), today=today,
                    expect=expect, forbid=forbid, origin=origin)


def _parse_expectation(raw: Any, where: str, *, forbidding: bool) -> Expectation:
    if not isinstance(raw, dict):
        raise ConfigurationError(f"{where}: must be an object")
    unknown = set(raw) - {"topics", "red_flags", "differential", "leg_weakness", "laterality", "onset", "course"}
    if unknown:
        raise ConfigurationError(f"{where}: unknown fields {sorted(unknown)}")
    topics = set(_strings(raw.get("topics", []), where + ".topics"))
    flags = set(_strings(raw.get("red_flags", []), where + ".red_flags"))
    bad_flags = flags - set(RED_FLAG_IDS)
    if bad_flags:
        raise ConfigurationError(f"{where}: unknown red flags {sorted(bad_flags)}")
    topics |= {f"red-flag-{flag}" for flag in flags}
    weakness = raw.get("leg_weakness")
    if weakness is not None and not isinstance(weakness, bool):
        raise ConfigurationError(f"{where}: leg_weakness must be true or false")
    if weakness is True and not forbidding:
        topics |= {WORKUP_TOPIC, DIFFERENTIAL_TOPIC}
    if weakness is not None and forbidding:
        raise ConfigurationError(f"{where}: write leg_weakness under expect, not under forbid")
    bad_topics = topics - set(TOPICS)
    if bad_topics:
        raise ConfigurationError(f"{where}: unknown topics {sorted(bad_topics)}")
    laterality = raw.get("laterality")
    if laterality not in (None, "left", "right", "bilateral", "unspecified"):
        raise ConfigurationError(f"{where}: unknown laterality {laterality!r}")
    onset, course = raw.get("onset"), raw.get("course")
    if onset not in (None, *get_args(Onset)) or course not in (None, *get_args(Course)):
        raise ConfigurationError(f"{where}: unknown onset {onset!r} or course {course!r}")
    if forbidding and (laterality or onset or course):
        raise ConfigurationError(f"{where}: laterality, onset and course belong under expect")
    return Expectation(topics=frozenset(topics), red_flags=frozenset(flags),
                       differential=frozenset(_strings(raw.get("differential", []), where + ".differential")),
                       leg_weakness=weakness, laterality=laterality, onset=onset, course=course)


def _strings(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigurationError(f"{where}: must be a list of strings")
    return value


def run_vignette(vignette: Vignette, knowledge: Knowledge) -> Outcome:
    """Build the record as the service does, detect findings, and compare with the labels.

    Raises:
        ConfigurationError: the vignette names an encounter its bundle does not hold.
        InvalidPrefetchError: a resource in the bundle is not valid FHIR R4.
    """
    builder = RecordBuilder(keep={"Observation": knowledge.is_relevant_observation})
    builder.add("bundle", vignette.bundle)
    record = builder.build(encounter_id=vignette.encounter)
    if vignette.encounter and record.encounter_id != vignette.encounter:  # the builder falls back silently
        raise ConfigurationError(f"vignette {vignette.id!r}: no Encounter {vignette.encounter!r} in its bundle")
    findings = detect_findings(record, knowledge, vignette.today)
    topics = topics_of(findings)
    return Outcome(vignette=vignette, findings=findings, topics=topics,
                   failures=tuple(_compare(vignette, findings, topics)))


def _compare(vignette: Vignette, findings: Findings, topics: frozenset[str]) -> Iterable[str]:
    expect, forbid = vignette.expect, vignette.forbid
    fired_flags = {flag.id for flag in findings.red_flags}
    differential = {entry.id for entry in findings.differential}
    for topic in sorted(expect.topics - topics):
        yield f"missing topic {topic}"
    for topic in sorted(forbid.topics & topics):
        yield f"forbidden topic {topic} fired"
    for flag in sorted(forbid.red_flags & fired_flags):
        yield f"forbidden red flag {flag} fired"
    if expect.leg_weakness is not None and findings.leg_weakness != expect.leg_weakness:
        yield f"leg_weakness is {findings.leg_weakness}, expected {expect.leg_weakness}"
    if expect.laterality is not None and findings.laterality != expect.laterality:
        yield f"laterality is {findings.laterality!r}, expected {expect.laterality!r}"
    if expect.onset is not None and findings.onset != expect.onset:
        yield f"onset is {findings.onset!r}, expected {expect.onset!r}"
    if expect.course is not None and findings.course != expect.course:
        yield f"course is {findings.course!r}, expected {expect.course!r}"
    for entry in sorted(expect.differential - differential):
        yield f"differential lacks {entry} (has {sorted(differential)})"
    for entry in sorted(forbid.differential & differential):
        yield f"forbidden differential entry {entry} present"


def score_topics(outcomes: Sequence[Outcome]) -> tuple[TopicScore, ...]:
    """Per-topic confusion counts, in the fixed topic order."""
    scores = []
    for topic in TOPICS:
        tp = fp = fn = tn = 0
        for outcome in outcomes:
            fired = topic in outcome.topics
            if topic in outcome.vignette.expect.topics:
                tp, fn = (tp + 1, fn) if fired else (tp, fn + 1)
            elif topic in outcome.vignette.forbid.topics:
                fp, tn = (fp + 1, tn) if fired else (fp, tn + 1)
        scores.append(TopicScore(topic=topic, tp=tp, fp=fp, fn=fn, tn=tn))
    return tuple(scores)


def evaluate_corpus(vignettes: Sequence[Vignette], knowledge: Knowledge) -> CorpusReport:
    """Run every vignette and score the topics."""
    outcomes = tuple(run_vignette(v, knowledge) for v in vignettes)
    return CorpusReport(outcomes=outcomes, scores=score_topics(outcomes))


def format_scores(scores: Sequence[TopicScore]) -> str:
    """A fixed-width table: topic, TP FP FN TN, sensitivity, specificity ("-" when undefined)."""
    def ratio(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f}"

    width = max(len(s.topic) for s in scores) if scores else 5
    lines = [f"{'topic':<{width}}  {'TP':>4} {'FP':>4} {'FN':>4} {'TN':>4}  {'sens':>6} {'spec':>6}"]
    for s in scores:
        lines.append(f"{s.topic:<{width}}  {s.tp:>4} {s.fp:>4} {s.fn:>4} {s.tn:>4}  "
                     f"{ratio(s.sensitivity):>6} {ratio(s.specificity):>6}")
    return "\n".join(lines)


def default_corpus_dir() -> Traversable:
    """The packaged corpus of the leg-weakness service (its single copy, in the package)."""
    return service_root("leg_weakness") / "corpus"
