"""The published error catalog of the API, as data (SPEC §1).

One table is the single source of truth for codes, HTTP statuses, titles and descriptions;
`ErrorCatalog` lets a user override any of them without editing the table.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from enum import IntEnum

DEFAULT_MORE_INFO_BASE = "https://apidocs.getresponse.com/v3/errors#"


class Code(IntEnum):
    """The published codes by name: the only place in the package where their numbers are
    written. A member is an `int`, so it compares, hashes and serialises as the number."""

    INTERNAL_ERROR = 1
    VALIDATION_ERROR = 1000
    RELATED_NOT_FOUND = 1001
    FORBIDDEN_STATE = 1002
    WRONG_FORMAT = 1003
    WRONG_COUNT = 1004
    EMPTY_VALUE = 1005
    WRONG_TYPE = 1006
    WRONG_LENGTH = 1007
    NOT_UNIQUE = 1008
    RESOURCE_IN_USE = 1009
    EXTERNAL_ERROR = 1010
    ALREADY_SENDING = 1011
    MESSAGE_PARSE_ERROR = 1012
    NOT_FOUND = 1013
    AUTHENTICATION = 1014
    QUOTA_REACHED = 1015
    TEMPORARILY_BLOCKED = 1016
    PERMANENTLY_BLOCKED = 1017
    IP_BLOCKED = 1018
    SERVICE_UNAVAILABLE = 1019
    BAD_HEADERS = 1021
    ACCESS_FORBIDDEN = 1023
    DOMAIN_NOT_FOUND = 1024
    CONTACT_LIMIT = 1027
    RESTRICTED_RESOURCE = 1028
    RESTRICTED_PROPERTY = 1029


@dataclass(frozen=True, slots=True)
class ErrorCode:
    """One entry of the catalog: a code with its status, title and description."""

    code: Code
    http_status: int
    title: str
    description: str


# Titles and statuses as published in the API's error page (reference/errors.md).
_TABLE: tuple[ErrorCode, ...] = (
    ErrorCode(Code.INTERNAL_ERROR, 500, "Internal error",
              "Something went wrong on the server side; there is nothing the client can fix."),
    ErrorCode(Code.VALIDATION_ERROR, 400, "General error of validation process",
              "More than one kind of validation error; details are in the context."),
    ErrorCode(Code.RELATED_NOT_FOUND, 400,
              "Resource that is related to given resource cannot be found",
              "A related resource given by ID is invalid or does not exist."),
    ErrorCode(Code.FORBIDDEN_STATE, 400, "Resource state forbids that kind of action",
              "The action cannot be done, e.g. the e-mail domain takes no mail or the address "
              "is on a blocklist."),
    ErrorCode(Code.WRONG_FORMAT, 400, "Parameter has wrong format",
              "A value has the wrong format: resource ID, e-mail syntax, IP address, reserved "
              "or forbidden words, dictionary values, dates, phone numbers."),
    ErrorCode(Code.WRONG_COUNT, 400,
              "Wrong number of values for multivalues parameter (hash, table)",
              "An array or object has fewer or more values than allowed."),
    ErrorCode(Code.EMPTY_VALUE, 400,
              "Parameter has empty value", "A value is required but none was sent."),
    ErrorCode(Code.WRONG_TYPE, 400, "Parameter has wrong type",
              "A value is not of the expected type (string, integer, boolean ...)."),
    ErrorCode(Code.WRONG_LENGTH, 400, "Parameter value has incorrect length",
              "A value is shorter or longer than allowed."),
    ErrorCode(Code.NOT_UNIQUE, 409,
              "There is another resource with the same value of unique property",
              "A resource with the same unique property already exists."),
    ErrorCode(Code.RESOURCE_IN_USE, 400,
              "Resource you tried to manipulate is used somewhere and this manipulation is "
              "forbidden",
              "The resource is used elsewhere and cannot be changed or removed."),
    ErrorCode(Code.EXTERNAL_ERROR, 400, "Error in external resources",
              "An external check needed to fulfil the request failed."),
    ErrorCode(Code.ALREADY_SENDING, 400,
              'Message is already in "sending" mode, you cannot change its properties',
              "The newsletter is already being sent."),
    ErrorCode(Code.MESSAGE_PARSE_ERROR, 400, "Error during parsing message content",
              "A mandatory merge word is missing from the message body."),
    ErrorCode(Code.NOT_FOUND, 404, "Resource with given ID cannot be found",
              "There is no resource with the given ID."),
    ErrorCode(Code.AUTHENTICATION, 403, "Problem during authentication process",
              "Authentication headers are missing, malformed, or the key is invalid."),
    ErrorCode(Code.QUOTA_REACHED, 429, "Too many request to API, quota reached",
              "The request quota was reached; wait for the next quota window."),
    ErrorCode(Code.TEMPORARILY_BLOCKED, 403,
              "Too many request to API or suspected behaviour, API was temporarily blocked, "
              "please wait",
              "Access was blocked for a while."),
    ErrorCode(Code.PERMANENTLY_BLOCKED, 403,
              "Suspected behaviour, API was permanently blocked, please contact with our support",
              "Access was blocked permanently."),
    ErrorCode(Code.IP_BLOCKED, 403,
              "Your IP was blocked", "Requests from this IP address are refused."),
    ErrorCode(Code.SERVICE_UNAVAILABLE, 503,
              "Service unavailable", "The service is down for maintenance."),
    ErrorCode(Code.BAD_HEADERS, 400, "There is something wrong with your request headers",
              "Send X-Auth-Token or Authorization, and Content-Type: application/json."),
    ErrorCode(Code.ACCESS_FORBIDDEN, 403, "Access forbidden",
              "The account lacks the permission needed for this action."),
    ErrorCode(Code.DOMAIN_NOT_FOUND, 404, "Domain not found", "The domain was not found."),
    ErrorCode(Code.CONTACT_LIMIT, 400,
              "Failed to add contacts. Limit reached. Log in to GetResponse to check your "
              "account status",
              "The account's contact limit was reached."),
    ErrorCode(Code.RESTRICTED_RESOURCE, 400,
              "Resource is restricted and cannot be modified or deleted",
              "The resource is restricted."),
    ErrorCode(Code.RESTRICTED_PROPERTY, 400, "Resource property is restricted and cannot be used",
              "The resource property is restricted."),
)


class ErrorCatalog(Mapping[int, ErrorCode]):
    """The catalog with a user's overrides applied.

    `statuses`, `titles` and `descriptions` map codes to replacements; `more_info_base` is
    prefixed to the code to form the body's `moreInfo` link.
    """

    __slots__ = ("_codes", "more_info_base")

    def __init__(
        self,
        *,
        statuses: Mapping[int, int] | None = None,
        titles: Mapping[int, str] | None = None,
        descriptions: Mapping[int, str] | None = None,
        more_info_base: str = DEFAULT_MORE_INFO_BASE,
    ) -> None:
        codes: dict[int, ErrorCode] = {entry.code: entry for entry in _TABLE}
        for code in {*(statuses or {}), *(titles or {}), *(descriptions or {})}:
            if code not in codes:
                raise KeyError(f"unknown error code {code}; known: {sorted(codes)}")
        for code, status in (statuses or {}).items():
            codes[code] = replace(codes[code], http_status=status)
        for code, title in (titles or {}).items():
            codes[code] = replace(codes[code], title=title)
        for code, description in (descriptions or {}).items():
            codes[code] = replace(codes[code], description=description)
        self._codes = codes
        self.more_info_base = more_info_base

    def __getitem__(self, code: int) -> ErrorCode:
        return self._codes[code]

    def __iter__(self) -> Iterator[int]:
        return iter(self._codes)

    def __len__(self) -> int:
        return len(self._codes)

    def more_info(self, code: int) -> str:
        return f"{self.more_info_base}{code}"


DEFAULT_CATALOG = ErrorCatalog()
