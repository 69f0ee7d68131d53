"""ConText modifier rules from data, and the ConText component that applies them [N2].

``context-rules.yaml`` holds medspaCy ConTextRules (category, direction, literal or token
pattern, optional ``max_scope`` / ``max_targets``). Two things are added to medspaCy's model,
both from data:

- **per-category terminations** (``ends: [HISTORICAL]``): ConText's feature-specific CONJ
  lists [CONTEXT] ("presents" ends a history scope, not a negation). medspaCy expresses this
  with ``terminated_by``; such rows become PSEUDO modifiers of a ``TERMINATE:<categories>``
  category that the named categories are terminated by (``TERMINATE:HISTORICAL``);
- **scope breaks**: a modifier's scope does not run across a colon (or an en dash, "=")
  with text between the trigger and it ("onset was not abrupt: legs slowly weaker"), but does
  when the colon directly follows the trigger ("Denies: fever, chills") or directly precedes
  it ("Fever: no"). medspaCy's ``on_modifies`` hook applies it to every rule.

A row's ``also`` lists more categories its trigger asserts: one span of words can say two
things ("family history of": another person, and the past), where medspaCy's pruning to the
longest match would keep only one of two overlapping triggers.

EXCEPTION modifiers ("other than in", "except when") also terminate every scope, and cancel
the negation of the one condition before them (see ``assertion.py``). CURRENT modifiers
("ongoing", "daily", "20/day") end a history scope and cancel a section's history default
for the condition of their clause ("SH: injects heroin daily" is a current habit).

One change to medspaCy's matching order (``TargetAwareConText``): trigger words inside a
condition's own words are dropped *before* overlapping triggers are pruned to the longest.
medspaCy prunes first, so in "no change in vision" the pseudo-trigger "no change" wins over
"no", is then dropped for overlapping the condition "change in vision", and the condition
loses its negation.
"""
from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from medspacy.common.medspacy_matcher import MedspacyMatcher
from medspacy.common.util import prune_overlapping_matches
from medspacy.context import ConText, ConTextGraph, ConTextModifier, ConTextRule
from spacy.language import Language
from spacy.tokens import Doc, Span

from .provenance import check_provenance
from .sentences import is_break

CATEGORIES = ("NEGATED_EXISTENCE", "POSSIBLE_EXISTENCE", "HISTORICAL", "HYPOTHETICAL", "FAMILY", "EXCEPTION",
              "CURRENT", "TERMINATE", "PSEUDO")
#: categories that modify a target (the others only shape scopes)
ASSERTING = ("NEGATED_EXISTENCE", "POSSIBLE_EXISTENCE", "HISTORICAL", "HYPOTHETICAL", "FAMILY", "EXCEPTION",
             "CURRENT")
DIRECTIONS = ("FORWARD", "BACKWARD", "BIDIRECTIONAL", "TERMINATE", "PSEUDO")
_KEYS = {"category", "direction", "literal", "literals", "pattern", "members", "verbs", "ends", "max_scope",
         "max_targets", "clause", "also", "source", "sources", "rationale"}
SPAN_GROUP = "assertion_targets"
#: rule metadata key: the other categories a trigger asserts besides its own ("family history
#: of" names both who had the condition and that it is history)
ALSO = "also"
#: category of the PSEUDO modifiers that end the scopes of the categories after it, "+"-joined
TERMINATE_PREFIX = "TERMINATE:"


@dataclass(frozen=True)
class ModifierRules:
    """The parsed ``context-rules.yaml``."""

    rules: tuple[ConTextRule, ...]
    #: category -> the TERMINATE_* categories that end its scope
    terminating_types: Mapping[str, tuple[str, ...]]


def parse_modifier_rules(raw: Mapping[str, Any], sources: Mapping[str, str], scope_breaks: frozenset[str],
                         announcers: frozenset[str] = frozenset(),
                         clause_breaks: frozenset[str] = frozenset()) -> ModifierRules:
    """``context-rules.yaml`` -> ModifierRules; ``ValueError`` names the bad row.

    A literal may appear only once (medspaCy keeps one of two identical matches at random),
    except in per-category TERMINATE rows, whose ``ends`` are merged.
    """
    rows = raw.get("rules")
    if not isinstance(rows, list) or not rows:
        raise ValueError("context-rules.yaml: needs a non-empty rules list")
    check = _scope_check(scope_breaks, announcers)
    # An exception restricts the condition of its own clause ("no fever, no weakness other
    # than in the left leg" leaves the fever negated).
    within_clause = _scope_check(scope_breaks | clause_breaks, announcers)
    rules: list[ConTextRule] = []
    ends_by_literal: dict[str, set[str]] = {}
    seen: dict[str, str] = {}
    for i, row in enumerate(rows):
        where = f"context-rules.yaml: rules[{i}]"
        category, direction = _check_row(row, sources, where)
        ends = row.get("ends")
        if ends is not None:
            for literal in _literals(row, where):
                ends_by_literal.setdefault(literal.lower(), set()).update(ends)
            continue
        for literal in ([] if row.get("pattern") is not None else _literals(row, where)):
            key = literal.lower()
            if key in seen:
                raise ValueError(f"{where}: literal {literal!r} already appears in {seen[key]}")
            seen[key] = where
        for rule in _rules_of(row, category, direction, where):
            if direction not in ("TERMINATE", "PSEUDO"):
                rule.on_modifies = within_clause if category == "EXCEPTION" or row.get("clause") else check
            rules.append(rule)
    terminating: dict[str, list[str]] = {}
    grouped: dict[tuple[str, ...], list[str]] = {}
    for literal, ends in ends_by_literal.items():
        if literal in seen:
            raise ValueError(f"context-rules.yaml: {literal!r} is both a per-category termination and another rule")
        grouped.setdefault(tuple(sorted(ends)), []).append(literal)
    for ends_key, literals in grouped.items():
        name = TERMINATE_PREFIX + "+".join(ends_key)
        rules.extend(ConTextRule(literal=lit, category=name, direction="PSEUDO") for lit in sorted(literals))
        for category in ends_key:
            terminating.setdefault(category, []).append(name)
    for category in ASSERTING:
        terminating.setdefault(category, []).append("EXCEPTION")
    terminating["HISTORICAL"].append("CURRENT")
    return ModifierRules(tuple(rules), {k: tuple(v) for k, v in terminating.items()})


class TargetAwareConText(ConText):  # type: ignore[misc]
    """medspaCy's ConText, pruning trigger matches only after dropping those that overlap a
    target (module docstring). Scopes, terminations and edges are medspaCy's own."""

    def __init__(self, nlp: Language, **config: Any) -> None:
        super().__init__(nlp, **config)
        self._raw_matcher = MedspacyMatcher(nlp, name="assertion_modifiers", prune=False)

    def add(self, rules: Any) -> None:
        super().add(rules)  # applies terminating_types to each rule
        self._raw_matcher.add(rules if isinstance(rules, list) else [rules])

    def __call__(self, doc: Doc, targets: str | None = None) -> Doc:
        spans = list(doc.spans[self.span_group_name])
        taken = _covered_tokens(len(doc), spans)
        matches = [m for m in self._raw_matcher(doc) if taken[m[2]] == taken[m[1]]]
        modifiers = [self._modifier(match_id, start, end, doc)
                     for match_id, start, end in prune_overlapping_matches(matches)]
        graph = ConTextGraph(targets=spans, modifiers=modifiers, prune_on_modifier_overlap=False)
        graph.edges = [edge for part in _sentence_graphs(doc, spans, modifiers) for edge in part.edges]
        for target, modifier in graph.edges:
            target._.modifiers += (modifier,)
        doc._.context_graph = graph
        return doc

    def _modifier(self, match_id: int, start: int, end: int, doc: Doc) -> ConTextModifier:
        return _Modifier(self._raw_matcher.rule_map[self.nlp.vocab[match_id].text], start, end, doc,
                         max_scope=self.max_scope)


def _covered_tokens(length: int, targets: list[Span]) -> list[int]:
    """How many of the first i tokens some target covers, for i in 0..length: a token range
    [start, end) touches a target exactly when the count grows over it (linear in the Doc,
    where testing each trigger match against each target cost their product)."""
    covered = [False] * length
    for target in targets:
        covered[target.start:target.end] = [True] * (target.end - target.start)
    counts = [0]
    for flag in covered:
        counts.append(counts[-1] + flag)
    return counts


class _Modifier(ConTextModifier):  # type: ignore[misc]
    """A ConText modifier whose scope is not cut short by a later modifier of its own category.

    medspaCy (like GenNegEx's "closest trigger" policy) ends a scope at the next trigger of
    the same category. That only decides which trigger is reported, except when the later
    trigger has a short scope: in "past medical history significant for chronic low-back pain
    and three bulging disks" the one-word "chronic" (max_scope 2) ended the list's history at
    "low-back", so the disks lost it. A trigger says the same thing as its neighbour of the same
    category; it cannot take back what the neighbour says of the words after it.
    """

    def limit_scope(self, other: ConTextModifier) -> bool:
        if (other.category.upper() == self.category.upper() and other.direction.upper() != "TERMINATE"
                and other.category.upper() not in self.rule.terminated_by):
            return False
        return bool(super().limit_scope(other))


def _sentence_graphs(doc: Doc, targets: list[Span], modifiers: list[ConTextModifier]) -> Iterator[ConTextGraph]:
    """One ConText graph per sentence, scopes updated and modifiers applied.

    medspaCy compares every modifier with every other and with every target of the Doc, so a
    long note costs the square of its length (a 20 000-character note took 0.6 s). A scope
    never leaves its modifier's sentence (no window is configured), so modifiers of different
    sentences never meet: per-sentence graphs give the same edges, in linear time. A target
    that spans a sentence break joins the graph of each sentence it touches.
    """
    by_sentence: dict[int, tuple[list[Span], list[ConTextModifier]]] = {}
    for modifier in modifiers:
        sentence = doc[modifier.modifier_span[0]].sent
        by_sentence.setdefault(sentence.start, ([], []))[1].append(modifier)
    for target in targets:
        for start in {doc[i].sent.start for i in range(target.start, target.end)}:
            if start in by_sentence:
                by_sentence[start][0].append(target)
    for sentence_targets, sentence_modifiers in by_sentence.values():
        _update_scopes(sentence_modifiers)
        graph = ConTextGraph(targets=sentence_targets, modifiers=sentence_modifiers, prune_on_modifier_overlap=False)
        graph.apply_modifiers()
        yield graph


def _update_scopes(modifiers: list[ConTextModifier]) -> None:
    """``ConTextGraph.update_scopes``: the same ``limit_scope`` calls in the same order, less
    those that cannot change a scope.

    medspaCy calls ``limit_scope`` both ways for every pair of a sentence's modifiers, at a few
    microseconds each, so a sentence of many triggers costs their square ("no no no ...": 34 s
    for 20 000 characters). A call changes ``self`` only when ``self`` does not terminate,
    ``other`` terminates or is of a category that terminates ``self`` (``_Modifier``), and
    ``other`` begins inside the scope after ``self`` (forward) or ends inside it before
    ``self`` (backward). Every other call returns having changed nothing, so skipping it leaves
    each scope as medspaCy sets it (tests/clinical/test_assertion.py compares the two).
    """
    kinds = [_Kind.of(m) for m in modifiers]
    limiters = _limiters(kinds)
    pairs = sorted({(min(i, j), max(i, j)) for i, others in enumerate(limiters) for j in others})
    for i, j in pairs:
        first, second = modifiers[i], modifiers[j]
        if j in limiters[i] and kinds[i].may_be_cut(first, second):
            first.limit_scope(second)
        if i in limiters[j] and kinds[j].may_be_cut(second, first):
            second.limit_scope(first)


def _limiters(kinds: list[_Kind]) -> list[frozenset[int]]:
    """For each modifier, the indexes of the others that can limit its scope, found by
    category (so the cost is the number of such pairs, not the square of the modifiers)."""
    terminators = frozenset(i for i, kind in enumerate(kinds) if kind.terminates)
    by_category: dict[str, set[int]] = {}
    for i, kind in enumerate(kinds):
        by_category.setdefault(kind.category, set()).add(i)
    return [frozenset() if kind.terminates else
            (terminators | frozenset().union(*(by_category.get(c, set()) for c in kind.terminated_by))) - {i}
            for i, kind in enumerate(kinds)]


@dataclass(frozen=True)
class _Kind:
    """What of a modifier decides whether another can limit its scope."""

    terminates: bool
    forward: bool
    backward: bool
    category: str
    terminated_by: frozenset[str]

    @classmethod
    def of(cls, modifier: ConTextModifier) -> _Kind:
        direction = modifier.direction.lower()
        return cls(direction == "terminate", direction in ("forward", "bidirectional"),
                   direction in ("backward", "bidirectional"), modifier.category.upper(),
                   frozenset(modifier.rule.terminated_by))

    def may_be_cut(self, modifier: ConTextModifier, other: ConTextModifier) -> bool:
        """Whether ``other``, a limiter of ``modifier`` (of this kind), lies where
        ``limit_scope`` would move an end of the scope: its scopes overlap ``modifier``'s
        (medspaCy's ``tuple_overlaps``) and ``other`` starts inside the scope after the trigger
        or ends inside it before the trigger."""
        (lo, hi), (other_lo, other_hi) = modifier.scope_span, other.scope_span
        if not (lo <= other_lo < hi or lo < other_hi <= hi):
            return False
        (start, end), (other_start, other_end) = modifier.modifier_span, other.modifier_span
        return (self.forward and start < other_start < hi) or (self.backward and lo < other_end < end)


def build_context(nlp: Language, rules: ModifierRules) -> TargetAwareConText:
    """ConText over ``rules``, reading targets from a span group (so overlapping targets, such
    as an onset word inside a weakness phrase, are all assessed)."""
    context = TargetAwareConText(nlp, rules=None, input_span_type="group", span_group_name=SPAN_GROUP,
                                 span_attrs=None, prune_on_modifier_overlap=False,
                                 terminating_types={k: list(v) for k, v in rules.terminating_types.items()})
    context.add(list(rules.rules))
    return context


def _check_row(row: Any, sources: Mapping[str, str], where: str) -> tuple[str, str]:
    if not isinstance(row, Mapping):
        raise ValueError(f"{where} must be a mapping")
    unknown = set(row) - _KEYS
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}")
    category, direction = row.get("category"), row.get("direction")
    if category not in CATEGORIES or direction not in DIRECTIONS:
        raise ValueError(f"{where}: bad category {category!r} or direction {direction!r}")
    if (category == "TERMINATE") != (direction == "TERMINATE") or (category == "PSEUDO") != (direction == "PSEUDO"):
        raise ValueError(f"{where}: TERMINATE and PSEUDO rows need the same category and direction")
    ends = row.get("ends")
    if ends is not None and (category != "TERMINATE" or not isinstance(ends, list) or not ends
                             or not set(ends) <= set(ASSERTING)):
        raise ValueError(f"{where}: ends is for TERMINATE rows and lists modifier categories")
    if not isinstance(row.get("clause", False), bool):
        raise ValueError(f"{where}: clause must be true or false")
    also = row.get("also")
    if also is not None and (direction in ("TERMINATE", "PSEUDO") or not isinstance(also, list) or not also
                             or not set(also) <= set(ASSERTING) - {category}):
        raise ValueError(f"{where}: also lists other modifier categories the trigger asserts")
    for key in ("max_scope", "max_targets"):
        value = row.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise ValueError(f"{where}: {key} must be a positive integer")
    check_provenance(row, sources, where)
    return str(category), str(direction)


def _literals(row: Mapping[str, Any], where: str) -> list[str]:
    """The phrases of a row: ``literals``, or ``literal`` (with a pattern), plus members x verbs."""
    literals: list[Any] = list(row.get("literals") or [])
    if row.get("literal") is not None:
        literals.append(row["literal"])
    for member in row.get("members") or []:
        for verb in row.get("verbs") or []:
            literals.append(f"{member}{verb}" if str(verb).startswith(("'", ",")) else f"{member} {verb}")
    if not literals or not all(isinstance(lit, str) and lit.strip() for lit in literals):
        raise ValueError(f"{where}: literals must be non-empty strings (quote YAML words such as \"no\")")
    return [str(lit) for lit in literals]


def _rules_of(row: Mapping[str, Any], category: str, direction: str, where: str) -> list[ConTextRule]:
    extra: dict[str, Any] = {k: row[k] for k in ("max_scope", "max_targets") if row.get(k) is not None}
    if row.get("also"):
        extra["metadata"] = {ALSO: tuple(row["also"])}
    pattern = row.get("pattern")
    if pattern is not None:
        if not isinstance(pattern, list) or not pattern or not all(isinstance(t, Mapping) for t in pattern):
            raise ValueError(f"{where}: pattern must be a non-empty list of token mappings")
        if not isinstance(row.get("literal"), str) or row.get("literals"):
            raise ValueError(f"{where}: a pattern row names itself with one literal")
        return [ConTextRule(literal=row["literal"], category=category, direction=direction,
                            pattern=[dict(t) for t in pattern], **extra)]
    return [ConTextRule(literal=lit, category=category, direction=direction, **extra)
            for lit in _literals(row, where)]


def _scope_check(breaks: frozenset[str], announcers: frozenset[str]) -> Callable[[Span, Span, Span], bool]:
    """The ``on_modifies`` hook: no scope across a break with text on both sides of it.

    The break positions of a Doc are found once per hook and Doc (kept in ``doc.user_data``):
    the hook runs for every target in every scope, and long history-list scopes made a token
    walk per call costly."""
    key = f"assertion-breaks-{id(breaks)}-{id(announcers)}"

    def modifies(target: Span, modifier: Span, _between: Span) -> bool:
        doc = target.doc
        if modifier.end <= target.start:
            lo, hi = modifier.end + 1, target.start
        elif target.end <= modifier.start:
            lo, hi = target.end, modifier.start - 1
        else:
            return True
        if lo >= hi:
            return True
        positions = doc.user_data.get(key)
        if positions is None:
            positions = [t.i for t in doc if is_break(t, breaks, announcers)]
            doc.user_data[key] = positions
        return bisect_left(positions, lo) == bisect_left(positions, hi)
    return modifies
