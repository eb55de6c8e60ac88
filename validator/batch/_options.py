"""What a batch run checks besides the schema's rules. The rules' own options (MX checks, DNS,
the error catalog ...) are the contract's ``ValidationOptions``; these are the whole-run ones."""

from __future__ import annotations

from dataclasses import dataclass

from .._exceptions import InputError


@dataclass(frozen=True, slots=True)
class BatchOptions:
    """Picklable, sent once to each worker with the run's ``ValidationOptions``.

    * ``suppressed_addresses``, ``suppressed_domains``: the suppression list (1002), as
      ``load_suppression`` reads it.
    * ``schema_paths``: schema folders a fresh worker registers before it builds the validator.
    * ``campaign_id``: campaign.campaignId for rows that have none.
    * ``dedupe``: refuse (1008) a repeat of an e-mail in the same campaign.
    * ``dedupe_normalised``: compare e-mails as their providers deliver them (Gmail's dots,
      ``+tags``), so that two spellings of one mailbox are a repeat (1008) too.
    * ``warnings``: note list-hygiene warnings (``validator.hygiene``) on each row; they never
      change a verdict.
    """

    suppressed_addresses: frozenset[str] = frozenset()
    suppressed_domains: frozenset[str] = frozenset()
    schema_paths: tuple[str, ...] = ()
    campaign_id: str | None = None
    dedupe: bool = True
    dedupe_normalised: bool = False
    warnings: bool = True

    @property
    def suppresses(self) -> bool:
        return bool(self.suppressed_addresses or self.suppressed_domains)


def load_suppression(path: str) -> tuple[frozenset[str], frozenset[str]]:
    """Addresses and ``@domain`` masks, one a line; ``#`` starts a comment."""
    # Here, not at the top: importing the batch room does not load the resolver.
    from ..dns import normalise_domain

    addresses: set[str] = set()
    domains: set[str] = set()
    try:
        handle = open(path, encoding="utf-8-sig")  # noqa: SIM115
    except OSError as exc:
        raise InputError(f"cannot open suppression list {path}: {exc.strerror}") from exc
    with handle:
        for number, line in enumerate(handle, 1):
            entry = line.split("#", 1)[0].strip().lower()
            if not entry:
                continue
            if entry.startswith("@") and len(entry) > 1 and "@" not in entry[1:]:
                domains.add(normalise_domain(entry[1:]))
            elif entry.count("@") == 1 and not entry.endswith("@"):
                addresses.add(entry)
            else:
                raise InputError(f"{path}:{number}: expected an address or @domain, "
                                 f"got {line.strip()!r}")
    return frozenset(addresses), frozenset(domains)
