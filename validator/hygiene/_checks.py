"""List-hygiene checks on e-mail addresses: what a list owner wants flagged although the API
would take the address (or refuses it for another reason). They never change a verdict or an
error body: they become `HygieneWarning`s beside the result."""

from __future__ import annotations

import re
from functools import lru_cache

from .._results import HygieneWarning, Path

KINDS = ("disposable", "role", "typo", "duplicate")
"""Every kind of warning, in the order reports list them."""

ROLE_ACCOUNTS = frozenset({
    "abuse", "accounting", "accounts", "admin", "administrator", "billing", "careers",
    "contact", "customerservice", "enquiries", "enquiry", "feedback", "hello", "help",
    "helpdesk", "hostmaster", "hr", "info", "inquiries", "jobs", "mail", "marketing", "media",
    "newsletter", "no-reply", "noreply", "office", "orders", "postmaster", "press", "privacy",
    "root", "sales", "security", "service", "support", "team", "webmaster",
})
"""Local parts that name a function rather than a person (RFC 2142 and common practice)."""

PROVIDERS = (
    "gmail.com", "yahoo.com", "hotmail.com", "outlook.com", "icloud.com", "aol.com",
    "live.com", "msn.com", "googlemail.com", "protonmail.com", "proton.me", "yandex.ru",
    "mail.ru", "gmx.de", "gmx.net", "gmx.com", "web.de", "t-online.de", "wp.pl", "onet.pl",
    "interia.pl", "o2.pl", "orange.fr", "free.fr", "libero.it", "yahoo.co.uk",
    "hotmail.co.uk", "btinternet.com", "comcast.net", "zoho.com", "fastmail.com", "mail.com",
    "me.com", "ymail.com",
)
"""Common mailbox providers, most used first: a near miss of one is a likely typo (the first
of equally near ones is suggested)."""
_PROVIDER_SET = frozenset(PROVIDERS)

# Provider rules for what still reaches the same mailbox: Gmail ignores dots in the local
# part, and these providers deliver `name+tag` to `name`.
_DOTS_IGNORED = frozenset({"gmail.com", "googlemail.com"})
_PLUS_TAGS = frozenset({"gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "live.com",
                        "icloud.com", "me.com", "fastmail.com", "protonmail.com", "proton.me"})
_SAME_MAILBOX = {"googlemail.com": "gmail.com"}
_HOSTNAME = re.compile(r"[^\W_](?:[\w-]*[^\W_])?(?:\.[^\W_](?:[\w-]*[^\W_])?)+")
"""Dot-separated labels of letters (any script), digits and inner hyphens."""


def _split(email: str) -> tuple[str, str] | None:
    local, at, domain = email.strip().rpartition("@")
    if not at or not local or not domain:
        return None
    return local.lower(), domain.lower().rstrip(".")


@lru_cache(maxsize=1)
def disposable_domains() -> frozenset[str]:
    """The maintained list of disposable-mailbox domains (the `disposable-email-domains`
    package), loaded once, on first use."""
    from disposable_email_domains import blocklist

    return frozenset(blocklist)


def is_disposable(domain: str) -> bool:
    """The domain, or a domain it is under, is a disposable-mailbox service."""
    listed = disposable_domains()
    labels = domain.lower().rstrip(".").split(".")
    return any(".".join(labels[i:]) in listed for i in range(len(labels) - 1))


def _distance(a: str, b: str, bound: int) -> int:
    """Optimal string alignment distance (an adjacent swap counts once), or ``bound + 1``
    once it is past ``bound``."""
    if abs(len(a) - len(b)) > bound:
        return bound + 1
    before: list[int] | None = None
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = ca != cb
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if (before is not None and i > 1 and j > 1 and ca == b[j - 2]
                    and a[i - 2] == cb):
                current[j] = min(current[j], before[j - 2] + 1)
        if min(current) > bound:
            return bound + 1
        before, previous = previous, current
    return previous[-1]


@lru_cache(maxsize=65536)
def typo_suggestion(domain: str) -> str | None:
    """The common provider's domain that ``domain`` likely misspells (``gmial.com`` →
    ``gmail.com``), or None. One edit (a swap of neighbours counts as one) from a provider of
    7 or more characters; two from one of 11 or more. Short names are left alone: one edit
    from ``me.com`` is many a real domain."""
    domain = domain.lower().rstrip(".")
    if domain in _PROVIDER_SET or len(domain) < 6:
        return None
    best: tuple[int, str] | None = None
    size = len(domain)
    for provider, bound, pieces in _TYPO_TARGETS:
        if abs(size - len(provider)) > bound:
            continue
        # A distance within the bound leaves one of the 2 x bound + 1 pieces untouched (an
        # edit touches at most two: a swap across their border), in place but for the
        # shift of at most ``bound`` insertions or deletions before it. A domain with none
        # of them (most domains of a list) needs no distance; a cheap test a pair.
        for piece, start in pieces:
            if domain.find(piece, max(0, start - bound), start + bound + len(piece)) >= 0:
                break
        else:
            continue
        found = _distance(domain, provider, bound)
        if found <= bound and (best is None or found < best[0]):
            best = (found, provider)
    return best[1] if best is not None else None


def _typo_target(provider: str) -> tuple[str, int, tuple[tuple[str, int], ...]] | None:
    bound = 2 if len(provider) >= 11 else 1 if len(provider) >= 7 else 0
    if not bound:
        return None
    count = 2 * bound + 1
    cuts = [round(i * len(provider) / count) for i in range(count + 1)]
    return provider, bound, tuple((provider[cuts[i]:cuts[i + 1]], cuts[i])
                                  for i in range(count))


_TYPO_TARGETS = tuple(t for p in PROVIDERS if (t := _typo_target(p)) is not None)
"""The providers a typo can be of, in order, with their bounds and pieces."""


def provider_normalised(email: str) -> str:
    """The address as its provider delivers it: lower case, Gmail's dots and ``+tags`` of
    providers that ignore them dropped (``J.Smith+news@gmail.com`` → ``jsmith@gmail.com``).
    Other addresses are only lower-cased."""
    parts = _split(email)
    if parts is None:
        return email.strip().lower()
    local, domain = parts
    rules = domain_profile(domain)[1]
    return mailbox(local, rules) if rules is not None else f"{local}@{domain}"


def mailbox(local: str, rules: tuple[str, bool]) -> str:
    """The address a lower-case ``local`` part reaches at a domain with provider ``rules``
    (``domain_profile``'s: the domain that receives, whether dots are ignored)."""
    local = local.split("+", 1)[0] or local
    if rules[1]:
        local = local.replace(".", "") or local
    return f"{local}@{rules[0]}"


def has_provider_rules(email: str) -> bool:
    """Whether ``provider_normalised`` can make this address equal to another one."""
    parts = _split(email)
    return parts is not None and domain_profile(parts[1])[1] is not None


def is_role_account(local: str) -> bool:
    """The local part (``Info+news``) names a function, not a person."""
    return local.strip().lower().split("+", 1)[0] in ROLE_ACCOUNTS


@lru_cache(maxsize=65536)
def domain_profile(domain: str) -> tuple[tuple[tuple[str, str, str | None], ...],
                                         tuple[str, bool] | None]:
    """What an address's domain (as written) brings: its warnings as (kind, message,
    suggested domain), and its provider's rules, if it has any: (the domain that receives,
    whether dots in the local part are ignored). Cached: a list has far fewer domains than
    addresses."""
    domain = domain.strip().lower().rstrip(".")
    rules = (_SAME_MAILBOX.get(domain, domain), domain in _DOTS_IGNORED) \
        if domain in _PLUS_TAGS else None
    return _domain_warnings(domain), rules


def _domain_warnings(domain: str) -> tuple[tuple[str, str, str | None], ...]:
    if not _HOSTNAME.fullmatch(domain):
        # Not a host name (`icloud.com>` of an address in angle brackets): the syntax error
        # is the API's to report, and a "typo" of it would only be noise.
        return ()
    found: list[tuple[str, str, str | None]] = []
    # Both can hold: typo domains are often registered as disposable services (gmial.com is
    # on the list). The typo comes first, as the one a list owner can fix.
    suggestion = typo_suggestion(domain)
    if suggestion is not None:
        found.append(("typo", f"{domain} looks like a typo of {suggestion}", suggestion))
    if is_disposable(domain):
        found.append(("disposable", f"{domain} is a disposable-mailbox service", None))
    return tuple(found)


def email_warnings(email: object, field_name: Path = ("email",)) -> tuple[HygieneWarning, ...]:
    """The warnings on one address (disposable domain, role account, likely typo); none for a
    value that is not an address. Duplicates need the whole list: ``Duplicates``."""
    if not isinstance(email, str):
        return ()
    parts = _split(email)
    if parts is None:
        return ()
    local, domain = parts
    found = [HygieneWarning(kind, field_name, email, message,
                            None if suggestion is None
                            else f"{email.strip().rpartition('@')[0]}@{suggestion}")
             for kind, message, suggestion in domain_profile(domain)[0]]
    if is_role_account(local):
        found.append(HygieneWarning("role", field_name, email,
                                    f"{local}@ is a role account, not a person"))
    return tuple(found)


class Duplicates:
    """Addresses seen so far, by the mailbox they reach: ``check`` warns on one that reaches
    the same mailbox as an earlier one though written differently (``j.smith@gmail.com``
    after ``jsmith+news@gmail.com``). Exact repeats are the API's 1008, not a warning."""

    def __init__(self) -> None:
        self.seen: dict[str, tuple[str, object]] = {}

    def check(self, email: object, where: object = None, field_name: Path = ("email",),
              scope: str = "") -> HygieneWarning | None:
        """``where`` names this address's place (a line), shown when a later one repeats it;
        ``scope`` separates lists (a campaign ID): only repeats within one are flagged."""
        if not isinstance(email, str) or not has_provider_rules(email):
            return None
        key = f"{provider_normalised(email)}\x00{scope}"
        first = self.seen.get(key)
        if first is None:
            self.seen[key] = (email.strip().lower(), where)
            return None
        if first[0] == email.strip().lower():
            return None
        at = f" ({first[1]})" if first[1] is not None else ""
        return HygieneWarning("duplicate", field_name, email,
                              f"reaches the same mailbox as {first[0]}{at}", first[0])
