"""The 1008 check of a run: a repeat of an e-mail in a campaign is a repeat relative to the
rows before it, in any input of the run. Workers reduce each valid row to a 64-bit digest
(``dedupe_key``); the run compares those ints, block by block, in input order."""

from __future__ import annotations

from array import array
from collections.abc import Sequence

import numpy as np
import polars as pl

from ..hygiene import provider_normalised

_SEED = 0x6D61696C  # fixed: every process of a run must make the same keys


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


def dedupe_keys(texts: Sequence[str | None] | pl.Series) -> np.ndarray:
    """64-bit keys of ``dedupe_text`` values, for a whole block at once (polars' hash of the
    UTF-8 bytes, with a fixed seed: the same in every process of one installation); 0 for
    None. Two different pairs sharing a key within one run is a ~1e-8 event at a million."""
    if isinstance(texts, pl.Series):
        data = texts.cast(pl.Binary)
    else:
        # surrogatepass: a JSON string may hold a lone surrogate, which polars cannot.
        data = pl.Series([t.encode("utf-8", "surrogatepass") if t is not None else None
                          for t in texts], dtype=pl.Binary)
    hashed = data.hash(_SEED).to_numpy().astype(np.uint64)
    hashed[hashed == 0] = 1
    hashed[data.is_null().to_numpy()] = 0
    return hashed


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


class FirstRows:
    """Where the first accepted row of each key is, in 16 bytes a distinct key: a key
    (uint64) beside the place of its first row (file << 40 | line, int64)."""

    def __init__(self) -> None:
        self.index = SortedRuns(1)

    @property
    def runs(self) -> list[tuple[np.ndarray, np.ndarray]]:
        return self.index.runs

    @property
    def distinct(self) -> int:
        return len(self.index)

    @property
    def nbytes(self) -> int:
        return self.index.nbytes

    def repeats(self, file_index: int, keys: array[int], lines: array[int]
                ) -> list[tuple[int, int, int]]:
        """Take in a block of rows of input ``file_index`` (their keys, 0 for none, and lines,
        in order) and give the rows among them that repeat an earlier row: ``(index, file of
        the first row, its line)``."""
        block = np.frombuffer(keys, np.uint64) if len(keys) else np.zeros(0, np.uint64)
        if not len(block):
            return []
        line_of = np.frombuffer(lines, np.uint64).astype(np.int64)
        distinct, first, inverse = np.unique(block, return_index=True, return_inverse=True)
        # The place of each distinct key's first row: an earlier block's, else this block's.
        earlier, held = self.index.find(distinct)
        where = np.where(earlier, held[:, 0],
                         (np.int64(file_index) << LINE_BITS) | line_of[first])
        earlier[distinct == 0] = False
        # A row repeats when its key was seen in an earlier block, or earlier in this one.
        positions = np.arange(len(block))
        repeat = (earlier[inverse] | (first[inverse] != positions)) & (block != 0)
        fresh = ~earlier & (distinct != 0)
        if fresh.any():
            self.index.add(distinct[fresh], where[fresh, None])  # np.unique gave them sorted
        found = np.flatnonzero(repeat)
        places = where[inverse[found]]
        return list(zip(found.tolist(), (places >> LINE_BITS).tolist(),
                        (places & LINE_MASK).tolist(), strict=True))
