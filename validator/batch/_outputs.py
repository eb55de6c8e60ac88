"""Outputs that appear only when complete, and the valid output in its input's format."""

from __future__ import annotations

import contextlib
import gzip
import os
import shutil
import sys
import tempfile
from array import array
from collections.abc import Sequence
from typing import IO

import numpy as np

from .._exceptions import InputError
from ._readers import Dialect, Reader, Source, output_mismatch

STDOUT = "-"
"""The output path that means standard output."""


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
        self.temp = ""
        self._gzip: gzip.GzipFile | None = None
        self.done = False
        self.sealed = False
        if path == STDOUT:
            # Spooled to an unnamed file and copied to stdout by ``commit``, so that stdout,
            # like a file, gets a whole output or nothing.
            try:
                self._file: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115
            except OSError as exc:
                raise self._failed(exc) from exc
            self.stream: IO[bytes] | gzip.GzipFile = self._file
            return
        folder, name = os.path.split(os.path.abspath(path))
        try:
            fd, self.temp = tempfile.mkstemp(prefix=f".{name}.", suffix=".partial", dir=folder)
        except OSError as exc:
            raise self._failed(exc) from exc
        # mkstemp makes the file private (0600); the output should get the usual permissions.
        os.chmod(self.temp, 0o666 & ~_umask())
        self._file = os.fdopen(fd, "wb", buffering=1 << 20)
        self.stream = self._file
        if path.endswith(".gz"):
            self._gzip = gzip.GzipFile(filename=name[:-3], mode="wb", fileobj=self._file,
                                       compresslevel=6)
            self.stream = self._gzip

    def _failed(self, exc: OSError) -> InputError:
        """A fault of the output (a full disk, a folder that cannot be written) ends the run
        as unusable (exit 2), never as if it were a verdict on the rows."""
        where = "stdout" if self.path == STDOUT else self.path
        return InputError(f"cannot write {where}: {exc.strerror or exc}; no output file "
                          "was written")

    def write(self, data: bytes) -> None:
        try:
            self.stream.write(data)
        except OSError as exc:
            raise self._failed(exc) from exc

    def seal(self) -> None:
        """Put every byte on disk under the temporary name (a full disk shows here)."""
        if self.sealed:
            return
        if self.path == STDOUT:
            try:
                self._file.flush()
            except OSError as exc:
                raise self._failed(exc) from exc
            self.sealed = True
            return
        try:
            if self._gzip is not None:
                self._gzip.close()
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
        except OSError as exc:
            raise self._failed(exc) from exc
        self.sealed = True

    def commit(self) -> None:
        self.seal()
        if self.path == STDOUT:
            try:
                self._file.seek(0)
                shutil.copyfileobj(self._file, sys.stdout.buffer, 1 << 20)
                sys.stdout.buffer.flush()
                self._file.close()
            except OSError as exc:
                raise self._failed(exc) from exc
            self.done = True
            return
        try:
            os.replace(self.temp, self.path)
        except OSError as exc:
            raise self._failed(exc) from exc
        self.done = True

    def discard(self) -> None:
        if self.done:
            return
        # Each closed on its own: with a full disk, the first close fails too.
        for handle in (self._gzip, self._file):
            if handle is not None:
                with contextlib.suppress(OSError, ValueError):
                    handle.close()
        if self.temp:
            with contextlib.suppress(OSError):
                os.unlink(self.temp)
        self.done = True


class ValidWriter:
    """Rows that pass, in the format of the first input, each exactly as it was read: what
    goes around and between them is the first input's reader's to write."""

    def __init__(self, out: AtomicOutput) -> None:
        self.out = out
        self.reader: Reader | None = None
        self.dialect = Dialect()
        self._count = 0

    def start(self, source: Source) -> None:
        """Called for each input before its rows; refuses inputs that cannot share one file."""
        if self.reader is None:
            problem = output_mismatch(source.reader, self.out.path)
            if problem is not None:
                raise InputError(f"--valid: {problem}")
            self.reader, self.dialect = source.reader, source.dialect
            self.reader.start_output(self.out, self.dialect)
            return
        if source.reader.name != self.reader.name:
            raise InputError(f"--valid: {source.name} is {source.format}, the first input is "
                             f"{self.reader.name}; one output file needs inputs of one format")
        problem = self.reader.mismatch(source.name, source.dialect, self.dialect)
        if problem is not None:
            raise InputError(f"--valid: {problem}")

    @property
    def newline(self) -> str:
        """What ends a row that has no line ending of its own (the last of a CSV file)."""
        return self.reader.newline(self.dialect) if self.reader is not None else "\n"

    def write_rows(self, data: bytes, ends: Sequence[int]) -> None:
        """Rows already in the output's form (``Reader.valid_bytes``): ``ends`` are their end
        offsets in ``data``."""
        assert self.reader is not None
        self.reader.write_rows(self.out, data, ends, self._count)
        self._count += len(ends)

    def finish(self) -> None:
        # No input was opened: an empty file is still the honest answer.
        if self.reader is not None:
            self.reader.end_output(self.out, self._count)


def rows_without(data: bytes, ends: array[int], dropped: list[int]) -> tuple[bytes, array[int]]:
    """The rows of ``data`` (``ends``: their end offsets) but those at the ``dropped`` indexes
    (few: the run's 1008 repeats), with their ends; in bulk, not row by row."""
    parts: list[bytes] = []
    start = 0
    for index in sorted(dropped):
        parts.append(data[start:ends[index - 1] if index else 0])
        start = ends[index]
    parts.append(data[start:])
    stops = np.frombuffer(ends, np.uint64)
    lengths = np.diff(stops, prepend=np.uint64(0))
    keep = np.ones(len(stops), bool)
    keep[dropped] = False
    kept = array("Q")
    kept.frombytes(np.cumsum(lengths[keep], dtype=np.uint64).tobytes())
    return b"".join(parts), kept


def candidates_in_order(valid_lines: array[int], valid_keys: array[int],
                        unverified: Sequence[tuple[int, int, bytes, bytes]],
                        checks: array[int] | None = None
                        ) -> tuple[array[int], array[int], np.ndarray, array[int]]:
    """The valid and the unverified rows of a block as candidates for 1008, in the order of
    their lines (rows of one line: by key, then by that code): their lines, keys, which rows
    they are (a valid row's index, or ``-1 -`` an unverified row's) and their checks (``checks``
    holds the valid rows' then the unverified rows'; none: all 0). In bulk: with MX checks most
    rows of a block are valid."""
    lines = np.concatenate((np.frombuffer(valid_lines, np.uint64) if len(valid_lines)
                            else np.zeros(0, np.uint64),
                            np.array([row[0] for row in unverified], np.uint64)))
    keys = np.concatenate((np.frombuffer(valid_keys, np.uint64) if len(valid_keys)
                           else np.zeros(0, np.uint64),
                           np.array([row[1] for row in unverified], np.uint64)))
    indexes = np.concatenate((np.arange(len(valid_lines), dtype=np.int64),
                              -1 - np.arange(len(unverified), dtype=np.int64)))
    check_of = (np.frombuffer(checks, np.uint64) if checks is not None and len(checks)
                else np.zeros(len(lines), np.uint64))
    order = np.lexsort((indexes, keys, lines))
    ordered_lines, ordered_keys, ordered_checks = array("Q"), array("Q"), array("Q")
    ordered_lines.frombytes(lines[order].tobytes())
    ordered_keys.frombytes(keys[order].tobytes())
    ordered_checks.frombytes(check_of[order].tobytes())
    return ordered_lines, ordered_keys, indexes[order], ordered_checks
