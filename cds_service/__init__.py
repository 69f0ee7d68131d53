"""CDS Hooks 2.0 service for leg weakness."""
from __future__ import annotations

from .app import create_app  # noqa: E402
from .settings import Settings  # noqa: E402
from .version import __version__  # noqa: E402

__all__ = ["__version__", "create_app", "Settings"]
