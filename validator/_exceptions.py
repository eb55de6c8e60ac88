"""Every exception the package raises on purpose derives from `ValidatorError`, so one
`except validator.ValidatorError` catches them all; each keeps the standard base that says
what kind of mistake it is (`LookupError`, `ValueError`)."""

from __future__ import annotations


class ValidatorError(Exception):
    """The base of every exception the package raises on purpose."""


class UnknownSchema(ValidatorError, LookupError):
    """A schema name that no registry knows; the message lists the known ones."""

    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"unknown schema {name!r}; known schemas: {', '.join(known) or 'none'}")
        self.name = name
        self.known = known


class SchemaError(ValidatorError, ValueError):
    """A schema document that is not usable: invalid JSON Schema or an unreadable file."""


class OpenAPIError(SchemaError):
    """An OpenAPI document cannot be read or translated; the message says where."""


class RulesError(SchemaError):
    """A rules file is malformed or names something the import did not produce."""


class InputError(ValidatorError):
    """A batch input cannot be used at all (unreadable, undecodable, not the announced
    format)."""


class OptionsError(ValidatorError, ValueError):
    """An option has a value it cannot take (a negative DNS timeout, a port out of range)."""


class RateLimiterUnavailable(ValidatorError):
    """The shared counter store cannot be reached; adapters answer 1019 (503)."""
