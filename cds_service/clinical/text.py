"""Free text -> Mentions: concepts found by target rules, each with its assertion.

Target rules (``text-rules.yaml`` of a service) find the concepts; the generic assertion
component (``assertion.py``: note sentences, sections, ConText, templated answers) says for
each one whether it is negated ("denies bladder problems"), historical ("history of breast
cancer", a PMH section), hypothetical ("return if weakness develops"), someone else's ("mother
had MS") or possible ("r/o cauda equina") [N2, N3]. Onset and course cues ("sudden", "over 3
days") are assessed the same way, so "no abrupt change" is a negated "abrupt".

The pipeline is built once (no model weights: ``spacy.blank`` with the medspaCy tokenizer)
and results are cached by text, because the same reason texts recur across calls.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from medspacy.common.util import prune_overlapping_matches
from medspacy.target_matcher import TargetMatcher, TargetRule

from .assertion import Assertion, AssertionEngine, Experiencer, Note

_NO_CONCEPT = "\u0000no-concept"


@dataclass(frozen=True)
class Mention:
    """One concept found in a text, with its exact span and what the text asserts about it."""

    concept: str
    text: str
    start: int
    end: int
    sentence: str
    assertion: Assertion = field(default_factory=Assertion)

    @property
    def negated(self) -> bool:
        return self.assertion.negated

    @property
    def historical(self) -> bool:
        return self.assertion.historical

    @property
    def hypothetical(self) -> bool:
        return self.assertion.hypothetical

    @property
    def possible(self) -> bool:
        return self.assertion.possible

    @property
    def experiencer(self) -> Experiencer:
        return self.assertion.experiencer

    @property
    def family(self) -> bool:
        """Someone other than the patient is the experiencer (kept for the older name)."""
        return self.assertion.experiencer != "patient"

    @property
    def section(self) -> str | None:
        return self.assertion.section

    @property
    def is_present(self) -> bool:
        """Counts as the patient's: not negated, not hypothetical, not someone else's."""
        return self.assertion.is_asserted


@dataclass(frozen=True)
class TargetSpec:
    """The text rules of one concept."""

    concept: str
    patterns: tuple[str | list[dict[str, Any]], ...]
    exclude: re.Pattern[str] | None = None
    implies: tuple[tuple[str, re.Pattern[str]], ...] = ()


class TextEngine:
    """Finds the concepts of ``targets`` and asks ``assertions`` about each; ``analyze(text, sex)``
    is cached by text and patient sex."""

    def __init__(self, targets: Sequence[TargetSpec], assertions: AssertionEngine,
                 attributes: frozenset[str] = frozenset(), cache_size: int = 4096) -> None:
        # Onset/course cues ("over 3 days", "worse every day") often overlap the weakness
        # phrase itself, and target matches are pruned to non-overlapping ones, so they are
        # found by a plain regex pass; the assertion component takes overlapping spans.
        self._attributes = [(t.concept, re.compile(p, re.IGNORECASE)) for t in targets
                            if t.concept in attributes for p in t.patterns if isinstance(p, str)]
        targets = [t for t in targets if t.concept not in attributes]
        self._targets = {t.concept: t for t in targets}
        self._assertions = assertions
        # Regex rules run here, on the text read once: medspaCy's RegexMatcher rebuilds the
        # Doc's text for every pattern, which costs ~100 ms on a 3 KB note. Token patterns
        # go to medspaCy's TargetMatcher.
        gap = gap_free_of(assertions.note_format.gap_negations)
        self._regexes = [(spec.concept, target_regex(p, gap)) for spec in targets
                         for p in spec.patterns if isinstance(p, str)]
        matcher = TargetMatcher(assertions.nlp, result_type=None)
        rules = [TargetRule(literal=spec.concept, category=spec.concept, pattern=pattern)
                 for spec in targets for pattern in spec.patterns if not isinstance(pattern, str)]
        if not rules:  # a regex-only rule set: one token rule no concept has, so spaCy does not warn
            rules.append(TargetRule(literal="", category=_NO_CONCEPT, pattern=[{"TEXT": _NO_CONCEPT}]))
        matcher.add(rules)
        self._matcher = matcher
        self._cached = lru_cache(maxsize=cache_size)(self._analyze)

    def analyze(self, text: str, sex: str | None = None) -> tuple[Mention, ...]:
        """The concepts of ``text`` (its first ``max_text_chars`` characters, note-format.yaml:
        a 200 000-character encounter reason took 30 s and a 1 000 000-character one made
        spaCy raise) and their assertions; cached by text and sex."""
        return self._cached(text[:self._assertions.note_format.max_text_chars], sex)

    def _analyze(self, text: str, sex: str | None = None) -> tuple[Mention, ...]:
        """The concepts of ``text`` and their assertions; ``sex`` is the patient's, when known
        (a pronoun of the other sex is someone else: ``AssertionEngine.assess``)."""
        if not text or not text.strip():
            return ()
        note = self._assertions.make_note(text)
        found: list[tuple[str, int, int, re.Pattern[str] | None]] = []  # concept, span, its rule's exclude
        for concept, first, last in self._target_matches(note):
            spec = self._targets[concept]
            start, end = note.to_text(note.doc[first].idx, note.doc[last - 1].idx + len(note.doc[last - 1]))
            found.append((spec.concept, start, end, spec.exclude))
            found.extend((implied, start, end, spec.exclude) for implied, when in spec.implies
                         if when.search(text[start:end]))
        for concept, pattern in self._attributes:
            found.extend((concept, m.start(), m.end(), None) for m in pattern.finditer(text) if m.end() > m.start())
        assertions = self._assertions.assess_note(note, [(start, end) for _, start, end, _ in found], sex)
        mentions = []
        for (concept, start, end, exclude), a in zip(found, assertions, strict=True):
            sentence = text[a.sentence[0]:a.sentence[1]]
            if exclude is not None and exclude.search(sentence):
                continue  # "exclude" speaks of its own sentence: an inhaler on the next line is another drug
            mentions.append(Mention(concept=concept, text=text[start:end], start=start, end=end,
                                    sentence=sentence.strip(), assertion=a))
        return tuple(mentions)


    def _target_matches(self, note: Note) -> list[tuple[str, int, int]]:
        """(concept, first token, end token) of every target match, overlapping ones pruned to
        the longest (as medspaCy's TargetMatcher prunes)."""
        labels: list[str] = []
        matches: list[tuple[int, int, int]] = []
        searched = unquote(note.analysed)
        for concept, pattern in self._regexes:
            for found in pattern.finditer(searched):
                span = note.token_span(found.start(), found.end())
                if span is not None:
                    matches.append((len(labels), span.start, span.end))
                    labels.append(concept)
        for ent in self._matcher(note.doc):
            matches.append((len(labels), ent.start, ent.end))
            labels.append(ent.label_)
        return [(labels[i], start, end) for i, start, end in _prune(matches, labels)]


def _prune(matches: list[tuple[int, int, int]], labels: list[str]) -> list[tuple[int, int, int]]:
    """The longest of overlapping matches wins, as in medspaCy, except across concepts: a concept
    that shares words with another's match stays ("L leg weakness + L arm clumsy": a weak leg and
    an arm sign), unless it is that match's last words. The last words of a phrase are its head,
    which the words before refine ("basal cell carcinoma" is a skin cancer, not a cancer), but a
    word in the middle is a finding of its own ("R leg sciatica with weak big toe": a weak leg
    and a sciatica). A no-concept span (a pseudo-target such as "heat stroke") still blocks all."""
    kept = prune_overlapping_matches(matches)

    def yields_to(match: tuple[int, int, int], other: tuple[int, int, int]) -> bool:
        """``match`` is lost to the kept ``other``: same concept, a pseudo-target, or ``other``'s head."""
        if not (other[1] < match[2] and match[1] < other[2]):
            return False
        return (labels[other[0]] in (labels[match[0]], _NO_CONCEPT)
                or (other[1] <= match[1] and match[2] == other[2]))

    rescued = [m for m in matches if m not in kept and labels[m[0]] != _NO_CONCEPT
               and not any(yields_to(m, k) for k in kept)]
    return sorted(kept + prune_overlapping_matches(rescued), key=lambda m: (m[1], m[2]))


_QUOTES = re.compile(r"[\"\u201c\u201d\u2018`]|(?<![^\W\d_])'|'(?![^\W\d_])")


def unquote(text: str) -> str:
    """``text`` with quotation marks blanked (same length, so offsets hold); apostrophes inside
    words (``can't``, ``can\u2019t``, ``patient's``) stay, typographic ones as ``'``. Notes quote
    the patient's own words ("numb 'down below'"), and a quote mark must not stop a pattern
    from seeing the words it wraps."""
    return _QUOTES.sub(" ", text.replace("\u2019", "'"))


def parse_targets(raw: Mapping[str, Any], concepts: set[str]) -> list[TargetSpec]:
    """The ``rules:`` mapping of text-rules.yaml -> specs; ``ValueError`` on a bad rule."""
    specs = []
    for concept, rule in raw.items():
        where = f"text-rules.yaml: {concept}"
        if concept not in concepts:
            raise ValueError(f"{where}: unknown concept")
        if not isinstance(rule, dict) or not isinstance(rule.get("patterns"), list) or not rule["patterns"]:
            raise ValueError(f"{where}: needs a non-empty patterns list")
        for pattern in rule["patterns"]:
            if isinstance(pattern, list):  # a spaCy token pattern
                if not pattern or not all(isinstance(t, dict) for t in pattern):
                    raise ValueError(f"{where}: a token pattern must be a list of mappings")
            else:
                _compile(pattern, where)
        exclude = _compile(rule["exclude"], where) if rule.get("exclude") else None
        implies = []
        for item in rule.get("implies") or []:
            if item.get("concept") not in concepts:
                raise ValueError(f"{where}: implies unknown concept {item.get('concept')!r}")
            implies.append((item["concept"], _compile(item["when"], where)))
        specs.append(TargetSpec(concept, tuple(rule["patterns"]), exclude, tuple(implies)))
    return specs


#: the gap word of target patterns (text-rules.yaml: any word, never a sentence end)
GAP_WORD = r"[^\s.;!?]+"


def gap_free_of(negations: Iterable[str]) -> str:
    """``GAP_WORD`` as the engine runs it: never one of ``negations`` (note-format.yaml
    ``gap_negations``) nor a word ending in "n't". A pattern that bridges words between a body
    part and a symptom must not bridge the word that denies it: "legs are not weak" and "Legs
    fine - no weakness" are no weak legs. Nor a dash standing alone, which separates clauses in
    notes: 'Both legs "tingling and weak" - can lift L leg' is no weak left leg."""
    words = "|".join(sorted((re.escape(w) for w in negations), key=len, reverse=True))
    return rf"(?!(?:{words})\b|[^\s.;!?]*n[’']t\b|[-–—]+(?:\s|$))" + GAP_WORD


def target_regex(pattern: str, gap: str) -> re.Pattern[str]:
    """A target pattern compiled with its gap words replaced by ``gap`` (``gap_free_of``)."""
    return re.compile(pattern.replace(GAP_WORD, gap), re.IGNORECASE)


def _compile(pattern: Any, where: str) -> re.Pattern[str]:
    try:
        return re.compile(str(pattern), re.IGNORECASE)
    except re.error as exc:
        raise ValueError(f"{where}: bad regular expression {pattern!r}: {exc}") from None
