"""`validator check` on hostile input and under faults: the real command, as a subprocess, on
real files, real mounts and real signals (SPEC §8: refused with a clear entry, or exit 2 with one
sentence; never a traceback, an unbounded cost, or the loss of the other rows)."""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import signal
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_batch import CHECK, jsonl, report

# Runs a command and prints its peak RSS (KiB) on the last line of stderr: the memory of one
# run, apart from anything else this test process ever waited for.
MEASURED = [sys.executable, "-c",
            "import resource, subprocess, sys\n"
            "code = subprocess.call(sys.argv[1:])\n"
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n"
            "sys.exit(code)\n"]
MAX_RECORD = 4 << 20


def run(*args: str | Path, timeout: float = 120, measure: bool = False,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    command = [*(MEASURED if measure else []), *CHECK, *map(str, args)]
    return subprocess.run(command, capture_output=True, timeout=timeout, check=False,
                          env={**os.environ, **(env or {})})


def peak_mib(result: subprocess.CompletedProcess[bytes]) -> float:
    return int(result.stderr.splitlines()[-1]) / 1024


def one_sentence(result: subprocess.CompletedProcess[bytes]) -> str:
    """The error the command printed: one line, no traceback."""
    text = result.stderr.decode()
    assert "Traceback" not in text, text
    lines = [line for line in text.splitlines() if line.startswith("validator: ")]
    assert len(lines) == 1, text
    return lines[0]


def contact(i: int) -> bytes:
    return json.dumps({"email": f"user{i}@example.com",
                       "campaign": {"campaignId": "pV3r"}}).encode()


def no_traceback(result: subprocess.CompletedProcess[bytes]) -> None:
    assert b"Traceback" not in result.stderr, result.stderr.decode()


# --------------------------------------------------------------------------------------------
# Rows that cannot be written out, and nesting
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("jobs", "block_bytes"), [("1", "0"), ("2", "7")])
def test_a_row_nested_256_deep_is_refused_and_the_others_kept(
        tmp_path: Path, jobs: str, block_bytes: str) -> None:
    deep = b"[" * 255 + b"]" * 255
    rows = [contact(i) for i in range(6)]
    rows.insert(3, b'{"email":"x@example.com","campaign":{"campaignId":"pV3r"},"name":'
                + deep + b"}")
    rows.insert(5, b'{"email":"y@example.com","tags":' + b"[" * 70 + b"]" * 70 + b"}")
    source = tmp_path / "deep.jsonl"
    source.write_bytes(b"\n".join(rows) + b"\n")
    result = run(source, "--no-check-mx", "-j", jobs, "--valid", tmp_path / "ok.jsonl",
                 "--rejects", tmp_path / "bad.jsonl", "--report", tmp_path / "r.json",
                 env={"VALIDATOR_BLOCK_BYTES": block_bytes})
    no_traceback(result)
    assert result.returncode == 1
    assert report(tmp_path / "r.json")["rows"] == {"read": 8, "valid": 6, "invalid": 2,
                                                   "unverified": 0}
    assert (tmp_path / "ok.jsonl").read_bytes() == b"".join(r + b"\n" for r in rows
                                                            if r.count(b"[") < 10)
    rejects = {r["line"]: r for r in jsonl(tmp_path / "bad.jsonl")}
    assert sorted(rejects) == [4, 6]
    for entry in rejects.values():
        assert entry["error"]["code"] == 1000
        assert ("deeper than 64 levels, the limit of one row"
                in entry["error"]["context"][0]["errorDescription"])
        assert isinstance(entry["row"], str)  # the row as read, not re-nested


def test_a_body_that_cannot_be_serialised_makes_a_1000_row_not_a_crash(tmp_path: Path) -> None:
    # A JSON array keeps integers of any size; the error body of a name that is one cannot be
    # written as JSON (orjson stops at 64 bits).
    big = "1" * 40
    source = tmp_path / "big.json"
    source.write_text(
        "[" + ",\n".join(
            [contact(0).decode(),
             f'{{"email": "b@example.com", "campaign": {{"campaignId": "pV3r"}}, "name": {big}}}',
             '{"email": "c@example.com", "campaign": {"campaignId": "pV3r"}, "name": 1}',
             contact(3).decode()]) + "]")
    result = run(source, "--no-check-mx", "-j", "1", "--rejects", tmp_path / "bad.jsonl",
                 "--report", tmp_path / "r.json", "-q")
    no_traceback(result)
    assert result.returncode == 1
    assert report(tmp_path / "r.json")["rows"]["valid"] == 2
    rejects = {r["line"]: r for r in jsonl(tmp_path / "bad.jsonl")}
    assert sorted(rejects) == [2, 3]
    assert rejects[3]["error"]["code"] == 1006
    # The rules may come to write such a value themselves; until then the row is a 1000.
    body = rejects[2]["error"]
    if body["code"] == 1000:
        assert body["context"][0]["errorDescription"] == (
            "The row holds an integer past the 64-bit range its error body can be written with")
    else:
        assert body["code"] == 1006 and body["context"][0]["fieldName"] == ["name"]


def test_a_malformed_row_of_bytes_that_are_not_utf8_is_written_to_the_rejects(
        tmp_path: Path) -> None:
    # Found by benchmarks/fuzz.py: b"\xff[]" read as a JSON array is one malformed row whose
    # raw text (decoded with surrogateescape) orjson could not write: a TypeError ended the run.
    source = tmp_path / "bad.txt"
    source.write_bytes(b"\xff[]")
    result = run(source, "--format", "json", "--no-check-mx", "-j", "1",
                 "--rejects", tmp_path / "bad.jsonl", "--report", tmp_path / "r.json", "-q")
    no_traceback(result)
    assert result.returncode == 2 and b"breaks off at line 1" in result.stderr
    [reject] = jsonl(tmp_path / "bad.jsonl")
    assert reject["line"] == 1 and reject["row"] == "\ufffd[]"
    assert reject["error"]["code"] == 1000


def test_a_json_array_element_past_the_recursion_of_the_reader_ends_the_file(
        tmp_path: Path) -> None:
    source = tmp_path / "deep.json"
    source.write_text("[" + contact(0).decode() + ",\n" + "[" * 5000 + "]" * 5000 + ","
                      + contact(1).decode() + "]")
    result = run(source, "--no-check-mx", "-j", "1", "--report", tmp_path / "r.json", "-q")
    assert result.returncode == 2
    assert "nests objects and arrays far deeper than 64 levels" in one_sentence(result)
    assert report(tmp_path / "r.json")["rows"]["valid"] == 1


def test_a_csv_column_nested_past_the_limit_is_exit_2(tmp_path: Path) -> None:
    source = tmp_path / "deep.csv"
    source.write_text("email," + ".".join(["a"] * 65) + "\nx@example.com,1\n")
    result = run(source, "--no-check-mx", "-j", "1", "-q")
    assert result.returncode == 2
    assert "nests 65 levels deep, more than the limit of 64" in one_sentence(result)


# --------------------------------------------------------------------------------------------
# Small inputs that used to cost without bound
# --------------------------------------------------------------------------------------------
def _wide_header(columns: int, parts: int) -> str:
    return ",".join(["email", "campaign.campaignId"] + [
        ".".join(f"p{i}x{j}" for j in range(parts)) for i in range(columns - 2)])


def test_a_header_past_the_column_limit_is_exit_2_at_once(tmp_path: Path) -> None:
    source = tmp_path / "wide.csv"
    source.write_text(_wide_header(4000, 12) + "\nx@example.com,pV3r" + ",1" * 3998 + "\n")
    started = time.monotonic()
    result = run(source, "--no-check-mx", "-j", "1", "-q", measure=True)
    assert result.returncode == 2
    assert one_sentence(result).endswith("the header has 4,000 columns, more than the limit "
                                         "of 2,000")
    assert time.monotonic() - started < 30
    assert peak_mib(result) < 150


def test_a_header_at_the_column_limit_compiles_in_bounded_memory(tmp_path: Path) -> None:
    source = tmp_path / "wide.csv"
    source.write_text(_wide_header(2000, 14) + "\n"
                      + "\n".join(f"u{i}@example.com,pV3r" + ",1" * 1998 for i in range(50))
                      + "\n")
    result = run(source, "--no-check-mx", "-j", "1", "--report", tmp_path / "r.json", "-q",
                 measure=True, timeout=120)
    no_traceback(result)
    assert report(tmp_path / "r.json")["rows"]["read"] == 50
    # One function for it all took 370 MiB for these columns, and grew with them.
    assert peak_mib(result) < 150


def test_a_header_line_past_the_record_limit_is_exit_2(tmp_path: Path) -> None:
    source = tmp_path / "long.csv"
    source.write_bytes(b"email,name" + b"x" * (MAX_RECORD + 10) + b"\nx@example.com,1\n")
    result = run(source, "--no-check-mx", "-j", "1", "-q", measure=True)
    assert result.returncode == 2
    assert "the header line is longer than 4,194,304 bytes" in one_sentence(result)
    assert peak_mib(result) < 150


@pytest.mark.parametrize(("jobs", "block_bytes"), [("1", "0"), ("2", "0"), ("1", "100000")])
def test_a_record_past_the_limit_is_a_refused_row_and_reading_goes_on(
        tmp_path: Path, jobs: str, block_bytes: str) -> None:
    source = tmp_path / "long.jsonl"
    long = b'{"email":"b@example.com","name":"' + b"y" * (MAX_RECORD + 1000) + b'"}'
    source.write_bytes(b"\n".join([contact(0), long, contact(2), long, contact(4)]) + b"\n")
    result = run(source, "--no-check-mx", "-j", jobs, "--valid", tmp_path / "ok.jsonl",
                 "--rejects", tmp_path / "bad.jsonl", "--report", tmp_path / "r.json", "-q",
                 env={"VALIDATOR_BLOCK_BYTES": block_bytes})
    no_traceback(result)
    assert result.returncode == 1
    assert report(tmp_path / "r.json")["rows"] == {"read": 5, "valid": 3, "invalid": 2,
                                                   "unverified": 0}
    assert (tmp_path / "ok.jsonl").read_bytes() == b"".join(
        contact(i) + b"\n" for i in (0, 2, 4))
    rejects = jsonl(tmp_path / "bad.jsonl")
    assert [r["line"] for r in rejects] == [2, 4]
    for entry in rejects:
        context = entry["error"]["context"][0]
        assert entry["error"]["code"] == 1000
        assert context["errorDescription"] == ("The record is longer than 4,194,304 bytes, "
                                               "the limit of one row")
        assert entry["row"] == long[:200].decode()


def test_a_line_without_end_stops_the_file_in_bounded_memory(tmp_path: Path) -> None:
    source = tmp_path / "endless.jsonl"
    with source.open("wb") as handle:
        handle.write(contact(0) + b"\n" + contact(1) + b"\n")
        handle.write(b'{"email":"x@example.com","name":"')
        for _ in range(100):
            handle.write(b"z" * (1 << 20))
        handle.write(b'"}\n' + contact(3) + b"\n")
    result = run(source, "--no-check-mx", "-j", "1", "--report", tmp_path / "r.json", "-q",
                 measure=True)
    assert result.returncode == 2
    assert one_sentence(result).endswith(
        "the record at line 3 runs on past 67,108,864 bytes without a line end; the rest of "
        "the file was not read")
    rows = report(tmp_path / "r.json")["rows"]
    assert (rows["valid"], rows["invalid"]) == (2, 1)  # the long record itself is refused
    assert peak_mib(result) < 200  # a 100 MiB line peaked at 1.3 GiB


def test_a_csv_ending_in_an_unclosed_quote_is_read_in_bounded_time_and_memory(
        tmp_path: Path) -> None:
    source = tmp_path / "unclosed.csv"
    lines = ["email,name,campaign.campaignId"]
    lines += [f"u{i}@example.com,N{i},pV3r" for i in range(1000)]
    lines.append('z@example.com,"never closed,pV3r')
    lines += [f"v{i}@example.com,N{i},pV3r" for i in range(200_000)]
    source.write_text("\n".join(lines) + "\n")
    started = time.monotonic()
    result = run(source, "--no-check-mx", "-j", "1", "--report", tmp_path / "r.json", "-q",
                 measure=True)
    elapsed = time.monotonic() - started
    no_traceback(result)
    assert result.returncode == 1
    rows = report(tmp_path / "r.json")["rows"]
    assert rows["valid"] >= 1000 and rows["invalid"] >= 1
    assert peak_mib(result) < 250
    assert elapsed < 60  # 16 MB of this took 72 s before


def test_a_long_line_read_record_by_record_is_refused_alone(tmp_path: Path) -> None:
    # Lone CR line ends: the file is read record by record in the reading process.
    source = tmp_path / "mac.csv"
    source.write_bytes(b"email,name\r" + b"a@example.com,A\r" + b"b@example.com,"
                       + b"n" * (MAX_RECORD + 10) + b"\rc@example.com,C\r")
    result = run(source, "--no-check-mx", "-j", "1", "--campaign-id", "pV3r", "--rejects",
                 tmp_path / "bad.jsonl", "--report", tmp_path / "r.json", "-q", measure=True)
    no_traceback(result)
    assert report(tmp_path / "r.json")["rows"]["read"] == 3
    (entry,) = jsonl(tmp_path / "bad.jsonl")
    assert entry["line"] == 3
    assert "longer than 4,194,304 bytes" in entry["error"]["context"][0]["errorDescription"]
    assert peak_mib(result) < 200


# --------------------------------------------------------------------------------------------
# Input that is not text
# --------------------------------------------------------------------------------------------
def _png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (len(data).to_bytes(4, "big") + kind + data
                + zlib.crc32(kind + data).to_bytes(4, "big"))

    pixels = zlib.compress(b"".join(b"\0" + os.urandom(300) for _ in range(100)))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", (100).to_bytes(4, "big") * 2 + b"\x08\x02\0\0\0")
            + chunk(b"IDAT", pixels) + chunk(b"IEND", b""))


@pytest.mark.parametrize("kind", ["random", "png", "gzip of NUL bytes"])
def test_binary_input_is_exit_2_with_one_sentence(tmp_path: Path, kind: str) -> None:
    source = tmp_path / "input.bin"
    if kind == "random":
        source.write_bytes(os.urandom(500_000))
    elif kind == "png":
        source.write_bytes(_png())
    else:
        with gzip.open(source, "wb", compresslevel=9) as handle:
            zeros = bytes(1 << 20)
            for _ in range(400):  # 400 MiB inflated
                handle.write(zeros)
    result = run(source, "--no-check-mx", "-j", "1", "--rejects", tmp_path / "bad.jsonl", "-q",
                 measure=True, timeout=60)
    assert result.returncode == 2
    assert one_sentence(result).endswith("is not text (it has NUL or control bytes in its "
                                         "first 64 KiB), so not CSV, JSON Lines or JSON")
    assert peak_mib(result) < 150


# --------------------------------------------------------------------------------------------
# Faults that are not verdicts on rows
# --------------------------------------------------------------------------------------------
@contextlib.contextmanager
def _tmpfs(where: Path, options: str) -> Iterator[Path]:
    where.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)],
                             capture_output=True, timeout=10, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True, timeout=10,
                       check=False)


def _rows(path: Path, n: int) -> None:
    path.write_bytes(b"".join(
        json.dumps({"email": f"bad{i}", "campaign": {"campaignId": "pV3r"}}).encode() + b"\n"
        for i in range(n)))


def test_a_full_disk_is_exit_2_with_one_sentence(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    _rows(source, 3000)  # about 1.5 MB of rejects
    with _tmpfs(tmp_path / "small", "size=64k") as folder:
        result = run(source, "--no-check-mx", "-j", "1", "--rejects", folder / "bad.jsonl",
                     "-q")
        assert result.returncode == 2
        sentence = one_sentence(result)
        assert f"cannot write {folder / 'bad.jsonl'}: No space left on device" in sentence
        assert list(folder.iterdir()) == []  # neither the output nor its partial file


def test_a_read_only_output_folder_is_exit_2_with_one_sentence(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    _rows(source, 10)
    with _tmpfs(tmp_path / "ro", "ro,size=64k") as folder:
        result = run(source, "--no-check-mx", "-j", "1", "--valid", tmp_path / "ok.jsonl",
                     "--rejects", folder / "bad.jsonl", "-q")
        assert result.returncode == 2
        assert "Read-only file system" in one_sentence(result)
    assert not (tmp_path / "ok.jsonl").exists()


def test_an_output_folder_under_a_file_is_exit_2(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    _rows(source, 10)
    (tmp_path / "afile").write_text("")
    result = run(source, "--no-check-mx", "-j", "1", "--rejects", tmp_path / "afile" / "x.jsonl",
                 "-q")
    assert result.returncode == 2
    no_traceback(result)


def _position(pid: int, path: Path) -> int | None:
    """How far process ``pid`` has read ``path`` (from /proc), None before it opened it."""
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/{pid}/fd/{fd}") == str(path):
                    info = Path(f"/proc/{pid}/fdinfo/{fd}").read_text()
                    return int(info.split("pos:")[1].split()[0])
    return None


def test_a_file_truncated_while_it_is_read_is_reported(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    n = 300_000
    source.write_bytes(b"".join(contact(i) + b"\n" for i in range(n)))
    size = source.stat().st_size
    process = subprocess.Popen(
        [*CHECK, str(source), "--no-check-mx", "-j", "1", "--report", str(tmp_path / "r.json"),
         "-q"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            position = _position(process.pid, source)
            if position:
                break
            assert process.poll() is None
            time.sleep(0.01)
        else:
            pytest.fail("the run never started reading")
        assert position < size // 2, "the run read too fast for this test"
        os.truncate(source, size // 2)
        _, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    result = subprocess.CompletedProcess(process.args, process.returncode, b"", stderr)
    assert result.returncode == 2
    sentence = one_sentence(result)
    rows = report(tmp_path / "r.json")["rows"]
    assert 0 < rows["read"] < n
    assert (f"{source} changed size while it was read ({size:,} bytes when opened, "
            f"{size // 2:,} at the end): it was checked as far as it was read, "
            f"{rows['read']:,} rows") in sentence


# --------------------------------------------------------------------------------------------
# Leftovers
# --------------------------------------------------------------------------------------------
def _group(pgid: int) -> list[int]:
    """Live processes of process group ``pgid`` (from /proc; zombies are not alive)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            stat = Path(f"/proc/{entry}/stat").read_text()
            fields = stat[stat.rindex(")") + 2:].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                found.append(int(entry))
    return found


def test_workers_end_when_the_run_is_killed(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_bytes(b"".join(contact(i) + b"\n" for i in range(400_000)))
    process = subprocess.Popen(
        [*CHECK, str(source), "--no-check-mx", "--jobs", "2", "--chunk-size", "500",
         "--rejects", str(tmp_path / "bad.jsonl"), "-q"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        # The run, the fork server and two workers (and the resource tracker).
        while len(_group(process.pid)) < 4 and time.monotonic() < deadline:
            assert process.poll() is None, process.stderr.read() if process.stderr else b""
            time.sleep(0.05)
        assert len(_group(process.pid)) >= 4, "the workers never started"
        os.kill(process.pid, signal.SIGKILL)  # the run alone: nothing of it can clean up
        process.wait(timeout=10)
        deadline = time.monotonic() + 10
        while _group(process.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _group(process.pid) == []
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


# Found by the fuzz run on the merged code: each ended `check` with a traceback.
def test_utf32_text_out_of_range_is_exit_2_in_one_sentence(tmp_path: Path) -> None:
    import codecs

    from test_batch import run as run_check

    bad = b"\x00\x00\x11\x00"  # U+110000: past Unicode, which no UTF-32 decoder takes
    for name, data in (
            ("header.csv", codecs.BOM_UTF32_LE + "email\n".encode("utf-32-le")[:8] + bad),
            ("row.csv", codecs.BOM_UTF32_LE + "email\nu@example.com\n".encode("utf-32-le")
             + bad + "\n".encode("utf-32-le"))):
        source = tmp_path / name
        source.write_bytes(data)
        done = run_check(source, "--no-check-mx", "-q")
        assert done.returncode == 2, (name, done.stderr)
        assert b"Traceback" not in done.stderr
        assert b"cannot be decoded as utf-32" in done.stderr, done.stderr


def test_a_required_field_hint_names_a_header_with_undecodable_bytes(tmp_path: Path) -> None:
    from test_batch import run as run_check

    source = tmp_path / "latin.csv"
    source.write_bytes(b"E\xedmail,name\nu@example.com,Ann\n")  # not UTF-8, not a BOM
    done = run_check(source, "--no-check-mx", "--encoding", "utf-8", "-q")
    assert b"Traceback" not in done.stderr, done.stderr
    assert done.returncode in (0, 1)


def test_an_integer_past_pythons_digit_limit_in_a_json_array_is_exit_2(tmp_path: Path) -> None:
    from test_batch import run as run_check

    source = tmp_path / "big.json"  # found by the 1M fuzz run: a ValueError traceback before
    source.write_bytes(b'[{"email": "a@example.com"}, {"email": "b@example.com", "scoring": '
                       + b"9" * (sys.get_int_max_str_digits() + 1) + b"}]")
    done = run_check(source, "--no-check-mx", "-q")
    assert done.returncode == 2, done.stderr
    assert b"Traceback" not in done.stderr
    assert b"an integer of more than" in done.stderr and b"not read" in done.stderr
