"""Validate JSON request payloads the way the GetResponse REST API v3 does.

    >>> from validator import validate
    >>> result = validate({"email": "john@example.com"}, "contacts.create")
    >>> result.ok, result.error.code
    (False, 1005)
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._account import Account, AccountError, CustomField
from ._api import Validator, validate
from ._catalog import Code, ErrorCatalog, ErrorCode
from ._exceptions import (
    InputError,
    OpenAPIError,
    OptionsError,
    RulesError,
    SchemaError,
    UnknownSchema,
    ValidatorError,
)
from ._options import FormatChecker, ValidationOptions
from ._registry import SchemaRegistry, default_registry
from ._results import ApiError, Failure, Result, ValidationFailed
from .dns import DNSOptions

if TYPE_CHECKING:
    from .dns import DNSCache, DomainVerdict, MXChecker


def register_schema(name: str, schema: object) -> None:
    """Add a schema document under `name` to the default registry."""
    default_registry().register(name, schema)


def register_schemas(path: str | Path) -> list[str]:
    """Add a schema file, or every `*.json` file of a folder, to the default registry."""
    return default_registry().register_path(path)


def schema_names() -> list[str]:
    """The names `validate` and `Validator` accept."""
    return default_registry().names()


# dnspython is imported with the first MX checker or cache, not with the package.
_LAZY = frozenset({"DNSCache", "DomainVerdict", "MXChecker"})


def __getattr__(name: str) -> Any:
    if name == "__version__":
        # From the installed distribution's metadata, so that pyproject.toml is its one source;
        # read on first use, which keeps importlib.metadata out of `import validator`.
        from importlib.metadata import version

        return version("getresponse-validator")
    if name in _LAZY:
        from . import dns

        return getattr(dns, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Account",
    "AccountError",
    "ApiError",
    "Code",
    "CustomField",
    "DNSCache",
    "DNSOptions",
    "DomainVerdict",
    "ErrorCatalog",
    "ErrorCode",
    "Failure",
    "FormatChecker",
    "InputError",
    "MXChecker",
    "OpenAPIError",
    "OptionsError",
    "Result",
    "RulesError",
    "SchemaError",
    "SchemaRegistry",
    "UnknownSchema",
    "ValidationFailed",
    "ValidationOptions",
    "Validator",
    "ValidatorError",
    "default_registry",
    "register_schema",
    "register_schemas",
    "schema_names",
    "validate",
]
