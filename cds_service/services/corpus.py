"""Score a service on its labelled corpus of vignettes: per-topic TP/FP/FN/TN.

A vignette is a small FHIR R4 Bundle with what must (``expect``) and must not
(``forbid``) come out of the service for its encounter. Running the real record builder,
the real findings logic and the real card builder (no HTTP) measures exactly what an EHR
would be shown: a missed cauda equina is a false negative here, not a missing card
somewhere downstream.

Scoring, per card topic: a vignette is *positive* for a topic it expects and
*negative* for a topic it forbids; topics it names in neither are not scored for it
(a vignette says only what is clinically certain). TP = positive and fired, FN =
positive and silent, FP = negative and fired, TN = negative and silent. Beside the
scores, every critical card a vignette did not expect is counted: an unwarranted
critical alert is the second-worst failure, after a missed red flag.

The topics and red-flag ids a vignette may name come from the service itself (its
knowledge base and card library), so a new red flag needs no change here. The key
that states the anchor complaint is the anchor concept in snake case (``leg_weakness``).
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timezone
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, get_args

from ..budget import Deadline
from ..clinical.model import Course, Findings, Onset
from ..errors import ConfigurationError
from ..fhir.record import RecordBuilder
from ..protocol.context import HookContext
from .engine import ClinicalRuleService

#: Vignette kinds; those in QUIET_KINDS describe no current complaint at all.
#: ``templated`` (review-of-systems / checklist lines) and ``note`` (a full multi-section
#: note, as a DocumentReference or as the encounter reason) may be positive or quiet.
#: Differential ids in ``expect``/``forbid`` are not checked against differential.yaml on
#: purpose: the corpus may name causes the knowledge base does not list yet, and such a
#: label then simply fails.
KINDS = frozenset({"red-flag", "negated", "hypothetical", "family", "historical", "trap", "plain",
                   "code-only", "text-only", "laterality", "differential", "resolved",
                   "entered-in-error", "templated", "note"})
QUIET_KINDS = frozenset({"negated", "hypothetical", "family", "historical"})
DEFAULT_TODAY = date(2026, 11, 24)


@dataclass(frozen=True)
class Vocabulary:
    """What a service's vignettes may name: its red flags (id -> topic) and card topics."""

    red_flags: Mapping[str, str]
    anchor_topics: tuple[str, ...]
    anchor_key: str

    @classmethod
    def of(cls, service: ClinicalRuleService) -> Vocabulary:
        return cls(red_flags={r.id: r.topic for r in service.knowledge.red_flags},
                   anchor_topics=tuple(t.topic for t in service.cards.anchor_cards),
                   anchor_key=service.knowledge.anchor.replace("-", "_"))

    @property
    def red_flag_topics(self) -> tuple[str, ...]:
        return tuple(self.red_flags.values())

    @property
    def topics(self) -> tuple[str, ...]:
        return self.anchor_topics + self.red_flag_topics


@dataclass(frozen=True)
class Expectation:
    """What a vignette says must be present (``expect``) or absent (``forbid``).

    ``topics`` already includes the topics implied by ``red_flags`` and by the anchor
    (``leg_weakness: true``), so scoring needs only the topic sets.
    """

    topics: frozenset[str] = frozenset()
    red_flags: frozenset[str] = frozenset()
    differential: frozenset[str] = frozenset()
    anchor: bool | None = None
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
    """What the service made of one vignette, and every way it missed."""

    vignette: Vignette
    findings: Findings
    topics: frozenset[str]
    failures: tuple[str, ...]
    critical: frozenset[str] = frozenset()  # topics of the critical cards it gave

    @property
    def unwarranted_critical(self) -> frozenset[str]:
        """Critical card topics the vignette did not expect."""
        return self.critical - self.vignette.expect.topics

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
    vocabulary: Vocabulary
    scores: tuple[TopicScore, ...] = field(default=())

    @property
    def failed(self) -> tuple[Outcome, ...]:
        return tuple(o for o in self.outcomes if not o.passed)

    @property
    def unwarranted_critical(self) -> int:
        """How many critical cards, over the corpus, no vignette expected."""
        return sum(len(o.unwarranted_critical) for o in self.outcomes)

    def missed_red_flags(self) -> tuple[TopicScore, ...]:
        """Red-flag topics whose sensitivity is below 1.0: the release-blocking misses."""
        return tuple(s for s in self.scores if s.topic in self.vocabulary.red_flag_topics
                     and s.sensitivity is not None and s.sensitivity < 1.0)


def load_corpus(directory: Path | Traversable, vocabulary: Vocabulary) -> list[Vignette]:
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
            vignettes.append(parse_vignette(raw, vocabulary, name))
    seen: set[str] = set()
    for vignette in vignettes:
        if vignette.id in seen:
            raise ConfigurationError(f"corpus: duplicate vignette id {vignette.id!r}")
        seen.add(vignette.id)
    if not vignettes:
        raise ConfigurationError(f"corpus folder {directory} holds no vignettes")
    return sorted(vignettes, key=lambda v: v.id)


def parse_vignette(raw: Any, vocabulary: Vocabulary, origin: str = "") -> Vignette:
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
    expect = _parse_expectation(raw.get("expect") or {}, vocabulary, where + " expect", forbidding=False)
    forbid = _parse_expectation(raw.get("forbid") or {}, vocabulary, where + " forbid", forbidding=True)
    clash = expect.topics & forbid.topics
    if clash:
        raise ConfigurationError(f"{where}: topics both expected and forbidden: {sorted(clash)}")
    return Vignette(id=vid, description=str(raw.get("description", "")), source=str(raw.get("source", "")),
                    kind=kind, bundle=bundle, encounter=raw.get("encounter"), today=today,
                    expect=expect, forbid=forbid, origin=origin)


def _parse_expectation(raw: Any, vocabulary: Vocabulary, where: str, *, forbidding: bool) -> Expectation:
    if not isinstance(raw, dict):
        raise ConfigurationError(f"{where}: must be an object")
    anchor_key = vocabulary.anchor_key
    unknown = set(raw) - {"topics", "red_flags", "differential", anchor_key, "laterality", "onset", "course"}
    if unknown:
        raise ConfigurationError(f"{where}: unknown fields {sorted(unknown)}")
    topics = set(_strings(raw.get("topics", []), where + ".topics"))
    flags = set(_strings(raw.get("red_flags", []), where + ".red_flags"))
    bad_flags = flags - set(vocabulary.red_flags)
    if bad_flags:
        raise ConfigurationError(f"{where}: unknown red flags {sorted(bad_flags)}")
    topics |= {vocabulary.red_flags[flag] for flag in flags}
    anchor = raw.get(anchor_key)
    if anchor is not None and not isinstance(anchor, bool):
        raise ConfigurationError(f"{where}: {anchor_key} must be true or false")
    if anchor is True and not forbidding:
        topics |= set(vocabulary.anchor_topics)
    if anchor is not None and forbidding:
        raise ConfigurationError(f"{where}: write {anchor_key} under expect, not under forbid")
    bad_topics = topics - set(vocabulary.topics)
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
                       anchor=anchor, laterality=laterality, onset=onset, course=course)


def _strings(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigurationError(f"{where}: must be a list of strings")
    return value


def run_vignette(vignette: Vignette, service: ClinicalRuleService) -> Outcome:
    """Build the record as the service does, detect findings, build the cards, compare with the labels.

    Raises:
        ConfigurationError: the vignette names an encounter its bundle does not hold.
        InvalidPrefetchError: a resource in the bundle is not valid FHIR R4.
    """
    builder = RecordBuilder(keep=dict(service.record_filters()))
    builder.add("bundle", vignette.bundle)
    record = builder.build(encounter_id=vignette.encounter)
    if vignette.encounter and record.encounter_id != vignette.encounter:  # the builder falls back silently
        raise ConfigurationError(f"vignette {vignette.id!r}: no Encounter {vignette.encounter!r} in its bundle")
    context = HookContext(hook="encounter-start", deadline=Deadline(60_000),
                          now=datetime.combine(vignette.today, time(12, 0), tzinfo=timezone.utc),
                          patient_id=record.patient_id, encounter_id=record.encounter_id)
    findings = service.detect(record, context)
    cards = service.cards_for(findings, record, context)
    topics = frozenset(str(c["source"]["topic"]["code"]) for c in cards)
    critical = frozenset(str(c["source"]["topic"]["code"]) for c in cards if c["indicator"] == "critical")
    return Outcome(vignette=vignette, findings=findings, topics=topics, critical=critical,
                   failures=tuple(_compare(vignette, findings, topics)))


def _compare(vignette: Vignette, findings: Findings, topics: frozenset[str]) -> Iterable[str]:
    expect, forbid = vignette.expect, vignette.forbid
    fired_flags = {flag.id for flag in findings.red_flags}
    differential = {entry.id for entry in findings.differential}
    anchor = findings.anchor
    for topic in sorted(expect.topics - topics):
        yield f"missing topic {topic}"
    for topic in sorted(forbid.topics & topics):
        yield f"forbidden topic {topic} fired"
    for flag in sorted(forbid.red_flags & fired_flags):
        yield f"forbidden red flag {flag} fired"
    if expect.anchor is not None and (anchor is not None) != expect.anchor:
        yield f"anchor complaint is {anchor is not None}, expected {expect.anchor}"
    for name in ("laterality", "onset", "course"):
        wanted = getattr(expect, name)
        found = getattr(anchor, name) if anchor is not None else "unspecified" if name == "laterality" else "unknown"
        if wanted is not None and found != wanted:
            yield f"{name} is {found!r}, expected {wanted!r}"
    for entry in sorted(expect.differential - differential):
        yield f"differential lacks {entry} (has {sorted(differential)})"
    for entry in sorted(forbid.differential & differential):
        yield f"forbidden differential entry {entry} present"


def score_topics(outcomes: Sequence[Outcome], vocabulary: Vocabulary) -> tuple[TopicScore, ...]:
    """Per-topic confusion counts, in the vocabulary's topic order."""
    scores = []
    for topic in vocabulary.topics:
        tp = fp = fn = tn = 0
        for outcome in outcomes:
            fired = topic in outcome.topics
            if topic in outcome.vignette.expect.topics:
                tp, fn = (tp + 1, fn) if fired else (tp, fn + 1)
            elif topic in outcome.vignette.forbid.topics:
                fp, tn = (fp + 1, tn) if fired else (fp, tn + 1)
        scores.append(TopicScore(topic=topic, tp=tp, fp=fp, fn=fn, tn=tn))
    return tuple(scores)


def score_corpus(vignettes: Sequence[Vignette], service: ClinicalRuleService) -> CorpusReport:
    """Run every vignette through ``service`` and score the topics."""
    vocabulary = Vocabulary.of(service)
    outcomes = tuple(run_vignette(v, service) for v in vignettes)
    return CorpusReport(outcomes=outcomes, vocabulary=vocabulary, scores=score_topics(outcomes, vocabulary))


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
