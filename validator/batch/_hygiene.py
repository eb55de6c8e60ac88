"""List-hygiene warnings in a batch run (``validator.hygiene``): per row in the workers,
and the likely duplicates by provider rules, which need the rows before, in the run.

They never change a verdict, an error body or an output but ``--annotated``: they are counted
in the summary and the report, and listed per row in the annotated file."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np
import polars as pl

from ..hygiene import KINDS, ROLE_ACCOUNTS, domain_profile, is_role_account, mailbox
from ._dedupe import LINE_BITS, LINE_MASK, SortedRuns, dedupe_keys
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
    provider: np.ndarray
    """(row index, line, 64-bit digest of the mailbox and campaign, exact 1008 key), a row of
    this (n, 4) uint64 array for each valid row whose address follows provider rules (Gmail
    dots, +tags), in row order: the run finds the likely duplicates."""


def no_provider() -> np.ndarray:
    return np.zeros((0, 4), np.uint64)


def provider_digests(texts: Sequence[str] | pl.Series) -> np.ndarray:
    """The digests of ``mailbox\\x00campaign`` texts: the 1008 key's hash, so that the row
    path (a list) and the columnar way (a polars column) make the same ones."""
    return dedupe_keys(texts)


def warning_text(kind: str, message: str) -> str:
    return f"{kind}: {message}"


def warning_counts(counts: Counter[str]) -> dict[str, int]:
    """Warnings by kind, most first; a tie in ``KINDS``' order, not in the order the kinds
    were first counted, which differs between the row path and the columnar way."""
    return dict(sorted(counts.items(), key=lambda item: (-item[1], KINDS.index(item[0]))))


_ROLE = "@ is a role account, not a person"
"""After the lowered local part (``hygiene.email_warnings``' message)."""


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
        self.result = BlockNotes(bytearray(), Counter(), {}, no_provider())
        # (row index, line, exact key or place among the valid rows) and the mailbox text of
        # each provider entry, until ``exact_keys`` hashes the texts at once.
        self._provider: list[tuple[int, int, int]] = []
        self._mailboxes: list[str] = []

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
            texts = (*texts, warning_text("role", lowered + _ROLE))
        if kinds:
            counts = result.counts
            for kind in kinds:  # (Counter.update is several times slower for a few keys.)
                counts[kind] += 1
            result.rows[index] = "; ".join(texts)
        if valid and rules is not None and self.duplicates and campaign.__class__ is str:
            self._provider.append((index, line, exact))
            self._mailboxes.append(f"{mailbox(lowered.strip(), rules)}\x00{campaign}")

    def exact_keys(self, keys: Sequence[int] | None) -> None:
        """Finish the provider entries: their digests, made at once, and with ``keys`` (the
        valid rows' 1008 keys) each row's key in place of its place among the valid rows,
        which ``note`` was given until the block's keys were made; None: ``warn`` was given
        the keys themselves."""
        if not self._provider:
            return
        entries = np.array(self._provider, np.uint64).reshape(-1, 3)
        if keys is not None:
            entries[:, 2] = np.asarray(keys, np.uint64)[entries[:, 2].astype(np.intp)]
        provider = np.column_stack((entries[:, 0], entries[:, 1],
                                    provider_digests(self._mailboxes), entries[:, 2]))
        self.result = self.result._replace(provider=provider)


# Addresses whose notes polars makes exactly as Python does: one "@", a local part before it,
# all printable ASCII without spaces (so lower case, strip, split and "@" positions are
# Python's: its strip takes \x1c-\x1f and Unicode spaces, its lower case of some letters is
# not Rust's, and ``rpartition`` splits at the last "@").
_ASCII = r"[\x21-\x3f\x41-\x7e]"
_DECIDED = rf"^{_ASCII}+@{_ASCII}*$"
# A role account, on a decided address: ``split("+", 1)[0]`` of its lowered local part.
_ROLE_LOCAL = "^(?i:" + "|".join(sorted(ROLE_ACCOUNTS)) + r")(?:\+[^@]*)?@"


def _parts(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` (an ``email`` column) with each decided address's local part and domain,
    split without a regex capture (a capture costs as much as the rest together)."""
    email = pl.col("email")
    at = email.str.find("@", literal=True)
    return frame.with_columns(decided=email.str.contains(_DECIDED),
                              domain=email.str.slice(at + 1))


def valid_rows_notes(emails: pl.Series, campaigns: pl.Series | None, campaign_id: str | None,
                     lines: np.ndarray, keys: np.ndarray | None, duplicates: bool,
                     status: int) -> BlockNotes:
    """``RowNotes.warn``'s notes of rows that are all valid, in columns: what a domain brings
    is asked once per distinct domain and joined back, role accounts are a pattern, and the
    provider mailbox is made by string expressions, on decided addresses (``_DECIDED``).
    Other addresses go through ``warn``; only the rows warned become Python text.
    ``keys``: the rows' 1008 keys (with ``duplicates``)."""
    size = len(emails)
    own = RowNotes(None, campaign_id, True, duplicates)
    own.result.statuses.extend(bytes([status]) * size)
    email = pl.col("email")
    campaign = pl.lit(campaign_id, pl.String)
    if campaigns is not None:
        campaign = pl.when(pl.col("campaign") != "").then(pl.col("campaign")) \
            .otherwise(campaign)
    frame = _parts(pl.DataFrame({"email": emails, "campaign": campaigns if campaigns is not None
                                 else pl.repeat("", size, eager=True)}).with_columns(
        campaign=campaign)).with_row_index("index")
    other = frame.filter(~pl.col("decided") & email.str.contains("@", literal=True))
    if other.height:
        # Python's own case mappings, strip and split: the few rows whose addresses need them.
        at = other["index"].to_numpy()
        exact = keys[at].tolist() if keys is not None else [0] * len(at)
        for index, line, address, row_campaign, key in zip(
                at.tolist(), lines[at].tolist(), other["email"].to_list(),
                other["campaign"].to_list(), exact, strict=True):
            own.warn(index, line, address, row_campaign, True, key)
    own.exact_keys(None)
    plain = frame.filter("decided")
    if not plain.height:
        return own.result
    counts, rows = own.result.counts, own.result.rows
    domains = plain["domain"].unique().to_list()
    texts: dict[str, str] = {}
    kinds: dict[str, list[str]] = {}
    rules: dict[str, tuple[str, bool]] = {}
    for domain in domains:
        found, warnings, domain_rules = _domain_notes(domain)
        if warnings:
            texts[domain] = "; ".join(warnings)
        for kind in found:
            kinds.setdefault(kind, []).append(domain)
        if domain_rules is not None:
            rules[domain] = domain_rules
    domain = pl.col("domain")
    role = email.str.contains(_ROLE_LOCAL)
    tallies = plain.select(role=role.sum(), **{
        kind: domain.is_in(at).sum() for kind, at in kinds.items()}).row(0, named=True)
    for kind, count in tallies.items():
        if count:
            counts[kind] += count
    if tallies["role"] or texts:
        lowered = email.str.head(email.str.find("@", literal=True)).str.to_lowercase()
        warned = plain.filter(role | domain.is_in(list(texts))).select(
            "index", text=pl.concat_str(
                [domain.replace_strict(list(texts), list(texts.values()), default=None,
                                       return_dtype=pl.String),
                 pl.when(role).then(warning_text("role", "") + lowered + _ROLE)],
                separator="; ", ignore_nulls=True))
        rows.update(zip(warned["index"].to_list(), warned["text"].to_list(), strict=True))
    if not duplicates or not rules:
        return own.result
    entries = plain.filter(domain.is_in(list(rules)) & pl.col("campaign").is_not_null()) \
        .select("index", text=pl.concat_str([_mailbox(email, rules), pl.lit("\x00"),
                                            pl.col("campaign")]))
    if not entries.height:
        return own.result
    where = entries["index"].to_numpy().astype(np.intp)
    provider = np.column_stack((where.astype(np.uint64), lines[where].astype(np.uint64),
                                provider_digests(entries["text"]),
                                keys[where].astype(np.uint64) if keys is not None
                                else np.zeros(len(where), np.uint64)))
    if len(own.result.provider):
        provider = np.concatenate((own.result.provider, provider))
        provider = provider[np.argsort(provider[:, 0], kind="stable")]
    return own.result._replace(provider=provider)


def _mailbox(email: pl.Expr, rules: dict[str, tuple[str, bool]]) -> pl.Expr:
    """``mailbox`` of decided addresses (``_DECIDED``) whose ``domain`` column is one of
    ``rules``' (a domain's receiving domain and whether it ignores dots). Integer positions
    pick the cut, so that each string is made once (both sides of a ``when`` are computed for
    every row)."""
    domain = pl.col("domain")
    at = email.str.find("@", literal=True)
    plus = email.str.find("+", literal=True)
    # The part before a +tag (unless empty: "+x@" keeps "+x"), lowered.
    cut = pl.when((plus > 0) & (plus < at)).then(plus).otherwise(at)
    head = email.str.head(cut).str.to_lowercase()
    dotted = [d for d, (_, dots) in rules.items() if dots]
    if dotted:
        # Without dots (unless that leaves nothing).
        undotted = head.str.replace_all(".", "", literal=True)
        head = pl.when(domain.is_in(dotted) & (undotted != "")).then(undotted).otherwise(head)
    receiver = domain.replace_strict(list(rules), [r[0] for r in rules.values()],
                                     return_dtype=pl.String)
    return pl.concat_str([head, pl.lit("@"), receiver])


def provider_normalised_column(emails: pl.Series) -> pl.Series:
    """``hygiene.provider_normalised`` of each address, made by polars for decided addresses
    (``_DECIDED``); null for the others, which Python must make."""
    email = pl.col("email")
    frame = _parts(pl.DataFrame({"email": emails}).with_columns(email.str.to_lowercase())) \
        .with_columns(pl.col("domain").str.strip_chars_end("."))
    domains = frame.filter("decided")["domain"].unique().to_list()
    rules = {d: r for d in domains if (r := domain_profile(d)[1]) is not None}
    domain = pl.col("domain")
    local = email.str.head(email.str.find("@", literal=True))
    normalised = local + "@" + domain
    if rules:
        normalised = pl.when(domain.is_in(list(rules))).then(_mailbox(email, rules)) \
            .otherwise(normalised)
    # ``_split``: an address without a domain is only lower-cased.
    return frame.select(pl.when("decided").then(
        pl.when(pl.col("email").str.ends_with("@")).then(email).otherwise(normalised))
        .alias("normalised"))["normalised"]


def merge_notes(first: BlockNotes, first_order: np.ndarray, second: BlockNotes,
                second_order: np.ndarray, size: int) -> BlockNotes:
    """One block's notes from the notes of two sets of its rows; ``*_order`` give the place
    of each of their rows in the block."""
    statuses = np.zeros(size, np.uint8)
    statuses[first_order] = np.frombuffer(first.statuses, np.uint8)
    statuses[second_order] = np.frombuffer(second.statuses, np.uint8)
    rows = {int(first_order[i]): text for i, text in first.rows.items()}
    rows.update((int(second_order[i]), text) for i, text in second.rows.items())
    provider = no_provider()
    parts = [_placed(notes.provider, order)
             for notes, order in ((first, first_order), (second, second_order))
             if len(notes.provider)]
    if parts:
        provider = np.concatenate(parts)
        provider = provider[np.argsort(provider[:, 0], kind="stable")]
    return BlockNotes(bytearray(statuses.tobytes()), first.counts + second.counts, rows,
                      provider)


def _placed(provider: np.ndarray, order: np.ndarray) -> np.ndarray:
    placed = provider.copy()
    placed[:, 0] = order[provider[:, 0].astype(np.intp)]
    return placed


class ProviderRepeats:
    """The run's index of addresses at providers with rules: a valid row whose address
    reaches the same mailbox (in the same campaign) as an earlier one, written differently,
    gets a "duplicate" warning. Exact repeats are 1008 already.

    Mailbox digests in ``_dedupe.SortedRuns``, each beside its first row's exact key and place
    (24 bytes a mailbox): a block is looked up in each run with one vectorised search."""

    def __init__(self) -> None:
        self.index = SortedRuns(2)
        """digest → (the first row's exact key as int64 bits, file << LINE_BITS | line)."""

    @property
    def size(self) -> int:
        return len(self.index)

    def take(self, file_index: int, provider: np.ndarray, dropped: np.ndarray,
             files: dict[int, str]) -> list[tuple[int, str]]:
        """The (row index, warning) of the rows of one block that repeat an earlier one;
        ``dropped`` are the rows (indexes) the run has just refused as exact repeats."""
        if len(dropped):
            provider = provider[~np.isin(provider[:, 0], dropped.astype(np.uint64))]
        if not len(provider):
            return []
        digests, exact = provider[:, 2], provider[:, 3].view(np.int64)
        distinct, first, inverse = np.unique(digests, return_index=True, return_inverse=True)
        inverse = inverse.reshape(-1)
        known, held = self.index.find(distinct)
        first_exact, where = held[:, 0], held[:, 1]
        # New mailboxes are remembered in the order of their first rows, up to the cap: a row
        # of one past it is compared with nothing, as the first row of its mailbox is.
        fresh = np.flatnonzero(~known)
        room = max(0, PROVIDER_INDEX_CAP - self.size)
        if len(fresh) > room:
            fresh = np.sort(fresh[np.argsort(first[fresh], kind="stable")[:room]])
        first_exact[fresh] = exact[first[fresh]]
        where[fresh] = (np.int64(file_index) << LINE_BITS) \
            | provider[first[fresh], 1].astype(np.int64)
        remembered = known.copy()
        remembered[fresh] = True
        compared = remembered[inverse] & (known[inverse]
                                          | (first[inverse] != np.arange(len(provider))))
        warned = np.flatnonzero(compared & (exact != first_exact[inverse]))
        if len(fresh):
            self.index.add(distinct[fresh], held[fresh])  # np.unique gave them sorted
        found: list[tuple[int, str]] = []
        for index, place in zip(provider[warned, 0].tolist(),
                                where[inverse[warned]].tolist(), strict=True):
            at_file, at_line = place >> LINE_BITS, place & LINE_MASK
            text = f"line {at_line}"
            if at_file != file_index:
                text += f" of {files[at_file]}"
            found.append((index, warning_text(
                "duplicate", f"reaches the same mailbox as the address on {text} "
                             "(provider rules: dots, +tags)")))
        return found


def rows_of(statuses: bytearray, status: int, picked: list[int]) -> np.ndarray:
    """The block indexes of the ``picked``-th rows of one status (the 3rd valid row ...)."""
    indexes = np.flatnonzero(np.frombuffer(statuses, np.uint8) == status)
    return indexes[np.asarray(picked, np.intp)]
