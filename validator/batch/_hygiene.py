"""List-hygiene warnings in a batch run (``validator.hygiene``): per row in the workers,
and the likely duplicates by provider rules, which need the rows before, in the run.

They never change a verdict, an error body or an output but ``--annotated``: they are counted
in the summary and the report, and listed per row in the annotated file."""

from __future__ import annotations

from collections import Counter
from typing import Any, NamedTuple

from ..hygiene import email_warnings, has_provider_rules
from ._dedupe import dedupe_key
from ._plan import CsvPlan
from ._readers import Malformed

PROVIDER_INDEX_CAP = 4_000_000
"""Addresses at providers with rules remembered for the duplicate warning; past this many the
later rows are compared with the ones remembered only (flat memory on huge lists)."""


class BlockNotes(NamedTuple):
    """What a block says of each row besides its outputs. Rows are named by their index in
    the block: lines do not tell rows apart (a JSON array on one line)."""

    statuses: bytearray
    """Each row's status (``_blocks.VALID``, ``INVALID``, ``UNVERIFIED``), in order: how the
    block's valid, rejected and unverified rows interleave."""
    counts: Counter[str]
    """Warnings by kind over the block's rows."""
    rows: dict[int, str]
    """Row index → that row's warnings as text, for the rows that have any."""
    provider: list[tuple[int, int, int, int]]
    """(row index, line, 1008 key by provider rules, exact 1008 key) of the valid rows whose
    address follows provider rules (Gmail dots, +tags): the run finds the likely duplicates."""


def warning_text(kind: str, message: str) -> str:
    return f"{kind}: {message}"


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
        self.result = BlockNotes(bytearray(), Counter(), {}, [])

    def identity(self, row: Any) -> tuple[Any, Any]:
        if isinstance(row, Malformed):
            return None, None
        if self.tabular:
            email = row[self.email_at] if self.email_at is not None else None
            campaign = row[self.campaign_at] if self.campaign_at is not None else None
        elif isinstance(row, dict):
            email = row.get("email")
            found = row.get("campaign")
            campaign = found.get("campaignId") if isinstance(found, dict) else None
        else:
            return None, None
        return email, campaign or self.campaign_id

    def note(self, line: int, row: Any, status: int, valid: bool) -> None:
        result = self.result
        index = len(result.statuses)
        result.statuses.append(status)
        if not self.warnings:
            return
        email, campaign = self.identity(row)
        if not isinstance(email, str) or not email:
            return
        found = email_warnings(email)
        if found:
            result.counts.update(w.kind for w in found)
            result.rows[index] = "; ".join(warning_text(w.kind, w.message) for w in found)
        if (valid and self.duplicates and isinstance(campaign, str)
                and has_provider_rules(email)):
            result.provider.append((index, line, dedupe_key(email, campaign, normalised=True),
                                    dedupe_key(email, campaign)))


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
