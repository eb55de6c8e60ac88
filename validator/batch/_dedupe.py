"""The 1008 check of a run: a repeat of an e-mail in a campaign is a repeat relative to the
rows before it, in any input of the run. Workers reduce each valid row to a 64-bit digest
(``dedupe_key``); the run compares those ints, block by block, in input order."""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Sequence

import numpy as np
import polars as pl

_SEED = 0x6D61696C  # fixed: every process of a run must make the same keys


def dedupe_text(email: str | None, campaign_id: str | None) -> str | None:
    """What a row is compared on for 1008: the normalised e-mail and the campaign; None when
    either is missing."""
    if email is None or campaign_id is None:
        return None
    return f"{email.strip().lower()}\x00{campaign_id}"


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


def dedupe_key(email: str | None, campaign_id: str | None) -> int:
    """The key of one row (``dedupe_keys`` of one text)."""
    return int(dedupe_keys([dedupe_text(email, campaign_id)])[0])


class FirstRows:
    """Where the first accepted row of each key is.

    ``seen`` maps a key to the number of the block that holds its first row. The number is one
    int object per block, shared by all its keys, so an entry costs the key's int and a slot;
    the line is found, for the few repeats, in that block's keys and lines (``blocks``), 16
    bytes a row."""

    def __init__(self) -> None:
        self.seen: dict[int, int] = {}
        self.blocks: list[tuple[int, array[int], array[int]]] = []

    def repeats(self, file_index: int, keys: array[int], lines: array[int]
                ) -> list[tuple[int, int, int]]:
        """Take in a block of rows of input ``file_index`` (their keys, 0 for none, and lines,
        in order) and give the rows among them that repeat an earlier row: ``(index, file of
        the first row, its line)``. With set operations: only the keys seen before or twice in
        the block are taken one by one."""
        self.blocks.append((file_index, keys, lines))
        block = len(self.blocks) - 1
        listed = keys.tolist()
        seen = self.seen
        distinct = set(listed)
        # (Not seen.keys() & keys: that copies all the keys seen so far, for every block.)
        flagged = set(filter(seen.__contains__, distinct))
        if len(distinct) != len(listed):
            flagged.update(k for k, n in Counter(listed).items() if n > 1)
        flagged.discard(0)
        found: list[tuple[int, int, int]] = []
        if flagged:
            for index in [i for i, k in enumerate(listed) if k in flagged]:
                key = listed[index]
                first_block = seen.get(key)
                if first_block is None:
                    seen[key] = block
                    continue
                first_file, first_keys, first_lines = self.blocks[first_block]
                found.append((index, first_file, first_lines[first_keys.index(key)]))
        fresh = dict.fromkeys(distinct, block)
        for key in flagged:
            del fresh[key]
        fresh.pop(0, None)
        seen.update(fresh)
        return found
