"""The only module that opens packaged data: ``schemas/``, generic clinical-language rules
(``clinical/language/``) and each service's own data folder (``services/<name>/``:
``knowledge/``, ``cards/``, ``corpus/``).

In an installed wheel the top-level ``schemas/`` folder is mapped into the package by
the build backend (hatch ``force-include``). In a development checkout installed with
``pip install -e .`` it stays beside the package; that one fallback lives here and
nowhere else.
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


def service_root(name: str) -> Traversable:
    """The data folder of the packaged CDS service ``name`` (``leg_weakness``): its
    ``knowledge/``, ``cards/`` and ``corpus/``."""
    folder = files(_PACKAGE) / "services" / name
    if not folder.is_dir():
        raise FileNotFoundError(f"no packaged service data folder {name!r}")
    return folder


def language_root() -> Traversable:
    """Generic clinical-language rules (ConText modifiers), shared by every service."""
    return files(_PACKAGE) / "clinical" / "language"


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
