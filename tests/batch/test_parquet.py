"""Parquet in and out of `validator check`, globs and fsspec URLs (no Dask here)."""

from __future__ import annotations

import datetime
import decimal
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from click.testing import CliRunner
from test_batch import jsonl, report

from validator.cli import main


class Ran:
    """What an in-process ``validator check`` left (like a finished subprocess)."""

    def __init__(self, returncode: int, stderr: bytes) -> None:
        self.returncode = returncode
        self.stderr = stderr


def run(*args: str | Path, stdin: bytes | None = None,
        env: dict[str, str] | None = None) -> Ran:
    """``validator check`` in this process: the command's own code, without a new
    interpreter importing the package (and pyarrow, dask) for each run."""
    result = CliRunner().invoke(main, ["check", *map(str, args)], input=stdin, env=env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Ran(result.exit_code, result.stderr_bytes or b"")


def _contacts(n: int) -> pa.Table:
    rows: list[dict[str, Any]] = []
    for i in range(n):
        rows.append({
            "email": f"u{i}@example{i % 5}.com",
            "campaign.campaignId": "pV3r",
            "name": None if i % 4 == 0 else f"Zoë {i}",
            "scoring": None if i % 6 == 0 else i,
            "active": i % 2 == 0,
            "weight": i / 8,
            "signed": datetime.datetime(2024, 1, 2, 3, 4, i % 60, tzinfo=datetime.UTC),
            "day": datetime.date(2024, 1, 1 + i % 28),
            "price": decimal.Decimal(f"{i}.50"),
            "tier": ["gold", "silver"][i % 2],
        })
    rows[3]["email"] = "not-an-address"
    rows[5]["email"] = "U1@example1.com"  # 1008: the same address as row 2
    table = pa.Table.from_pylist(rows)
    # pandas' categoricals arrive as dictionary columns.
    tier = table.schema.get_field_index("tier")
    return table.set_column(tier, "tier", table.column("tier").dictionary_encode())


def test_parquet_in_and_out_keeps_rows_types_and_order(tmp_path: Path) -> None:
    table = _contacts(40)
    source = tmp_path / "contacts.parquet"
    pq.write_table(table, source, row_group_size=7)
    result = run(source, "--no-check-mx", "-j", "1", "--chunk-size", "5", "--valid",
                 tmp_path / "ok.parquet", "--rejects", tmp_path / "bad.jsonl", "--report",
                 tmp_path / "r.json", "-q")
    assert result.returncode == 1, result.stderr
    assert report(tmp_path / "r.json")["rows"] == {"read": 40, "valid": 38, "invalid": 2,
                                                  "unverified": 0}
    rejects = {r["line"]: r for r in jsonl(tmp_path / "bad.jsonl")}
    # A row's line is its row number in the file.
    assert sorted(rejects) == [4, 6]
    assert rejects[4]["error"]["code"] == 1003
    assert rejects[4]["row"]["email"] == "not-an-address"
    assert rejects[6]["error"]["code"] == 1008
    assert "(line 2)" in rejects[6]["error"]["context"][0]["errorDescription"]
    # Typed columns were read as their text; the integer column was a number to the schema.
    assert rejects[4]["row"]["scoring"] == "3" and rejects[4]["row"]["active"] == "false"
    written = pq.read_table(tmp_path / "ok.parquet")
    keep = pa.array([i not in (3, 5) for i in range(40)])
    assert written.schema == table.schema
    assert written.equals(table.filter(keep))


def test_parquet_schema_types_are_checked_as_cells(tmp_path: Path) -> None:
    source = tmp_path / "scores.parquet"
    pq.write_table(pa.table({"email": ["a@example.com", "b@example.com"],
                             "campaign.campaignId": ["pV3r", "pV3r"],
                             "scoring": ["12", "high"]}), source)
    result = run(source, "--no-check-mx", "-j", "1", "--rejects", tmp_path / "bad.jsonl", "-q")
    assert result.returncode == 1
    (bad,) = jsonl(tmp_path / "bad.jsonl")
    assert bad["line"] == 2 and bad["error"]["code"] == 1006


def test_globs_and_fsspec_urls_name_inputs(tmp_path: Path) -> None:
    for part in range(3):
        pq.write_table(pa.table({"email": [f"p{part}-{i}@example.com" for i in range(4)],
                                 "campaign.campaignId": ["pV3r"] * 4}),
                       tmp_path / f"part-{part}.parquet")
    (tmp_path / "other.csv").write_text("email,campaign.campaignId\nx@example.com,pV3r\n")
    result = run(str(tmp_path / "part-*.parquet"), "--no-check-mx", "-j", "1", "--valid",
                 tmp_path / "ok.parquet", "--report", tmp_path / "r.json", "-q")
    assert result.returncode == 0, result.stderr
    data = report(tmp_path / "r.json")
    assert list(data["files"]) == [str(tmp_path / f"part-{p}.parquet") for p in range(3)]
    assert pq.read_table(tmp_path / "ok.parquet").column("email").to_pylist() == [
        f"p{p}-{i}@example.com" for p in range(3) for i in range(4)]
    # fsspec: a URL (the local file system's, which needs no other package) and a URL glob.
    url = f"file://{tmp_path}/part-1.parquet"
    result = run(url, f"file://{tmp_path}/part-[02].parquet", "--no-check-mx", "-j", "1",
                 "--report", tmp_path / "r2.json", "-q")
    assert result.returncode == 0, result.stderr
    assert list(report(tmp_path / "r2.json")["files"]) == [
        url, f"file://{tmp_path}/part-0.parquet", f"file://{tmp_path}/part-2.parquet"]
    csv_url = run(f"file://{tmp_path}/other.csv", "--no-check-mx", "-j", "1", "-q")
    assert csv_url.returncode == 0, csv_url.stderr
    missing = run(str(tmp_path / "nothing-*.parquet"), "--no-check-mx", "-q")
    assert missing.returncode == 2
    assert b"no file matches" in missing.stderr


def test_parquet_inputs_that_cannot_be_read_are_one_sentence(tmp_path: Path) -> None:
    nested = tmp_path / "nested.parquet"
    pq.write_table(pa.table({"email": ["a@example.com"], "tags": [["a", "b"]]}), nested)
    result = run(nested, "--no-check-mx", "-q")
    assert result.returncode == 2
    assert b"column 'tags' is list<element: string>" in result.stderr
    assert b"Traceback" not in result.stderr
    flat = tmp_path / "flat.parquet"
    pq.write_table(pa.table({"email": ["a@example.com"], "campaign.campaignId": ["pV3r"]}), flat)
    piped = run("-", "--no-check-mx", "-q", stdin=flat.read_bytes())
    assert piped.returncode == 2 and b"cannot be read from a stream" in piped.stderr
    # The valid output keeps the input's format: a Parquet one for Parquet inputs only.
    as_csv = tmp_path / "c.csv"
    as_csv.write_text("email,campaign.campaignId\na@example.com,pV3r\n")
    for source, output in ((as_csv, "ok.parquet"), (flat, "ok.csv")):
        refused = run(source, "--no-check-mx", "-q", "--valid", tmp_path / output)
        assert refused.returncode == 2, refused.stderr
        assert b"--valid" in refused.stderr and not (tmp_path / output).exists()
    other = tmp_path / "other.parquet"
    pq.write_table(pa.table({"email": ["b@example.com"], "scoring": [1]}), other)
    mixed = run(flat, other, "--no-check-mx", "-q", "--valid", tmp_path / "ok.parquet")
    assert mixed.returncode == 2 and b"one Parquet output needs one schema" in mixed.stderr
    # A truncated file is not Parquet: refused, with the other inputs still checked.
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(flat.read_bytes()[:-20])
    partly = run(broken, flat, "--no-check-mx", "-q", "--report", tmp_path / "r.json")
    assert partly.returncode == 2
    assert b"not a readable Parquet file" in partly.stderr
    assert json.loads((tmp_path / "r.json").read_text())["rows"]["read"] == 1
