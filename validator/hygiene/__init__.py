"""List hygiene: warnings a list owner wants beside the API's verdict, never in it.

Disposable-mailbox domains (the maintained `disposable-email-domains` list), role accounts
(``info@``, ``sales@`` ...), likely typos of common providers' domains with the suggested fix
(``gmial.com`` → ``gmail.com``), and addresses that reach the same mailbox by the provider's
rules (Gmail's dots, ``+tags``). Imports nothing of the package but the contract.

    >>> from validator import validate
    >>> from validator.hygiene import with_warnings
    >>> payload = {"email": "info@gmial.com", "campaign": {"campaignId": "V3J"}}
    >>> [w.kind for w in with_warnings(validate(payload, "contacts.create"), payload).warnings]
    ['typo', 'disposable', 'role']
"""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson

from .._results import HygieneWarning
from .._results import Result as _Result
from ._checks import (
    KINDS,
    PROVIDERS,
    ROLE_ACCOUNTS,
    Duplicates,
    domain_profile,
    email_warnings,
    has_provider_rules,
    is_disposable,
    is_role_account,
    mailbox,
    provider_normalised,
    typo_suggestion,
)


def payload_warnings(payload: Any, duplicates: Duplicates | None = None,
                     where: object = None) -> tuple[HygieneWarning, ...]:
    """The warnings on a payload's ``email`` (a dict, or JSON text/bytes of one); with
    ``duplicates``, also whether it reaches the same mailbox as an address seen before in the
    same campaign."""
    if isinstance(payload, str | bytes | bytearray | memoryview):
        try:
            payload = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return ()
    if not isinstance(payload, dict):
        return ()
    email = payload.get("email")
    found = email_warnings(email)
    if duplicates is not None:
        campaign = payload.get("campaign")
        scope = campaign.get("campaignId") if isinstance(campaign, dict) else None
        repeat = duplicates.check(email, where, scope=scope if isinstance(scope, str) else "")
        if repeat is not None:
            found = (*found, repeat)
    return found


def with_warnings(result: _Result, payload: Any, duplicates: Duplicates | None = None,
                  where: object = None) -> _Result:
    """``result`` with the payload's hygiene warnings in ``result.warnings``; its verdict and
    error body are unchanged."""
    return dataclasses.replace(result, warnings=payload_warnings(payload, duplicates, where))


__all__ = [
    "KINDS",
    "PROVIDERS",
    "ROLE_ACCOUNTS",
    "Duplicates",
    "HygieneWarning",
    "domain_profile",
    "email_warnings",
    "has_provider_rules",
    "is_disposable",
    "is_role_account",
    "mailbox",
    "payload_warnings",
    "provider_normalised",
    "typo_suggestion",
    "with_warnings",
]
