"""The names a resolver is asked about to see whether its "no such domain" can be believed
(see _sanity.py): the built-in ones, and how a caller's are checked, for DNSOptions and
MXChecker alike."""

from __future__ import annotations

from collections.abc import Iterable

from .._exceptions import OptionsError
from ._verdict import normalise_domain

__all__ = ["BUILTIN_CANARIES", "MAX_CANARIES", "canary_names"]

BUILTIN_CANARIES: tuple[str, ...] = ("gmail.com", "outlook.com", "yahoo.com")
"""Mail domains that exist and take mail for as long as anyone will run this."""

MAX_CANARIES = 10
"""They are asked at once, each under the checker's timeout: more would only add queries."""


def canary_names(given: Iterable[str]) -> tuple[str, ...]:
    """The canaries as cache keys (ASCII, lowercase), each once; `OptionsError` if unusable."""
    if isinstance(given, str):
        raise OptionsError("canaries must be a sequence of names, not one string")
    names = tuple(given)
    if not all(isinstance(n, str) and normalise_domain(n) for n in names):
        raise OptionsError(f"canaries must be domain names, got {names!r}")
    names = tuple(dict.fromkeys(normalise_domain(n) for n in names))
    if len(names) > MAX_CANARIES:
        raise OptionsError(f"canaries must be at most {MAX_CANARIES} names, got {len(names)}")
    return names
