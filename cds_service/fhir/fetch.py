"""Fetch prefetch queries the CDS client did not fulfil, from its FHIR server, within the time budget.

Why it looks like this:

- The EHR is waiting for our answer, so no network wait may outlive the call's budget.
  Every key is fetched in a shared thread pool; the caller waits at most until the
  fetch cutoff (what is left of the budget minus a reserve for detection and cards)
  and reports whatever has not arrived as timed out. Inside a fetch, each request's
  httpx timeout and the body read loop are bounded by the same cutoff, so a hanging or
  trickling server also frees the pool thread soon after.
- The access token is for ``fhirServer`` only: redirects are never followed, and
  ``next`` links are followed only on the same origin (scheme, host, port) and under
  the same base path. Error reasons never contain the token or a response body.
- A searchset's ``next`` links are followed up to ``max_pages`` pages and
  ``max_resources`` entries; the pages are merged into one Bundle, as a client's
  prefetch would be.
"""
from __future__ import annotations

import base64
import binascii
import json
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import unquote, urljoin, urlsplit

import httpx

from ..budget import Deadline
from .prefetch import FetchedAttachment, FetchResult, is_operation_outcome

_T = TypeVar("_T")
_OUT_OF_TIME = "timed out: the time budget ran out"

_ACCEPT = "application/fhir+json"
_MAX_PAGE_BYTES = 32 * 1024 * 1024  # one page larger than this is refused, not parsed
_JSON_TYPES = ("application/fhir+json", "application/json", "application/json+fhir")
_TEXT_TYPES = ("text/plain", "text/html", "application/xhtml+xml")


class _Unavailable(Exception):
    """A key cannot be had; the message is the reason that goes to the log and the 412 body."""

    def __init__(self, reason: str, timed_out: bool = False) -> None:
        super().__init__(reason)
        self.timed_out = timed_out


@dataclass(frozen=True)
class FetchLimits:
    """Limits on one fetch (settings ``CDS_FETCH_*``)."""

    max_pages: int = 5
    max_resources: int = 2000
    reserve_ms: float = 150.0  # budget kept back for detection and card building
    pool_size: int = 16  # concurrent fetches per process


class HttpxFetcher:
    """The ``Fetcher`` the service uses: httpx, one connection pool and thread pool per process."""

    def __init__(self, limits: FetchLimits | None = None, transport: httpx.BaseTransport | None = None) -> None:
        self.limits = limits or FetchLimits()
        self._transport = transport
        self._lock = threading.Lock()
        self._client: httpx.Client | None = None
        self._pool: ThreadPoolExecutor | None = None

    def _resources(self) -> tuple[httpx.Client, ThreadPoolExecutor]:
        """Created lazily, so a gunicorn worker forked after import gets its own pools."""
        with self._lock:
            if self._client is None or self._pool is None:
                self._client = httpx.Client(
                    transport=self._transport, follow_redirects=False,  # env: proxies, SSL_CERT_FILE
                    limits=httpx.Limits(max_connections=4 * self.limits.pool_size,
                                        max_keepalive_connections=self.limits.pool_size))
                self._pool = ThreadPoolExecutor(max_workers=self.limits.pool_size,
                                                thread_name_prefix="fhir-fetch")
            return self._client, self._pool

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
            if self._client is not None:
                self._client.close()
            self._client, self._pool = None, None

    def fetch(self, queries: Mapping[str, str], fhir_server: str, access_token: str | None,
              deadline: Deadline) -> dict[str, FetchResult]:
        """Fetch every query concurrently; keys not done by the cutoff come back timed out."""
        return self._fan_out(_Session.fetch_key, queries, fhir_server, access_token, deadline,
                             lambda key: FetchResult(key, error=_OUT_OF_TIME, timed_out=True))

    def fetch_attachments(self, urls: Mapping[str, str], fhir_server: str, access_token: str | None,
                          deadline: Deadline, max_bytes: int) -> dict[str, FetchedAttachment]:
        """Fetch attachment ``urls`` (a key each) concurrently, at most ``max_bytes`` of each.

        Only URLs on ``fhirServer`` are fetched (relative ones resolve against it): the access
        token is for that server alone, so a note stored elsewhere is not read.
        """
        return self._fan_out(lambda session, _key, url: session.fetch_attachment(url, max_bytes), urls,
                             fhir_server, access_token, deadline, lambda _key: FetchedAttachment(error=_OUT_OF_TIME))

    def _fan_out(self, work: Callable[[_Session, str, str], _T], items: Mapping[str, str], fhir_server: str,
                 access_token: str | None, deadline: Deadline, timed_out: Callable[[str], _T]) -> dict[str, _T]:
        """``work(session, key, value)`` for every item on one session, concurrently, until the cutoff
        (the budget less the reserve); an item not done by then is cancelled and answers ``timed_out(key)``."""
        cutoff = time.monotonic() + max(0.0, deadline.remaining_s() - self.limits.reserve_ms / 1000.0)
        client, pool = self._resources()
        session = _Session(client, fhir_server, access_token, cutoff, self.limits)
        futures: dict[str, Future[_T]] = {key: pool.submit(work, session, key, value) for key, value in items.items()}
        wait(list(futures.values()), timeout=max(0.0, cutoff - time.monotonic()))
        out: dict[str, _T] = {}
        for key, future in futures.items():
            if future.done() and not future.cancelled():
                out[key] = future.result()
            else:
                future.cancel()
                out[key] = timed_out(key)
        return out


class _Session:
    """The fetches of one hook call: one server, one token, one cutoff."""

    def __init__(self, client: httpx.Client, fhir_server: str, access_token: str | None, cutoff: float,
                 limits: FetchLimits) -> None:
        self.client = client
        self.base = fhir_server.rstrip("/") + "/"
        self.cutoff = cutoff
        self.limits = limits
        self.headers = {"Accept": _ACCEPT}
        if access_token:
            self.headers["Authorization"] = f"Bearer {access_token}"

    def fetch_key(self, key: str, query: str) -> FetchResult:
        """Never raises: any failure becomes the key's reason."""
        try:
            return FetchResult(key, value=self._fetch(query))
        except _Unavailable as exc:
            return FetchResult(key, error=str(exc), timed_out=exc.timed_out)
        except Exception as exc:  # a bug or an unexpected transport error must not break the call
            return FetchResult(key, error=f"fetch failed ({type(exc).__name__})")

    def _fetch(self, query: str) -> dict[str, Any]:
        path = query.split("?", 1)[0].strip("/")
        is_search = "?" in query or "/" not in path
        first = self._get(urljoin(self.base, query.lstrip("/")))
        if not is_search:
            expected_type, _, expected_id = path.partition("/")
            if first.get("resourceType") != expected_type:
                raise _Unavailable(f"expected a {expected_type}, got {first.get('resourceType')!r}")
            if unquote(expected_id) != first.get("id"):
                raise _Unavailable(f"the FHIR server answered a different {expected_type} than the one asked for")
            return first
        if first.get("resourceType") != "Bundle":
            raise _Unavailable(f"expected a searchset Bundle, got {first.get('resourceType')!r}")
        return self._follow_pages(first)

    def _follow_pages(self, first: dict[str, Any]) -> dict[str, Any]:
        """Merge the ``next`` pages into the first Bundle, within the page and resource caps."""
        entries = list(first.get("entry") or [])
        page, pages = first, 1
        while pages < self.limits.max_pages and len(entries) < self.limits.max_resources:
            link = _next_link(page)
            if link is None:
                break
            try:
                url = urljoin(self.base, link)
            except ValueError:
                break  # a next link that is not a URL: stop paging, keep what was read
            if not self._same_server(url):
                break  # never send the token to another origin
            if time.monotonic() >= self.cutoff:
                raise _Unavailable("timed out: the time budget ran out while paging", timed_out=True)
            page = self._get(url)
            if page.get("resourceType") != "Bundle":
                raise _Unavailable("a next page is not a Bundle")
            entries.extend(page.get("entry") or [])
            pages += 1
        merged = {k: v for k, v in first.items() if k not in ("link", "entry", "total")}
        if entries:
            merged["entry"] = entries[: self.limits.max_resources]
        return merged

    def fetch_attachment(self, url: str, max_bytes: int) -> FetchedAttachment:
        """One attachment: its text as the server sends it, or a FHIR ``Binary`` holding it.

        Never raises. A text body is read up to ``max_bytes`` and the rest left unread; a
        Binary (JSON) must fit in ``2 * max_bytes`` plus room for its JSON, else it is refused.
        """
        try:
            target = urljoin(self.base, url)
        except ValueError:  # "https://[::1/x": not a URL at all, so not one on fhirServer
            target = ""
        if not target or not self._same_server(target):
            return FetchedAttachment(error="the attachment url is not on fhirServer (the token is for fhirServer only)")
        headers = {**self.headers, "Accept": "text/plain, text/html;q=0.9, application/fhir+json;q=0.5"}
        left = self.cutoff - time.monotonic()
        if left <= 0:
            return FetchedAttachment(error=_OUT_OF_TIME)
        try:
            with self.client.stream("GET", target, headers=headers, timeout=httpx.Timeout(left)) as response:
                if response.status_code != 200:
                    return FetchedAttachment(error=_status_reason(response.status_code))
                content_type = response.headers.get("content-type", "")
                kind = content_type.split(";", 1)[0].strip().lower()
                if kind in _TEXT_TYPES:
                    data, cut = self._read_head(response, max_bytes)
                    return FetchedAttachment(data=data, content_type=content_type, cut=cut)
                if kind in _JSON_TYPES:
                    body, cut = self._read_head(response, 2 * max_bytes + 65536)
                    return FetchedAttachment(error="the Binary is too large") if cut else _binary(body)
                return FetchedAttachment(error=f"the FHIR server answered {kind or 'without a content type'}, not text")
        except _Unavailable as exc:
            return FetchedAttachment(error=str(exc))
        except httpx.TimeoutException:
            return FetchedAttachment(error="timed out: the FHIR server did not answer within the time budget")
        except httpx.HTTPError as exc:
            return FetchedAttachment(error=f"cannot reach the FHIR server ({type(exc).__name__})")

    def _read_head(self, response: httpx.Response, max_bytes: int) -> tuple[bytes, bool]:
        """At most ``max_bytes`` of the body (and whether there was more), bounded by the cutoff."""
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            if time.monotonic() >= self.cutoff:
                raise _Unavailable("timed out: the time budget ran out while reading", timed_out=True)
            chunks.append(chunk)
            size += len(chunk)
            if size > max_bytes:
                return b"".join(chunks)[:max_bytes], True
        return b"".join(chunks), False

    def _same_server(self, url: str) -> bool:
        """``url`` is on this FHIR server (scheme, host, port, base path); a URL that does not parse
        ("https://[::1", a port out of range) is not, and is never fetched."""
        try:
            a, b = urlsplit(url), urlsplit(self.base)
            return (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port) and a.path.startswith(b.path)
        except ValueError:
            return False

    def _get(self, url: str) -> dict[str, Any]:
        """GET one URL and return its FHIR JSON object, all waits bounded by the cutoff."""
        left = self.cutoff - time.monotonic()
        if left <= 0:
            raise _Unavailable(_OUT_OF_TIME, timed_out=True)
        try:
            with self.client.stream("GET", url, headers=self.headers, timeout=httpx.Timeout(left)) as response:
                body = self._read(response)
        except httpx.TimeoutException:
            raise _Unavailable("timed out: the FHIR server did not answer within the time budget",
                               timed_out=True) from None
        except httpx.HTTPError as exc:
            raise _Unavailable(f"cannot reach the FHIR server ({type(exc).__name__})") from None
        try:
            value = json.loads(body)
        except ValueError:
            raise _Unavailable("the FHIR server's answer is not JSON") from None
        if not isinstance(value, dict) or not isinstance(value.get("resourceType"), str):
            raise _Unavailable("the FHIR server's answer is not a FHIR resource")
        if is_operation_outcome(value):
            raise _Unavailable("the FHIR server answered with an OperationOutcome")
        return value

    def _read(self, response: httpx.Response) -> bytes:
        if response.status_code != 200:
            raise _Unavailable(_status_reason(response.status_code))
        ctype = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if ctype not in _JSON_TYPES:
            raise _Unavailable(f"the FHIR server answered {ctype or 'without a content type'}, not FHIR JSON")
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > _MAX_PAGE_BYTES:
                raise _Unavailable("the FHIR server's answer is too large")
            if time.monotonic() >= self.cutoff:
                raise _Unavailable("timed out: the time budget ran out while reading", timed_out=True)
            chunks.append(chunk)
        return b"".join(chunks)


def _status_reason(status: int) -> str:
    if status in (401, 403):
        return f"the FHIR server refused access (HTTP {status})"
    if status == 404:
        return "not found on the FHIR server (HTTP 404)"
    if 300 <= status < 400:
        return f"the FHIR server redirected (HTTP {status}); redirects are not followed"
    return f"the FHIR server answered HTTP {status}"


def _binary(body: bytes) -> FetchedAttachment:
    """The content of a FHIR ``Binary`` resource (R4: ``contentType`` and base64 ``data``)."""
    try:
        value = json.loads(body)
    except ValueError:
        return FetchedAttachment(error="the FHIR server's answer is not JSON")
    if not isinstance(value, dict) or value.get("resourceType") != "Binary" or not isinstance(value.get("data"), str):
        return FetchedAttachment(error="the FHIR server's answer is not a Binary with data")
    try:
        data = base64.b64decode("".join(value["data"].split()), validate=True)
    except (binascii.Error, ValueError):
        return FetchedAttachment(error="the Binary's data is not valid base64")
    return FetchedAttachment(data=data, content_type=str(value.get("contentType") or ""))


def _next_link(bundle: Mapping[str, Any]) -> str | None:
    for link in bundle.get("link") or []:
        if isinstance(link, dict) and link.get("relation") == "next" and isinstance(link.get("url"), str):
            return str(link["url"])
    return None
