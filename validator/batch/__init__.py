"""Batch runs: contact files checked on all cores (`validator check`, SPEC §6).

The room's face. `run(RunConfig(...))` is a whole run. Its unit of work is

    check_block(block, spec, schema_name, options, batch, verdicts) -> BlockResult

a pure function of picklable arguments: ``block`` a ``Block`` of whole records (raw bytes cut
at record boundaries, with the line it starts on), ``spec`` the input's ``BlockSpec`` (reader,
dialect, column plan; ``columnar`` for UTF-8 CSV), ``options`` the rules' ``ValidationOptions``,
``batch`` the run's ``BatchOptions`` and ``verdicts`` the DNS verdicts of the block's domains
(``block_domains`` lists them; empty without MX checks). The result holds the output bytes in
input order, the lines, the 64-bit 1008 keys of the valid rows and the counters; the run only
compares keys and writes bytes. For a UTF-8 CSV block the lines become one polars string column
(Arrow memory) and the simple ones a polars frame of cells (``_columnar``): the same
function is what a distributed engine maps over partitions (a Dask bag of blocks from
`open_source`, `byte_blocks` and `block_spec`), folding the results in order. Input formats
are readers behind `Reader`, registered by name in `READERS`.

`check_frame` (Dask) and `check_table` (pandas, polars, Arrow) add verdict columns to a data
frame.
"""

from ._blocks import block_domains, check_block, check_chunk
from ._dedupe import dedupe_key
from ._frames import VERDICT_COLUMNS, check_frame, check_table
from ._mapping import Join, MappingEntry, load_mapping, suggest_mapping
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
from ._units import Block, BlockResult, BlockSpec

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
    "Join",
    "Malformed",
    "MappingEntry",
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
    "load_mapping",
    "load_suppression",
    "open_source",
    "run",
    "suggest_mapping",
]
