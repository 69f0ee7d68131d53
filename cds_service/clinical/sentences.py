"""Sentence and clause boundaries for clinical notes (a spaCy component, rules from data).

A general-purpose sentencizer splits on full stops, so a note's layout defeats it: a
"Key: value" checklist, a bulleted list or a header line has no full stops, and a
hard-wrapped paragraph has line breaks in the middle of a sentence. ConText scopes end at
the sentence boundary [N2], so a boundary missed joins "no fever" to the next line's
complaint, and a boundary too many cuts "denies fever,\\nchills" in two. The rules:

- a full stop, "!" or ";" ends a sentence; "?" does not (clinicians write "?cauda equina"
  for "suspected");
- a token such as "Dr." or "b.i.d." (from ``note-format.yaml``) ends one only when a
  capitalised word follows;
- a blank line always ends one; a single line break ends one unless the line is a wrapped
  continuation (a long line, not ending in punctuation, followed by a lower-case word);
- a bullet ("-", "*", "•", "1." at the start of a line) starts one.

Clauses are the parts of a sentence between clause breaks (commas, "but", "then", ...):
they bound which finding an onset word or a templated answer belongs to.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from spacy.tokens import Doc, Span, Token


@dataclass(frozen=True)
class NoteFormat:
    """The layout rules of ``note-format.yaml`` (see the module docstring)."""

    sentence_ends: frozenset[str]
    abbreviations: frozenset[str]
    bullets: frozenset[str]
    #: a line at least this long that ends in a word and is followed by a lower-case word
    #: is a wrapped line, not a line of its own
    wrap_width: int
    clause_breaks: frozenset[str]
    #: punctuation after which a modifier's scope does not continue (``Key: value``)
    scope_breaks: frozenset[str]
    #: words that make the following colon announce a list, not end a scope
    list_announcers: frozenset[str]


def parse_note_format(raw: Mapping[str, Any]) -> NoteFormat:
    """``note-format.yaml`` -> NoteFormat; ``ValueError`` names the bad key."""
    def words(key: str) -> frozenset[str]:
        items = raw.get(key)
        if not isinstance(items, list) or not items or not all(isinstance(i, str) and i for i in items):
            raise ValueError(f"note-format.yaml: {key} must be a non-empty list of strings")
        return frozenset(i.lower() for i in items)

    width = raw.get("wrap_width")
    if not isinstance(width, int) or isinstance(width, bool) or width < 20:
        raise ValueError("note-format.yaml: wrap_width must be an integer >= 20")
    for key in ("sources", "rationale"):
        if not raw.get(key):
            raise ValueError(f"note-format.yaml: needs {key}")
    return NoteFormat(words("sentence_ends"), words("abbreviations"), words("bullets"), width,
                      words("clause_breaks"), words("scope_breaks"), words("list_announcers"))


class NoteSentencizer:
    """Sets ``Token.is_sent_start`` for every token from the NoteFormat rules."""

    def __init__(self, note_format: NoteFormat) -> None:
        self._format = note_format

    def __call__(self, doc: Doc) -> Doc:
        for i, token in enumerate(doc):
            token.is_sent_start = i == 0 or self._starts_sentence(doc, i)
        return doc

    def _starts_sentence(self, doc: Doc, i: int) -> bool:
        token, prev = doc[i], doc[i - 1]
        if "\n" in prev.text or "\r" in prev.text:
            return not self._is_wrapped_line(doc, i - 1)
        if token.is_space:
            return False
        if _is_line_start(doc, i) and (token.lower_ in self._format.bullets or _is_list_number(doc, i)):
            return True
        return self._ends_sentence(doc, i - 1)

    def _ends_sentence(self, doc: Doc, i: int) -> bool:
        token = doc[i]
        text = token.lower_
        nxt = _next_word(doc, i)
        if text in self._format.sentence_ends:
            if text == "." and i > 0 and _is_list_number(doc, i - 1) and _is_line_start(doc, i - 1):
                return False  # "1." of a numbered list
            if text == "." and i > 0 and self._is_abbreviation(doc[i - 1]):
                return nxt is not None and nxt.text[:1].isupper()
            return True
        if text.endswith(".") and len(text) > 1:  # a token with its own full stop: "N.", "Dr."
            if self._is_abbreviation(token):
                return nxt is not None and nxt.text[:1].isupper()
            return nxt is None or not nxt.text[:1].islower()
        return False

    def _is_abbreviation(self, token: Token) -> bool:
        text = token.lower_
        return text in self._format.abbreviations or text.rstrip(".") in self._format.abbreviations \
            or "." in text.rstrip(".")

    def _is_wrapped_line(self, doc: Doc, newline: int) -> bool:
        """A single line break inside a hard-wrapped paragraph (see the module docstring)."""
        if doc[newline].text.count("\n") > 1 or newline + 1 >= len(doc):
            return False
        before, after = _prev_word(doc, newline), doc[newline + 1]
        if before is None or not after.text[:1].islower() or after.lower_ in self._format.bullets:
            return False
        if before.lower_ in self._format.sentence_ends or before.text in (":", ";", ".", "!", "?"):
            return False
        line_start = before.idx
        while line_start > 0 and doc.text[line_start - 1] not in "\r\n":
            line_start -= 1
        return before.idx + len(before.text) - line_start >= self._format.wrap_width


def clause_bounds(sentence: Span, start: int, end: int, breaks: frozenset[str]) -> tuple[int, int]:
    """The token range of the clause of ``sentence`` holding tokens [start, end).

    A clause ends at a clause-break token (``note-format.yaml``: ",", ";", ":", "but",
    "then", ...) that lies outside the span itself.
    """
    lo = start
    while lo > sentence.start and doc_token(sentence, lo - 1).lower_ not in breaks:
        lo -= 1
    hi = end
    while hi < sentence.end and doc_token(sentence, hi).lower_ not in breaks:
        hi += 1
    return lo, hi


def doc_token(span: Span, i: int) -> Token:
    """Token ``i`` of the Doc that holds ``span`` (document index, not span index)."""
    return span.doc[i]


def _is_line_start(doc: Doc, i: int) -> bool:
    if i == 0:
        return True
    prev = doc[i - 1]
    return "\n" in prev.text or "\r" in prev.text or (i == 1 and prev.is_space)


def _is_list_number(doc: Doc, i: int) -> bool:
    """"1." or "2)" at the start of a line: a numbered-list marker."""
    token = doc[i]
    if token.text.rstrip(".").isdigit() and token.text.endswith(".") and len(token.text) <= 3:
        return True
    return token.text.isdigit() and len(token.text) <= 2 and i + 1 < len(doc) and doc[i + 1].text in (".", ")")


def _next_word(doc: Doc, i: int) -> Token | None:
    for token in doc[i + 1:]:
        if not token.is_space:
            return token
    return None


def _prev_word(doc: Doc, i: int) -> Token | None:
    for j in range(i - 1, -1, -1):
        if not doc[j].is_space:
            return doc[j]
    return None
