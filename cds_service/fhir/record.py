"""PatientRecord: a typed view of only the resources, and only the elements, the logic reads.

Decide before you validate. A Synthea patient carries hundreds of resources and a
fhir.resources R4B model costs 0.1-1.5 ms each, so the builder works in three steps:

1. *prefilter* the raw JSON: only the resource types the logic reads, and for types
   where most resources are never read (Observations, and the orders and results the
   card path matches by code) only those a caller-supplied filter keeps, by code;
2. *validate* the kept resources with light models of the read elements only
   (``fhir/models.py``: same attribute names and value types as the R4B models), so a
   resource invalid in an element the logic reads still gets the 400 naming the key,
   the resource and the element;
3. *defer* the order and result types (ServiceRequest, DiagnosticReport, ImagingStudy,
   Procedure): only the card path reads them, so they are validated the first time it
   does, and never on a call that finds nothing to say.

Work is bounded: at most ``max_per_source`` resources are read per prefetch key
(``CDS_PREFETCH_MAX_RESOURCES``), and validation stops when the call's deadline runs
out; either way the record says it is partial, so only the urgent cards go out.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ..budget import Deadline
from ..errors import ErrorDetail, InvalidPrefetchError
from .models import (
    Condition,
    DiagnosticReport,
    Encounter,
    ImagingStudy,
    MedicationRequest,
    Observation,
    Patient,
    Procedure,
    Resource,
    ServiceRequest,
    ValidationError,
)
from .notes import Note, NoteLimits, NoteSet, Pending, SkippedNote, read_documents

#: resourceType -> light model, for every type the logic reads.
MODELS: dict[str, type[Resource]] = {
    "Patient": Patient,
    "Encounter": Encounter,
    "Condition": Condition,
    "Observation": Observation,
    "MedicationRequest": MedicationRequest,
    "ServiceRequest": ServiceRequest,
    "DiagnosticReport": DiagnosticReport,
    "ImagingStudy": ImagingStudy,
    "Procedure": Procedure,
}
#: Clinical notes: kept raw and read by ``fhir/notes.py``, which never fails the call on a bad note.
NOTE_TYPE = "DocumentReference"
#: Types only the card path reads (orders already placed or resulted): validated on first read.
DEFERRED_TYPES = frozenset({"ServiceRequest", "DiagnosticReport", "ImagingStudy", "Procedure"})
#: Read even when time is short: without them no card can be right (and they are one or a few).
_ALWAYS_READ = frozenset({"Patient", "Encounter"})
#: Where each type carries the codes a code filter matches (``code_filter``).
CODE_ELEMENTS = {"Observation": "code", "ServiceRequest": "code", "DiagnosticReport": "code",
                 "ImagingStudy": "procedureCode", "Procedure": "code", "Condition": "code",
                 "MedicationRequest": "medicationCodeableConcept"}

#: Required-binding status codes of the fields the logic reads. fhir.resources checks
#: the ``code`` datatype's pattern but not these value sets, so a status such as
#: ``Xactive`` would otherwise pass. Source: FHIR R4 (4.0.1) resource definitions.
_STATUS_BINDINGS: dict[str, tuple[str, frozenset[str]]] = {
    "Encounter": ("status", frozenset({"planned", "arrived", "triaged", "in-progress", "onleave",
                                       "finished", "cancelled", "entered-in-error", "unknown"})),
    "Observation": ("status", frozenset({"registered", "preliminary", "final", "amended", "corrected",
                                         "cancelled", "entered-in-error", "unknown"})),
    "MedicationRequest": ("status", frozenset({"active", "on-hold", "cancelled", "completed",
                                               "entered-in-error", "stopped", "draft", "unknown"})),
    "ServiceRequest": ("status", frozenset({"draft", "active", "on-hold", "revoked", "completed",
                                            "entered-in-error", "unknown"})),
    "DiagnosticReport": ("status", frozenset({"registered", "partial", "preliminary", "final", "amended",
                                              "corrected", "appended", "cancelled", "entered-in-error",
                                              "unknown"})),
    "Procedure": ("status", frozenset({"preparation", "in-progress", "not-done", "on-hold", "stopped",
                                       "completed", "entered-in-error", "unknown"})),
    "ImagingStudy": ("status", frozenset({"registered", "available", "cancelled", "entered-in-error",
                                          "unknown"})),
}
_CONDITION_CLINICAL = frozenset({"active", "recurrence", "relapse", "inactive", "remission", "resolved"})
_CONDITION_VERIFICATION = frozenset({"unconfirmed", "provisional", "differential", "confirmed",
                                     "refuted", "entered-in-error"})
_GENDERS = frozenset({"male", "female", "other", "unknown"})

ResourceFilter = Callable[[Mapping[str, Any]], bool]
_Entry = tuple[str, tuple[str, dict[str, Any]]]  # (Type/id, or "Type/" if anonymous; (source, raw))


def code_filter(resource_type: str, codes: Iterable[tuple[str, str]]) -> ResourceFilter:
    """A filter keeping a raw resource of ``resource_type`` when one of its codings is in ``codes``.

    ``codes`` are (system, code) pairs. Run on raw JSON before any model is built, so it
    never fails: a malformed element simply does not match.
    """
    wanted = frozenset(codes)
    element = CODE_ELEMENTS[resource_type]

    def keep(raw: Mapping[str, Any]) -> bool:
        value = raw.get(element)
        for concept in value if isinstance(value, list) else (value,):
            codings = concept.get("coding") if isinstance(concept, Mapping) else None
            for coding in codings if isinstance(codings, list) else ():
                if isinstance(coding, Mapping) and (coding.get("system"), coding.get("code")) in wanted:
                    return True
        return False

    return keep


class Deferred:
    """Order and result resources kept raw until the card path first reads them.

    Loading validates them exactly as the builder would have (filter, subject check,
    light model), so an invalid one read on the card path is the same 400; loaded
    models join the record's index so references to them resolve from then on.
    """

    def __init__(self, entries: Iterable[_Entry] = (), load: Callable[[_Entry], Resource | None] | None = None,
                 index: dict[str, Resource] | None = None, aliases: Mapping[str, str] | None = None,
                 models: Mapping[str, tuple[Resource, ...]] | None = None, deadline: Deadline | None = None) -> None:
        self._entries = list(entries)
        self._deadline = deadline
        self.out_of_time = False  # the deadline ran out while loading: what was read is partial
        self._load = load
        self._index = index if index is not None else {}
        self._aliases = aliases or {}
        self._models: dict[str, tuple[Resource, ...]] | None = dict(models) if models is not None else None

    @classmethod
    def of(cls, *resources: Resource) -> Deferred:
        """Already validated models (a record assembled by hand)."""
        grouped: dict[str, list[Resource]] = {}
        for resource in resources:
            grouped.setdefault(resource.get_resource_type(), []).append(resource)
        return cls(models={k: tuple(v) for k, v in grouped.items()})

    @property
    def loaded(self) -> bool:
        return self._models is not None

    def get(self, resource_type: str) -> tuple[Resource, ...]:
        if self._models is None:
            self._models = self._validate_all()
        return self._models.get(resource_type, ())

    def _validate_all(self) -> dict[str, tuple[Resource, ...]]:
        grouped: dict[str, list[Resource]] = {}
        for entry in self._entries:
            if self._deadline is not None and self._deadline.expired():
                self.out_of_time = True
                break
            model = self._load(entry) if self._load is not None else None
            if model is None:
                continue
            grouped.setdefault(model.get_resource_type(), []).append(model)
            ref = entry[0]
            if not ref.endswith("/"):
                self._index[ref] = model
        for alias, ref in self._aliases.items():
            if alias not in self._index and ref in self._index:
                self._index[alias] = self._index[ref]
        return {k: tuple(v) for k, v in grouped.items()}


@dataclass(frozen=True)
class PatientRecord:
    """Everything the clinical logic may read about one patient and one encounter.

    ``unavailable`` names the data categories (prefetch keys) that could not be had, and
    ``partial`` says some data present was not read (too many resources for one key, or
    the time budget ran out while validating), so the logic and the log can say what a
    decision was made without. The order and result types are validated on first read.
    """

    patient: Patient | None = None
    encounter: Encounter | None = None
    conditions: tuple[Condition, ...] = ()
    observations: tuple[Observation, ...] = ()
    medication_requests: tuple[MedicationRequest, ...] = ()
    unavailable: frozenset[str] = frozenset()
    index: Mapping[str, Resource] = field(default_factory=dict, repr=False)
    deferred: Deferred = field(default_factory=Deferred, repr=False, compare=False)
    partial: bool = False
    notes: tuple[Note, ...] = ()  # the text of DocumentReference attachments, this encounter's first
    pending_notes: tuple[Pending, ...] = ()  # notes given by url, for the pipeline to fetch
    skipped_notes: tuple[SkippedNote, ...] = ()  # notes not read, and why (for the log and audit)

    def with_fetched_notes(self, notes: Iterable[Note], skipped: Iterable[SkippedNote]) -> PatientRecord:
        """This record once its ``url`` notes are fetched: read ones join ``notes``, the rest ``skipped``."""
        return replace(self, notes=self.notes + tuple(notes), pending_notes=(),
                       skipped_notes=self.skipped_notes + tuple(skipped))

    @property
    def service_requests(self) -> tuple[ServiceRequest, ...]:
        return self.deferred.get("ServiceRequest")  # type: ignore[return-value]

    @property
    def diagnostic_reports(self) -> tuple[DiagnosticReport, ...]:
        return self.deferred.get("DiagnosticReport")  # type: ignore[return-value]

    @property
    def imaging_studies(self) -> tuple[ImagingStudy, ...]:
        return self.deferred.get("ImagingStudy")  # type: ignore[return-value]

    @property
    def procedures(self) -> tuple[Procedure, ...]:
        return self.deferred.get("Procedure")  # type: ignore[return-value]

    def resolve(self, reference: str | None) -> Resource | None:
        """The resource a reference (``Condition/1``, a full URL, or ``urn:uuid:..``) points to."""
        if not reference:
            return None
        if reference in self.index:
            return self.index[reference]
        parts = reference.rstrip("/").split("/")
        if len(parts) >= 2:
            return self.index.get(f"{parts[-2]}/{parts[-1]}")
        return None

    @property
    def patient_id(self) -> str | None:
        return self.patient.id if self.patient is not None else None

    @property
    def encounter_id(self) -> str | None:
        return self.encounter.id if self.encounter is not None else None


@dataclass
class RecordBuilder:
    """Collects raw FHIR JSON from prefetch keys, fetches or a Bundle, then builds a record.

    Args:
        keep: optional per-type filters; a raw resource of that type is validated and
            kept only when its filter returns True (used to skip irrelevant Observations
            and orders whose codes no card matches).
        max_per_source: read at most this many resources of the read types per source
            (prefetch key); the rest are counted in ``truncated`` and the record is partial.
    """

    keep: Mapping[str, ResourceFilter] = field(default_factory=dict)
    max_per_source: int | None = None
    note_limits: NoteLimits = field(default_factory=NoteLimits)
    _raw: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)  # ref -> (source, json)
    _aliases: dict[str, str] = field(default_factory=dict)  # fullUrl -> Type/id
    _anonymous: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    _documents: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)  # DocumentReferences
    unavailable: set[str] = field(default_factory=set)
    truncated: dict[str, int] = field(default_factory=dict)  # source -> resources not read
    out_of_time: bool = False

    def add(self, source: str, value: Any) -> None:
        """Add a prefetch value, fetched result or Bundle under a ``source`` name (the key)."""
        read = 0
        for full_url, resource in iter_resources(value):
            rtype = resource.get("resourceType")
            if rtype not in MODELS and rtype != NOTE_TYPE:
                continue
            if self.max_per_source is not None and read >= self.max_per_source:
                self.truncated[source] = self.truncated.get(source, 0) + 1
                continue
            read += 1
            if rtype == NOTE_TYPE:
                key = f"{rtype}/{resource.get('id') or full_url or len(self._documents)}"
                self._documents.setdefault(key, (source, resource))
                continue
            rid = resource.get("id")
            if not isinstance(rid, str) or not rid:
                if rtype in ("Patient", "Encounter") or full_url is None:
                    self._anonymous.append((source, resource))
                    continue
                rid = full_url.rsplit(":", 1)[-1].rsplit("/", 1)[-1]
            ref = f"{rtype}/{rid}"
            self._raw.setdefault(ref, (source, resource))
            if full_url:
                self._aliases[full_url] = ref

    def mark_unavailable(self, source: str) -> None:
        self.unavailable.add(source)

    def build(self, patient_id: str | None = None, encounter_id: str | None = None,
              deadline: Deadline | None = None, reserve_ms: float = 0.0) -> PatientRecord:
        """Validate what the logic reads and assemble the record.

        Args:
            patient_id: the context patient; when given, the Patient with that id is chosen.
            encounter_id: the context encounter; when given, that Encounter is chosen.
            deadline: validation stops, and the record is partial, when less than
                ``reserve_ms`` is left (kept for detection and cards), except for the
                Patient and Encounters; the order and result types, read later on the
                card path, stop when it runs out.

        Raises:
            InvalidPrefetchError: a resource the logic reads is not valid FHIR R4; the
                message names the source key, the resource and the field.
        """
        index: dict[str, Resource] = {}
        by_type: dict[str, list[Resource]] = {t: [] for t in MODELS}
        entries: list[_Entry] = list(self._raw.items())
        entries += [(f"{r.get('resourceType')}/", (s, r)) for s, r in self._anonymous]
        _check_context_patient(entries, patient_id)
        owner = patient_id or _single_patient_id(entries)
        deferred: list[_Entry] = []
        for entry in entries:
            ref, (_, raw) = entry
            rtype = raw["resourceType"]
            if rtype in DEFERRED_TYPES:
                deferred.append(entry)
                continue
            if (deadline is not None and rtype not in _ALWAYS_READ
                    and deadline.remaining_s() * 1000.0 <= reserve_ms):
                self.out_of_time = True
                continue
            model = self._load(entry, owner)
            if model is None:
                continue
            by_type[model.get_resource_type()].append(model)
            if not ref.endswith("/"):
                index[ref] = model
        for alias, ref in self._aliases.items():
            if ref in index:
                index[alias] = index[ref]
        encounter = ((_choose(by_type["Encounter"], encounter_id) if encounter_id else None)
                     or current_encounter(by_type["Encounter"]))  # type: ignore[arg-type]
        notes = self._notes(owner, f"Encounter/{encounter.id}" if encounter is not None and encounter.id else None)
        return PatientRecord(
            patient=_choose(by_type["Patient"], patient_id),
            encounter=encounter,
            conditions=tuple(by_type["Condition"]),  # type: ignore[arg-type]
            observations=tuple(by_type["Observation"]),  # type: ignore[arg-type]
            medication_requests=tuple(by_type["MedicationRequest"]),  # type: ignore[arg-type]
            unavailable=frozenset(self.unavailable),
            index=index,
            deferred=Deferred(deferred, lambda entry: self._load(entry, owner), index, self._aliases,
                              deadline=deadline),
            partial=bool(self.truncated) or self.out_of_time,
            notes=notes.read, pending_notes=notes.pending, skipped_notes=notes.skipped,
        )

    def _notes(self, owner: str | None, encounter: str | None) -> NoteSet:
        """The notes of the DocumentReferences, after the same subject check as every resource."""
        documents = []
        for source, raw in self._documents.values():
            if owner is not None:
                self._check_subject(raw, source, owner)
            documents.append(raw)
        return read_documents(documents, self.note_limits, encounter)

    def _load(self, entry: _Entry, owner: str | None) -> Resource | None:
        """The filtered, subject-checked, validated model of one entry (None when filtered out)."""
        _, (source, raw) = entry
        keep = self.keep.get(raw["resourceType"])
        if keep is not None and not keep(raw):
            return None
        if owner is not None:
            self._check_subject(raw, source, owner)
        return validate_resource(raw, source)

    def _check_subject(self, raw: Mapping[str, Any], source: str, patient_id: str) -> None:
        """Reject a resource about another patient (its subject names a different Patient).

        Deciding on another patient's conditions could show one patient's red flag for
        another: the worst failure this service can have. References that cannot be
        resolved (a ``urn:uuid`` not in the data) are kept.

        Raises:
            InvalidPrefetchError: naming the key, the resource and the field.
        """
        subject = raw.get("subject") or raw.get("patient")
        reference = subject.get("reference") if isinstance(subject, dict) else None
        if not isinstance(reference, str) or not reference:
            return
        target = self._aliases.get(reference, reference).rstrip("/").split("/")
        if len(target) < 2 or target[-2] != "Patient" or target[-1] == patient_id:
            return
        label = f"{raw.get('resourceType')}/{raw.get('id', '?')}"
        field_name = "subject" if "subject" in raw else "patient"
        raise InvalidPrefetchError(
            f"{label} in {source!r} is about another patient ({reference}), not {patient_id!r}",
            details=[ErrorDetail(path=f"{source}:{label}.{field_name}.reference",
                                 message=f"expected Patient/{patient_id}")],
            extra={"prefetchKey": source, "resource": label})


def _single_patient_id(entries: list[_Entry]) -> str | None:
    ids = {raw.get("id") for _, (_, raw) in entries if raw.get("resourceType") == "Patient"}
    return next(iter(ids)) if len(ids) == 1 and None not in ids else None


def _check_context_patient(entries: list[_Entry], patient_id: str | None) -> None:
    """Reject a Patient that is not the context patient.

    Per the CDS Hooks specification prefetched data is what ``Patient/{{context.patientId}}``
    would return; a Patient with another id means the client sent another patient's data,
    and deciding on it (or silently without it) could show one patient's guidance for another.

    Raises:
        InvalidPrefetchError: naming the key and the resource.
    """
    if patient_id is None:
        return
    patients = [(source, raw) for _, (source, raw) in entries
                if raw.get("resourceType") == "Patient" and raw.get("id")]
    if patients and all(raw["id"] != patient_id for _, raw in patients):
        source, raw = patients[0]
        label = f"Patient/{raw['id']}"
        raise InvalidPrefetchError(
            f"{label} in {source!r} is not the context patient {patient_id!r}",
            details=[ErrorDetail(path=f"{source}:{label}.id", message=f"expected {patient_id!r}")],
            extra={"prefetchKey": source, "resource": label})


def _choose(models: list[Resource], wanted_id: str | None) -> Any:
    if wanted_id is not None:
        for model in models:
            if model.id == wanted_id:
                return model
        return None
    return models[0] if models else None


def current_encounter(encounters: list[Encounter]) -> Encounter | None:
    """The encounter a decision is about when none is named: the latest in-progress one,
    else the most recent by period start (then by period end)."""
    if not encounters:
        return None

    def start(e: Encounter) -> str:
        period = e.period
        value = (period.start or period.end) if period is not None else None
        if value is None:
            return ""
        return value if isinstance(value, str) else value.isoformat()  # a partial date stays a string

    active = [e for e in encounters if e.status in ("in-progress", "arrived", "triaged")]
    return max(active or encounters, key=start)


def iter_resources(value: Any) -> Iterator[tuple[str | None, dict[str, Any]]]:
    """Yield ``(fullUrl, resource)`` from a resource, a Bundle (any type) or nested Bundles.

    Also unwraps the pre-2.0 prefetch wrapper ``{"response": {...}, "resource": {...}}``
    still seen in published requests.
    """
    if not isinstance(value, dict):
        return
    if "resourceType" not in value and isinstance(value.get("resource"), dict):
        value = value["resource"]
    if value.get("resourceType") == "Bundle":
        for entry in value.get("entry") or []:
            if not isinstance(entry, dict):
                continue
            resource = entry.get("resource")
            if isinstance(resource, dict) and resource.get("resourceType") == "Bundle":
                yield from iter_resources(resource)
            elif isinstance(resource, dict):
                url = entry.get("fullUrl")
                yield (url if isinstance(url, str) else None), resource
        return
    yield None, value


def validate_resource(raw: Mapping[str, Any], source: str) -> Resource:
    """Parse one resource into its light model, checking the status bindings we rely on.

    Raises:
        InvalidPrefetchError: with details naming ``source``, the resource and the field.
    """
    rtype = str(raw.get("resourceType"))
    label = f"{rtype}/{raw.get('id', '?')}"
    try:
        model = MODELS[rtype].model_validate(raw)
    except ValidationError as exc:
        details = [ErrorDetail(path=f"{source}:{label}.{_loc(err['loc'])}", message=err["msg"])
                   for err in exc.errors()[:10]]
        raise InvalidPrefetchError(
            f"{label} in {source!r} is not valid FHIR R4", details=details,
            extra={"prefetchKey": source, "resource": label}) from None
    problems = list(_binding_problems(rtype, raw))
    if problems:
        raise InvalidPrefetchError(
            f"{label} in {source!r} is not valid FHIR R4",
            details=[ErrorDetail(path=f"{source}:{label}.{p}", message=m) for p, m in problems],
            extra={"prefetchKey": source, "resource": label})
    return model


def _loc(loc: Iterable[Any]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(resource)"


def _binding_problems(rtype: str, raw: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    binding = _STATUS_BINDINGS.get(rtype)
    if binding is not None:
        name, allowed = binding
        value = raw.get(name)
        if value is not None and value not in allowed:
            yield name, f"{value!r} is not one of {sorted(allowed)}"
    if rtype == "Condition":
        for name, allowed in (("clinicalStatus", _CONDITION_CLINICAL),
                              ("verificationStatus", _CONDITION_VERIFICATION)):
            concept = raw.get(name)
            codings = concept.get("coding") if isinstance(concept, dict) else None
            for i, coding in enumerate(codings or []):
                code = coding.get("code") if isinstance(coding, dict) else None
                if code is not None and code not in allowed:
                    yield f"{name}.coding[{i}].code", f"{code!r} is not one of {sorted(allowed)}"
    if rtype == "Patient":
        gender = raw.get("gender")
        if gender is not None and gender not in _GENDERS:
            yield "gender", f"{gender!r} is not one of {sorted(_GENDERS)}"
