"""PLACEHOLDER (being replaced by full JWT verification).

Contract: ``TokenVerifier.verify(authorization_header: str | None, audience: str) -> str | None``
returns the verified issuer (or None when auth is off) and raises AuthenticationError.
"""
from __future__ import annotations

from ..errors import AuthenticationError
from ..settings import Settings


class TokenVerifier:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def verify(self, authorization: str | None, audience: str) -> str | None:
        if not self.settings.require_auth:
            return None
        raise AuthenticationError("JWT verification not yet available")
