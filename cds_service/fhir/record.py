"""PatientRecord: a typed view (fhir.resources R4B models) of only the resources we read.

Validation is not free (about a quarter of a millisecond per resource, and a Synthea
patient carries hundreds), so the builder validates only the resource types the
clinical logic reads, and for large types (Observation) only the entries whose code a
caller-supplied filter keeps. Everything else is ignored without parsing.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from fhir.resources.R4B.condition import Condition
from fhir.resources.R4B.diagnosticreport import DiagnosticReport
from fhir.resources.R4B.encounter import Encounter
from fhir.resources.R4B.imagingstudy import ImagingStudy
from fhir.resources.R4B.medicationrequest import MedicationRequest
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.procedure import Procedure
from fhir.resources.R4B.resource import Resource
from fhir.resources.R4B.servicerequest import ServiceRequest
from pydantic import ValidationError

from ..errors import ErrorDetail, InvalidPrefetchError

#: resourceType -> model class, for every type the logic reads.
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


@dataclass(frozen=True)
class PatientRecord:
    """Everything the clinical logic may read about one patient and one encounter.

    ``unavailable`` names the data categories (prefetch keys) that could not be had,
    so the logic and the log can say what a decision was made without.
    """

    patient: Patient | None = None
    encounter: Encounter | None = None
    conditions: tuple[Condition, ...] = ()
    observations: tuple[Observation, ...] = ()
    medication_requests: tuple[MedicationRequest, ...] = ()
    service_requests: tuple[ServiceRequest, ...] = ()
    diagnostic_reports: tuple[DiagnosticReport, ...] = ()
    imaging_studies: tuple[ImagingStudy, ...] = ()
    procedures: tuple[Procedure, ...] = ()
    unavailable: frozenset[str] = frozenset()
    index: Mapping[str, Resource] = field(default_factory=dict, repr=False)

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
            kept only when its filter returns True (used to skip irrelevant Observations).
    """

    keep: Mapping[str, ResourceFilter] = field(default_factory=dict)
    _raw: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)  # ref -> (source, json)
    _aliases: dict[str, str] = field(default_factory=dict)  # fullUrl -> Type/id
    _anonymous: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    unavailable: set[str] = field(default_factory=set)

    def add(self, source: str, value: Any) -> None:
        """Add a prefetch value, fetched result or Bundle under a ``source`` name (the key)."""
        for full_url, resource in iter_resources(value):
            rtype = resource.get("resourceType")
            if rtype not in MODELS:
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

    def build(self, patient_id: str | None = None, encounter_id: str | None = None) -> PatientRecord:
        """Validate what the logic reads and assemble the record.

        Args:
            patient_id: the context patient; when given, the Patient with that id is chosen.
            encounter_id: the context encounter; when given, that Encounter is chosen.

        Raises:
            InvalidPrefetchError: a resource the logic reads is not valid FHIR R4; the
                message names the source key, the resource and the field.
        """
        index: dict[str, Resource] = {}
        by_type: dict[str, list[Resource]] = {t: [] for t in MODELS}
        entries = list(self._raw.items()) + [(f"{r.get('resourceType')}/", (s, r)) for s, r in self._anonymous]
        _check_context_patient(entries, patient_id)
        owner = patient_id or _single_patient_id(entries)
        for ref, (source, raw) in entries:
            rtype = raw["resourceType"]
            keep = self.keep.get(rtype)
            if keep is not None and not keep(raw):
                continue
            if owner is not None:
                self._check_subject(raw, source, owner)
            model = validate_resource(raw, source)
            by_type[rtype].append(model)
            if not ref.endswith("/"):
                index[ref] = model
        for alias, ref in self._aliases.items():
            if ref in index:
                index[alias] = index[ref]
        return PatientRecord(
            patient=_choose(by_type["Patient"], patient_id),
            encounter=((_choose(by_type["Encounter"], encounter_id) if encounter_id else None)
                       or current_encounter(by_type["Encounter"])),  # type: ignore[arg-type]
            conditions=tuple(by_type["Condition"]),  # type: ignore[arg-type]
            observations=tuple(by_type["Observation"]),  # type: ignore[arg-type]
            medication_requests=tuple(by_type["MedicationRequest"]),  # type: ignore[arg-type]
            service_requests=tuple(by_type["ServiceRequest"]),  # type: ignore[arg-type]
            diagnostic_reports=tuple(by_type["DiagnosticReport"]),  # type: ignore[arg-type]
            imaging_studies=tuple(by_type["ImagingStudy"]),  # type: ignore[arg-type]
            procedures=tuple(by_type["Procedure"]),  # type: ignore[arg-type]
            unavailable=frozenset(self.unavailable),
            index=index,
        )


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


def _single_patient_id(entries: list[tuple[str, tuple[str, dict[str, Any]]]]) -> str | None:
    ids = {raw.get("id") for _, (_, raw) in entries if raw.get("resourceType") == "Patient"}
    return next(iter(ids)) if len(ids) == 1 and None not in ids else None


def _check_context_patient(entries: list[tuple[str, tuple[str, dict[str, Any]]]], patient_id: str | None) -> None:
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
        return value.isoformat() if value is not None else ""

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
    """Parse one resource into its R4B model, checking the status bindings we rely on.

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
