"""E-mail syntax verdicts identical to email-validator's, at a fraction of its cost.

``email_validator.validate_email`` spends ~45 µs per address (character-by-character splitting
with a Unicode normalisation per character, UTS-46 remapping, several passes over the domain).
Almost every real address is plain ASCII, and for that subset its rules reduce to one regular
expression plus a length check. The fast path below only ever says "valid"; every address it does
not certainly accept goes to email-validator itself, so rejections always carry the library's own
message and anything exotic (Unicode, quoting, IDNA, domain literals) is judged by the library.

Rules of email-validator 2.4 (``check_deliverability=False``, other options at their defaults)
that the fast path reproduces for ASCII input:

* the address is split at its only ``@``; no quotes, angle brackets or display names;
* the local part is an RFC 5322 dot-atom over ATEXT (no leading, trailing or doubled dot);
  its 64-character limit applies only with ``strict=True``, so it is *not* enforced by default;
* the whole address is at most 254 characters (the domain's 253 limit follows from it);
* domain labels are letters, digits and hyphens, 1-63 characters, not starting or ending with a
  hyphen; uppercase is accepted and lowercased by UTS-46 remapping;
* a label with ``--`` in positions 3-4 is rejected (R-LDH) unless it is ``xn--``, and any
  ``xn--`` in the domain triggers an IDNA round trip whose outcome and normalised length only
  the library can tell; the fast path leaves every domain containing ``--`` to the library;
* the domain needs a dot and its last character must be a letter (``x.123a`` passes,
  ``x.a1`` does not);
* the domain must not be, or end in, one of ``SPECIAL_USE_DOMAIN_NAMES``.

An address longer than 254 characters never reaches the library: every such string fails there
(its final check measures the address as written, less any display name, which these options
refuse anyway), but only after a character-by-character pass that costs ~1 µs a character (a
1 MB string: over half a second). It is refused here at once, with the library's own sentence
for that check (``The email address is too long (N characters too many).``); for a string in
which the library would first have named another fault, only that sentence differs, not the
verdict. The 64-character limit of RFC 5321 on the local part is not applied: the library's
default (``strict=False``) does not apply it, and the verdicts follow the library.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Final, TypedDict

import email_validator
from email_validator import EmailNotValidError, validate_email

__all__ = ["email_ascii_domain", "email_syntax_error"]


class _Options(TypedDict):
    allow_smtputf8: bool
    allow_empty_local: bool
    allow_quoted_local: bool
    allow_domain_literal: bool
    allow_display_name: bool
    strict: bool
    test_environment: bool
    globally_deliverable: bool
    check_deliverability: bool


# The library's shipped defaults, passed explicitly so that another component tweaking the
# module-level defaults (e.g. email_validator.TEST_ENVIRONMENT = True) cannot make the slow path
# disagree with the fast path, whose rules assume exactly these values.
_OPTIONS: Final[_Options] = {
    "allow_smtputf8": True,
    "allow_empty_local": False,
    "allow_quoted_local": False,
    "allow_domain_literal": False,
    "allow_display_name": False,
    "strict": False,
    "test_environment": False,
    "globally_deliverable": True,
    "check_deliverability": False,
}

_EMAIL_MAX_LENGTH: Final = 254

_ATEXT = r"a-zA-Z0-9_!#$%&'*+\-/=?^`{|}~"

# Snapshot at import. "." + domain ending in "." + name is exactly the library's
# "domain == name or domain.endswith('.' + name)".
_SPECIAL_USE_SUFFIXES: Final = tuple(
    "." + name for name in email_validator.SPECIAL_USE_DOMAIN_NAMES
)

# The pattern is shaped to avoid backtracking (possessive runs, hyphens only between alphanumeric
# runs, label length checked by a look-ahead instead of {0,61}): the textbook form of the same
# grammar was measured at more than twice the cost. Possessive quantifiers can only make a pattern
# match fewer strings, never more, so they cannot widen what the fast path accepts.
_LABEL_LENGTH = r"(?=[a-zA-Z0-9-]{1,63}+(?![a-zA-Z0-9-]))"
_LABEL = _LABEL_LENGTH + r"[a-zA-Z0-9]++(?:-++[a-zA-Z0-9]++)*+"

# Character classes are ASCII-only and case-sensitive, so a match also proves the string is ASCII
# (where NFC normalisation, IDNA and UTF-8 byte counting are all no-ops). The look-behind is the
# library's "the domain must end with a letter".
_FAST = re.compile(
    rf"[{_ATEXT}]++(?:\.[{_ATEXT}]++)*+"
    r"@"
    rf"((?:{_LABEL}\.)++{_LABEL}(?<=[a-zA-Z]))"
)

# Small entries only: an unbounded address would let a caller pin large strings in the cache.
_CACHEABLE_LENGTH: Final = 512


def _slow(address: str) -> tuple[str | None, str | None]:
    """(error message, None) or (None, ascii_domain), straight from email-validator."""
    try:
        result = validate_email(address, **_OPTIONS)
    except EmailNotValidError as exc:
        return str(exc), None
    return None, result.ascii_domain


_slow_cached = lru_cache(maxsize=2048)(_slow)


_NON_BMP = re.compile("[\U00010000-\U0010ffff]")
_THREE_BYTES = re.compile("[\u0800-\uffff]")


def _too_long(address: str) -> str:
    """email-validator's sentence for an address over 254 octets, as its check of the address as
    written words it (in characters when that is exact, else the range it can tell)."""
    if address.isascii():
        diff = len(address) - _EMAIL_MAX_LENGTH
        return f"The email address is too long ({diff} character{'s' if diff > 1 else ''} " \
               f"too many)."
    diff = len(address.encode("utf-8", "surrogatepass")) - _EMAIL_MAX_LENGTH
    per_char = 4 if _NON_BMP.search(address) else 3 if _THREE_BYTES.search(address) else 2
    chars = max(1, diff // per_char)
    suffix = "s" if diff > 1 else ""
    counted = f"{diff} character{suffix}" if chars == diff else f"{chars}-{diff} character{suffix}"
    return f"The email address is too long ({counted} too many)."


def _verdict(address: str) -> tuple[str | None, str | None]:
    if len(address) > _EMAIL_MAX_LENGTH:
        return _too_long(address), None
    if len(address) <= _CACHEABLE_LENGTH:
        return _slow_cached(address)
    return _slow(address)


# The last address and its answer: with MX checks one address is asked about three times in a
# row (its format, its MX rule, its domain). Compared by identity, replaced as one tuple, so
# it is safe across threads.
_last: tuple[str, str | None] = ("", None)


def _fast_domain(address: str) -> str | None:
    """The lowercased domain when the fast path certainly accepts the address, else None."""
    global _last
    last = _last
    if last[0] is address:
        return last[1]
    if len(address) > _EMAIL_MAX_LENGTH:
        return None
    match = _FAST.fullmatch(address)
    if match is None:
        return None
    domain = match[1].lower()
    if "--" in domain or ("." + domain).endswith(_SPECIAL_USE_SUFFIXES):
        return None
    _last = (address, domain)
    return domain


# The last refused address and its message: the compiler's fast test and then the full rule
# ask about the same string object, one after the other (same safety as `_last`).
_last_refused: tuple[object, str | None] = (object(), None)  # no string is this object


def email_syntax_error(address: str) -> str | None:
    """None when email-validator (default options, check_deliverability=False) accepts the address;
    otherwise email-validator's own error message (str(EmailNotValidError))."""
    global _last_refused
    last = _last_refused
    if last[0] is address:
        return last[1]
    if _fast_domain(address) is not None:
        return None
    error = _verdict(address)[0]
    if error is not None:
        _last_refused = (address, error)
    return error


def email_ascii_domain(address: str) -> str:
    """For an address that passed email_syntax_error: the domain as it must be looked up in DNS
    (lowercase, IDNA/ASCII form — email-validator's ValidatedEmail.ascii_domain).

    Raises ValueError (with email-validator's message) for an address that does not pass, since
    there is no meaningful domain to return."""
    domain = _fast_domain(address)
    if domain is not None:
        return domain
    error, ascii_domain = _verdict(address)
    if ascii_domain is None:
        raise ValueError(error)
    return ascii_domain
