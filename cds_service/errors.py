"""The ServiceError family: every error the service can answer with.

Lower layers raise these; only ``app.py`` turns them into HTTP responses. Each class
carries its HTTP status and a stable error code that logs and tests can search for.

Our exception hierarchy::

    ServiceError
    ├── BadRequestError (400)
    │   ├── InvalidJSONError         bad-json
    │   ├── SchemaValidationError    schema-violation (carries details)
    │   ├── InvalidPrefetchError     invalid-prefetch (prefetch resource not valid FHIR R4)
    │   ├── InvalidBundleError       invalid-bundle
    │   └── HookMismatchError        hook-mismatch
    ├── AuthenticationError (401)    never carries detail to the caller
    ├── NotFoundError (404)
    │   └── UnknownServiceError      unknown-service
    ├── PreconditionFailedError (412) prefetch-unavailable
    ├── PayloadTooLargeError (413)
    ├── UnsupportedMediaTypeError (415)
    └── ServiceUnavailableError (503) service-unavailable (a dependency such as the database is down)
    ConfigurationError               raised at start-up, never over HTTP
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass(frozen=True)
class ErrorDetail:
    """One problem inside a request: a JSON path and what is wrong there."""

    path: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message}


class ServiceError(Exception):
    """Base of every error answered over HTTP."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal-error"

    def __init__(self, message: str, details: list[ErrorDetail] | None = None,
                 extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []
        self.extra = extra or {}

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.details:
            body["details"] = [d.to_json() for d in self.details]
        body.update(self.extra)
        return body


class BadRequestError(ServiceError):
    status = 400
    code = "bad-request"


class InvalidJSONError(BadRequestError):
    code = "bad-json"


class SchemaValidationError(BadRequestError):
    code = "schema-violation"


class InvalidPrefetchError(BadRequestError):
    """A prefetched resource the logic reads is not valid FHIR R4."""

    code = "invalid-prefetch"


class InvalidBundleError(BadRequestError):
    code = "invalid-bundle"


class HookMismatchError(BadRequestError):
    code = "hook-mismatch"


class AuthenticationError(ServiceError):
    """The caller is not a trusted CDS client. The reason is logged, never returned."""

    status = 401
    code = "unauthorized"


class NotFoundError(ServiceError):
    status = 404
    code = "not-found"


class UnknownServiceError(NotFoundError):
    code = "unknown-service"


class PreconditionFailedError(ServiceError):
    """Data the logic needs is neither prefetched nor fetchable (CDS Hooks 2.0: 412)."""

    status = 412
    code = "prefetch-unavailable"


class PayloadTooLargeError(ServiceError):
    status = 413
    code = "payload-too-large"


class UnsupportedMediaTypeError(ServiceError):
    status = 415
    code = "unsupported-media-type"


class ServiceUnavailableError(ServiceError):
    """A dependency the answer needs (the shared jti store's database) cannot be reached."""

    status = 503
    code = "service-unavailable"


class ConfigurationError(Exception):
    """A setting or a packaged data file is wrong; raised at start-up."""
