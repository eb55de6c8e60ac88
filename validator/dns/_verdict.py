"""What DNS says about mail to one domain, and how a domain is named: the key it is cached
under (ASCII, lowercase) and the form messages show (Unicode, as email-validator does)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import idna

__all__ = ["DomainVerdict", "FallbackType", "Status", "display_name", "normalise_domain",
           "seconds"]

Status = Literal["deliverable", "undeliverable", "unknown"]
FallbackType = Literal["A", "AAAA"]


@dataclass(frozen=True, slots=True)
class DomainVerdict:
    """What DNS says about mail to one domain."""

    domain: str
    """The ASCII (IDNA), lowercase domain, without a trailing dot."""
    status: Status
    reason: str
    """One sentence. For "undeliverable" it is email-validator's own wording."""
    mx: tuple[tuple[int, str], ...] = ()
    """For "deliverable": (preference, host) pairs as email-validator reports them."""
    mx_fallback_type: FallbackType | None = None
    """For "deliverable" without MX: which address record stood in for it."""

    @property
    def deliverable(self) -> bool:
        return self.status == "deliverable"


def normalise_domain(domain: str) -> str:
    """The cache key of a domain: ASCII, lowercase, no trailing dot."""
    d = domain[:-1] if domain.endswith(".") else domain
    if not d.isascii():
        # Callers are meant to pass email-validator's ascii_domain; a Unicode domain is still
        # turned into the name that would go on the wire rather than failing later in dnspython.
        try:
            d = idna.encode(d, uts46=True).decode("ascii")
        except idna.IDNAError:
            return d.lower()
    return d.lower()


def display_name(ascii_domain: str) -> str:
    """The domain as messages name it."""
    # email-validator's messages name the domain in its Unicode form (its domain_i18n).
    if "xn--" not in ascii_domain:
        return ascii_domain
    try:
        return idna.decode(ascii_domain.encode("ascii"))
    except (idna.IDNAError, UnicodeError):
        return ascii_domain


def seconds(value: float) -> str:
    """A duration as messages write it ("1.0 s", also for an int)."""
    return str(float(value))
