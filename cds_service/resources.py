"""The only module that opens packaged data: ``cards/``, ``schemas/`` and ``clinical/knowledge/``.

In an installed wheel the top-level ``cards/`` and ``schemas/`` folders are mapped into
the package by the build backend (hatch ``force-include``). In a development checkout
installed with ``pip install -e .`` they stay beside the package; that one fallback
lives here and nowhere else.
"""
from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigurationError

_PACKAGE = "cds_service"


@cache
def data_root(name: str) -> Traversable:
    """The folder of packaged data ``name`` (``cards``, ``schemas``)."""
    inside = files(_PACKAGE) / name
    if inside.is_dir():
        return inside
    checkout = Path(str(files(_PACKAGE))).parent / name  # editable install: repo root
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(f"packaged data folder {name!r} is missing from the installation")


def knowledge_root() -> Traversable:
    """The clinical knowledge folder (code lists, text rules, red-flag criteria)."""
    return files(_PACKAGE) / "clinical" / "knowledge"


def read_text(folder: Traversable, name: str) -> str:
    return (folder / name).read_text(encoding="utf-8")


def load_data(folder: Traversable, name: str) -> Any:
    """Parse a JSON or YAML file from a packaged folder."""
    text = read_text(folder, name)
    if name.endswith((".yaml", ".yml")):
        return yaml.safe_load(text)
    return json.loads(text)


def list_files(folder: Traversable, suffixes: tuple[str, ...] = (".json", ".yaml", ".yml")) -> list[str]:
    """File names in a packaged folder with one of ``suffixes``, sorted for determinism."""
    return sorted(p.name for p in folder.iterdir() if p.is_file() and p.name.endswith(suffixes))


@cache
def schema(name: str) -> dict[str, Any]:
    """A JSON Schema from ``schemas/`` by file stem, e.g. ``schema("hook-request")``."""
    data = load_data(data_root("schemas"), f"{name}.schema.json")
    if not isinstance(data, dict):
        raise ConfigurationError(f"schemas/{name}.schema.json is not a JSON object")
    return data
