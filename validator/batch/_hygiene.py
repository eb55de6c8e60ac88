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

from ..hygiene import ROLE_ACCOUNTS, domain_profile, is_role_account, mailbox
from ._dedupe import dedupe_keys
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
        self.result = BlockNotes(bytearray(), Counter(), {}, no_provider())
        # (row index, line, exact key or place among the valid rows) and the mailbox text of
        # each provider entry, until ``exact_keys`` hashes the texts at once.
        self._provider: list[tuple[int, int, int]] = []
        self._mailboxes: list[str] = []

    def email(self, row: Any) -> Any:
        if self.tabular:
            return row[self.email_at] if self.email_at is not None \
                and row.__class__ is not Malformed else None
        return row.get("email") if row.__class__ is dict else None

    def campaign(self, row: Any) -> Any:
        if self.tabular:
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


# An address split as ``str.rpartition("@")`` splits it (dots match newlines too).
_SPLIT = r"(?s)^(.*)@([^@]*)$"
# Local parts whose lower case, strip and split polars makes exactly as Python does: printable
# ASCII without spaces (Python's strip takes \x1c-\x1f and Unicode spaces, and its lower case
# of some letters is not Rust's).
_PLAIN_LOCAL = r"^[\x21-\x7e]+$"


def valid_rows_notes(emails: pl.Series, campaigns: pl.Series | None, campaign_id: str | None,
                     lines: np.ndarray, keys: np.ndarray | None, duplicates: bool,
                     status: int) -> BlockNotes:
    """``RowNotes.warn``'s notes of rows that are all valid, in columns: what a domain brings
    is asked once per distinct domain and joined back; role accounts and the provider mailbox
    are string expressions on plain local parts (``_PLAIN_LOCAL``), where they are Python's.
    Rows with other local parts go through ``warn``; only the rows warned become Python
    text. ``keys``: the rows' 1008 keys (with ``duplicates``)."""
    size = len(emails)
    own = RowNotes(None, campaign_id, True, duplicates)
    own.result.statuses.extend(bytes([status]) * size)
    email = pl.col("email")
    campaign = pl.lit(campaign_id, pl.String)
    if campaigns is not None:
        campaign = pl.when(pl.col("campaign") != "").then(pl.col("campaign")) \
            .otherwise(campaign)
    frame = pl.DataFrame({"email": emails, "campaign": campaigns if campaigns is not None
                          else pl.repeat("", size, eager=True)}).select(
        local=email.str.extract(_SPLIT, 1), domain=email.str.extract(_SPLIT, 2),
        campaign=campaign)
    local = pl.col("local")
    flags = frame.select(plain=local.str.contains(_PLAIN_LOCAL).fill_null(False),
                         other=(local != "") & ~local.str.contains(_PLAIN_LOCAL))
    other = np.flatnonzero(flags["other"].fill_null(False).to_numpy())
    if len(other):
        # Python's own case mappings and strip: the few rows whose local parts need them.
        emails_of = emails.gather(other).to_list()
        campaigns_of = frame["campaign"].gather(other).to_list()
        exact = keys[other].tolist() if keys is not None else [0] * len(other)
        for index, line, address, row_campaign, key in zip(
                other.tolist(), lines[other].tolist(), emails_of, campaigns_of, exact,
                strict=True):
            own.warn(index, line, address, row_campaign, True, key)
    own.exact_keys(None)
    plain = frame.with_row_index("index").filter(flags["plain"])
    if not plain.height:
        return own.result
    counts, rows = own.result.counts, own.result.rows
    texts: list[str | None] = []
    kinds: dict[str, list[str]] = {}
    domains = plain["domain"].unique().to_list()
    receivers: list[str | None] = []
    dots: list[bool | None] = []
    for domain in domains:
        found, warnings, rules = _domain_notes(domain)
        texts.append("; ".join(warnings) or None)
        for kind in found:
            kinds.setdefault(kind, []).append(domain)
        receivers.append(rules[0] if rules is not None else None)
        dots.append(rules[1] if rules is not None else None)
    domain = pl.col("domain")
    lowered = local.str.to_lowercase()
    # ``split("+", 1)[0]``: what a role account and a +tag are decided on.
    base = lowered.str.extract(r"^([^+]*)", 1)
    role = base.is_in(list(ROLE_ACCOUNTS))
    noted = plain.with_columns(
        text=pl.concat_str([domain.replace_strict(domains, texts, default=None,
                                                  return_dtype=pl.String),
                            pl.when(role).then(
                                warning_text("role", "") + lowered + _ROLE)],
                           separator="; ", ignore_nulls=True),
        role=role)
    for kind, at in kinds.items():
        counts[kind] += int(noted.select(domain.is_in(at).sum()).item())
    roles = int(noted["role"].sum())
    if roles:
        counts["role"] += roles
    warned = noted.filter(pl.col("text") != "")
    rows.update(zip(warned["index"].to_list(), warned["text"].to_list(), strict=True))
    if not duplicates or all(r is None for r in receivers):
        return own.result
    with_rules = [d for d, r in zip(domains, receivers, strict=True) if r is not None]
    entries = plain.filter(domain.is_in(with_rules) & pl.col("campaign").is_not_null()) \
        .select("index", text=_mailbox(lowered, domain, domains, receivers, dots) + "\x00"
                + pl.col("campaign"))
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


def _mailbox(lowered: pl.Expr, domain: pl.Expr, domains: list[str],
             receivers: list[str | None], dots: list[bool | None]) -> pl.Expr:
    """``mailbox`` of a lowered plain local part (``_PLAIN_LOCAL``) at a domain with rules;
    ``domains`` with their receiving domains and whether they ignore dots (None: no rules)."""
    receiver = domain.replace_strict(domains, receivers, default=None, return_dtype=pl.String)
    ignores_dots = domain.replace_strict(domains, dots, default=None, return_dtype=pl.Boolean)
    # The part before a +tag (unless empty), then without dots (unless that is empty).
    base = lowered.str.extract(r"^([^+]*)", 1)
    head = pl.when(base != "").then(base).otherwise(lowered)
    undotted = head.str.replace_all(".", "", literal=True)
    head = pl.when(ignores_dots & (undotted != "")).then(undotted).otherwise(head)
    return head + "@" + receiver


def provider_normalised_column(emails: pl.Series) -> pl.Series:
    """``hygiene.provider_normalised`` of each address, made by polars for addresses of
    printable ASCII (where lower case and strip are Python's); null for the others, which
    Python must make."""
    frame = pl.DataFrame({"email": emails}).select(
        plain=pl.col("email").str.contains(_PLAIN_LOCAL),
        lowered=pl.col("email").str.to_lowercase()).select(
        "plain", "lowered", local=pl.col("lowered").str.extract(_SPLIT, 1),
        domain=pl.col("lowered").str.extract(_SPLIT, 2).str.strip_chars_end("."),
        split=pl.col("lowered").str.contains(r"(?s)^.+@[^@]+$"))
    domains = frame.filter(pl.col("plain") & pl.col("split"))["domain"].unique().to_list()
    rules = [domain_profile(d)[1] for d in domains]
    local, domain = pl.col("local"), pl.col("domain")
    normalised = pl.col("lowered")
    if any(r is not None for r in rules):
        with_rules = [d for d, r in zip(domains, rules, strict=True) if r is not None]
        normalised = pl.when(domain.is_in(with_rules)).then(_mailbox(
            local, domain, domains, [r[0] if r is not None else None for r in rules],
            [r[1] if r is not None else None for r in rules])).otherwise(local + "@" + domain)
    else:
        normalised = local + "@" + domain
    # ``_split``: without a local part or a domain the address is only lower-cased.
    return frame.select(pl.when(pl.col("plain")).then(
        pl.when(pl.col("split")).then(normalised).otherwise(pl.col("lowered")))
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


_LINE_BITS = 40
"""Where a first row is, in one int64: its input's index above these bits, its line below."""


class ProviderRepeats:
    """The run's index of addresses at providers with rules: a valid row whose address
    reaches the same mailbox (in the same campaign) as an earlier one, written differently,
    gets a "duplicate" warning. Exact repeats are 1008 already.

    Kept as sorted runs of mailbox digests, each beside its first row's exact key and place
    (24 bytes a mailbox); a block is looked up in each run with one vectorised search, and
    runs of like size are merged (as ``_dedupe.FirstRows`` keeps its runs)."""

    def __init__(self) -> None:
        self.runs: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.size = 0

    def take(self, file_index: int, provider: np.ndarray, dropped: np.ndarray,
             files: dict[int, str]) -> list[tuple[int, str]]:
        """The (row index, warning) of the rows of one block that repeat an earlier one;
        ``dropped`` are the rows (indexes) the run has just refused as exact repeats."""
        if len(dropped):
            provider = provider[~np.isin(provider[:, 0], dropped.astype(np.uint64))]
        if not len(provider):
            return []
        digests, exact = provider[:, 2], provider[:, 3]
        distinct, first, inverse = np.unique(digests, return_index=True, return_inverse=True)
        inverse = inverse.reshape(-1)
        known = np.zeros(len(distinct), bool)
        first_exact = np.zeros(len(distinct), np.uint64)
        where = np.zeros(len(distinct), np.int64)
        for run_keys, run_exact, run_where in self.runs:
            at = np.minimum(np.searchsorted(run_keys, distinct), len(run_keys) - 1)
            hit = run_keys[at] == distinct
            known |= hit
            first_exact[hit] = run_exact[at[hit]]
            where[hit] = run_where[at[hit]]
        # New mailboxes are remembered in the order of their first rows, up to the cap: a row
        # of one past it is compared with nothing, as the first row of its mailbox is.
        fresh = np.flatnonzero(~known)
        room = max(0, PROVIDER_INDEX_CAP - self.size)
        if len(fresh) > room:
            fresh = np.sort(fresh[np.argsort(first[fresh], kind="stable")[:room]])
        first_exact[fresh] = exact[first[fresh]]
        where[fresh] = (np.int64(file_index) << _LINE_BITS) \
            | provider[first[fresh], 1].astype(np.int64)
        remembered = known.copy()
        remembered[fresh] = True
        compared = remembered[inverse] & (known[inverse]
                                          | (first[inverse] != np.arange(len(provider))))
        warned = np.flatnonzero(compared & (exact != first_exact[inverse]))
        if len(fresh):
            self._add(distinct[fresh], first_exact[fresh], where[fresh])
        found: list[tuple[int, str]] = []
        mask = (1 << _LINE_BITS) - 1
        for index, place in zip(provider[warned, 0].tolist(),
                                where[inverse[warned]].tolist(), strict=True):
            at_file, at_line = place >> _LINE_BITS, place & mask
            text = f"line {at_line}"
            if at_file != file_index:
                text += f" of {files[at_file]}"
            found.append((index, warning_text(
                "duplicate", f"reaches the same mailbox as the address on {text} "
                             "(provider rules: dots, +tags)")))
        return found

    def _add(self, keys: np.ndarray, exact: np.ndarray, where: np.ndarray) -> None:
        runs = self.runs
        runs.append((keys, exact, where))  # np.unique gave them sorted
        self.size += len(keys)
        while len(runs) > 1 and len(runs[-1][0]) * 2 >= len(runs[-2][0]):
            (a_keys, a_exact, a_where), (b_keys, b_exact, b_where) = runs[-2], runs.pop()
            merged = np.concatenate((a_keys, b_keys))
            order = np.argsort(merged, kind="stable")
            runs[-1] = (merged[order], np.concatenate((a_exact, b_exact))[order],
                        np.concatenate((a_where, b_where))[order])


def rows_of(statuses: bytearray, status: int, picked: list[int]) -> np.ndarray:
    """The block indexes of the ``picked``-th rows of one status (the 3rd valid row ...)."""
    indexes = np.flatnonzero(np.frombuffer(statuses, np.uint8) == status)
    return indexes[np.asarray(picked, np.intp)]
