"""What a check reports: one `Failure` per broken rule, one `ApiError` body per payload, and
the `Result` that carries both."""

from __future__ import annotations

import binascii
import os
from dataclasses import dataclass, field
from decimal import Decimal
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
            "fieldName": [*self.field_name],
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


BODY_DEPTH = 200
"""Containers nested deeper than this inside an error body are written as `TOO_DEEP` (orjson
writes at most 254 levels; payloads past the engine's own limit never get this far)."""
TOO_DEEP = "[nested too deep to show]"
_INT_MIN, _INT_END = -(2**63), 2**64


def _text(value: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        # Lone surrogates (from `json.loads("\\ud800")`) have no UTF-8 form: each becomes
        # U+FFFD, while a surrogate pair becomes the character it stands for.
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return value


def _digits(value: int) -> str | None:
    try:
        return str(value)
    except ValueError:  # more digits than sys.get_int_max_str_digits() allows to print
        return None


def _integer(value: int) -> Any:
    digits = _digits(value)
    # Outside 64 bits orjson refuses an int: written as the same JSON number.
    return orjson.Fragment(digits) if digits is not None else \
        f"[an integer of {value.bit_length()} bits]"


def _key(key: Any) -> Any:
    if isinstance(key, str):
        return _text(key)
    if isinstance(key, bool) or key is None or isinstance(key, float):
        return key
    if isinstance(key, int):
        return key if _INT_MIN <= key < _INT_END else \
            (_digits(key) or f"[an integer of {key.bit_length()} bits]")
    return _text(str(key))


def json_safe(value: Any, depth: int = 0) -> Any:
    """`value` in a form orjson always writes: integers outside 64 bits as the same JSON
    numbers, lone surrogates as U+FFFD, containers deeper than `BODY_DEPTH` as `TOO_DEEP`."""
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return value
    if isinstance(value, int):
        return value if _INT_MIN <= value < _INT_END else _integer(value)
    if isinstance(value, dict | list | tuple):
        if depth >= BODY_DEPTH:
            return TOO_DEEP
        if isinstance(value, dict):
            return {_key(k): json_safe(v, depth + 1) for k, v in value.items()}
        return [json_safe(v, depth + 1) for v in value]
    return value


def _unknown(value: Any) -> Any:
    # orjson's `default`: objects it has no rule for (a Decimal or a set in a dict passed in).
    if isinstance(value, Decimal) and value.is_finite():
        return orjson.Fragment(str(value))
    if isinstance(value, set | frozenset):
        return [json_safe(v) for v in value]
    return _text(str(value))


def dumps(value: Any, option: int = 0) -> bytes:
    """orjson's JSON bytes of `value` (non-string keys allowed), falling back to `json_safe`
    where orjson refuses: never raises."""
    option |= orjson.OPT_NON_STR_KEYS
    try:
        return orjson.dumps(value, option=option)
    except TypeError:
        # Rare (data passed in as Python objects, or schema values): the rewrite costs only
        # then.
        return orjson.dumps(json_safe(value), option=option, default=_unknown)


_UUID_BATCH = 256
_uuids: list[str] = []
# A forked worker must not hand out the UUIDs its parent already holds.
os.register_at_fork(after_in_child=_uuids.clear)


# The version (4) and variant (RFC 4122) bits of every UUID of a batch, set with one AND and
# one OR over the batch as a single integer instead of two byte stores per UUID.
_UUID_KEEP = int.from_bytes(bytes.fromhex("ffffffffffff0fff3fffffffffffffff") * _UUID_BATCH, "big")
_UUID_SET = int.from_bytes(bytes.fromhex("00000000000040008000000000000000") * _UUID_BATCH, "big")


# Where each character of a UUID's text comes from among its 32 hex digits (the others are
# its four dashes).
_UUID_DIGITS = [(k, k - (k > 8) - (k > 13) - (k > 18) - (k > 23)) for k in range(36)
                if k not in (8, 13, 18, 23)]


def _fresh_uuids() -> list[str]:
    raw = (int.from_bytes(os.urandom(16 * _UUID_BATCH), "big") & _UUID_KEEP) | _UUID_SET
    digits = binascii.hexlify(raw.to_bytes(16 * _UUID_BATCH, "big"))
    # The texts are written a column at a time (one strided copy moves that character of all
    # of them), not a UUID at a time: a third of the cost.
    out = bytearray(b"-" * (37 * _UUID_BATCH))
    for column, digit in _UUID_DIGITS:
        out[column::37] = digits[digit::32]
    out[36::37] = b" " * _UUID_BATCH
    return out.decode("ascii").split()


def new_uuid() -> str:
    """A random (version 4) UUID as text, without building a `uuid.UUID` object: a refused
    payload in a batch run pays for one of these, so they are made a batch at a time (one
    system call for `_UUID_BATCH`), each handed out once (`list.pop` is atomic)."""
    try:
        return _uuids.pop()
    except IndexError:
        _uuids.extend(_fresh_uuids())
        return _uuids.pop()


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

    def to_json(self, *, indent: bool = False) -> bytes:
        """The body as compact (or, with `indent`, indented) UTF-8 JSON bytes, non-ASCII kept
        as is. It never raises: what orjson cannot write is written as `json_safe` says."""
        return dumps(self.to_dict(), orjson.OPT_INDENT_2 if indent else 0)

    def __str__(self) -> str:
        return f"{self.code} ({self.http_status}): {self.message}"


@dataclass(frozen=True, slots=True)
class HygieneWarning:
    """A list-hygiene remark on a value the API would accept or refuse alike (a disposable
    domain, a role account, a likely typo, a likely duplicate): never part of a verdict or an
    error body. ``kind`` is one of ``validator.hygiene.KINDS``; ``suggestion`` the likely
    intended value, where there is one."""

    kind: str
    field_name: Path
    value: Any
    message: str
    suggestion: str | None = None


@dataclass(frozen=True, slots=True)
class Result:
    """The verdict on one payload: `ok`, the ordered `failures`, and the API's error body;
    `warnings` are list-hygiene remarks (`validator.hygiene.with_warnings`), never a verdict."""

    failures: tuple[Failure, ...]
    error: ApiError | None
    warnings: tuple[HygieneWarning, ...] = ()

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
    # Almost always decided by the first failure: the generator only runs when it is a 1010.
    return bool(failures) and failures[0].code == _EXTERNAL_ERROR \
        and all(f.code == _EXTERNAL_ERROR for f in failures)


# Read once: an IntEnum member looked up on its class costs a descriptor call each time.
_EXTERNAL_ERROR = Code.EXTERNAL_ERROR


class ValidationFailed(ValidatorError):
    """Raised by `Result.raise_for_error()`; carries the API error body.

    It lives beside `Result` rather than in `_exceptions` so that neither module needs the
    other's names at import time."""

    def __init__(self, result: Result) -> None:
        assert result.error is not None
        super().__init__(str(result.error))
        self.result = result
        self.error: ApiError = result.error
