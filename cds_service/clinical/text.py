"""Free text -> Mentions: a medspaCy pipeline (target rules + ConText rules, both from data).

Each Mention carries the ConText flags a clinician would ask about: negated ("denies
bladder problems"), historical ("history of breast cancer"), hypothetical ("return if
weakness develops"), family ("mother had MS") and possible ("r/o cauda equina") [N2, N3].
The pipeline is built once (no model weights: ``spacy.blank`` with the medspaCy tokenizer)
and results are cached by text, because the same reason texts recur across calls.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import spacy
from medspacy.context import ConTextRule
from medspacy.custom_tokenizer import create_medspacy_tokenizer
from medspacy.target_matcher import TargetRule

#: Sentence ends for the sentencizer. "?" is left out on purpose: clinicians write
#: "?cauda equina" to mean "possible", which ConText handles as a modifier.
_SENTENCE_ENDS = [".", "!", ";", "\n", "\n\n"]
_CONTEXT_CATEGORIES = ("NEGATED_EXISTENCE", "POSSIBLE_EXISTENCE", "HISTORICAL", "HYPOTHETICAL",
                       "FAMILY", "TERMINATE", "PSEUDO")
_DIRECTIONS = ("FORWARD", "BACKWARD", "BIDIRECTIONAL", "TERMINATE", "PSEUDO")
_NO_CONCEPT = "\u0000no-concept"


@dataclass(frozen=True)
class Mention:
    """One concept found in a text, with its exact span and ConText status."""

    concept: str
    text: str
    start: int
    end: int
    sentence: str
    negated: bool = False
    historical: bool = False
    hypothetical: bool = False
    family: bool = False
    possible: bool = False

    @property
    def is_present(self) -> bool:
        """Counts as the patient's: not negated, not hypothetical, not a family member's."""
        return not (self.negated or self.hypothetical or self.family)


@dataclass(frozen=True)
class TargetSpec:
    """The text rules of one concept."""

    concept: str
    patterns: tuple[str | list[dict[str, Any]], ...]
    exclude: re.Pattern[str] | None = None
    implies: tuple[tuple[str, re.Pattern[str]], ...] = ()


class TextEngine:
    """Builds the medspaCy pipeline once; ``analyze(text)`` is cached by text."""

    def __init__(self, targets: Sequence[TargetSpec], context_rules: Sequence[ConTextRule],
                 attributes: frozenset[str] = frozenset(), cache_size: int = 4096) -> None:
        # Onset/course cues ("over 3 days", "worse every day") often overlap the weakness
        # phrase itself, and spaCy entities cannot overlap, so they are found by a plain
        # regex pass; the caller keeps them only beside an unnegated anchor mention.
        self._attributes = [(t.concept, re.compile(p, re.IGNORECASE)) for t in targets
                            if t.concept in attributes for p in t.patterns if isinstance(p, str)]
        targets = [t for t in targets if t.concept not in attributes]
        self._targets = {t.concept: t for t in targets}
        nlp = spacy.blank("en")
        nlp.tokenizer = create_medspacy_tokenizer(nlp)
        nlp.add_pipe("sentencizer", config={"punct_chars": _SENTENCE_ENDS})
        matcher: Any = nlp.add_pipe("medspacy_target_matcher")
        rules = [TargetRule(literal=spec.concept, category=spec.concept, pattern=pattern)
                 for spec in targets for pattern in spec.patterns]
        if not any(isinstance(rule.pattern, list) for rule in rules):
            # spaCy warns about an empty token Matcher on every call; a rule set of only
            # regular expressions gets one token rule that cannot match (no concept has it).
            rules.append(TargetRule(literal="", category=_NO_CONCEPT, pattern=[{"TEXT": _NO_CONCEPT}]))
        matcher.add(rules)
        context: Any = nlp.add_pipe("medspacy_context", config={"rules": None, "prune_on_target_overlap": True})
        context.add(list(context_rules))
        self._nlp = nlp
        self.analyze = lru_cache(maxsize=cache_size)(self._analyze)

    def _analyze(self, text: str) -> tuple[Mention, ...]:
        if not text or not text.strip():
            return ()
        doc = self._nlp(text)
        mentions: list[Mention] = []
        for ent in doc.ents:
            spec = self._targets.get(ent.label_)
            if spec is None or (spec.exclude is not None and spec.exclude.search(text)):
                continue
            mention = Mention(
                concept=spec.concept, text=ent.text, start=ent.start_char, end=ent.end_char,
                sentence=ent.sent.text.strip(), negated=bool(ent._.is_negated),
                historical=bool(ent._.is_historical), hypothetical=bool(ent._.is_hypothetical),
                family=bool(ent._.is_family), possible=bool(ent._.is_uncertain))
            mentions.append(mention)
            for implied, when in spec.implies:
                if when.search(ent.text):
                    mentions.append(_replace_concept(mention, implied))
        for concept, pattern in self._attributes:
            for match in pattern.finditer(text):
                mentions.append(Mention(concept=concept, text=match.group(0), start=match.start(),
                                        end=match.end(), sentence=text))
        return tuple(mentions)


def _replace_concept(mention: Mention, concept: str) -> Mention:
    return Mention(concept=concept, text=mention.text, start=mention.start, end=mention.end,
                   sentence=mention.sentence, negated=mention.negated, historical=mention.historical,
                   hypothetical=mention.hypothetical, family=mention.family, possible=mention.possible)


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


def parse_context_rules(raw: Sequence[Mapping[str, Any]]) -> list[ConTextRule]:
    """context-rules.yaml ``rules:`` -> ConTextRule objects (family member x verb phrases expanded)."""
    rules: list[ConTextRule] = []
    for i, row in enumerate(raw):
        where = f"context-rules.yaml: rules[{i}]"
        category, direction = row.get("category"), row.get("direction")
        if category not in _CONTEXT_CATEGORIES or direction not in _DIRECTIONS:
            raise ValueError(f"{where}: bad category {category!r} or direction {direction!r}")
        if row.get("pattern") is not None:  # one spaCy token pattern, named by `literal`
            pattern = row["pattern"]
            if not isinstance(pattern, list) or not all(isinstance(t, dict) for t in pattern):
                raise ValueError(f"{where}: pattern must be a list of token mappings")
            rules.append(ConTextRule(literal=str(row.get("literal", "pattern")), category=category,
                                     direction=direction, pattern=pattern))
            continue
        literals = list(row.get("literals") or [])
        for member in row.get("members") or []:
            for verb in row.get("verbs") or []:
                literals.append(f"{member}{verb}" if verb.startswith("'") else f"{member} {verb}")
        if not literals or not all(isinstance(lit, str) for lit in literals):
            raise ValueError(f"{where}: literals must be non-empty strings (quote YAML words such as \"no\")")
        rules.extend(ConTextRule(literal=str(lit), category=category, direction=direction) for lit in literals)
    return rules


def _compile(pattern: Any, where: str) -> re.Pattern[str]:
    try:
        return re.compile(str(pattern), re.IGNORECASE)
    except re.error as exc:
        raise ValueError(f"{where}: bad regular expression {pattern!r}: {exc}") from None
