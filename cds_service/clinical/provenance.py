"""Provenance of clinical-language rules: every rule names a source or states a rationale.

The language files (``clinical/language/``) share one registry of sources,
``language-sources.yaml``; a rule row names one of its ids (``source: MEDSPACY``) or says in
words why the rule is right (``rationale: ...``). The loader refuses a row with neither, so
no rule enters the pipeline without a stated reason.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def parse_language_sources(raw: Any) -> dict[str, str]:
    """``language-sources.yaml`` -> {id: url}; ``ValueError`` on a row without title or https url."""
    rows = raw.get("sources") if isinstance(raw, Mapping) else None
    if not isinstance(rows, Mapping) or not rows:
        raise ValueError("language-sources.yaml: needs a sources mapping")
    out = {}
    for sid, row in rows.items():
        if not isinstance(row, Mapping) or not row.get("title") or not str(row.get("url", "")).startswith("https://"):
            raise ValueError(f"language-sources.yaml: {sid} needs a title and an https url")
        out[str(sid)] = str(row["url"])
    return out


def check_provenance(row: Mapping[str, Any], sources: set[str] | Mapping[str, str], where: str) -> None:
    """Raise ``ValueError`` unless ``row`` names known sources (``source`` or ``sources``) or
    gives a non-empty ``rationale``."""
    named = row.get("sources", row.get("source"))
    ids = [named] if isinstance(named, str) else list(named or [])
    unknown = [s for s in ids if s not in sources]
    if unknown:
        raise ValueError(f"{where}: unknown sources {unknown}")
    rationale = row.get("rationale")
    if not ids and not (isinstance(rationale, str) and rationale.strip()):
        raise ValueError(f"{where}: needs a source or a rationale")
