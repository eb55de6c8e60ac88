"""Reading contact files row by row: one reader per input format, all behind ``Reader``.

Readers stream: a file is never held in memory, whatever its size. Every row keeps the exact
text it was read from (so that the valid rows can be written back unchanged) and the line its
record starts on. A row that cannot be read (bad CSV quoting, a wrong number of cells, a line
that is not JSON, bytes that are not in the file's encoding) is still a row: it comes out with a
description of the defect, so that the caller rejects it instead of losing it.

``READERS`` is the one place that knows the formats: sniffing an input, opening it, reading or
cutting its records and writing its valid rows back all go through the reader it names. A new
format is one class that satisfies ``Reader`` (``BlockReader`` when its bytes can be cut at
record boundaries without parsing) and one entry in that table.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import glob
import gzip
import io
import json
import os
import re
import sys
import weakref
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, Protocol

import orjson

from .._exceptions import InputError
from ._encoding import detect as detect_encoding

_SAMPLE = 1 << 16
_GZIP_MAGIC = b"\x1f\x8b"
_DELIMITERS = (",", ";", "\t", "|")
_UNDECODABLE = re.compile("[\udc80-\udcff]")
_READ = 1 << 20

# Limits of one row (README, "Limits"): past them a row is refused (1000), or, where the reading
# cannot find where it ends, the file's reading stops there (exit 2). No real contact comes near.
MAX_RECORD = 4 << 20
"""Bytes of one record (a CSV record, a JSON line or array element, the CSV header line)."""
MAX_SKIP = 64 << 20
"""How far past its start a record longer than ``MAX_RECORD`` is followed to the next newline
to be skipped; a line that runs on further ends the reading of its file."""
MAX_COLUMNS = 2000
"""Columns of a CSV header."""
MAX_DEPTH = 64
"""Levels of objects and arrays in one row (a dotted CSV column counts a level a name)."""
_SHOWN = 200
"""Bytes of a refused oversized record that its entry shows."""
# Bytes that text of the shipped formats never holds, bar a few stray ones: C0 controls but
# tab, newline, vertical tab, form feed and carriage return.
_CONTROLS = bytes([*range(0x00, 0x09), *range(0x0E, 0x20)])
_NOT_CONTROLS = bytes(b for b in range(256) if b not in _CONTROLS)


OVERSIZED = f"The record is longer than {MAX_RECORD:,} bytes, the limit of one row"


def oversized(data: bytes, encoding: str) -> Malformed:
    """The refused row of a record longer than ``MAX_RECORD`` (``data`` its bytes, or the
    first of them): the same whether the cutter or a worker finds it."""
    return Malformed(OVERSIZED, data[:_SHOWN].decode(encoding, "replace"))


DEPTH_DEFECT = (f"The row nests objects and arrays deeper than {MAX_DEPTH} levels, the limit "
                "of one row")


def too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether ``value`` nests objects and arrays more than ``limit`` levels (iteratively: a
    value deep enough to matter is too deep for recursion)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, depth + 1) for child in children
                     if isinstance(child, dict | list))
    return False


def _deep_json(body: bytes, value: Any) -> bool:
    # A value cannot nest deeper than it has brackets, so nearly every row skips the walk.
    return (isinstance(value, dict | list)
            and body.count(b"{") + body.count(b"[") > MAX_DEPTH and too_deep(value))


def refuse_binary(name: str, sample: bytes) -> None:
    """Refuse an input whose first block is not text (a NUL byte, or many control bytes): an
    image or an archive would otherwise be read as thousands of malformed CSV rows."""
    controls = len(sample.translate(None, _NOT_CONTROLS))
    if b"\0" in sample or controls > len(sample) // 100:
        raise InputError(f"{name} is not text (it has NUL or control bytes in its first "
                         f"{_SAMPLE // 1024} KiB), so not CSV, JSON Lines or JSON")


class _Closeable(Protocol):
    def close(self) -> None: ...


class Sink(Protocol):
    """Where a reader writes valid rows back (an ``AtomicOutput``)."""

    def write(self, data: bytes) -> None: ...


@dataclass(slots=True)
class Record:
    """One row as read. ``cells`` (CSV) or ``value`` (JSON) is set unless ``defect`` is."""

    line: int
    raw: str
    cells: list[str] | None = None
    value: Any = None
    defect: str | None = None


@dataclass(frozen=True, slots=True)
class Malformed:
    """A row that could not be read; the checks turn it into a 1000 body."""

    description: str
    raw: str


@dataclass(frozen=True, slots=True)
class Dialect:
    """How one input writes its records, as its reader found out on opening it. Picklable: the
    workers parse byte blocks with it, and the valid output is written in the first input's."""

    header: tuple[str, ...] = ()
    header_raw: str = ""
    """The header line as read, line ending included."""
    delimiter: str = ","
    encoding: str = "utf-8"
    bom: bool = False
    schema: bytes = b""
    """A binary format's own description of its columns (Parquet: the Arrow schema,
    serialised), so that the valid output can be written with the same column types."""


class Reader(Protocol):
    """One input format, from recognising it to writing its valid rows back.

    A reader holds no state of its own (what one input is like is in its ``Source`` and
    ``Dialect``), so one instance serves every input and pickles to the workers by name.
    Rows are CSV cells (``tabular``: mapped to payloads by the column plan) or JSON values;
    ``raws`` are what ``valid_bytes`` turns into the row as the valid output holds it."""

    @property
    def name(self) -> str:
        """The format's name: its key in ``READERS`` and the value of ``--format``."""
        ...

    @property
    def tabular(self) -> bool:
        """Whether rows are text cells under ``Dialect.header`` (else JSON values)."""
        ...

    def sniff(self, sample: bytes) -> int:
        """How surely an input starting with ``sample`` is in this format: 0 not, 1 it could
        be, 2 sure. An input whose format is not given goes to the surest reader."""
        ...

    def open(self, source: Source, stream: io.BufferedReader, sample: bytes, *,
             delimiter: str | None, encoding: str | None) -> None:
        """Read what precedes the rows (a header) into ``source.dialect``, and make the source
        give its rows: ``source.records`` read here, or ``source.cut_into_blocks`` (for a
        ``BlockReader``) so that the workers parse them."""
        ...

    def parse(self, data: bytes, first_line: int, dialect: Dialect, lines: list[int],
              raws: list[Any], rows: list[Any]) -> None:
        """Append the line, raw form and row (or ``Malformed``) of each record in ``data``,
        whole records in ``dialect``: a byte block this reader cut, or a valid row as the valid
        output holds it (re-read for the body of a 1008)."""
        ...

    def valid_bytes(self, raw: Any, newline: str) -> bytes:
        """A valid row as the valid output holds it (UTF-8); ``newline`` ends a row that has
        no line ending of its own."""
        ...

    def newline(self, dialect: Dialect) -> str:
        """What ends a row written back without a line ending, in an output of ``dialect``."""
        ...

    def start_output(self, out: Sink, dialect: Dialect) -> None:
        """Write what precedes the rows of a valid output in the first input's ``dialect``."""
        ...

    def mismatch(self, name: str, dialect: Dialect, first: Dialect) -> str | None:
        """Why the rows of input ``name`` cannot join an output started for ``first``."""
        ...

    def write_rows(self, out: Sink, data: bytes, ends: Sequence[int], written: int) -> None:
        """Write rows (``valid_bytes``, concatenated; ``ends`` their end offsets) after
        ``written`` rows."""
        ...

    def end_output(self, out: Sink, written: int) -> None:
        """Close a valid output of ``written`` rows."""
        ...


class BlockReader(Reader, Protocol):
    """A format whose records can be found in raw bytes without parsing them: the reading
    process only cuts the input into blocks, and the workers decode and parse them."""

    def cut(self, buf: bytes, target: int) -> int:
        """The end of the first block in ``buf``: just past the first record boundary at or
        after ``target`` bytes; 0 when ``buf`` holds none yet."""
        ...

    def count_lines(self, data: bytes) -> int:
        """Lines in ``data``, as ``parse`` numbers them."""
        ...


@dataclass(slots=True)
class Source:
    """An opened input: what it is, and a way to tell how far the reading has got."""

    name: str
    reader: Reader
    size: int | None
    position: Callable[[], int]
    records: Iterator[Record] = field(default_factory=lambda: iter(()))
    dialect: Dialect = field(default_factory=Dialect)
    broken: list[str] = field(default_factory=list)
    """Set by a reader that had to stop before the end (a JSON array that breaks off)."""
    warnings: list[str] = field(default_factory=list)
    """What the user should know about how it was read (a guessed encoding)."""
    closers: list[_Closeable] = field(default_factory=list)
    stream: io.BufferedReader | None = None
    """Set when the rest of the input is cut into byte blocks (``byte_blocks``) for the
    workers to parse, instead of being read record by record here (``records``)."""
    cutter: BlockReader | None = None
    """The reader that cuts ``stream``."""
    first_line: int = 1
    """The line the first block starts on."""
    line_bytes: float = 80.0
    """Average bytes per line in the first part of the input (to size blocks)."""
    file: IO[bytes] | None = None
    """The file opened (not stdin), to tell whether it changed size while it was read."""
    batches: Callable[[int], Iterator[tuple[int, bytes]]] | None = None
    """Set by a reader that makes the blocks itself, of about the given number of rows each
    (Parquet: one Arrow record batch each, as IPC bytes, that ``parse`` reads)."""

    @property
    def format(self) -> str:
        return self.reader.name

    def cut_into_blocks(self, stream: io.BufferedReader, cutter: BlockReader, first_line: int,
                        sample: bytes) -> None:
        """Leave the rest of ``stream`` (``sample`` its first bytes) to ``byte_blocks``."""
        self.stream = stream
        self.cutter = cutter
        self.first_line = first_line
        self.line_bytes = len(sample) / max(1, sample.count(b"\n")) if sample else 80.0

    def size_change(self) -> tuple[int, int] | None:
        """(size when opened, size now) when the file is no longer the size it had when it
        was opened: truncated or grown while it was read, so its rows are not what it holds."""
        if self.file is None or self.size is None:
            return None
        try:
            now = os.fstat(self.file.fileno()).st_size
        except (OSError, ValueError):
            return None
        return None if now == self.size else (self.size, now)

    def close(self) -> None:
        for handle in reversed(self.closers):
            with contextlib.suppress(OSError, EOFError, zlib.error):
                handle.close()


def display_name(path: str) -> str:
    return "<stdin>" if path == "-" else path


def reader_for(fmt: str) -> Reader:
    try:
        return READERS[fmt]
    except KeyError:
        raise InputError(f"unknown format {fmt!r}; known: {', '.join(READERS)}") from None


def open_source(path: str, *, fmt: str | None = None, delimiter: str | None = None,
                encoding: str | None = None) -> Source:
    """Open a file (or ``-`` for stdin), gzip or not, and sniff what is not given."""
    closers: list[_Closeable] = []
    local = True
    if path == "-":
        raw: IO[bytes] = sys.stdin.buffer
        size: int | None = None
    elif is_url(path):
        raw, size = _open_url(path)
        closers.append(raw)
        local = False
    else:
        try:
            raw = open(path, "rb")  # noqa: SIM115 - closed by Source.close
        except OSError as exc:
            raise InputError(f"cannot open {path}: {exc.strerror}") from exc
        closers.append(raw)
        try:
            size = os.fstat(raw.fileno()).st_size
        except OSError:
            size = None
    raw_handle = raw

    def position() -> int:
        try:
            return raw_handle.tell()
        except (OSError, ValueError):
            return 0

    try:
        stream = _buffered(raw)
        if stream.peek(2)[:2] == _GZIP_MAGIC:
            gz = gzip.GzipFile(fileobj=stream, mode="rb")
            closers.append(gz)
            stream = _buffered(gz)
        sample = stream.peek(_SAMPLE)[:_SAMPLE]
    except (OSError, EOFError, zlib.error) as exc:
        raise InputError(f"cannot read {display_name(path)}: {exc}") from exc
    if path == "-":
        size = None
    # The first of the surest readers: the table's order breaks ties.
    reader = reader_for(fmt) if fmt else max(READERS.values(), key=lambda r: r.sniff(sample))
    source = Source(display_name(path), reader, size, position, closers=closers,
                    file=raw if local and path != "-" else None)
    reader.open(source, stream, sample, delimiter=delimiter, encoding=encoding)
    return source


def is_url(path: str) -> bool:
    """Whether ``path`` names a file through fsspec (``s3://bucket/key``, ``file:///x``)."""
    return "://" in path


def _fsspec() -> Any:
    try:
        import fsspec
    except ImportError:
        raise InputError("reading URLs needs fsspec (and the package of the file system): "
                         "pip install fsspec") from None
    return fsspec


def _open_url(path: str) -> tuple[IO[bytes], int | None]:
    fsspec = _fsspec()
    try:
        opened = fsspec.open(path, "rb")
        size = opened.fs.size(opened.path)
        handle: IO[bytes] = opened.open()
    except ImportError as exc:  # the file system's own package (s3fs, gcsfs ...)
        raise InputError(f"cannot open {path}: {exc}") from None
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise InputError(f"cannot open {path}: {reason}") from exc
    return handle, size if isinstance(size, int) else None


_GLOB = re.compile(r"[*?[]")


def expand_inputs(paths: Sequence[str]) -> tuple[list[str], list[str]]:
    """The inputs with glob patterns (``data/*.parquet``, ``s3://bucket/2024-*.csv``) replaced
    by the files they match, sorted, and the patterns that match none (each an input error).
    A path that exists as it is written is taken as it is, even with a ``*`` in its name."""
    found: list[str] = []
    unmatched: list[str] = []
    for path in paths:
        if path == "-" or not _GLOB.search(path) or (not is_url(path) and os.path.exists(path)):
            found.append(path)
            continue
        if is_url(path):
            fs, _, (pattern,) = _fsspec().get_fs_token_paths(path)
            protocol = path.split("://", 1)[0]
            matches = [f"{protocol}://{m}" if "://" not in m else m
                       for m in sorted(fs.glob(pattern))]
        else:
            matches = sorted(m for m in glob.glob(path, recursive=True) if os.path.isfile(m))
        if matches:
            found.extend(matches)
        else:
            unmatched.append(f"no file matches {path}")
    return found, unmatched


def _buffered(handle: IO[bytes] | io.BufferedIOBase) -> io.BufferedReader:
    return io.BufferedReader(handle, buffer_size=_SAMPLE)  # type: ignore[arg-type]


def _first_byte(sample: bytes) -> bytes:
    return sample.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]


def _past(pattern: re.Pattern[str], text: str, pos: int) -> int:
    match = pattern.match(text, pos)
    return match.end() if match else pos


def _text(raw: str) -> bytes:
    return raw.encode("utf-8", "surrogateescape")


def _shown(text: str) -> str:
    """Text with undecodable bytes (kept as surrogates) shown as replacement characters."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


# --------------------------------------------------------------------------------------------
# Byte blocks: the reading process only cuts, the workers parse
# --------------------------------------------------------------------------------------------
def universal_lines(data: bytes) -> int:
    """Lines in ``data`` as a reader with universal newlines counts them (CSV)."""
    return data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n")


def _cut(buf: bytes, target: int, quotes: bool) -> int:
    """The end of the first block in ``buf``: just past the first newline at or after
    ``target`` bytes that is a record boundary (with ``quotes``: with an even number of quote
    characters before it, so not inside a quoted field). 0 when ``buf`` holds none yet.

    A stray quote makes the count odd up to the next quote; when no newline with an even count
    comes within ``MAX_RECORD`` bytes, the block is cut at the first newline anyway: the record
    that quote opened is then rejected as malformed, the next block is read afresh, and memory
    stays bounded."""
    end = first = buf.find(b"\n", max(0, target - 1))
    if not quotes or end < 0:
        return end + 1
    parity = buf.count(b'"', 0, end) & 1
    while parity:
        # The count changes only at a quote: the next candidate is the first newline after
        # the next quote (one step a quote, not a line).
        quote = buf.find(b'"', end + 1)
        following = buf.find(b"\n", quote + 1) if quote >= 0 else -1
        if following < 0:
            return first + 1 if len(buf) > MAX_RECORD else 0
        parity ^= buf.count(b'"', end, following) & 1
        end = following
    return end + 1


def _last_cut(cut: Callable[[bytes, int], int], buf: bytes, target: int) -> int:
    """The last record boundary before ``target`` in ``buf`` (0: none), given that there is none
    at or after it: by bisection over ``cut``, which finds a boundary at or after any point."""
    low, high = 0, target - 1  # a boundary at or after low+1 is known to exist, or low is 0
    best = 0
    while low < high:
        middle = (low + high + 1) // 2
        end = cut(buf, middle)
        if end:
            best, low = end, middle
        else:
            high = middle - 1
    return best


def _skip(stream: io.BufferedReader, buf: bytes, count: Callable[[bytes], int],
          limit: int) -> tuple[int, bytes] | None:
    """Drop the record ``buf`` starts (holding no newline it can end at) through the next
    newline: (the lines it spanned, the bytes read after it); None when no newline comes
    within ``limit`` bytes of its start. Memory stays at one read."""
    lines = count(buf)
    seen = len(buf)
    previous = buf[-1:]
    while True:
        data = stream.read(_READ)
        if not data:
            return lines, b""
        at = data.find(b"\n")
        piece = data if at < 0 else data[:at + 1]
        # A CR at the end of the last read and a LF at the start of this one are one line end.
        lines += count(previous + piece) - count(previous) if previous == b"\r" else count(piece)
        if at >= 0:
            return lines, data[at + 1:]
        seen += len(data)
        if seen > limit:
            return None
        previous = data[-1:]


def byte_blocks(source: Source, target: int) -> Iterator[tuple[int, bytes | Malformed]]:
    """The rest of an input its reader left to be cut (``Source.cut_into_blocks``) as
    ``(first line, bytes)`` blocks of about ``target`` bytes, each made of whole records. A
    record longer than ``MAX_RECORD`` comes as ``(its line, Malformed)`` (a refused row; the
    reading goes on after the next newline), and one that runs on past ``MAX_SKIP`` without
    one ends the blocks with InputError. A read error ends the blocks after the one holding
    the lines read whole before it (then re-raised), so that those rows are still judged."""
    stream, cutter = source.stream, source.cutter
    assert stream is not None and cutter is not None
    cut, count = cutter.cut, cutter.count_lines
    line = source.first_line
    buf = b""
    target = max(1, target)
    while True:
        try:
            # Reads grow with a long record, so that it costs linear time.
            data = stream.read(max(target, _SAMPLE, min(len(buf), MAX_RECORD)))
        except BaseException:
            # The lines read whole before the break are still rows; a line it cut off is not
            # (its last cell could pass, cut short).
            end = buf.rfind(b"\n") + 1
            if end:
                yield line, buf[:end]
            raise
        if not data:
            break
        buf = buf + data if buf else data
        while len(buf) >= target:
            end = cut(buf, target)
            if not end:
                if len(buf) <= MAX_RECORD:
                    break
                # No boundary after the target: the record there may be too long. The whole
                # records before it go on as a block; it starts the buffer.
                end = _last_cut(cut, buf, target)
                if end:
                    block, buf = buf[:end], buf[end:]
                    yield line, block
                    line += count(block)
                if len(buf) <= MAX_RECORD:
                    break
                yield line, oversized(buf, source.dialect.encoding)
                skipped = _skip(stream, buf, count, MAX_SKIP)
                if skipped is None:
                    raise InputError(f"{source.name}: the record at line {line:,} runs on past "
                                     f"{MAX_SKIP:,} bytes without a line end; the rest of the "
                                     "file was not read")
                lines, buf = skipped
                line += lines
                continue
            block, buf = buf[:end], buf[end:]
            yield line, block
            line += count(block)
    if buf:
        yield line, buf


# --------------------------------------------------------------------------------------------
# CSV
# --------------------------------------------------------------------------------------------
def sniff_encoding(sample: bytes) -> str:
    """The encoding of a file starting with ``sample`` (``_encoding.detect`` has how sure)."""
    return detect_encoding(sample).encoding


def sniff_delimiter(header_line: str) -> str:
    """The candidate that splits the header line most often, outside quotes."""
    unquoted = re.sub(r'"[^"]*"', "", header_line)
    counts = {d: unquoted.count(d) for d in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def _byte_safe(encoding: str) -> bool:
    """Whether a newline and a quote are those single bytes in this encoding, and never part
    of another character: then the bytes can be cut at record boundaries undecoded."""
    name = codecs.lookup(encoding).name
    return name in ("utf-8", "utf-8-sig", "ascii", "latin-1", "iso8859-1") or name.startswith(
        ("cp125", "iso8859-"))


def _first_line_ends_with_lf(sample: bytes) -> bool:
    # A file whose lines end with a lone CR (old Macs) is read line by line instead.
    for index, byte in enumerate(sample):
        if byte in (0x0A, 0x0D):
            return byte == 0x0A or sample[index + 1:index + 2] == b"\n"
    return True


class CsvReader:
    """CSV with a header line. Cut into byte blocks at newlines outside quotes when the
    encoding allows it (UTF-8, Windows code pages ...); read record by record otherwise
    (UTF-16, lone CR line endings)."""

    __slots__ = ()
    name = "csv"
    tabular = True

    def sniff(self, sample: bytes) -> int:
        return 1  # any text could be CSV

    def open(self, source: Source, stream: io.BufferedReader, sample: bytes, *,
             delimiter: str | None, encoding: str | None) -> None:
        if encoding is None:
            guess = detect_encoding(sample)
            chosen = guess.encoding
            warning = guess.warning(source.name)
            if warning:
                source.warnings.append(warning)
        else:
            chosen = encoding
        try:
            codec = codecs.lookup(chosen).name
        except LookupError as exc:
            raise InputError(f"unknown encoding {chosen!r}") from exc
        if not codec.startswith(("utf-16", "utf-32")):  # where NUL bytes are text
            refuse_binary(source.name, sample)
        is_utf8 = codec == "utf-8"
        bom = chosen == "utf-8-sig" or (is_utf8 and sample.startswith(codecs.BOM_UTF8))
        decode_as = "utf-8-sig" if bom else chosen
        if _byte_safe(decode_as) and _first_line_ends_with_lf(sample):
            first_raw = stream.readline(MAX_RECORD + 1)
            if len(first_raw) > MAX_RECORD:
                raise _long_header(source.name)
            first = first_raw.decode(decode_as, errors="surrogateescape")
            if not first.strip():
                source.dialect = Dialect(encoding=chosen, bom=bom)
                return
            source.dialect = self._dialect(source.name, first, delimiter, chosen, bom)
            source.cut_into_blocks(stream, self, 2, sample[len(first_raw):])
            return
        # surrogateescape keeps undecodable bytes visible in the text, so the row that holds
        # them is rejected on its own instead of the whole file failing at that point.
        text = io.TextIOWrapper(stream, encoding=decode_as, errors="surrogateescape",
                                newline="")
        try:
            first = text.readline(MAX_RECORD + 1)
        except UnicodeDecodeError as exc:
            # UTF-16/32 have no surrogateescape for a code point out of range.
            raise InputError(f"{source.name}: the header cannot be decoded as {decode_as}: "
                             f"{exc.reason}; give --encoding if that is wrong") from None
        if len(first) > MAX_RECORD:
            raise _long_header(source.name)
        if not first.strip():
            source.dialect = Dialect(encoding=chosen, bom=bom)
            return
        dialect = source.dialect = self._dialect(source.name, first, delimiter, chosen, bom)
        source.records = _csv_records(text, dialect.delimiter, len(dialect.header),
                                      dialect.encoding)

    @staticmethod
    def _dialect(name: str, first: str, delimiter: str | None, encoding: str,
                 bom: bool) -> Dialect:
        chosen = delimiter or sniff_delimiter(first)
        try:
            header = next(csv.reader([first], delimiter=chosen, strict=True))
        except csv.Error as exc:
            raise InputError(f"{name}: the header line cannot be read: {exc}") from exc
        if len(header) > MAX_COLUMNS:
            raise InputError(f"{name}: the header has {len(header):,} columns, more than the "
                             f"limit of {MAX_COLUMNS:,}")
        return Dialect(tuple(h.strip() for h in header), first, chosen, encoding, bom)

    def cut(self, buf: bytes, target: int) -> int:
        return _cut(buf, target, True)

    def count_lines(self, data: bytes) -> int:
        return universal_lines(data)

    def parse(self, data: bytes, first_line: int, dialect: Dialect, lines: list[int],
              raws: list[Any], rows: list[Any]) -> None:
        text = data.decode(dialect.encoding, "surrogateescape")
        # Lines as a file opened with newline="" gives them (\n, \r\n or \r), as the reader of
        # the header did; a record may span several of them (a quoted newline).
        physical = io.StringIO(text, newline="").readlines()
        for _ in csv_line_records(physical, first_line, dialect, lines, raws, rows):
            pass

    def valid_bytes(self, raw: Any, newline: str) -> bytes:
        return _text(raw if raw.endswith(("\n", "\r")) else raw + newline)

    def newline(self, dialect: Dialect) -> str:
        return "\r\n" if dialect.header_raw.endswith("\r\n") else "\n"

    def start_output(self, out: Sink, dialect: Dialect) -> None:
        if dialect.bom:
            out.write(codecs.BOM_UTF8)
        header = dialect.header_raw
        out.write(_text(header if header.endswith(("\n", "\r"))
                        else header + self.newline(dialect)))

    def mismatch(self, name: str, dialect: Dialect, first: Dialect) -> str | None:
        if (dialect.header, dialect.delimiter) == (first.header, first.delimiter):
            return None
        return (f"the columns of {name} differ from the first input's; one CSV output needs "
                "one header")

    def write_rows(self, out: Sink, data: bytes, ends: Sequence[int], written: int) -> None:
        out.write(data)

    def end_output(self, out: Sink, written: int) -> None:
        pass  # a CSV file ends with its last row


def csv_line_records(physical: Iterable[str], first_line: int, dialect: Dialect,
                     lines: list[int], raws: list[Any], rows: list[Any]) -> Iterator[int]:
    """``CsvReader.parse`` over physical lines (each with its line end), one record at a time:
    after each record (or blank line) it yields how many lines have been read. The columnar
    way reads a stretch of lines so and stops where the reader stands at a record start it
    can take over from; the lines are taken from ``physical`` only as the reader needs them."""
    width = len(dialect.header)
    seen: list[str] = []

    def feed() -> Iterator[str]:
        for line in physical:
            seen.append(line)
            yield line

    reader = csv.reader(feed(), delimiter=dialect.delimiter, strict=True)
    start = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            end = reader.line_num
            lines.append(first_line + start)
            raw = "".join(seen[start:end])
            raws.append(raw)
            rows.append(_too_long(raw, dialect.encoding)
                        or Malformed(f"Malformed CSV record: {exc}", raw))
            start = end
            yield start
            continue
        end = reader.line_num
        line = first_line + start
        raw = seen[start] if end == start + 1 else "".join(seen[start:end])
        start = end
        if not cells:
            yield start
            continue  # a blank line separates nothing and holds no row
        lines.append(line)
        long = _too_long(raw, dialect.encoding)
        if long is not None:
            raws.append(raw)
            rows.append(long)
        elif not raw.isascii() and _UNDECODABLE.search(raw):
            shown = _shown(raw)
            raws.append(shown)
            rows.append(Malformed("Malformed CSV record: bytes that are not valid in the "
                                  "file's encoding", shown))
        elif len(cells) != width:
            raws.append(raw)
            rows.append(Malformed(f"Malformed CSV record: {len(cells)} fields, the header "
                                  f"has {width}", raw))
        else:
            raws.append(raw)
            rows.append(cells)
        yield start


def _long_header(name: str) -> InputError:
    return InputError(f"{name}: the header line is longer than {MAX_RECORD:,} bytes, the limit "
                      "of one record")


def _too_long(raw: str, encoding: str) -> Malformed | None:
    """The refused row of a record longer than ``MAX_RECORD`` bytes, else None."""
    # A character is at most 4 bytes in the encodings read here: most rows skip the encoding.
    if len(raw) * 4 <= MAX_RECORD:
        return None
    data = raw.encode(encoding, "surrogateescape")
    return oversized(data, encoding) if len(data) > MAX_RECORD else None


class _LongLine(Exception):
    """A line longer than ``MAX_RECORD`` characters, raised out of the CSV reader's lines."""

    def __init__(self, head: str, lines: int) -> None:
        super().__init__(head)
        self.head = head
        self.lines = lines


def _csv_records(text: IO[str], delimiter: str, width: int, encoding: str
                 ) -> Iterator[Record]:
    pending: list[str] = []
    consumed = 0  # physical lines the reader has taken

    def lines() -> Iterator[str]:
        nonlocal consumed
        while True:
            try:
                line = text.readline(MAX_RECORD + 1)
            except UnicodeDecodeError as exc:
                raise InputError(f"the text after line {consumed + 1} cannot be decoded as "
                                 f"{encoding}: {exc.reason}") from None
            if not line:
                return
            if len(line) > MAX_RECORD and not line.endswith(("\n", "\r")):
                # Dropped through its end, one bounded read at a time.
                head = "".join(pending) + line
                while line and not line.endswith(("\n", "\r")):
                    line = text.readline(MAX_RECORD + 1)
                consumed += 1
                raise _LongLine(head, consumed)
            consumed += 1
            pending.append(line)
            yield line

    start = 2
    while True:
        reader = csv.reader(lines(), delimiter=delimiter, strict=True)
        base = consumed
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except _LongLine as cut_off:
                # The record is refused; a fresh reader goes on after its line.
                pending.clear()
                yield Record(start, cut_off.head[:_SHOWN], defect=OVERSIZED)
                start = cut_off.lines + 2
                break
            except csv.Error as exc:
                raw = "".join(pending)
                pending.clear()
                long = _too_long(raw, encoding)
                yield Record(start, long.raw if long else raw,
                             defect=long.description if long else f"Malformed CSV record: {exc}")
                start = base + reader.line_num + 2
                continue
            raw = "".join(pending)
            pending.clear()
            line, start = start, base + reader.line_num + 2
            if not cells:
                continue  # a blank line separates nothing and holds no row
            long = _too_long(raw, encoding)
            if long is not None:
                yield Record(line, long.raw, defect=long.description)
            elif not raw.isascii() and _UNDECODABLE.search(raw):
                yield Record(line, _shown(raw),
                             defect="Malformed CSV record: bytes that are not valid in the "
                                    "file's encoding")
            elif len(cells) != width:
                yield Record(line, raw, defect=f"Malformed CSV record: {len(cells)} fields, "
                                               f"the header has {width}")
            else:
                yield Record(line, raw, cells=cells)


# --------------------------------------------------------------------------------------------
# JSON Lines
# --------------------------------------------------------------------------------------------
class JsonLinesReader:
    """One JSON value a line, UTF-8; cut into byte blocks at newlines."""

    __slots__ = ()
    name = "jsonl"
    tabular = False

    def sniff(self, sample: bytes) -> int:
        return 2 if _first_byte(sample) == b"{" else 0

    def open(self, source: Source, stream: io.BufferedReader, sample: bytes, *,
             delimiter: str | None, encoding: str | None) -> None:
        refuse_binary(source.name, sample)
        if sample.startswith(codecs.BOM_UTF8):
            stream.read(len(codecs.BOM_UTF8))
        source.cut_into_blocks(stream, self, 1, sample)

    def cut(self, buf: bytes, target: int) -> int:
        return _cut(buf, target, False)

    def count_lines(self, data: bytes) -> int:
        return data.count(b"\n")

    def parse(self, data: bytes, first_line: int, dialect: Dialect, lines: list[int],
              raws: list[Any], rows: list[Any]) -> None:
        loads = orjson.loads
        for number, line in enumerate(data.split(b"\n"), first_line):
            body = line.rstrip(b"\r")
            if not body or not body.strip():
                continue
            lines.append(number)
            raws.append(body)
            if len(body) > MAX_RECORD:
                rows.append(oversized(body, "utf-8"))
                continue
            try:
                value = loads(body)
            except orjson.JSONDecodeError as exc:
                rows.append(Malformed(f"Malformed JSON line: {exc.msg} at column {exc.colno}",
                                      body.decode("utf-8", "replace")))
                continue
            if _deep_json(body, value):
                rows.append(Malformed(DEPTH_DEFECT, body.decode("utf-8", "replace")))
            else:
                rows.append(value)

    def valid_bytes(self, raw: Any, newline: str) -> bytes:
        if raw.__class__ is bytes:
            data: bytes = raw + b"\n"
            return data
        return _text(raw + "\n")

    def newline(self, dialect: Dialect) -> str:
        return "\n"

    def start_output(self, out: Sink, dialect: Dialect) -> None:
        pass  # JSON Lines have nothing before the first row

    def mismatch(self, name: str, dialect: Dialect, first: Dialect) -> str | None:
        return None

    def write_rows(self, out: Sink, data: bytes, ends: Sequence[int], written: int) -> None:
        out.write(data)

    def end_output(self, out: Sink, written: int) -> None:
        pass  # nor after the last


# --------------------------------------------------------------------------------------------
# JSON array
# --------------------------------------------------------------------------------------------
_WS = re.compile(r"[ \t\r\n]*")
_BETWEEN = re.compile(r"[ \t\r\n,]*")


class JsonArrayReader:
    """One JSON array of rows, UTF-8: read element by element here, its size bounded by the
    element, not the file."""

    __slots__ = ()
    name = "json"
    tabular = False

    def sniff(self, sample: bytes) -> int:
        return 2 if _first_byte(sample) == b"[" else 0

    def open(self, source: Source, stream: io.BufferedReader, sample: bytes, *,
             delimiter: str | None, encoding: str | None) -> None:
        refuse_binary(source.name, sample)
        source.records = _json_array_records(source, stream)

    def parse(self, data: bytes, first_line: int, dialect: Dialect, lines: list[int],
              raws: list[Any], rows: list[Any]) -> None:
        # Elements as the valid output holds them: separated by commas and white space.
        text = data.decode("utf-8", "surrogateescape")
        decoder = json.JSONDecoder()
        pos = _past(_BETWEEN, text, 0)
        while pos < len(text):
            line = first_line + text.count("\n", 0, pos)
            try:
                value, end = decoder.raw_decode(text, pos)
            except json.JSONDecodeError as exc:
                lines.append(line)
                raws.append(text[pos:])
                rows.append(Malformed(f"Malformed JSON element: {exc.msg}", text[pos:]))
                return
            element = text[pos:end]
            lines.append(line)
            if not element.isascii() and _UNDECODABLE.search(element):
                raws.append(_shown(element))
                rows.append(Malformed("Malformed JSON element: bytes that are not valid UTF-8",
                                      _shown(element)))
            else:
                raws.append(element)
                rows.append(value)
            pos = _past(_BETWEEN, text, end)

    def valid_bytes(self, raw: Any, newline: str) -> bytes:
        return _text(raw)

    def newline(self, dialect: Dialect) -> str:
        return "\n"

    def start_output(self, out: Sink, dialect: Dialect) -> None:
        out.write(b"[")

    def mismatch(self, name: str, dialect: Dialect, first: Dialect) -> str | None:
        return None

    def write_rows(self, out: Sink, data: bytes, ends: Sequence[int], written: int) -> None:
        start = 0
        for end in ends:
            out.write(b"\n" if written == 0 else b",\n")
            out.write(data[start:end])
            written += 1
            start = end

    def end_output(self, out: Sink, written: int) -> None:
        out.write(b"\n]\n" if written else b"]\n")


def _json_array_records(source: Source, stream: io.BufferedReader) -> Iterator[Record]:
    decoder = json.JSONDecoder()
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="surrogateescape")
    buf = ""
    pos = 0
    line = 1  # the line of buf[0]
    eof = False

    def fill() -> bool:
        nonlocal buf, pos, line, eof
        if eof:
            return False
        chunk = text.read(_READ)
        if not chunk:
            eof = True
            return False
        line += buf.count("\n", 0, pos)
        buf = buf[pos:] + chunk
        pos = 0
        return True

    def skip_ws() -> bool:
        nonlocal pos
        while True:
            match = _WS.match(buf, pos)
            pos = match.end() if match else pos
            if pos < len(buf) or not fill():
                return pos < len(buf)

    def here() -> int:
        return line + buf.count("\n", 0, pos)

    def broken(message: str, where: int | None = None) -> Record:
        at = here()
        if where is not None:
            line_of_error = line + buf.count("\n", 0, where)
            column = where - buf.rfind("\n", 0, where)
            message = f"{message} at line {line_of_error} column {column}"
        source.broken.append(f"{source.name}: the JSON array breaks off at line {at}: {message}; "
                             "the rest of the file was not read")
        return Record(at, buf[pos:pos + 200], defect=f"Malformed JSON array: {message}")

    if not skip_ws():
        return
    if buf[pos] != "[":
        yield broken("expected '[' at the start")
        return
    pos += 1
    first = True
    while True:
        if not skip_ws():
            yield broken("unexpected end of file")
            return
        if buf[pos] == "]":
            pos += 1
            if skip_ws():
                yield broken("data after the closing ']'")
            return
        if not first:
            if buf[pos] != ",":
                yield broken("expected ',' or ']'")
                return
            pos += 1
            if not skip_ws():
                yield broken("unexpected end of file")
                return
        first = False
        while True:
            try:
                value, end = decoder.raw_decode(buf, pos)
            except json.JSONDecodeError as exc:
                if len(buf) - pos <= MAX_RECORD and fill():
                    continue
                if len(buf) - pos > MAX_RECORD:
                    yield broken(f"an element is longer than {MAX_RECORD:,} bytes, the limit "
                                 "of one row")
                else:
                    yield broken(exc.msg, exc.pos)
                return
            except RecursionError:
                # Where it ends cannot be told without following it.
                yield broken(f"an element nests objects and arrays far deeper than "
                             f"{MAX_DEPTH} levels, the limit of one row")
                return
            except ValueError:
                # Python reads at most sys.get_int_max_str_digits() digits of an integer (a
                # guard against quadratic conversion); where the element ends is not known.
                yield broken(f"an element holds an integer of more than "
                             f"{sys.get_int_max_str_digits():,} digits")
                return
            # A number at the end of the buffer may go on in the next chunk.
            if end == len(buf) and len(buf) - pos <= MAX_RECORD and fill():
                continue
            break
        element = buf[pos:end]
        start = here()
        pos = end
        if len(element) > MAX_RECORD:
            yield Record(start, element[:_SHOWN], defect=OVERSIZED)
            continue
        if isinstance(value, dict | list) and element.count("{") + element.count(
                "[") > MAX_DEPTH and too_deep(value):
            yield Record(start, element, defect=DEPTH_DEFECT)
            continue
        if not element.isascii() and _UNDECODABLE.search(element):
            yield Record(start, _shown(element),
                         defect="Malformed JSON element: bytes that are not valid UTF-8")
            continue
        yield Record(start, element, value=value)


# --------------------------------------------------------------------------------------------
# Parquet
# --------------------------------------------------------------------------------------------
_PARQUET_MAGIC = b"PAR1"
_PARQUET_ROWS = 65_536
"""Rows of one row group of a Parquet valid output, and of one batch read."""


def arrow() -> Any:
    """pyarrow, or InputError naming the extra that brings it (it is optional)."""
    try:
        import pyarrow
        import pyarrow.compute
        import pyarrow.parquet
    except ImportError:
        raise InputError("Parquet needs pyarrow: pip install 'getresponse-validator[parquet]'"
                         ) from None
    return pyarrow


def _text_column(column: Any) -> Any:
    """An Arrow column as the text a CSV cell would hold: numbers and booleans as written
    (``12``, ``1.5``, ``true``), dates and times in ISO 8601 (a ``T`` between them), text as
    it is; nulls stay null (an empty cell: the field is absent)."""
    pa = arrow()
    kind = column.type
    if pa.types.is_dictionary(kind):
        column = column.cast(kind.value_type)
        kind = column.type
    if pa.types.is_large_string(kind) or pa.types.is_string(kind):
        return column
    text = pa.compute.cast(column, pa.large_string())
    if pa.types.is_timestamp(kind):
        text = pa.compute.replace_substring(text, " ", "T", max_replacements=1)
    return text


def _readable_type(pa: Any, kind: Any) -> bool:
    types = pa.types
    if types.is_dictionary(kind):
        return _readable_type(pa, kind.value_type)
    return bool(types.is_string(kind) or types.is_large_string(kind)
                or types.is_string_view(kind) or types.is_integer(kind)
                or types.is_floating(kind) or types.is_boolean(kind) or types.is_date(kind)
                or types.is_timestamp(kind) or types.is_decimal(kind) or types.is_null(kind))


def arrow_header(schema: Any, name: str) -> tuple[str, ...]:
    """The column names of an Arrow schema as a CSV header, or InputError naming the first
    column that holds what a cell cannot (lists, structs, binary data)."""
    pa = arrow()
    for item in schema:
        if not _readable_type(pa, item.type):
            raise InputError(
                f"{name}: column {item.name!r} is {item.type}; Parquet and frames take flat "
                "columns of text, numbers, booleans, dates and times (name nested fields with "
                "dotted columns, as in CSV: campaign.campaignId)")
    header = tuple(str(n).strip() for n in schema.names)
    if len(header) > MAX_COLUMNS:
        raise InputError(f"{name}: the header has {len(header):,} columns, more than the "
                         f"limit of {MAX_COLUMNS:,}")
    return header


def table_rows(table: Any) -> list[tuple[str | None, ...]]:
    """The rows of an Arrow table or record batch, each column's value as the text a CSV cell
    would hold (None for null)."""
    columns = [_text_column(column).to_pylist() for column in table.columns]
    return list(zip(*columns, strict=True)) if columns else [() for _ in range(table.num_rows)]


def _parquet_batches(source: Source, handle: Any, rows: int) -> Iterator[tuple[int, bytes]]:
    """One block a record batch of ``rows`` rows: the reading process only moves Arrow data
    (no object a row); the workers turn it into cells (``ParquetReader.parse``)."""
    pa = arrow()
    number = 1
    try:
        for batch in handle.iter_batches(batch_size=max(1, rows)):
            sink = pa.BufferOutputStream()
            with pa.ipc.new_stream(sink, batch.schema) as writer:
                writer.write_batch(batch)
            yield number, sink.getvalue().to_pybytes()
            number += batch.num_rows
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        source.broken.append(f"{source.name}: the Parquet file cannot be read past row "
                             f"{number - 1:,}: {exc}; the rest of the file was not read")


class _ParquetOut:
    """A Parquet valid output being written: rows wait here for a row group."""

    def __init__(self, out: Sink, schema: Any) -> None:
        pa = arrow()
        self.schema = schema
        self.rows: list[list[str | None]] = []
        self.writer = pa.parquet.ParquetWriter(_SinkFile(out), schema)

    def flush(self) -> None:
        if not self.rows:
            return
        pa = arrow()
        columns = []
        for index, item in enumerate(self.schema):
            text = pa.array([row[index] for row in self.rows], pa.large_string())
            kind = item.type
            if pa.types.is_dictionary(kind):
                columns.append(pa.compute.cast(text, kind.value_type).dictionary_encode())
            else:
                columns.append(pa.compute.cast(text, kind))
        self.writer.write_table(pa.Table.from_arrays(columns, schema=self.schema))
        self.rows = []


class _SinkFile:
    """The file-like object pyarrow writes through, onto a ``Sink``."""

    closed = False

    def __init__(self, out: Sink) -> None:
        self.out = out
        self.position = 0

    def write(self, data: bytes) -> int:
        self.out.write(bytes(data))
        self.position += len(data)
        return len(data)

    def tell(self) -> int:
        return self.position

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


# Outputs being written, by their sink: the reader itself holds no state.
_parquet_outputs: weakref.WeakKeyDictionary[Any, _ParquetOut] = weakref.WeakKeyDictionary()


class ParquetReader:
    """Parquet files, read with pyarrow a batch of rows at a time. Rows are tabular: each
    column's value as the text a CSV cell would hold, so the column plan maps them as it maps
    CSV (dotted names, ``--mapping``, tags, custom fields, the schema's types). A row's line is
    its row number in the file. The valid output is Parquet with the first input's schema."""

    __slots__ = ()
    name = "parquet"
    tabular = True

    def sniff(self, sample: bytes) -> int:
        return 3 if sample.startswith(_PARQUET_MAGIC) else 0

    def open(self, source: Source, stream: io.BufferedReader, sample: bytes, *,
             delimiter: str | None, encoding: str | None) -> None:
        pa = arrow()
        if source.file is None and source.size is None:
            raise InputError(f"{source.name}: Parquet cannot be read from a stream (its "
                             "columns are found from the end of the file); name the file")
        try:
            handle = pa.parquet.ParquetFile(stream)
        except (OSError, ValueError) as exc:
            raise InputError(f"{source.name} is not a readable Parquet file: {exc}") from exc
        schema = handle.schema_arrow
        header = arrow_header(schema, source.name)
        source.dialect = Dialect(header, ",".join(header), ",", "utf-8", False,
                                 schema.serialize().to_pybytes())
        source.batches = lambda rows: _parquet_batches(source, handle, rows)

    def parse(self, data: bytes, first_line: int, dialect: Dialect, lines: list[int],
              raws: list[Any], rows: list[Any]) -> None:
        if data[:1] == b"[":
            # A valid row as the output holds it until written: its cells as a JSON array.
            for number, line in enumerate(data.splitlines(), first_line):
                lines.append(number)
                raws.append(line.decode("utf-8"))
                rows.append([cell if cell is not None else "" for cell in orjson.loads(line)])
            return
        pa = arrow()
        dumps = orjson.dumps
        for batch in pa.ipc.open_stream(data):
            for number, row in enumerate(table_rows(batch), first_line):
                lines.append(number)
                # The raw form keeps null apart from "" for the valid output.
                raws.append(dumps(row).decode())
                rows.append([cell if cell is not None else "" for cell in row])
            first_line += batch.num_rows

    def valid_bytes(self, raw: Any, newline: str) -> bytes:
        return _text(raw + "\n")

    def newline(self, dialect: Dialect) -> str:
        return "\n"

    def start_output(self, out: Sink, dialect: Dialect) -> None:
        pa = arrow()
        schema = pa.ipc.read_schema(pa.py_buffer(dialect.schema))
        _parquet_outputs[out] = _ParquetOut(out, schema)

    def mismatch(self, name: str, dialect: Dialect, first: Dialect) -> str | None:
        if dialect.schema == first.schema:
            return None
        return (f"the columns of {name} differ from the first input's; one Parquet output "
                "needs one schema")

    def write_rows(self, out: Sink, data: bytes, ends: Sequence[int], written: int) -> None:
        pending = _parquet_outputs[out]
        loads = orjson.loads
        pending.rows.extend(loads(line) for line in data.splitlines())
        if len(pending.rows) >= _PARQUET_ROWS:
            pending.flush()

    def end_output(self, out: Sink, written: int) -> None:
        pending = _parquet_outputs.pop(out)
        pending.flush()
        pending.writer.close()


def output_mismatch(reader: Reader, path: str) -> str | None:
    """Why the valid output of inputs read by ``reader`` cannot be written under ``path``:
    it keeps the first input's format, and a Parquet file is named so."""
    parquet = path.lower().endswith((".parquet", ".pq"))
    if parquet == (reader.name == ParquetReader.name):
        return None
    return (f"the valid output keeps the first input's format ({reader.name}), so it cannot "
            f"be {os.path.basename(path)}" if parquet else
            f"the valid output of Parquet inputs is Parquet: name it .parquet, not "
            f"{os.path.basename(path)}")


# --------------------------------------------------------------------------------------------
# The table
# --------------------------------------------------------------------------------------------
READERS: dict[str, Reader] = {
    reader.name: reader for reader in (CsvReader(), JsonLinesReader(), JsonArrayReader(),
                                   ParquetReader())}
"""Every input format by name, in the order that breaks ties when sniffing."""

Format = str
"""The name of an input format: a key of ``READERS``."""

FORMATS: tuple[Format, ...] = tuple(READERS)
"""The formats the package ships (``--format``'s choices)."""
