"""What a unit of work takes and gives: a block of whole records, how its input is read and
written back, and the compact verdicts on it. All pickle (they cross process boundaries, and a
distributed engine ships them to its workers)."""

from __future__ import annotations

from array import array
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ..rules import MXPath
from ._hygiene import BlockNotes
from ._plan import CsvPlan
from ._readers import Dialect, Reader
from ._reasons import Reason

VALID, INVALID, UNVERIFIED = 0, 1, 2
"""A row's status, as ``BlockNotes.statuses`` holds it."""


class Block(NamedTuple):
    """Whole records of one input: raw ``data`` (cut by a ``BlockReader``) starting on
    ``first_line``, or, for inputs read record by record here (JSON arrays, CSV in encodings
    that cannot be cut as bytes), the ``records`` as ``(line, raw text, cells or JSON value,
    defect)``."""

    first_line: int
    data: bytes = b""
    records: list[tuple[int, str, Any, str | None]] | None = None


@dataclass(frozen=True, slots=True)
class BlockSpec:
    """How the rows of one input are read and written back; picklable, sent with each block."""

    source: str
    reader: Reader
    dialect: Dialect = field(default_factory=Dialect)
    plan: CsvPlan | None = None
    newline: str = "\n"
    """Ends a valid row that has none (the last line of a CSV file)."""
    dedupe: bool = True
    columnar: bool = False
    """CSV in UTF-8: blocks take the columnar way (``_columnar``) when the schema has a
    precheck under the plan; False keeps every row on the row path (the reference)."""
    mx_paths: tuple[MXPath, ...] = ()


class BlockResult(NamedTuple):
    """The verdicts on a block, compact: output bytes, arrays of ints and counters, never an
    object per row, so that the process that reads and writes stays nearly idle.

    Valid rows are ``valid`` (the rows as they go into the valid output, ``valid_ends`` their
    end offsets) with their lines and 1008 keys; the run drops the few that repeat an earlier
    row and rejects them. Rejected rows are ready JSON Lines (``rejects``, ends and lines, so
    that a repeat can be put in its place). Unverified rows are few: a tuple each."""

    rows: int
    valid: bytes
    valid_ends: array[int]
    valid_lines: array[int]
    valid_keys: array[int]
    """``dedupe_key`` of each valid row (0: no e-mail and campaign to compare); empty without
    --dedupe."""
    rejects: bytes
    reject_ends: array[int]
    reject_lines: array[int]
    unverified: list[tuple[int, int, bytes, bytes]]
    """(line, 1008 key, the row as it goes into the valid output, its JSON Lines entry)."""
    by_code: Counter[int]
    by_field: Counter[str]
    by_domain: Counter[str]
    reasons: Counter[tuple[int, str, str]]
    examples: dict[Reason, tuple[list[int], bytes]] | None = None
    """Reason → the first lines that have it (``_reasons.EXAMPLES``) and the first one's error
    body."""
    notes: BlockNotes | None = None
    """Each row's status in order, and the rows' list-hygiene warnings."""
    checks: array[int] | None = None
    """The 1008 check (``dedupe_pairs``: a second hash, which confirms a repeat the keys find)
    of each valid row, then of each unverified row; None: no checks (every row's is 0)."""
