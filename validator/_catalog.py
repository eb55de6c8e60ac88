"""The published error catalog of the API, as data (SPEC §1).

One table is the single source of truth for codes, HTTP statuses, titles and descriptions;
`ErrorCatalog` lets a user override any of them without editing the table.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace

DEFAULT_MORE_INFO_BASE = "https://apidocs.getresponse.com/v3/errors#"


@dataclass(frozen=True, slots=True)
class ErrorCode:
    code: int
    http_status: int
    title: str
    description: str


# Titles and statuses as published in the API's error page (reference/errors.md).
_TABLE: tuple[ErrorCode, ...] = (
    ErrorCode(1, 500, "Internal error",
              "Something went wrong on the server side; there is nothing the client can fix."),
    ErrorCode(1000, 400, "General error of validation process",
              "More than one kind of validation error; details are in the context."),
    ErrorCode(1001, 400, "Resource that is related to given resource cannot be found",
              "A related resource given by ID is invalid or does not exist."),
    ErrorCode(1002, 400, "Resource state forbids that kind of action",
              "The action cannot be done, e.g. the e-mail domain takes no mail or the address "
              "is on a blocklist."),
    ErrorCode(1003, 400, "Parameter has wrong format",
              "A value has the wrong format: resource ID, e-mail syntax, IP address, reserved "
              "or forbidden words, dictionary values, dates, phone numbers."),
    ErrorCode(1004, 400, "Wrong number of values for multivalues parameter (hash, table)",
              "An array or object has fewer or more values than allowed."),
    ErrorCode(1005, 400, "Parameter has empty value", "A value is required but none was sent."),
    ErrorCode(1006, 400, "Parameter has wrong type",
              "A value is not of the expected type (string, integer, boolean ...)."),
    ErrorCode(1007, 400, "Parameter value has incorrect length",
              "A value is shorter or longer than allowed."),
    ErrorCode(1008, 409, "There is another resource with the same value of unique property",
              "A resource with the same unique property already exists."),
    ErrorCode(1009, 400,
              "Resource you tried to manipulate is used somewhere and this manipulation is "
              "forbidden",
              "The resource is used elsewhere and cannot be changed or removed."),
    ErrorCode(1010, 400, "Error in external resources",
              "An external check needed to fulfil the request failed."),
    ErrorCode(1011, 400,
              'Message is already in "sending" mode, you cannot change its properties',
              "The newsletter is already being sent."),
    ErrorCode(1012, 400, "Error during parsing message content",
              "A mandatory merge word is missing from the message body."),
    ErrorCode(1013, 404, "Resource with given ID cannot be found",
              "There is no resource with the given ID."),
    ErrorCode(1014, 403, "Problem during authentication process",
              "Authentication headers are missing, malformed, or the key is invalid."),
    ErrorCode(1015, 429, "Too many request to API, quota reached",
              "The request quota was reached; wait for the next quota window."),
    ErrorCode(1016, 403,
              "Too many request to API or suspected behaviour, API was temporarily blocked, "
              "please wait",
              "Access was blocked for a while."),
    ErrorCode(1017, 403,
              "Suspected behaviour, API was permanently blocked, please contact with our support",
              "Access was blocked permanently."),
    ErrorCode(1018, 403, "Your IP was blocked", "Requests from this IP address are refused."),
    ErrorCode(1019, 503, "Service unavailable", "The service is down for maintenance."),
    ErrorCode(1021, 400, "There is something wrong with your request headers",
              "Send X-Auth-Token or Authorization, and Content-Type: application/json."),
    ErrorCode(1023, 403, "Access forbidden",
              "The account lacks the permission needed for this action."),
    ErrorCode(1024, 404, "Domain not found", "The domain was not found."),
    ErrorCode(1027, 400,
              "Failed to add contacts. Limit reached. Log in to GetResponse to check your "
              "account status",
              "The account's contact limit was reached."),
    ErrorCode(1028, 400, "Resource is restricted and cannot be modified or deleted",
              "The resource is restricted."),
    ErrorCode(1029, 400, "Resource property is restricted and cannot be used",
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
        codes = {entry.code: entry for entry in _TABLE}
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
