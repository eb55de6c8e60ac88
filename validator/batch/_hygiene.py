"""List-hygiene warnings in a batch run (``validator.hygiene``): per row in the workers,
and the likely duplicates by provider rules, which need the rows before, in the run.

They never change a verdict, an error body or an output but ``--annotated``: they are counted
in the summary and the report, and listed per row in the annotated file."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from hashlib import blake2b
from typing import Any, NamedTuple

from ..hygiene import ROLE_ACCOUNTS, domain_profile, is_role_account, mailbox
from ._plan import CsvPlan
from ._readers import Malformed

PROVIDER_INDEX_CAP = 4_000_000
"""Addresses at providers with rules remembered for the duplicate warning; past this many the
later rows are compared with the ones remembered only (flat memory on huge lists)."""


class BlockNotes(NamedTuple):
    """What a block says of each row besides its outputs. Rows are named by their index in
    the block: lines do not tell rows apart (a JSON array on one line)."""

    statuses: bytearray
    """Each row's status (``_units.VALID``, ``INVALID``, ``UNVERIFIED``), in order: how the
    block's valid, rejected and unverified rows interleave."""
    counts: Counter[str]
    """Warnings by kind over the block's rows."""
    rows: dict[int, str]
    """Row index → that row's warnings as text, for the rows that have any."""
    provider: list[tuple[int, int, int, int]]
    """(row index, line, 64-bit digest of the mailbox and campaign, exact 1008 key) of the
    valid rows whose address follows provider rules (Gmail dots, +tags): the run finds the
    likely duplicates."""


def warning_text(kind: str, message: str) -> str:
    return f"{kind}: {message}"


@lru_cache(maxsize=65536)
def _domain_notes(domain: str) -> tuple[tuple[str, ...], tuple[str, ...],
                                        tuple[str, bool] | None]:
    warnings, rules = domain_profile(domain)
    return (tuple(kind for kind, _, _ in warnings),
            tuple(warning_text(kind, message) for kind, message, _ in warnings), rules)


class RowNotes:
    """What a worker notes of each row of a block: its status, and with ``warnings`` its
    list-hygiene warnings."""

    def __init__(self, plan: CsvPlan | None, campaign_id: str | None, warnings: bool,
                 duplicates: bool) -> None:
        self.campaign_id = campaign_id
        self.warnings = warnings
        self.duplicates = duplicates
        self.email_at: int | None = None
        self.campaign_at: int | None = None
        if plan is not None:
            for column in plan.columns:
                if column.path == ("email",) and self.email_at is None:
                    self.email_at = column.index
                elif column.path == ("campaign", "campaignId") and self.campaign_at is None:
                    self.campaign_at = column.index
        self.tabular = plan is not None
        # An e-mail or campaign joined from several columns stands past the row's own cells.
        self.joined = plan.cells if plan is not None and any(
            at is not None and at >= len(plan.header)
            for at in (self.email_at, self.campaign_at)) else None
        self.result = BlockNotes(bytearray(), Counter(), {}, [])

    def email(self, row: Any) -> Any:
        if self.tabular:
            if self.email_at is None or row.__class__ is Malformed:
                return None
            return (row if self.joined is None else self.joined(row))[self.email_at]
        return row.get("email") if row.__class__ is dict else None

    def campaign(self, row: Any) -> Any:
        if self.tabular:
            if self.joined is not None:
                row = self.joined(row)
            campaign = row[self.campaign_at] if self.campaign_at is not None else None
        else:
            found = row.get("campaign")
            campaign = found.get("campaignId") if isinstance(found, dict) else None
        return campaign or self.campaign_id

    def note(self, line: int, row: Any, status: int, valid: bool, exact: int = 0) -> None:
        """``exact``: the 1008 key of a valid row (``dedupe_key``), when the run dedupes, or
        the row's place among the block's valid rows until ``exact_keys`` gives the keys."""
        result = self.result
        index = len(result.statuses)
        result.statuses.append(status)
        if self.warnings:
            email = self.email(row)
            if email.__class__ is str:
                self.warn(index, line, email, self.campaign(row) if valid else None, valid,
                          exact)

    def warn(self, index: int, line: int, email: str, campaign: Any, valid: bool,
             exact: int) -> None:
        """The warnings of the row at ``index`` (``campaign`` is read for valid rows only)."""
        result = self.result
        # The cheap form of ``email_warnings``, per row of a big file: the domain's part is
        # cached, the role check is a set lookup, and text is made only for rows warned.
        local, _, domain = email.rpartition("@")
        if not local:
            return
        kinds, texts, rules = _domain_notes(domain)
        lowered = local.lower()
        if lowered in ROLE_ACCOUNTS or ("+" in lowered and is_role_account(lowered)):
            kinds = (*kinds, "role")
            texts = (*texts, warning_text("role", f"{lowered}@ is a role account, not a "
                                                  "person"))
        if kinds:
            counts = result.counts
            for kind in kinds:  # (Counter.update is several times slower for a few keys.)
                counts[kind] += 1
            result.rows[index] = "; ".join(texts)
        if valid and rules is not None and self.duplicates and campaign.__class__ is str:
            text = f"{mailbox(lowered.strip(), rules)}\x00{campaign}"
            key = blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest()
            result.provider.append((index, line, int.from_bytes(key, "little"), exact))

    def exact_keys(self, keys: Sequence[int]) -> None:
        """Put the valid rows' 1008 keys in the provider entries, which hold each row's place
        among the valid rows until the block's keys are made at once."""
        provider = self.result.provider
        if provider:
            provider[:] = [(index, line, digest, keys[at])
                           for index, line, digest, at in provider]


def interesting_domain(domain: str) -> bool:
    """Whether an address at ``domain`` can have a warning or a provider-rules mailbox, so
    that rows at other domains with plain local parts need no look (the columnar way)."""
    kinds, _, rules = _domain_notes(domain)
    return bool(kinds) or rules is not None


def merge_notes(first: BlockNotes, first_order: Sequence[int], second: BlockNotes,
                second_order: Sequence[int], size: int) -> BlockNotes:
    """One block's notes from the notes of two sets of its rows; ``*_order`` give the place
    of each of their rows in the block."""
    statuses = bytearray(size)
    for notes, places in ((first, first_order), (second, second_order)):
        for at, status in zip(places, notes.statuses, strict=True):
            statuses[at] = status
    rows = {first_order[i]: text for i, text in first.rows.items()}
    rows.update((second_order[i], text) for i, text in second.rows.items())
    provider = sorted([(first_order[i], line, digest, exact)
                       for i, line, digest, exact in first.provider]
                      + [(second_order[i], line, digest, exact)
                         for i, line, digest, exact in second.provider])
    return BlockNotes(statuses, first.counts + second.counts, rows, provider)


class ProviderRepeats:
    """The run's index of addresses at providers with rules: a valid row whose address
    reaches the same mailbox (in the same campaign) as an earlier one, written differently,
    gets a "duplicate" warning. Exact repeats are 1008 already."""

    def __init__(self) -> None:
        self.first: dict[int, tuple[int, int, int]] = {}

    def take(self, file_index: int, provider: list[tuple[int, int, int, int]],
             dropped: set[int], files: dict[int, str]) -> list[tuple[int, str]]:
        """The (row index, warning) of the rows of one block that repeat an earlier one;
        ``dropped`` are the rows (indexes) the run has just refused as exact repeats."""
        found: list[tuple[int, str]] = []
        first = self.first
        for index, line, key, exact in provider:
            if index in dropped:
                continue
            earlier = first.get(key)
            if earlier is None:
                if len(first) < PROVIDER_INDEX_CAP:
                    first[key] = (exact, file_index, line)
                continue
            if earlier[0] == exact:
                continue
            where = f"line {earlier[2]}"
            if earlier[1] != file_index:
                where += f" of {files[earlier[1]]}"
            found.append((index, warning_text(
                "duplicate", f"reaches the same mailbox as the address on {where} "
                             "(provider rules: dots, +tags)")))
        return found


def rows_of(statuses: bytearray, status: int, picked: list[int]) -> list[int]:
    """The block indexes of the ``picked``-th rows of one status (the 3rd valid row ...)."""
    indexes = [i for i, found in enumerate(statuses) if found == status]
    return [indexes[n] for n in picked]
