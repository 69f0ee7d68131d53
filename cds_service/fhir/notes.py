"""Clinical notes the EHR already holds: the text of DocumentReference attachments.

A triage note or a referral letter often says more than the visit-reason code. This module
turns a DocumentReference's attachments into plain text: ``text/plain`` as is, ``text/html``
(and XHTML) with the markup stripped and block boundaries kept as line breaks (so the
sectionizer still sees "HPI:" on its own line). PDFs, images and anything else are ignored.
Inline ``data`` is decoded here; an attachment given by ``url`` is fetched by the caller
(only from the FHIR server the call names) and its bytes decoded here.

Nothing here raises on bad data: a note that cannot be read is skipped with a reason (the
audit row keeps it), never a 400 or 500 for the whole call.
"""
from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

from .prefetch import FetchedAttachment

#: Media types read as text; everything else (application/pdf, image/*) is ignored.
TEXT_TYPES = frozenset({"text/plain"})
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_CURRENT_STATUSES = frozenset({"current"})


@dataclass(frozen=True)
class NoteLimits:
    """How much note text a call reads (``CDS_NOTE_MAX_CHARS``, ``CDS_NOTE_MAX_COUNT``)."""

    max_chars: int = 20_000
    max_count: int = 5


@dataclass(frozen=True)
class Note:
    """The readable text of one attachment, and where it came from."""

    resource_id: str | None
    element: str  # content[0].attachment
    text: str
    encounter: str | None  # DocumentReference.context.encounter[0].reference
    date: str | None  # DocumentReference.date
    truncated: bool = False
    title: str | None = None  # attachment.title, else description, else type.text: how a clinician names it


@dataclass(frozen=True)
class SkippedNote:
    """An attachment that was not read, and why (for the audit trail; never shown to the caller)."""

    resource_id: str | None
    element: str
    reason: str


@dataclass(frozen=True)
class Pending:
    """A text attachment given by ``url``: its bytes must be fetched before it can be read."""

    resource_id: str | None
    element: str
    url: str
    content_type: str
    encounter: str | None
    date: str | None
    title: str | None = None


@dataclass(frozen=True)
class NoteSet:
    """The notes of a record: read, waiting for their ``url`` to be fetched, and skipped."""

    read: tuple[Note, ...] = ()
    pending: tuple[Pending, ...] = ()
    skipped: tuple[SkippedNote, ...] = ()


def read_documents(documents: Sequence[Mapping[str, Any]], limits: NoteLimits,
                   encounter: str | None = None) -> NoteSet:
    """The notes of several DocumentReferences, at most ``limits.max_count`` of them.

    This encounter's notes come first, then the newest: when there are more notes than the
    limit, the ones left out (skipped, with the reason) are the oldest notes of other
    encounters, which say least about today.
    """
    def order(document: Mapping[str, Any]) -> tuple[bool, str]:
        linked = encounter is not None and is_reference_to(_context_encounter(document), encounter)
        return (not linked, _reverse(_text(document.get("date")) or ""))

    read: list[Note] = []
    pending: list[Pending] = []
    skipped: list[SkippedNote] = []
    for document in sorted(documents, key=order):
        notes, waiting, not_read = read_document(document, limits)
        skipped.extend(not_read)
        items: list[Note | Pending] = [*notes, *waiting]
        for item in items:
            if len(read) + len(pending) >= limits.max_count:
                skipped.append(SkippedNote(item.resource_id, item.element,
                                           f"more than {limits.max_count} notes (CDS_NOTE_MAX_COUNT)"))
            elif isinstance(item, Note):
                read.append(item)
            else:
                pending.append(item)
    return NoteSet(tuple(read), tuple(pending), tuple(skipped))


def is_reference_to(reference: str | None, target: str) -> bool:
    """Whether ``reference`` (``Encounter/e1``, a full URL) names ``target`` (``Encounter/e1``)."""
    return reference is not None and (reference == target or reference.rstrip("/").endswith("/" + target))


def _reverse(value: str) -> str:
    """A sort key putting later ISO dates first (ISO strings sort as dates)."""
    return "".join(chr(0x10FFFF - ord(ch)) for ch in value)


def attachments(document: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(element path, attachment) of every content entry of a DocumentReference."""
    for i, content in enumerate(document.get("content") or []):
        attachment = content.get("attachment") if isinstance(content, Mapping) else None
        if isinstance(attachment, Mapping):
            yield f"content[{i}].attachment", attachment


def media_type(attachment: Mapping[str, Any]) -> tuple[str, str]:
    """(media type, charset) of ``contentType`` (``text/plain; charset=utf-8``); charset default UTF-8."""
    raw = str(attachment.get("contentType") or "")
    kind, _, params = raw.partition(";")
    charset = "utf-8"
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name.lower() == "charset" and value:
            charset = value.strip().strip('"').lower()
    return kind.strip().lower(), charset


def read_document(document: Mapping[str, Any], limits: NoteLimits
                  ) -> tuple[list[Note], list[Pending], list[SkippedNote]]:
    """The note of one DocumentReference: read, to fetch, or skipped (with reasons).

    Its text attachments are renditions of one document (FHIR R4 DocumentReference.content),
    so the first readable one is the note and the others are not read again. A document that
    is not ``current`` (superseded, entered-in-error) is skipped whole.
    """
    rid = document.get("id") if isinstance(document.get("id"), str) else None
    if document.get("status") not in _CURRENT_STATUSES:
        return [], [], [SkippedNote(rid, "status", f"status {document.get('status')!r} is not current")]
    encounter, date = _context_encounter(document), _text(document.get("date"))
    skipped: list[SkippedNote] = []
    other_kinds: list[str] = []
    for element, attachment in attachments(document):
        kind, charset = media_type(attachment)
        if kind not in TEXT_TYPES | HTML_TYPES:
            other_kinds.append(kind or "untyped")
            continue  # a PDF or an image: not read, not an error
        title = _title(document, attachment)
        if isinstance(attachment.get("data"), str):
            raw = _b64_head(attachment["data"], limits)
            if raw is None:
                skipped.append(SkippedNote(rid, element, "attachment data is not valid base64"))
                continue
            note = decode_note(raw, kind, charset, limits, rid, element, encounter, date, title=title,
                               cut=len(attachment["data"]) > _b64_chars(limits))
            if isinstance(note, Note):
                return [note], [], skipped
            skipped.append(note)
        elif isinstance(attachment.get("url"), str) and attachment["url"]:
            return [], [Pending(rid, element, attachment["url"], str(attachment.get("contentType") or kind),
                                encounter, date, title)], skipped
        else:
            skipped.append(SkippedNote(rid, element, "text attachment has neither data nor url"))
    if not skipped and other_kinds:  # a print copy beside a text rendition is normal; alone, say so
        skipped.append(SkippedNote(rid, "content", f"no text rendition ({', '.join(sorted(set(other_kinds)))})"))
    return [], [], skipped


def _b64_chars(limits: NoteLimits) -> int:
    """Base64 characters holding the bytes ``decode_note`` reads (4 per 3 bytes, whole quads)."""
    return -(-(limits.max_chars * 4) // 3) * 4


def _b64_head(data: str, limits: NoteLimits) -> bytes | None:
    """The first bytes of base64 ``data`` that can hold ``max_chars`` characters, or None when
    that part is not base64: a 2 MB attachment costs no more to decode than a short one."""
    window = data[: _b64_chars(limits) + 1024]
    head = "".join(window.split())[: _b64_chars(limits)]
    if len(window) < len(data):
        head = head[: len(head) // 4 * 4]  # whole quads of a longer attachment
    try:
        return base64.b64decode(head, validate=True)
    except (binascii.Error, ValueError):
        return None


def decode_note(raw: bytes, kind: str, charset: str, limits: NoteLimits, resource_id: str | None,
                element: str, encounter: str | None, date: str | None, *, title: str | None = None,
                cut: bool = False) -> Note | SkippedNote:
    """Bytes of a text attachment -> a Note (HTML stripped, capped), or why it was skipped.

    Only the first ``4 * max_chars`` bytes are decoded (a 2 MB note costs no more than a short
    one); a character cut in half by that cap is dropped, any other bad byte skips the note.
    ``cut`` says the caller already passed only the head of a longer attachment.
    """
    head = raw[: limits.max_chars * 4]
    cut = cut or len(raw) > len(head)
    try:
        text = head.decode(charset)
    except LookupError:
        return SkippedNote(resource_id, element, f"unknown charset {charset!r}")
    except UnicodeDecodeError as exc:
        if not cut or exc.start < len(head) - 4:
            return SkippedNote(resource_id, element, f"attachment is not valid {charset} (byte {exc.start})")
        text = head[: exc.start].decode(charset)
    if kind in HTML_TYPES:
        text = html_to_text(text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        return SkippedNote(resource_id, element, "attachment has no text")
    return Note(resource_id, element, text[: limits.max_chars], encounter, date, cut or len(text) > limits.max_chars,
                title)


def decode_fetched(pending: Pending, fetched: FetchedAttachment | None, limits: NoteLimits) -> Note | SkippedNote:
    """The note of a ``url`` attachment once fetched, or why it was not read.

    The server's media type and charset win over the attachment's declared ones: they
    describe the bytes actually sent.
    """
    if fetched is None or fetched.error is not None or fetched.data is None:
        why = (fetched.error if fetched is not None else None) or "not fetched"
        return SkippedNote(pending.resource_id, pending.element, f"attachment url not read: {why}")
    kind, charset = media_type({"contentType": fetched.content_type or pending.content_type})
    if kind not in TEXT_TYPES | HTML_TYPES:
        return SkippedNote(pending.resource_id, pending.element, f"the attachment is {kind or 'untyped'}, not text")
    return decode_note(fetched.data, kind, charset, limits, pending.resource_id, pending.element, pending.encounter,
                       pending.date, title=pending.title, cut=fetched.cut)


class _TextExtractor(HTMLParser):
    """Text of an HTML document: block elements become line breaks, script/style are dropped."""

    _BLOCKS = frozenset({"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "section",
                         "article", "header", "footer", "ul", "ol", "table", "dt", "dd", "pre", "hr"})
    _HIDDEN = frozenset({"script", "style", "head", "title"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._HIDDEN:
            self._hidden += 1
        elif tag in self._BLOCKS:
            self.parts.append("\n")
        elif tag in ("td", "th"):
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._HIDDEN:
            self._hidden = max(0, self._hidden - 1)
        elif tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    """Visible text of ``html`` with one line per block; blank runs collapsed."""
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    lines = [" ".join(line.split()) for line in "".join(parser.parts).split("\n")]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip()


def _context_encounter(document: Mapping[str, Any]) -> str | None:
    context = document.get("context")
    encounters = context.get("encounter") if isinstance(context, Mapping) else None
    for ref in encounters or []:
        if isinstance(ref, Mapping) and isinstance(ref.get("reference"), str):
            return str(ref["reference"])
    return None


def _title(document: Mapping[str, Any], attachment: Mapping[str, Any]) -> str | None:
    doc_type = document.get("type")
    return (_text(attachment.get("title")) or _text(document.get("description"))
            or (_text(doc_type.get("text")) if isinstance(doc_type, Mapping) else None))


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
