"""Which URLs the service may contact: https, or plain http to loopback in tests only."""
from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit


def is_loopback_host(host: str | None) -> bool:
    """True for ``localhost`` and loopback IP addresses (127.0.0.0/8, ::1)."""
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_allowed_url(url: str, allow_http_loopback: bool = False) -> bool:
    """Whether the service may contact ``url``: https with a host, or plain http to a
    loopback address when explicitly allowed (tests only; never real data in clear text).
    A URL that does not even parse ("https://[::1", an unclosed IPv6 literal) is not allowed."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return False
    if parts.scheme == "https" and host:
        return True
    return parts.scheme == "http" and allow_http_loopback and is_loopback_host(host)
