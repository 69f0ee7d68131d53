"""The package version, read from the installed distribution (pyproject.toml is its one source)."""
from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("cds-service")
except PackageNotFoundError:  # a checkout run without installing
    __version__ = "0+unknown"
