"""Validate JSON request payloads the way the GetResponse REST API v3 does.

    >>> from validator import validate
    >>> result = validate({"email": "john@example.com"}, "contacts.create")
    >>> result.ok, result.error.code
    (False, 1005)
"""

from ._api import Result, Validator, validate
from ._catalog import ErrorCatalog, ErrorCode
from ._dns import DNSCache, DomainVerdict, MXChecker
from ._errors import ApiError, Failure, SchemaError, UnknownSchema, ValidationFailed
from ._registry import SchemaRegistry, default_registry


def register_schema(name: str, schema: object) -> None:
    """Add a schema document under `name` to the default registry."""
    default_registry().register(name, schema)


def register_schemas(path: str) -> list[str]:
    """Add a schema file, or every `*.json` file of a folder, to the default registry."""
    from pathlib import Path

    target = Path(path)
    if target.is_dir():
        return default_registry().register_dir(target)
    return [default_registry().register_file(target)]


def schema_names() -> list[str]:
    """The names `validate` and `Validator` accept."""
    return default_registry().names()


__all__ = [
    "ApiError",
    "DNSCache",
    "DomainVerdict",
    "ErrorCatalog",
    "ErrorCode",
    "Failure",
    "MXChecker",
    "Result",
    "SchemaError",
    "SchemaRegistry",
    "UnknownSchema",
    "ValidationFailed",
    "Validator",
    "default_registry",
    "register_schema",
    "register_schemas",
    "schema_names",
    "validate",
]
