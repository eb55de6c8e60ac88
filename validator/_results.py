"""What a check reports: one `Failure` per broken rule, one `ApiError` body per payload, and
the `Result` that carries both."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import orjson

from ._catalog import Code
from ._exceptions import ValidatorError

Path = tuple[str | int, ...]


@dataclass(slots=True)
class Failure:
    """One broken rule: what was wrong, where, and which code it yields (SPEC §2 `context`).

    Not frozen: a frozen dataclass costs several times more to build, and an invalid payload
    in a batch run builds one per failure. Treat it as read-only all the same.
    """

    code: int
    field_name: Path
    original_value: Any
    description: str
    validation_type: str = "body"
    limits: dict[str, Any] | None = None
    expected_type: list[str] | None = None
    allowed_values: list[Any] | None = None
    regex: str | None = None
    # The schema keyword that failed; not part of the body, but useful to callers and tests.
    keyword: str = field(default="", compare=False)

    def to_context(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "validationType": self.validation_type,
            "fieldName": list(self.field_name),
            "originalValue": self.original_value,
            "errorDescription": self.description,
            "code": self.code,
        }
        if self.limits is not None:
            entry["limits"] = self.limits
        if self.expected_type is not None:
            entry["expectedType"] = self.expected_type
        if self.allowed_values is not None:
            entry["allowedValues"] = self.allowed_values
        if self.regex is not None:
            entry["regex"] = self.regex
        return entry


def new_uuid() -> str:
    """A random (version 4) UUID as text, without building a `uuid.UUID` object: a refused
    payload in a batch run pays for one of these."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


@dataclass(slots=True)
class ApiError:
    """An error body as the API renders it (SPEC §2), with its HTTP status. Treat as read-only
    (not frozen, for the same reason as `Failure`)."""

    http_status: int
    code: int
    code_description: str
    message: str
    more_info: str
    context: list[dict[str, Any]] | dict[str, Any]
    uuid: str = field(default_factory=new_uuid)
    failures: tuple[Failure, ...] = field(default=(), compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "httpStatus": self.http_status,
            "code": self.code,
            "codeDescription": self.code_description,
            "message": self.message,
            "moreInfo": self.more_info,
            "context": self.context,
            "uuid": self.uuid,
        }

    def to_json(self) -> bytes:
        """The body as compact UTF-8 JSON bytes (non-ASCII kept as is)."""
        return orjson.dumps(self.to_dict(), option=orjson.OPT_NON_STR_KEYS)

    def __str__(self) -> str:
        return f"{self.code} ({self.http_status}): {self.message}"


@dataclass(frozen=True, slots=True)
class Result:
    """The verdict on one payload: `ok`, the ordered `failures`, and the API's error body."""

    failures: tuple[Failure, ...]
    error: ApiError | None

    @property
    def ok(self) -> bool:
        return self.error is None

    def __bool__(self) -> bool:
        return self.error is None

    def raise_for_error(self) -> None:
        if self.error is not None:
            raise ValidationFailed(self)

    @property
    def unverified(self) -> bool:
        """Every failure is a check that could not be made (1010), so the payload is
        neither known good nor known bad (SPEC §6)."""
        return only_unverifiable(self.failures)


def only_unverifiable(failures: tuple[Failure, ...] | list[Failure]) -> bool:
    """Failures that all say "the check could not be made" (1010): unverified, not invalid."""
    return bool(failures) and all(f.code == Code.EXTERNAL_ERROR for f in failures)


class ValidationFailed(ValidatorError):
    """Raised by `Result.raise_for_error()`; carries the API error body.

    It lives beside `Result` rather than in `_exceptions` so that neither module needs the
    other's names at import time."""

    def __init__(self, result: Result) -> None:
        assert result.error is not None
        super().__init__(str(result.error))
        self.result = result
        self.error: ApiError = result.error
