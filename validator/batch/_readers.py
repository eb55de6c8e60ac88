"""Reading contact files row by row, and writing outputs that appear only when complete.

Readers stream: a file is never held in memory, whatever its size. Every row keeps the exact
text it was read from (so that the valid rows can be written back unchanged) and the line its
record starts on. A row that cannot be read (bad CSV quoting, a wrong number of cells, a line
that is not JSON, bytes that are not in the file's encoding) is still a row: it comes out with a
description of the defect, so that the caller rejects it instead of losing it.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import gzip
import io
import json
import os
import re
import sys
import tempfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, Literal, Protocol

from .._exceptions import InputError

Format = Literal["csv", "jsonl", "json"]
FORMATS: tuple[Format, ...] = ("csv", "jsonl", "json")

_SAMPLE = 1 << 16
_GZIP_MAGIC = b"\x1f\x8b"
_DELIMITERS = (",", ";", "\t", "|")
_UNDECODABLE = re.compile("[\udc80-\udcff]")
# A JSON array element larger than this cannot be a contact; past it a parse error is final.
_MAX_ELEMENT = 16 << 20
_READ = 1 << 20


class _Closeable(Protocol):
    def close(self) -> None: ...


@dataclass(slots=True)
class Record:
    """One row as read. ``cells`` (CSV) or ``value`` (JSON) is set unless ``defect`` is."""

    line: int
    raw: str
    cells: list[str] | None = None
    value: Any = None
    defect: str | None = None


@dataclass(slots=True)
class Source:
    """An opened input: what it is, and a way to tell how far the reading has got."""

    name: str
    format: Format
    records: Iterator[Record]
    size: int | None
    position: Any
    header: list[str] | None = None
    header_raw: str = ""
    delimiter: str = ","
    encoding: str = "utf-8"
    bom: bool = False
    broken: list[str] = field(default_factory=list)
    """Set by a reader that had to stop before the end (a JSON array that breaks off)."""
    closers: list[_Closeable] = field(default_factory=list)
    stream: io.BufferedReader | None = None
    """Set when the rest of the input is cut into byte blocks (``byte_blocks``) for the
    workers to parse, instead of being read record by record here (``records``)."""
    first_line: int = 1
    """The line the first block starts on."""
    line_bytes: float = 80.0
    """Average bytes per line in the first part of the input (to size blocks)."""

    def close(self) -> None:
        for handle in reversed(self.closers):
            with contextlib.suppress(OSError, EOFError, zlib.error):
                handle.close()


def display_name(path: str) -> str:
    return "<stdin>" if path == "-" else path


def open_source(path: str, *, fmt: Format | None = None, delimiter: str | None = None,
                encoding: str | None = None) -> Source:
    """Open a file (or ``-`` for stdin), gzip or not, and sniff what is not given."""
    closers: list[_Closeable] = []
    if path == "-":
        raw: IO[bytes] = sys.stdin.buffer
        size: int | None = None
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
    name = display_name(path)
    chosen = fmt or _sniff_format(sample)
    source = Source(name, chosen, iter(()), size, position, closers=closers)
    if chosen == "csv":
        _open_csv(source, stream, sample, delimiter, encoding)
    elif chosen == "jsonl":
        if sample.startswith(codecs.BOM_UTF8):
            stream.read(len(codecs.BOM_UTF8))
        source.stream = stream
        source.line_bytes = _line_bytes(sample)
    else:
        source.records = _json_array_records(source, stream)
    return source


def _line_bytes(sample: bytes) -> float:
    return len(sample) / max(1, sample.count(b"\n")) if sample else 80.0


def _buffered(handle: IO[bytes] | io.BufferedIOBase) -> io.BufferedReader:
    return io.BufferedReader(handle, buffer_size=_SAMPLE)  # type: ignore[arg-type]


def _sniff_format(sample: bytes) -> Format:
    text = sample.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"["):
        return "json"
    if text.startswith(b"{"):
        return "jsonl"
    return "csv"


# --------------------------------------------------------------------------------------------
# CSV
# --------------------------------------------------------------------------------------------
def sniff_encoding(sample: bytes) -> str:
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    try:
        sample.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        # The sample may end inside a multi-byte character; that is not evidence against UTF-8.
        if exc.start >= len(sample) - 3 and exc.reason == "unexpected end of data":
            return "utf-8"
    # Exports from Windows tools that are not UTF-8 are nearly always Windows-1252.
    try:
        sample.decode("cp1252")
        return "cp1252"
    except UnicodeDecodeError:
        return "latin-1"


def sniff_delimiter(header_line: str) -> str:
    """The candidate that splits the header line most often, outside quotes."""
    unquoted = re.sub(r'"[^"]*"', "", header_line)
    counts = {d: unquoted.count(d) for d in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def _open_csv(source: Source, stream: io.BufferedReader, sample: bytes, delimiter: str | None,
              encoding: str | None) -> None:
    chosen = encoding or sniff_encoding(sample)
    try:
        codecs.lookup(chosen)
    except LookupError as exc:
        raise InputError(f"unknown encoding {chosen!r}") from exc
    source.encoding = chosen
    is_utf8 = codecs.lookup(chosen).name == "utf-8"
    source.bom = chosen == "utf-8-sig" or (is_utf8 and sample.startswith(codecs.BOM_UTF8))
    if source.bom:
        chosen = "utf-8-sig"
    if _byte_safe(chosen) and _first_line_ends_with_lf(sample):
        # Cut into byte blocks at record boundaries; the workers decode and parse them.
        first_raw = stream.readline()
        first = first_raw.decode(chosen, errors="surrogateescape")
        if not first.strip():
            source.header = []
            source.records = iter(())
            return
        _read_header(source, first, delimiter)
        source.stream = stream
        source.first_line = 2
        source.line_bytes = _line_bytes(sample[len(first_raw):])
        return
    # surrogateescape keeps undecodable bytes visible in the text, so the row that holds them
    # is rejected on its own instead of the whole file failing at that point.
    text = io.TextIOWrapper(stream, encoding=chosen, errors="surrogateescape", newline="")
    first = text.readline()
    if not first.strip():
        source.header = []
        source.records = iter(())
        return
    width = _read_header(source, first, delimiter)
    source.records = _csv_records(text, source.delimiter, width)


def _read_header(source: Source, first: str, delimiter: str | None) -> int:
    source.delimiter = delimiter or sniff_delimiter(first)
    try:
        header = next(csv.reader([first], delimiter=source.delimiter, strict=True))
    except csv.Error as exc:
        raise InputError(f"{source.name}: the header line cannot be read: {exc}") from exc
    source.header = [h.strip() for h in header]
    source.header_raw = first
    return len(header)


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


def _csv_records(text: IO[str], delimiter: str, width: int) -> Iterator[Record]:
    pending: list[str] = []

    def lines() -> Iterator[str]:
        for line in text:
            pending.append(line)
            yield line

    reader = csv.reader(lines(), delimiter=delimiter, strict=True)
    start = 2
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raw = "".join(pending)
            pending.clear()
            yield Record(start, raw, defect=f"Malformed CSV record: {exc}")
            start = reader.line_num + 2
            continue
        raw = "".join(pending)
        pending.clear()
        line, start = start, reader.line_num + 2
        if not cells:
            continue  # a blank line separates nothing and holds no row
        if not raw.isascii() and _UNDECODABLE.search(raw):
            yield Record(line, raw.encode("utf-8", "surrogateescape").decode("utf-8", "replace"),
                         defect="Malformed CSV record: bytes that are not valid in the file's "
                                "encoding")
        elif len(cells) != width:
            yield Record(line, raw, defect=f"Malformed CSV record: {len(cells)} fields, "
                                           f"the header has {width}")
        else:
            yield Record(line, raw, cells=cells)


# --------------------------------------------------------------------------------------------
# Byte blocks (CSV and JSON Lines): the reading process only cuts, the workers parse
# --------------------------------------------------------------------------------------------
# A block that cannot find an even number of quotes before a newline (a stray quote) is cut
# at a newline anyway past this many bytes: its records are then rejected as malformed, and
# memory stays bounded, instead of the rest of the file becoming one block.
MAX_BLOCK = 16 << 20


def universal_lines(data: bytes) -> int:
    """Lines in ``data`` as a reader with universal newlines counts them (CSV)."""
    return data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n")


def _cut(buf: bytes, target: int, quotes: bool) -> int:
    """The end of the first block in ``buf``: just past the first newline at or after
    ``target`` bytes that is a record boundary (for CSV: with an even number of quote
    characters before it, so not inside a quoted field). 0 when ``buf`` holds none yet."""
    end = buf.find(b"\n", max(0, target - 1))
    if not quotes:
        return end + 1
    parity = buf.count(b'"', 0, end) & 1 if end >= 0 else 0
    while end >= 0 and parity:
        following = buf.find(b"\n", end + 1)
        if following < 0:
            if len(buf) > MAX_BLOCK + target:
                return end + 1
            return 0
        parity ^= buf.count(b'"', end, following) & 1
        end = following
    return end + 1


def byte_blocks(source: Source, target: int) -> Iterator[tuple[int, bytes]]:
    """The rest of a CSV or JSON Lines input as ``(first line, bytes)`` blocks of about
    ``target`` bytes, each made of whole records. A read error ends the blocks after the one
    holding the lines read whole before it (then re-raised), so that those rows are still
    judged."""
    stream = source.stream
    assert stream is not None
    quotes = source.format == "csv"
    count = universal_lines if quotes else (lambda data: data.count(b"\n"))
    line = source.first_line
    buf = b""
    target = max(1, target)
    while True:
        try:
            data = stream.read(max(target, _SAMPLE))
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
            end = _cut(buf, target, quotes)
            if not end:
                break
            block, buf = buf[:end], buf[end:]
            yield line, block
            line += count(block)
    if buf:
        yield line, buf


# --------------------------------------------------------------------------------------------
# JSON array
# --------------------------------------------------------------------------------------------
_WS = re.compile(r"[ \t\r\n]*")


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
                if len(buf) - pos < _MAX_ELEMENT and fill():
                    continue
                yield broken(exc.msg, exc.pos)
                return
            # A number at the end of the buffer may go on in the next chunk.
            if end == len(buf) and len(buf) - pos < _MAX_ELEMENT and fill():
                continue
            break
        element = buf[pos:end]
        start = here()
        pos = end
        if not element.isascii() and _UNDECODABLE.search(element):
            shown = element.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
            yield Record(start, shown,
                         defect="Malformed JSON element: bytes that are not valid UTF-8")
            continue
        yield Record(start, element, value=value)


# --------------------------------------------------------------------------------------------
# Outputs
# --------------------------------------------------------------------------------------------
def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


class AtomicOutput:
    """A file written under a temporary name beside its final one and renamed into place by
    ``commit`` (``os.replace`` is atomic on one file system). Until then, the final name holds
    nothing new: an interrupted run leaves at most a hidden ``.*.partial`` file behind, which
    ``discard`` removes when the interruption can be caught."""

    def __init__(self, path: str) -> None:
        self.path = path
        folder, name = os.path.split(os.path.abspath(path))
        fd, self.temp = tempfile.mkstemp(prefix=f".{name}.", suffix=".partial", dir=folder)
        # mkstemp makes the file private (0600); the output should get the usual permissions.
        os.chmod(self.temp, 0o666 & ~_umask())
        self._file: IO[bytes] = os.fdopen(fd, "wb", buffering=1 << 20)
        self._gzip: gzip.GzipFile | None = None
        self.stream: IO[bytes] | gzip.GzipFile = self._file
        if path.endswith(".gz"):
            self._gzip = gzip.GzipFile(filename=name[:-3], mode="wb", fileobj=self._file,
                                       compresslevel=6)
            self.stream = self._gzip
        self.done = False

    def write(self, data: bytes) -> None:
        self.stream.write(data)

    def commit(self) -> None:
        if self._gzip is not None:
            self._gzip.close()
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        os.replace(self.temp, self.path)
        self.done = True

    def discard(self) -> None:
        if self.done:
            return
        try:
            if self._gzip is not None:
                self._gzip.close()
            self._file.close()
        except OSError:
            pass
        with contextlib.suppress(OSError):
            os.unlink(self.temp)
        self.done = True


class ValidWriter:
    """Rows that pass, in the format of the first input, each exactly as it was read."""

    def __init__(self, out: AtomicOutput) -> None:
        self.out = out
        self.format: Format | None = None
        self._header: list[str] | None = None
        self._delimiter = ","
        self._newline = "\n"
        self._count = 0

    def start(self, source: Source) -> None:
        """Called for each input before its rows; refuses inputs that cannot share one file."""
        if self.format is None:
            self.format = source.format
            if source.format == "csv":
                self._header = source.header
                self._delimiter = source.delimiter
                header_raw = source.header_raw
                self._newline = "\r\n" if header_raw.endswith("\r\n") else "\n"
                if source.bom:
                    self.out.write(codecs.BOM_UTF8)
                self._write_text(header_raw if header_raw.endswith(("\n", "\r"))
                                 else header_raw + self._newline)
            elif source.format == "json":
                self.out.write(b"[")
            return
        if source.format != self.format:
            raise InputError(f"--valid: {source.name} is {source.format}, the first input is "
                             f"{self.format}; one output file needs inputs of one format")
        if source.format == "csv" and (source.header != self._header
                                       or source.delimiter != self._delimiter):
            raise InputError(f"--valid: the columns of {source.name} differ from the first "
                             "input's; one CSV output needs one header")

    def _write_text(self, text: str) -> None:
        self.out.write(text.encode("utf-8", "surrogateescape"))

    def write(self, raw: str) -> None:
        if self.format == "csv":
            self._write_text(raw if raw.endswith(("\n", "\r")) else raw + self._newline)
        elif self.format == "json":
            self._write_text(("\n" if self._count == 0 else ",\n") + raw)
        else:
            self._write_text(raw + "\n")
        self._count += 1

    @property
    def newline(self) -> str:
        """What ends a CSV row that has no line ending of its own (the last of a file)."""
        return self._newline

    def write_rows(self, data: bytes, ends: Sequence[int]) -> None:
        """Rows already in the output's form (``row_bytes``): ``ends`` are their end offsets
        in ``data``."""
        if self.format == "json":
            start = 0
            for end in ends:
                self.out.write(b"\n" if self._count == 0 else b",\n")
                self.out.write(data[start:end])
                self._count += 1
                start = end
            return
        self.out.write(data)
        self._count += len(ends)

    def finish(self) -> None:
        if self.format == "json":
            self.out.write(b"\n]\n" if self._count else b"]\n")
        elif self.format is None:
            # No input was opened: an empty file is still the honest answer.
            pass
