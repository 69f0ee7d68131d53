"""Card detail Markdown: escaping patient-derived text, and lists that nest as intended.

CDS Hooks 2.0 ``Card.detail`` is GitHub-flavoured Markdown. Text taken from the record
(a reason, a condition display) is escaped so it can never become HTML or a link. A
sub-bullet of a numbered item must be indented by the width of its marker ("1. " is
three characters, "10. " four), or CommonMark starts a new list instead of nesting.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

_SPECIAL = "\\`*_[]<>|~&!"
_ESCAPES = str.maketrans({ch: "\\" + ch for ch in _SPECIAL})  # one C pass, not a generator per character


def escape(text: str) -> str:
    """Escape patient-derived text for GitHub Markdown (whitespace runs become one space)."""
    return " ".join(text.split()).translate(_ESCAPES)


def numbered(items: Iterable[tuple[str, Sequence[str]]]) -> list[str]:
    """A numbered list; each item's sub-bullets are indented under its own text."""
    lines: list[str] = []
    for number, (head, subs) in enumerate(items, 1):
        marker = f"{number}. "
        lines.append(marker + head)
        lines += [" " * len(marker) + f"- {sub}" for sub in subs]
    return lines


def bullets(items: Iterable[str], checkbox: bool = False) -> list[str]:
    prefix = "- [ ] " if checkbox else "- "
    return [prefix + item for item in items]


def heading(text: str) -> str:
    """A bold paragraph used as a section heading (cards have no real headings)."""
    return f"**{text}**"
