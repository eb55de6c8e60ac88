"""Format rules (all yield 1003): each checker takes a string and returns None when it is
well-formed, else a sentence saying what is wrong.

The formats the API checks are implemented here and named in `_dialect.FORMATS`; any other
format name is left to jsonschema's own format checker, and a format nobody knows is an
annotation only, as JSON Schema says.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import date

import phonenumbers

from .._options import FormatChecker
from ._email import email_syntax_error

_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})", re.ASCII)
# RFC 3339 date-time, plus the API's own `+0000` offset (no colon) seen in its responses.
_DATE_TIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.\d+)?"
    r"(?:[Zz]|([+-])(\d{2}):?(\d{2}))",
    re.ASCII,
)
RESOURCE_ID_RE = re.compile(r"[A-Za-z0-9]{1,64}", re.ASCII)

# The quick test's stricter-or-equal patterns for addresses (here, beside the rules they stand
# for, so that the dialect and the account's custom-field types share them).
_DEC = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
QUICK_IPV4 = rf"^{_DEC}\.{_DEC}\.{_DEC}\.{_DEC}$"
# IPv6 in hexadecimal groups only (no embedded IPv4 tail, no zone): a subset of what
# ipaddress.IPv6Address accepts, every way of placing one "::" spelled out.
_H = "[0-9A-Fa-f]{1,4}"
_IPV6_FORMS = (rf"(?:{_H}:){{7}}{_H}", rf"(?:{_H}:){{1,7}}:", rf"(?:{_H}:){{1,6}}:{_H}",
               *(rf"(?:{_H}:){{1,{n}}}(?::{_H}){{1,{7 - n}}}" for n in range(5, 0, -1)),
               rf":(?:(?::{_H}){{1,7}}|:)")
QUICK_IPV6 = "^(?:" + "|".join(_IPV6_FORMS) + ")$"
QUICK_IP = f"^(?:{QUICK_IPV4[1:-1]}|{QUICK_IPV6[1:-1]})$"
# Days 01-28 exist in every month of every year: no calendar needed.
QUICK_DAY = "[1-9][0-9]{3}-(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])"
QUICK_DATE = f"^{QUICK_DAY}$"

# RFC 3986 `URI` (absolute, with optional fragment), built from its ABNF.
_UNRESERVED = r"A-Za-z0-9\-._~"
_SUB_DELIMS = r"!$&'()*+,;="
_PCT = r"%[0-9A-Fa-f]{2}"
_PCHAR = rf"(?:[{_UNRESERVED}{_SUB_DELIMS}:@]|{_PCT})"
_DEC = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4 = rf"{_DEC}\.{_DEC}\.{_DEC}\.{_DEC}"
_IP_LITERAL = rf"\[(?:[0-9A-Fa-f:.]+|[Vv][0-9A-Fa-f]+\.[{_UNRESERVED}{_SUB_DELIMS}:]+)\]"
_REG_NAME = rf"(?:[{_UNRESERVED}{_SUB_DELIMS}]|{_PCT})*"
_AUTHORITY = (
    rf"(?:(?:[{_UNRESERVED}{_SUB_DELIMS}:]|{_PCT})*@)?"
    rf"(?P<host>{_IP_LITERAL}|{_IPV4}|{_REG_NAME})(?::\d*)?"
)
_URI = re.compile(
    rf"(?P<scheme>[A-Za-z][A-Za-z0-9+\-.]*):"
    rf"(?://{_AUTHORITY}(?:/{_PCHAR}*)*|/(?:{_PCHAR}+(?:/{_PCHAR}*)*)?|{_PCHAR}+(?:/{_PCHAR}*)*|)"
    rf"(?:\?(?:{_PCHAR}|[/?])*)?(?:#(?:{_PCHAR}|[/?])*)?",
    re.ASCII,
)
_MONTH_DAYS = (0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _valid_ymd(year: str, month: str, day: str) -> bool:
    y, m, d = int(year), int(month), int(day)
    if not 1 <= m <= 12 or not 1 <= d <= _MONTH_DAYS[m]:
        return False
    if m == 2 and d == 29:
        try:
            date(y, 2, 29)
        except ValueError:
            return False
    return True


def check_date(value: str) -> str | None:
    match = _DATE.fullmatch(value)
    if match is None or not _valid_ymd(*match.groups()):
        return f"Expected a date in YYYY-MM-DD format, got {value!r}"
    return None


def check_date_time(value: str) -> str | None:
    message = (
        "Expected a date-time in RFC 3339 format (2017-03-02T07:30:49+00:00) "
        f"or the API's 2017-03-02T07:30:49+0000 form, got {value!r}"
    )
    match = _DATE_TIME.fullmatch(value)
    if match is None:
        return message
    year, month, day, hour, minute, second, sign, off_h, off_m = match.groups()
    if not _valid_ymd(year, month, day):
        return message
    h, mi, s = int(hour), int(minute), int(second)
    oh, om = (int(off_h), int(off_m)) if sign else (0, 0)
    if h > 23 or mi > 59 or s > 60 or oh > 23 or om > 59:
        return message
    if s == 60:
        # A leap second exists only at 23:59:60 UTC, whatever the local offset says.
        offset = (oh * 60 + om) * (-1 if sign == "+" else 1)
        if (h * 60 + mi + offset) % (24 * 60) != 23 * 60 + 59:
            return message
    return None


# The e-mail rule is email-validator's verdict itself; no wrapper to call through.
check_email = email_syntax_error


# Dotted quad, no leading zeros: exactly what ipaddress.IPv4Address accepts, at a tenth of
# the cost (tests/rules/test_formats.py holds the two to the same verdicts).
IPV4_RE = re.compile(rf"{_DEC}\.{_DEC}\.{_DEC}\.{_DEC}", re.ASCII)


def check_ipv4(value: str) -> str | None:
    if IPV4_RE.fullmatch(value) is None:
        return f"Expected an IPv4 address, got {value!r}"
    return None


def check_ipv6(value: str) -> str | None:
    # Python accepts a `%zone` suffix and non-ASCII digits; an address in a payload has neither.
    if "%" in value or not value.isascii():
        return f"Expected an IPv6 address, got {value!r}"
    try:
        ipaddress.IPv6Address(value)
    except ValueError:
        return f"Expected an IPv6 address, got {value!r}"
    return None


def check_ip(value: str) -> str | None:
    # Only an IPv6 address has a colon: skip the costly IPv6 parse for everything else.
    if check_ipv4(value) is None or (":" in value and check_ipv6(value) is None):
        return None
    return f"Expected an IPv4 or IPv6 address, got {value!r}"


def check_uri(value: str) -> str | None:
    match = _URI.fullmatch(value)
    host = match["host"] if match is not None else None
    # An IP literal must hold a real IPv6 address (or an IPvFuture, which starts with "v").
    if match is None or (
        host and host.startswith("[") and host[1:2] not in ("v", "V")
        and check_ipv6(host[1:-1]) is not None
    ):
        return f"Expected an absolute URI (RFC 3986), got {value!r}"
    return None


def check_url(value: str) -> str | None:
    match = _URI.fullmatch(value)
    if (
        match is None
        or check_uri(value) is not None
        or match["scheme"].lower() not in ("http", "https")
        or not match["host"]
    ):
        return f"Expected an http or https URL with a host, got {value!r}"
    return None


def check_phone(value: str, region: str | None = None) -> str | None:
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException as exc:
        return f"Expected a phone number in E.164 form (+48600100200), got {value!r}: {exc._msg}"
    if not phonenumbers.is_valid_number(number):
        return f"Expected a valid phone number, got {value!r}: no such number is assigned"
    return None


def check_resource_id(value: str) -> str | None:
    if RESOURCE_ID_RE.fullmatch(value) is None:
        return f"Expected a resource ID (1 to 64 letters and digits), got {value!r}"
    return None


def check_string_boolean(value: str) -> str | None:
    if value not in ("true", "false"):
        return f'Expected "true" or "false", got {value!r}'
    return None


def standard_checker(name: str) -> FormatChecker | None:
    """jsonschema's checker for a format this module does not define, if it knows one."""
    from jsonschema import FormatChecker as _JsonschemaFormats

    checkers = _JsonschemaFormats()
    if name not in checkers.checkers:
        return None

    def check(value: str) -> str | None:
        return None if checkers.conforms(value, name) else f"Expected {name} format, got {value!r}"

    return check
