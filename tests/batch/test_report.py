"""What a list owner looks at after a run: the HTML report, the annotated file, failures by
reason, and the list-hygiene warnings beside the verdicts (`validator check`, as a
subprocess, on real files)."""

from __future__ import annotations

import csv
import gzip
import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from dns_server import ZoneServer
from test_batch import CHECK, REPO, jsonl, report, run

SAMPLE = REPO / "samples" / "contacts.csv"

HYGIENE_CSV = (
    "email,campaign.campaignId,scoring\n"
    "jsmith@gmail.com,pV3r,1\n"          # 2
    "info@example.com,pV3r,2\n"          # 3: role
    "anna@gmaill.com,pV3r,3\n"           # 4: typo
    "bob@mailinator.com,pV3r,4\n"        # 5: disposable
    "J.Smith+news@gmail.com,pV3r,5\n"    # 6: same mailbox as line 2
    "j.smith@gmail.com,Xa91,6\n"         # 7: another campaign: no duplicate
    "sales@gmaill.com,pV3r,high\n"       # 8: invalid (1006), typo and role
    "jsmith@gmail.com,pV3r,7\n"          # 9: an exact repeat of line 2: 1008
)


def _hygiene_csv(tmp_path: Path) -> Path:
    source = tmp_path / "hygiene.csv"
    source.write_text(HYGIENE_CSV, encoding="utf-8")
    return source


def run_wide(*args: str | Path) -> subprocess.CompletedProcess[bytes]:
    """The command with its summary on a wide terminal (rich sizes its tables to COLUMNS when
    stderr is not a terminal)."""
    return subprocess.run([*CHECK, *map(str, args)], capture_output=True, timeout=60,
                          check=False, env={**os.environ, "COLUMNS": "200"})


def _annotated_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


# --------------------------------------------------------------------------------------------
# The HTML report
# --------------------------------------------------------------------------------------------
def test_html_report_of_the_sample_is_one_offline_page(tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    result = run(SAMPLE, "--no-check-mx", "--report", page, "-q")
    assert result.returncode == 1, result.stderr
    html = page.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>")
    # Offline and script-free: nothing to fetch, nothing to run.
    assert "<script" not in html.lower()
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", html, re.I)
    assert "@import" not in html and "url(" not in html
    assert 'name="viewport"' in html
    for figure, value in [("rows-read", 400), ("rows-valid", 329), ("rows-invalid", 71),
                          ("rows-unverified", 0)]:
        assert re.search(rf'id="{figure}">{value}<', html), figure
    # Charts are inline SVG bars, one per code, field and domain.
    codes = re.search(r'id="chart-codes">(.*?)</div>', html, re.S)
    assert codes is not None and codes.group(1).count("<rect") == 6
    assert html.count("<svg") >= 20
    # Failures by reason: one row for a reason whatever the values, under its code's total.
    assert re.search(r'id="code-1003"><td class="code">1003</td>.*?>31<', html, re.S)
    assert html.count("got …") >= 2
    assert "A repeat of an e-mail already added to the same campaign" in html
    # The example's error body is shown, escaped.
    assert "&#34;httpStatus&#34;: 400" in html or "&quot;httpStatus&quot;: 400" in html
    assert "contacts.create" in html  # the run's options


def test_json_stays_the_default_report_and_shows_examples_and_warnings(
        tmp_path: Path) -> None:
    result = run(_hygiene_csv(tmp_path), "--no-check-mx", "--report", tmp_path / "r.json",
                 "-q")
    assert result.returncode == 1, result.stderr
    data = report(tmp_path / "r.json")
    assert data["rows"] == {"read": 8, "valid": 6, "invalid": 2, "unverified": 0}
    assert data["warnings"] == {"typo": 2, "role": 2, "disposable": 1, "duplicate": 1}
    repeat = next(r for r in data["topReasons"] if r["code"] == 1008)
    assert repeat["examples"] == [{"source": str(tmp_path / "hygiene.csv"), "line": 9}]


def test_an_html_report_when_dns_is_down_says_so(tmp_path: Path,
                                                 dnslib_server: ZoneServer) -> None:
    rows = [{"email": f"u{i}@{d}.dnstest.example", "campaign": {"campaignId": "pV3r"}}
            for i, d in enumerate(["nxdomain", "mx", "also-missing", "servfail"])]
    source = tmp_path / "mx.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = run_wide(source, "--dns-server", f"127.0.0.1:{dnslib_server.port}",
                      "--dns-timeout", "2", "-j", "1", "--report", tmp_path / "r.html")
    assert result.returncode == 1, result.stderr
    html = (tmp_path / "r.html").read_text(encoding="utf-8")
    # Two domains that do not exist are one reason, counted twice.
    assert "The domain name … does not exist." in html
    assert re.search(r'does not exist\.(?:(?!</td>).)*</td><td class="num">2<', html, re.S)
    assert 'id="dns-unknown"' in html and 'id="dns-looked-up">4<' in html
    terminal = result.stderr.decode()
    assert "The domain name … does not exist." in terminal


# --------------------------------------------------------------------------------------------
# Failures by reason in the terminal
# --------------------------------------------------------------------------------------------
def test_the_terminal_groups_by_reason_and_shows_every_code_total(tmp_path: Path) -> None:
    result = run_wide(SAMPLE, "--no-check-mx")
    assert result.returncode == 1
    table = result.stderr.decode()
    for code, total in [(1003, 31), (1006, 21), (1008, 9), (1005, 6), (1007, 3), (1000, 1)]:
        assert re.search(rf"│ {code} │ \(all\)\s+│ total\s+│\s+{total} │", table), code
    # campaign IDs of three spellings are one reason of 11 rows, with example lines.
    assert re.search(r"campaign\.campaignId\s+│ Expected a resource ID \(1 to 64 letters and "
                     r"digits\), got …\s+│\s+11 │ 50, 52, 137", table)
    # Warnings are counted beside the verdicts.
    warned = run_wide(_hygiene_csv(tmp_path), "--no-check-mx").stderr.decode()
    line = next(x for x in warned.splitlines() if x.startswith("warnings (never a verdict):"))
    assert sorted(line.partition(": ")[2].split(", ")) == \
        ["disposable 1", "duplicate 1", "role 2", "typo 2"]


# --------------------------------------------------------------------------------------------
# The annotated file
# --------------------------------------------------------------------------------------------
def test_annotated_csv_has_every_row_in_order_with_its_verdict(tmp_path: Path) -> None:
    out = tmp_path / "annotated.csv"
    result = run(SAMPLE, "--no-check-mx", "--annotated", out, "--rejects",
                 tmp_path / "bad.jsonl", "-q", "--chunk-size", "37", "-j", "2")
    assert result.returncode == 1, result.stderr
    rows = _annotated_csv(out)
    with SAMPLE.open(encoding="utf-8", newline="") as handle:
        header = next(csv.reader(handle))
    assert list(rows[0])[:2 + len(header)] == ["source", "line", *header]
    assert list(rows[0])[2 + len(header):] == ["status", "code", "failing_fields",
                                               "first_reason", "warnings"]
    lines = [int(r["line"]) for r in rows]
    assert lines == sorted(lines) and len(lines) == 400
    statuses = [r["status"] for r in rows]
    assert statuses.count("valid") == 329 and statuses.count("invalid") == 71
    rejects = {r["line"]: r for r in jsonl(tmp_path / "bad.jsonl")}
    for row in rows:
        reject = rejects.get(int(row["line"]))
        if reject is None:
            assert row["status"] == "valid" and row["code"] == "" and row["first_reason"] == ""
            continue
        error = reject["error"]
        assert row["code"] == str(error["code"])
        assert row["first_reason"] == error["context"][0]["errorDescription"]
        if isinstance(reject["row"], dict):
            assert row["email"] == reject["row"]["email"]
    first = rows[0]
    assert first["email"] == "soren.novak0@icloud.com" and first["scoring"] == "12,5"
    assert first["failing_fields"] == "scoring" and first["code"] == "1006"


def test_annotated_jsonl_lists_warnings_and_repeats(tmp_path: Path) -> None:
    out = tmp_path / "annotated.jsonl.gz"
    result = run(_hygiene_csv(tmp_path), "--no-check-mx", "--annotated", out, "-q")
    assert result.returncode == 1, result.stderr
    rows = [json.loads(line) for line in gzip.decompress(out.read_bytes()).splitlines()]
    by_line: dict[int, dict[str, Any]] = {r["line"]: r for r in rows}
    assert list(by_line) == list(range(2, 10))
    assert by_line[2]["status"] == "valid" and by_line[2]["warnings"] == ""
    assert by_line[3]["warnings"].startswith("role: info@")
    assert by_line[4]["warnings"] == "typo: gmaill.com looks like a typo of gmail.com"
    assert by_line[5]["warnings"].startswith("disposable: ")
    assert by_line[6]["status"] == "valid"
    assert "duplicate: reaches the same mailbox as the address on line 2" in \
        by_line[6]["warnings"]
    assert by_line[7]["warnings"] == ""
    assert by_line[8]["status"] == "invalid" and by_line[8]["code"] == 1006
    assert by_line[8]["failingFields"] == "scoring"
    assert "typo:" in by_line[8]["warnings"] and "role:" in by_line[8]["warnings"]
    assert by_line[9]["code"] == 1008 and by_line[9]["row"]["email"] == "jsmith@gmail.com"


def test_annotated_needs_a_known_suffix_and_writes_nothing_else(tmp_path: Path) -> None:
    result = run(SAMPLE, "--no-check-mx", "--annotated", tmp_path / "a.xlsx", "--rejects",
                 tmp_path / "bad.jsonl", "-q")
    assert result.returncode == 2
    assert b".csv, .jsonl or .ndjson" in result.stderr
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------------------------
# Hygiene warnings in a run
# --------------------------------------------------------------------------------------------
def test_warnings_never_change_a_verdict_or_a_body(tmp_path: Path) -> None:
    source = _hygiene_csv(tmp_path)
    outputs = {}
    for flag in ("--warnings", "--no-warnings"):
        folder = tmp_path / flag
        folder.mkdir()
        result = run(source, "--no-check-mx", flag, "--valid", folder / "ok.csv",
                     "--rejects", folder / "bad.jsonl", "--report", folder / "r.json", "-q")
        assert result.returncode == 1, result.stderr
        bodies = [{**r, "error": {**r["error"], "uuid": None}}
                  for r in jsonl(folder / "bad.jsonl")]
        outputs[flag] = ((folder / "ok.csv").read_bytes(), bodies,
                         report(folder / "r.json")["warnings"])
    assert outputs["--warnings"][:2] == outputs["--no-warnings"][:2]
    assert outputs["--warnings"][2] and outputs["--no-warnings"][2] == {}


def test_dedupe_normalised_makes_provider_duplicates_1008(tmp_path: Path) -> None:
    result = run(_hygiene_csv(tmp_path), "--no-check-mx", "--dedupe-normalised",
                 "--rejects", tmp_path / "bad.jsonl", "--report", tmp_path / "r.json", "-q")
    assert result.returncode == 1, result.stderr
    repeats = [r for r in jsonl(tmp_path / "bad.jsonl") if r["error"]["code"] == 1008]
    assert [r["line"] for r in repeats] == [6, 9]
    assert "(line 2)" in repeats[0]["error"]["context"][0]["errorDescription"]
    assert "duplicate" not in report(tmp_path / "r.json")["warnings"]


def test_annotated_rows_of_one_line_keep_their_order(tmp_path: Path) -> None:
    # A JSON array on one line: every row has line 1, so the order comes from the blocks.
    rows = [{"email": "a@gmaill.com", "campaign": {"campaignId": "pV3r"}}, {"email": "bad"},
            {"email": "info@example.com", "campaign": {"campaignId": "pV3r"}},
            {"email": "a@gmaill.com", "campaign": {"campaignId": "pV3r"}},
            {"email": "c@example.com", "campaign": {"campaignId": "pV3r"}}]
    source = tmp_path / "one-line.json"
    source.write_text(json.dumps(rows), encoding="utf-8")
    result = run(source, "--no-check-mx", "--annotated", tmp_path / "a.csv", "-q")
    assert result.returncode == 1, result.stderr
    annotated = _annotated_csv(tmp_path / "a.csv")
    assert [json.loads(r["row"]) for r in annotated] == rows
    assert [r["status"] for r in annotated] == ["valid", "invalid", "valid", "invalid", "valid"]
    assert [r["code"] for r in annotated] == ["", "1000", "", "1008", ""]
    assert [r["warnings"].partition(":")[0] for r in annotated] == \
        ["typo", "", "role", "typo", ""]


def test_annotated_parquet_has_typed_columns(tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet", reason="the parquet extra (pyarrow)")
    out = tmp_path / "annotated.parquet"
    result = run(_hygiene_csv(tmp_path), "--no-check-mx", "--annotated", out, "-q")
    assert result.returncode == 1, result.stderr
    table = pq.read_table(out)
    assert table.schema.names == ["source", "line", "email", "campaign.campaignId", "scoring",
                                  "status", "code", "failing_fields", "first_reason",
                                  "warnings"]
    assert str(table.schema.field("line").type) == "int64"
    rows = table.to_pylist()
    assert [r["line"] for r in rows] == list(range(2, 10))
    assert [r["code"] for r in rows] == [None] * 6 + [1006, 1008]
    assert rows[2]["warnings"] == "typo: gmaill.com looks like a typo of gmail.com"
    assert rows[6]["scoring"] == "high" and rows[6]["failing_fields"] == "scoring"
