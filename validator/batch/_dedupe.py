"""The 1008 check of a run: a repeat of an e-mail in a campaign is a repeat relative to the
rows before it, in any input of the run. Workers reduce each valid row to a 64-bit digest
(``dedupe_key``) and a second, independent one, its check (``dedupe_pairs``); the run compares
those ints, block by block, in input order, and a row repeats an earlier one only when both
agree."""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Sequence

import numpy as np
import polars as pl

from ..hygiene import provider_normalised

_SEED = 0x6D61696C  # fixed: every process of a run must make the same keys
_CHECK_SEED = 0x63616D70  # another seed: the confirming hash is another function of the text


def dedupe_text(email: str | None, campaign_id: str | None, normalised: bool = False
                ) -> str | None:
    """What a row is compared on for 1008: the normalised e-mail and the campaign; None when
    either is missing. ``normalised``: the e-mail as its provider delivers it
    (``--dedupe-normalised``: Gmail's dots and ``+tags`` dropped), so that two spellings of
    one mailbox share a key."""
    if email is None or campaign_id is None:
        return None
    address = provider_normalised(email) if normalised else email.strip().lower()
    return f"{address}\x00{campaign_id}"


def _binary(texts: Sequence[str | None] | pl.Series) -> pl.Series:
    if isinstance(texts, pl.Series):
        return texts.cast(pl.Binary)
    # surrogatepass: a JSON string may hold a lone surrogate, which polars cannot.
    return pl.Series([t.encode("utf-8", "surrogatepass") if t is not None else None
                      for t in texts], dtype=pl.Binary)


def _hash(data: pl.Series, seed: int) -> np.ndarray:
    """polars' 64-bit hash of each text's UTF-8 bytes under ``seed`` (the same in every process
    of one installation)."""
    hashed: np.ndarray = data.hash(seed).to_numpy().astype(np.uint64)
    return hashed


def dedupe_keys(texts: Sequence[str | None] | pl.Series) -> np.ndarray:
    """64-bit keys of ``dedupe_text`` values, for a whole block at once; 0 for None."""
    return dedupe_pairs(texts)[0]


def dedupe_pairs(texts: Sequence[str | None] | pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """The keys of ``dedupe_text`` values (``dedupe_keys``) and their checks: a second hash of
    the same bytes under another seed, which confirms a repeat that the keys find (``FirstRows``
    keeps 24 bits of it), so that two different texts are taken for one only when both hashes
    collide."""
    data = _binary(texts)
    null = data.is_null().to_numpy()
    keys = _hash(data, _SEED)
    keys[keys == 0] = 1
    keys[null] = 0
    checks = _hash(data, _CHECK_SEED)
    checks[null] = 0
    return keys, checks


def dedupe_key(email: str | None, campaign_id: str | None, normalised: bool = False) -> int:
    """The key of one row (``dedupe_keys`` of one text)."""
    return int(dedupe_keys([dedupe_text(email, campaign_id, normalised)])[0])


# Where a first row is, in one int64: its input's index above these bits, its line below.
LINE_BITS = 40
LINE_MASK = (1 << LINE_BITS) - 1


class SortedRuns:
    """64-bit keys beside int64 values of fixed width, in sorted runs (as a log-structured
    merge tree keeps them): a block's keys are looked up in every run with one vectorised
    search each, its new keys become a run of their own, and runs of like size are merged,
    so a key is copied O(log n) times over a run and the runs stay few. Costs 8 bytes a key
    and 8 a value: the run's indexes stay flat where a dict of ints takes ~100 bytes a key."""

    def __init__(self, width: int) -> None:
        self.width = width
        self.runs: list[tuple[np.ndarray, np.ndarray]] = []

    def __len__(self) -> int:
        return sum(len(keys) for keys, _ in self.runs)

    @property
    def nbytes(self) -> int:
        return sum(keys.nbytes + values.nbytes for keys, values in self.runs)

    def find(self, distinct: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Which of the sorted, distinct ``distinct`` keys are held, and their values (rows
        of ``width``; zeros where not held)."""
        values = np.zeros((len(distinct), self.width), np.int64)
        held = np.zeros(len(distinct), bool)
        for run_keys, run_values in self.runs:
            at = np.minimum(np.searchsorted(run_keys, distinct), len(run_keys) - 1)
            hit = run_keys[at] == distinct
            values[hit] = run_values[at[hit]]
            held |= hit
        return held, values

    def add(self, keys: np.ndarray, values: np.ndarray) -> None:
        """Hold ``keys`` (sorted, distinct, none held yet) with their ``values``."""
        if not len(keys):
            return
        runs = self.runs
        runs.append((keys, values))
        while len(runs) > 1 and len(runs[-1][0]) * 2 >= len(runs[-2][0]):
            (a_keys, a_values), (b_keys, b_values) = runs[-2], runs.pop()
            # Both sorted and no key in both: each of b's keys goes after the keys of a below
            # it and the keys of b before it. (No sort: the merge of the largest runs is the
            # index's peak of memory, the runs and one copy.)
            at = np.searchsorted(a_keys, b_keys) + np.arange(len(b_keys))
            from_a = np.ones(len(a_keys) + len(b_keys), bool)
            from_a[at] = False
            keys = np.empty(len(from_a), np.uint64)
            keys[at] = b_keys
            keys[from_a] = a_keys
            values = np.empty((len(from_a), self.width), np.int64)
            values[at] = b_values
            values[from_a] = a_values
            runs[-1] = (keys, values)


# Where a first row is, in one uint64: 24 bits of its check above the row's place in the run
# below (the line count of the run's earlier inputs plus its line).
_PLACE_BITS = 40
_PLACE = (1 << _PLACE_BITS) - 1
_CHECK_BITS = 24
MAX_LINES = 1 << _PLACE_BITS
"""Lines one run can hold with the 1008 check (the place of a first row has 40 bits)."""


class FirstRows:
    """Where the first accepted row of each key is, in 16 bytes a distinct key: sorted runs of
    keys (uint64) beside 24 bits of the row's check and its place in the run (uint64). A block's
    keys are looked up in every run with one vectorised search each; its new keys become a run
    of their own, and runs of like size are merged (as a log-structured merge tree does), so a
    key is copied O(log n) times over a run and the runs stay few.

    A row repeats an earlier one only when its check agrees too: two different texts must then
    collide on both hashes (88 bits). A row whose key is known under another check is a
    different text; it and its own repeats are kept in ``others`` (a few in a run, if any)."""

    def __init__(self) -> None:
        self.index = SortedRuns(1)
        self.others: dict[tuple[int, int], int] = {}
        """(key, check) → place, for texts whose key collides with an earlier text's."""
        self.files: list[int] = []
        """The inputs seen, in order, each with ``bases`` its first place."""
        self.bases: list[int] = []
        self.end = 0
        """One past the largest place given so far."""

    @property
    def runs(self) -> list[tuple[np.ndarray, np.ndarray]]:
        return self.index.runs

    @property
    def distinct(self) -> int:
        return len(self.index) + len(self.others)

    @property
    def nbytes(self) -> int:
        return sum(keys.nbytes + where.nbytes for keys, where in self.runs)

    def _base(self, file_index: int) -> int:
        if not self.files or self.files[-1] != file_index:
            self.files.append(file_index)
            self.bases.append(self.end)
        return self.bases[-1]

    def _where(self, place: int) -> tuple[int, int]:
        at = bisect.bisect_right(self.bases, place) - 1
        return self.files[at], place - self.bases[at]

    def repeats(self, file_index: int, keys: array[int], lines: array[int],
                checks: array[int] | None = None) -> list[tuple[int, int, int]]:
        """Take in a block of rows of input ``file_index`` (their keys, 0 for none, lines, in
        order, and checks; none: all 0) and give the rows among them that repeat an earlier
        row: ``(index, file of the first row, its line)``."""
        block = np.frombuffer(keys, np.uint64) if len(keys) else np.zeros(0, np.uint64)
        if not len(block):
            return []
        base = self._base(file_index)
        line_of = np.frombuffer(lines, np.uint64)
        places = line_of + np.uint64(base)
        end = int(places.max()) + 1
        if end > MAX_LINES:
            raise OverflowError(f"more than {MAX_LINES:,} lines in one run: the 1008 check "
                                "cannot place its rows")
        self.end = max(self.end, end)
        own = (np.frombuffer(checks, np.uint64) if checks is not None and len(checks)
               else np.zeros(len(block), np.uint64)) >> np.uint64(64 - _CHECK_BITS)
        packed = (own << np.uint64(_PLACE_BITS)) | places
        distinct, first, inverse = np.unique(block, return_index=True, return_inverse=True)
        # The first row of each distinct key: an earlier block's, else this block's.
        earlier, held = self.index.find(distinct)
        # (The index holds the packed places as int64 bit patterns.)
        where = np.where(earlier, held[:, 0].view(np.uint64), packed[first])
        earlier[distinct == 0] = False
        # A row repeats when its key was seen in an earlier block, or earlier in this one, and
        # the first row's check is its own.
        positions = np.arange(len(block))
        candidate = (earlier[inverse] | (first[inverse] != positions)) & (block != 0)
        first_where = where[inverse]
        confirmed = candidate & ((first_where >> np.uint64(_PLACE_BITS)) == own)
        fresh = ~earlier & (distinct != 0)
        if fresh.any():
            self.index.add(distinct[fresh], where[fresh].view(np.int64)[:, None])
        found = [(index, *self._where(place)) for index, place in zip(
            np.flatnonzero(confirmed).tolist(),
            (first_where[confirmed] & np.uint64(_PLACE)).tolist(), strict=True)]
        odd = np.flatnonzero(candidate & ~confirmed)
        if len(odd):
            # The key is an earlier text's, the check another's: a text of its own (or a
            # repeat of one such), compared here on both hashes.
            for index, key, check, place in zip(odd.tolist(), block[odd].tolist(),
                                                own[odd].tolist(), places[odd].tolist(),
                                                strict=True):
                seen = self.others.setdefault((key, check), place)
                if seen != place:
                    found.append((index, *self._where(seen)))
            found.sort()
        return found
