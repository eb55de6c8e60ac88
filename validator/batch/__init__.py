"""Batch runs: contact files checked row by row on all cores (`validator check`, SPEC §6).

The room's face. `run(RunConfig(...))` is a whole run; `check_block` is its unit of work, a
pure function of picklable arguments that a distributed engine can map over the blocks of an
input (`open_source`, `byte_blocks`, `block_spec`). Input formats are readers behind
`Reader`, registered by name in `READERS`. `check_frame` (Dask) and `check_table` (pandas,
polars, Arrow) add verdict columns to a data frame.
"""

from ._blocks import Block, BlockResult, BlockSpec, block_domains, check_block, check_chunk
from ._dedupe import dedupe_key
from ._frames import VERDICT_COLUMNS, check_frame, check_table
from ._options import BatchOptions, load_suppression
from ._readers import (
    FORMATS,
    READERS,
    BlockReader,
    Dialect,
    Format,
    Malformed,
    Reader,
    Record,
    Sink,
    Source,
    byte_blocks,
    open_source,
)
from ._run import Progress, RunConfig, RunSummary, block_spec, run

__all__ = [
    "FORMATS",
    "READERS",
    "VERDICT_COLUMNS",
    "BatchOptions",
    "Block",
    "BlockReader",
    "BlockResult",
    "BlockSpec",
    "Dialect",
    "Format",
    "Malformed",
    "Progress",
    "Reader",
    "Record",
    "RunConfig",
    "RunSummary",
    "Sink",
    "Source",
    "block_domains",
    "block_spec",
    "byte_blocks",
    "check_block",
    "check_chunk",
    "check_frame",
    "check_table",
    "dedupe_key",
    "load_suppression",
    "open_source",
    "run",
]
