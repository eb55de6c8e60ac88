"""The decision for one domain: the questions email-validator asks, in its order, under one
deadline, and what their answers mean (RFC 5321 §5.1, RFC 7505).

The decision is the one ``email_validator.validate_email_deliverability`` (2.4) makes, message
for message, so that a payload accepted by email-validator is accepted here and an address it
rejects is rejected with the same sentence. The one deliberate difference: where a lookup fails
(timeout, SERVFAIL, REFUSED, no nameserver reachable) email-validator lets the address through,
while this module answers "unknown", which the engine reports as 1010 (the check could not be
made) instead of pretending the domain was checked.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import dns.asyncbackend
import dns.asyncresolver
import dns.exception
import dns.message
import dns.name
import dns.rdatatype
import dns.resolver

from ._cache import DNSCache
from ._stats import MXStats
from ._verdict import DomainVerdict, FallbackType, display_name, seconds

__all__ = ["Lifetimes", "LookupFailed", "Questions"]



class LookupFailed(Exception):
    """A question got no usable answer; the verdict is "unknown" with this reason."""

    def __init__(self, reason: str, cacheable: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.cacheable = cacheable


@dataclass(slots=True)
class Lifetimes:
    """The lifetimes of the answers a verdict rests on; the verdict keeps the shortest."""

    cache: DNSCache
    values: list[float] = field(default_factory=list)
    cacheable: bool = True
    absent: str | None = None
    """How the resolver denied the name, where the verdict rests on that alone ("does not
    exist", "has no MX and no address record"): what a resolver that lies says."""

    def positive(self, answer: dns.resolver.Answer) -> None:
        self.values.append(self.cache.positive_lifetime(answer.chaining_result.minimum_ttl))

    def negative(self, response: dns.message.Message | None) -> None:
        self.values.append(self.cache.negative_lifetime(_soa_negative_ttl(response)))

    def shortest(self) -> float:
        return min(self.values) if self.values else self.cache.negative_ttl


def _soa_negative_ttl(response: dns.message.Message | None) -> float | None:
    if response is None:
        return None
    for rrset in response.authority:
        if rrset.rdtype == dns.rdatatype.SOA and len(rrset) > 0:
            return float(min(rrset.ttl, rrset[0].minimum))
    return None


def _is_global(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_global
    except ValueError:
        return False


def _server_label(server: str) -> str:
    # dnspython names a server "Do53:127.0.0.1@5353"; say it as a person would.
    text = server.removeprefix("Do53:")
    host, sep, port = text.rpartition("@")
    if not sep:
        return text
    return host if port == "53" else f"{host} port {port}"


class Questions:
    """Asks the questions that decide one domain, of one resolver, and reads the answers.

    ``nameservers=None`` reads the system's resolver configuration on first use.
    """

    def __init__(self, *, nameservers: Sequence[str] | None, port: int, timeout: float,
                 stats: MXStats) -> None:
        self.nameservers = nameservers
        self.port = port
        self.timeout = timeout
        self.stats = stats
        self._resolver: dns.asyncresolver.Resolver | None = None
        self._backend = dns.asyncbackend.get_backend("asyncio")

    def _get_resolver(self, shown: str) -> dns.asyncresolver.Resolver:
        if self._resolver is not None:
            return self._resolver
        if self.nameservers is None:
            try:
                resolver = dns.asyncresolver.Resolver()
            except dns.resolver.NoResolverConfiguration as e:
                # Not cached: the configuration may be fixed at any moment.
                raise LookupFailed(
                    f"DNS lookup of MX for {shown} not possible: no nameserver configured ({e})",
                    cacheable=False,
                ) from e
        else:
            resolver = dns.asyncresolver.Resolver(configure=False)
            resolver.nameservers = list(self.nameservers)
            resolver.port = self.port
        resolver.lifetime = self.timeout
        resolver.timeout = min(resolver.timeout, self.timeout)
        resolver.cache = None
        self._resolver = resolver
        return resolver

    async def decide(self, key: str, lifetimes: Lifetimes) -> DomainVerdict:
        # Mirrors email_validator.deliverability.validate_email_deliverability step by step;
        # the comments there give the RFC reasons. Failed lookups raise LookupFailed instead
        # of passing.
        shown = display_name(key)
        deadline = time.monotonic() + self.timeout
        not_accepting = DomainVerdict(
            key, "undeliverable", f"The domain name {shown} does not accept email."
        )
        try:
            if not key:
                # dnspython would read "" as the root name and ask the root for its MX.
                raise ValueError("The domain name is empty.")
            resolver = self._get_resolver(shown)
            name = dns.name.from_text(key)
            mx = await self._ask(resolver, name, "MX", shown, deadline)
            if mx.rrset is not None:
                lifetimes.positive(mx)
                mtas = sorted((r.preference, str(r.exchange).rstrip(".")) for r in mx)
                mtas = [(pref, host) for pref, host in mtas if host != ""]
                if not mtas:
                    return not_accepting
                hosts = ", ".join(f"{pref} {host}" for pref, host in mtas)
                return DomainVerdict(
                    key,
                    "deliverable",
                    f"The domain name {shown} accepts email (MX {hosts}).",
                    mx=tuple(mtas),
                )
            lifetimes.negative(mx.response)

            fallback: FallbackType | None = None
            addressed = False
            for rdtype in ("A", "AAAA"):
                addrs = await self._ask(resolver, name, rdtype, shown, deadline)
                if addrs.rrset is None:
                    lifetimes.negative(addrs.response)
                    continue
                addressed = True
                lifetimes.positive(addrs)
                if any(_is_global(r.address) for r in addrs):
                    fallback = "A" if rdtype == "A" else "AAAA"
                    break
            if fallback is None:
                if not addressed:
                    lifetimes.absent = "has no MX and no address record"
                return not_accepting

            txt = await self._ask(resolver, name, "TXT", shown, deadline)
            if txt.rrset is None:
                lifetimes.negative(txt.response)
            else:
                lifetimes.positive(txt)
                for rec in txt:
                    value = b"".join(rec.strings)
                    if value.startswith(b"v=spf1 ") and value == b"v=spf1 -all":
                        return DomainVerdict(
                            key, "undeliverable", f"The domain name {shown} does not send email."
                        )
            return DomainVerdict(
                key,
                "deliverable",
                f"The domain name {shown} has no MX record; mail goes to its {fallback} record"
                " address (RFC 5321 §5.1 fallback).",
                mx=((0, key),),
                mx_fallback_type=fallback,
            )
        except dns.resolver.NXDOMAIN as e:
            responses: dict[dns.name.Name, dns.message.Message] = e.kwargs.get("responses") or {}
            for response in responses.values():
                lifetimes.negative(response)
            lifetimes.absent = "does not exist"
            return DomainVerdict(key, "undeliverable", f"The domain name {shown} does not exist.")
        except LookupFailed:
            raise
        except Exception as e:
            # email-validator turns any other error into this rejection; so do we, so that both
            # give the same answer for, e.g., a name dnspython cannot encode.
            lifetimes.cacheable = False
            return DomainVerdict(
                key,
                "undeliverable",
                "There was an error while checking if the domain name in the email address is"
                f" deliverable: {e}",
            )

    async def _ask(
        self,
        resolver: dns.asyncresolver.Resolver,
        name: dns.name.Name,
        rdtype: str,
        shown: str,
        deadline: float,
    ) -> dns.resolver.Answer:
        servfails = 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self._timed_out(rdtype, shown)
            self.stats._count("query", rdtype)
            try:
                # dnspython's lifetime can overshoot by its retry back-off; the asyncio timeout
                # makes the deadline hard.
                async with asyncio.timeout(remaining):
                    return await resolver.resolve(
                        name,
                        rdtype,
                        raise_on_no_answer=False,
                        lifetime=remaining,
                        search=False,
                        backend=self._backend,
                    )
            except (dns.exception.Timeout, TimeoutError) as e:
                raise self._timed_out(rdtype, shown) from e
            except dns.resolver.NoNameservers as e:
                errors: list[tuple[Any, ...]] = list(e.kwargs.get("errors") or [])
                if any(isinstance(err[3], dns.message.ChainTooLong) for err in errors):
                    # The server answered, with CNAMEs that lead back to themselves (or on past
                    # dnspython's 16 names): the name cannot be resolved, which is a failed
                    # lookup, not a name that does not exist.
                    raise LookupFailed(
                        f"DNS lookup of {rdtype} for {shown} failed: its CNAME chain loops or "
                        f"is longer than {dns.message.MAX_CHAIN} names."
                    ) from e
                all_servfail = bool(errors) and all(err[3] == "SERVFAIL" for err in errors)
                if all_servfail and servfails == 0 and deadline - time.monotonic() > 0:
                    servfails += 1
                    self.stats._count("servfail_retry")
                    continue
                raise LookupFailed(self._no_nameservers(rdtype, shown, errors, servfails)) from e

    def _timed_out(self, rdtype: str, shown: str) -> LookupFailed:
        return LookupFailed(
            f"DNS lookup of {rdtype} for {shown} timed out after {seconds(self.timeout)} s."
        )

    @staticmethod
    def _no_nameservers(
        rdtype: str, shown: str, errors: list[tuple[Any, ...]], retries: int
    ) -> str:
        answered: list[str] = []
        unreachable: list[str] = []
        for err in errors:
            server = _server_label(str(err[0]))
            if isinstance(err[3], str):
                again = " (asked twice)" if retries and err[3] == "SERVFAIL" else ""
                text = f"{server} answered {err[3]}{again}"
                if text not in answered:
                    answered.append(text)
            else:
                text = f"{server}: {err[3]}"
                if text not in unreachable:
                    unreachable.append(text)
        head = f"DNS lookup of {rdtype} for {shown} failed"
        if answered and not unreachable:
            return f"{head}: {'; '.join(answered)}."
        if unreachable and not answered:
            return f"{head}: no nameserver reachable ({'; '.join(unreachable)})."
        if not errors:
            return f"{head}: no nameserver reachable."
        return f"{head}: {'; '.join(answered + unreachable)}."
