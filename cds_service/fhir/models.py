"""Light typed models of only the FHIR elements the logic reads, for the hot path.

fhir.resources stays the FHIR model of record (tests, the suggested resources a card
proposes). Validating a whole R4B resource with it costs 0.1-1.5 ms, most of it spent on
elements nothing here reads (a Patient's names and addresses, a report's presented
forms). These models declare the read elements only, with the *same* names and the same
primitive types (``fhir_core.types``: the values come out as the same ``datetime``,
``date``, partial-date ``str`` and ``Decimal`` objects), so the clinical and card code
reads them exactly as it read the R4B models, and a value that is invalid FHIR in a read
element fails here with the same location and message. Elements not declared are ignored,
not checked: a bad value where nothing reads can change no decision.

Two R4B rules that are not about one element are kept for the read elements, taken from
the R4B classes themselves so they cannot drift: a choice element (``value[x]``) may hold
one type only, and a required primitive (``status``) must have a value or an extension.
``tests/fhir/test_models.py`` checks these models against fhir.resources on Synthea, the
corpus, HL7 examples and invalid variants.
"""
from __future__ import annotations

from types import UnionType
from typing import Any, ClassVar, Union, get_args, get_origin

from fhir.resources.R4B.codeableconcept import CodeableConcept as _R4BCodeableConcept
from fhir.resources.R4B.coding import Coding as _R4BCoding
from fhir.resources.R4B.condition import Condition as _R4BCondition
from fhir.resources.R4B.diagnosticreport import DiagnosticReport as _R4BDiagnosticReport
from fhir.resources.R4B.encounter import Encounter as _R4BEncounter
from fhir.resources.R4B.encounter import EncounterDiagnosis as _R4BEncounterDiagnosis
from fhir.resources.R4B.imagingstudy import ImagingStudy as _R4BImagingStudy
from fhir.resources.R4B.medicationrequest import MedicationRequest as _R4BMedicationRequest
from fhir.resources.R4B.observation import Observation as _R4BObservation
from fhir.resources.R4B.observation import ObservationReferenceRange as _R4BObservationReferenceRange
from fhir.resources.R4B.patient import Patient as _R4BPatient
from fhir.resources.R4B.period import Period as _R4BPeriod
from fhir.resources.R4B.procedure import Procedure as _R4BProcedure
from fhir.resources.R4B.quantity import Quantity as _R4BQuantity
from fhir.resources.R4B.reference import Reference as _R4BReference
from fhir.resources.R4B.resource import Resource as _R4BResource
from fhir.resources.R4B.servicerequest import ServiceRequest as _R4BServiceRequest
from fhir_core.fhirabstractmodel import FHIRAbstractModel
from fhir_core.types import CodeType, DateTimeType, DateType, DecimalType, IdType, InstantType, StringType, UriType
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

__all__ = ["Coding", "CodeableConcept", "Reference", "Period", "Quantity", "Resource", "Patient", "Encounter",
           "Condition", "Observation", "MedicationRequest", "ServiceRequest", "DiagnosticReport",
           "ImagingStudy", "Procedure", "ValidationError"]


def _optional_inner(annotation: Any) -> Any:
    """``list[X]`` for ``list[X] | None``."""
    args = [a for a in get_args(annotation) if a is not type(None)]
    return args[0] if get_origin(annotation) in (Union, UnionType) and len(args) == 1 else annotation


def _choice_required(extra: Any) -> bool:
    return isinstance(extra, dict) and extra.get("one_of_many_required") is True


def _has_extension(value: Any) -> bool:
    return isinstance(value, dict) and bool(value.get("extension"))


class Element(BaseModel):
    """A FHIR datatype, reduced to the elements read, shaped as its R4B class (``r4b``) requires.

    Undeclared elements are not validated, but their names are: a key R4B does not know
    (``onsetDatetime`` for ``onsetDateTime``) is an error, as in R4B, since a misspelt read
    element would otherwise silently read as absent. A null inside a list of complex
    elements is an error on the list itself, also as in R4B.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)
    r4b: ClassVar[type[FHIRAbstractModel]] = FHIRAbstractModel
    known_keys: ClassVar[frozenset[str]] = frozenset()
    complex_lists: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        cls.known_keys = frozenset(f.alias or n for n, f in cls.r4b.model_fields.items()) | {"resourceType"}
        cls.complex_lists = tuple(name for name, info in cls.model_fields.items()
                                  if get_origin(_optional_inner(info.annotation)) is list)

    @model_validator(mode="before")
    @classmethod
    def _r4b_shape(cls, data: Any) -> Any:
        if type(data) is dict:
            if not data.keys() <= cls.known_keys:
                raise _shape_error(cls, data)
            for name in cls.complex_lists:
                value = data.get(name)
                if type(value) is list and None in value:
                    raise _shape_error(cls, data)
        return data


def _shape_error(cls: type[Element], data: dict[str, Any]) -> ValidationError:
    errors: list[InitErrorDetails] = [
        {"type": PydanticCustomError("extra_forbidden", "Extra inputs are not permitted"),
         "loc": (key,), "input": data[key]} for key in sorted(data.keys() - cls.known_keys)]
    errors += [{"type": PydanticCustomError("list_type", "None is not allowed as an element of {field}",
                                            {"field": name}), "loc": (name,), "input": data[name]}
               for name in cls.complex_lists if isinstance(data.get(name), list) and None in data[name]]
    return ValidationError.from_exception_data(cls.__name__, errors)


class Coding(Element):
    r4b = _R4BCoding
    system: UriType | None = None
    code: CodeType | None = None
    display: StringType | None = None


class CodeableConcept(Element):
    r4b = _R4BCodeableConcept
    coding: list[Coding] | None = None
    text: StringType | None = None


class Reference(Element):
    r4b = _R4BReference
    reference: StringType | None = None


class Period(Element):
    r4b = _R4BPeriod
    start: DateTimeType | None = None
    end: DateTimeType | None = None


class Quantity(Element):
    r4b = _R4BQuantity
    value: DecimalType | None = None
    unit: StringType | None = None
    code: CodeType | None = None


class ObservationReferenceRange(Element):
    r4b = _R4BObservationReferenceRange
    low: Quantity | None = None
    high: Quantity | None = None


class EncounterDiagnosis(Element):
    r4b = _R4BEncounterDiagnosis
    condition: Reference


class Resource(Element):
    """A resource reduced to what is read, checked with its R4B class's cross-element rules.

    Subclasses name their R4B class in ``r4b``; the choice groups and required primitives
    of the elements they declare are taken from it when the class is created.
    """

    r4b = _R4BResource
    #: (every R4B member, the same as a set, required) for choice groups with a declared member
    choices: ClassVar[tuple[tuple[tuple[str, ...], frozenset[str], bool], ...]] = ()
    #: required primitive elements that are declared (a value or an extension must be present)
    required_primitives: ClassVar[tuple[str, ...]] = ()

    id: IdType | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        declared = set(cls.__annotations__)
        blank = cls.r4b.model_construct()
        fields = cls.r4b.model_fields
        cls.choices = tuple((tuple(members), frozenset(members), _choice_required(fields[members[0]].json_schema_extra))
                            for members in blank.get_one_of_many_fields().values() if declared & set(members))
        cls.required_primitives = tuple(name for name, _ in blank.get_required_fields() if name in declared)

    @classmethod
    def get_resource_type(cls) -> str:
        return cls.__name__

    @model_validator(mode="before")
    @classmethod
    def _r4b_rules(cls, data: Any) -> Any:
        """One type per choice element; required primitives present (FHIR allows an extension instead)."""
        if not isinstance(data, dict):
            return data
        keys = data.keys()
        for members, member_set, required in cls.choices:
            if len(keys & member_set) > 1 and sum(data[m] is not None for m in keys & member_set) > 1:
                raise ValueError(  # fhir.resources' own wording, so the 400 reads the same
                    f"Any of one field value is expected from this list {list(members)}, but got multiple!")
            if required and not any(data.get(m) is not None for m in keys & member_set):
                raise ValueError(f"Expect any of field value from this list {list(members)}.")
        errors: list[InitErrorDetails] = []
        for name in cls.required_primitives:
            if data.get(name) is None and not _has_extension(data.get(f"_{name}")):
                errors.append({"type": PydanticCustomError("model_field_validation.missing",
                                                           "Value for the field '{field_name}' is required.",
                                                           {"field_name": name}),
                               "loc": (name,), "input": None})
        if errors:
            raise ValidationError.from_exception_data(cls.__name__, errors)
        return data


class Patient(Resource):
    r4b = _R4BPatient
    birthDate: DateType | None = None
    gender: CodeType | None = None


class Encounter(Resource):
    r4b = _R4BEncounter
    status: CodeType | None = None
    period: Period | None = None
    reasonCode: list[CodeableConcept] | None = None
    reasonReference: list[Reference] | None = None
    diagnosis: list[EncounterDiagnosis] | None = None


class Condition(Resource):
    r4b = _R4BCondition
    code: CodeableConcept | None = None
    clinicalStatus: CodeableConcept | None = None
    verificationStatus: CodeableConcept | None = None
    encounter: Reference | None = None
    onsetDateTime: DateTimeType | None = None
    recordedDate: DateTimeType | None = None


class Observation(Resource):
    r4b = _R4BObservation
    status: CodeType | None = None
    code: CodeableConcept | None  # required (R4B: a missing code is an error, an explicit null is not)
    encounter: Reference | None = None
    effectiveDateTime: DateTimeType | None = None
    effectivePeriod: Period | None = None
    issued: InstantType | None = None
    valueString: StringType | None = None
    valueCodeableConcept: CodeableConcept | None = None
    valueQuantity: Quantity | None = None
    interpretation: list[CodeableConcept] | None = None
    referenceRange: list[ObservationReferenceRange] | None = None


class MedicationRequest(Resource):
    r4b = _R4BMedicationRequest
    status: CodeType | None = None
    medicationCodeableConcept: CodeableConcept | None = None


class ServiceRequest(Resource):
    r4b = _R4BServiceRequest
    status: CodeType | None = None
    code: CodeableConcept | None = None
    authoredOn: DateTimeType | None = None
    occurrenceDateTime: DateTimeType | None = None


class DiagnosticReport(Resource):
    r4b = _R4BDiagnosticReport
    status: CodeType | None = None
    code: CodeableConcept | None  # required, as for Observation
    effectiveDateTime: DateTimeType | None = None
    issued: InstantType | None = None


class ImagingStudy(Resource):
    r4b = _R4BImagingStudy
    status: CodeType | None = None
    procedureCode: list[CodeableConcept] | None = None
    started: DateTimeType | None = None


class Procedure(Resource):
    r4b = _R4BProcedure
    status: CodeType | None = None
    code: CodeableConcept | None = None
    performedDateTime: DateTimeType | None = None
    performedPeriod: Period | None = None
