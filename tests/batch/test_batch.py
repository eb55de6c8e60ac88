"""`validator check`: the real command, as a subprocess, on real files."""

from __future__ import annotations

import codecs
import gzip
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from dns_server import BlackHole, ZoneServer

REPO = Path(__file__).resolve().parents[2]


CHECK = [sys.executable, "-m", "validator", "check"]


def run(*args: str | Path, stdin: bytes | None = None, cwd: Path | None = None,
        timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*CHECK, *map(str, args)], input=stdin, capture_output=True,
                          cwd=cwd, timeout=timeout, check=False)


def jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def report(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    rows = data["rows"]
    assert rows["read"] == rows["valid"] + rows["invalid"] + rows["unverified"]
    return data


def contact(i: int, campaign: str = "pV3r", **extra: Any) -> dict[str, Any]:
    return {"email": f"user{i}@example{i % 7}.com", "campaign": {"campaignId": campaign}, **extra}


# --------------------------------------------------------------------------------------------
# CSV
# --------------------------------------------------------------------------------------------
def test_csv_quirks_are_read_and_bad_rows_rejected_not_lost(tmp_path: Path) -> None:
    text = (
        "email;name;campaign.campaignId;scoring;tags\r\n"
        "ann@example.com;Ann;pV3r;12;vip|b2b\r\n"                # 2 valid, two tags
        'bob@example.com;"Bob\r\nSmith";pV3r;;\r\n'             # 3-4 valid, quoted newline
        "cid@example.com;Cid;pV3r;high;\r\n"                    # 5 non-numeric scoring: 1006
        '"dan@example.com"x;Dan;pV3r;1;\r\n'                    # 6 bad quoting
        "eve@example.com;Eve;pV3r\r\n"                          # 7 wrong column count
        "\r\n"                                                  # 8 blank: not a row
        "fay@example.com;Fay;pV3r;2.5;vip|t@g\r\n"              # 9 bad tag id: 1003
    )
    source = tmp_path / "crm.csv"
    source.write_bytes(codecs.BOM_UTF8 + text.encode("utf-8"))
    result = run(source, "--no-check-mx", "--jobs", "1", "--valid", tmp_path / "ok.csv",
                 "--rejects", tmp_path / "bad.jsonl", "--report", tmp_path / "r.json",
                 cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    counts = report(tmp_path / "r.json")["rows"]
    assert counts == {"read": 6, "valid": 2, "invalid": 4, "unverified": 0}
    assert b"rows read 6 = valid 2 + invalid 4 + unverified 0" in result.stderr

    valid = (tmp_path / "ok.csv").read_bytes()
    assert valid.startswith(codecs.BOM_UTF8 + b"email;name;")
    assert b"ann@example.com;Ann;pV3r;12;vip|b2b\r\n" in valid
    assert b'bob@example.com;"Bob\r\nSmith";pV3r;;\r\n' in valid

    rejects = {r["line"]: r for r in jsonl(tmp_path / "bad.jsonl")}
    assert sorted(rejects) == [5, 6, 7, 9]
    assert all(r["source"] == str(source) for r in rejects.values())
    scoring = rejects[5]["error"]
    assert scoring["code"] == 1006
    assert scoring["context"][0]["fieldName"] == ["scoring"]
    assert scoring["context"][0]["originalValue"] == "high"
    assert rejects[5]["row"]["scoring"] == "high"
    for line in (6, 7):
        body = rejects[line]["error"]
        assert body["code"] == 1000 and body["httpStatus"] == 400
        assert body["context"][0]["fieldName"] == []
        assert body["context"][0]["errorDescription"].startswith("Malformed CSV record")
        assert isinstance(rejects[line]["row"], str)
    assert "3 fields, the header has 5" in rejects[7]["error"]["context"][0]["errorDescription"]
    tag = rejects[9]["error"]["context"][0]
    assert tag["fieldName"] == ["tags", 1, "tagId"] and tag["code"] == 1003
    assert list(rejects[9]["error"]) == ["httpStatus", "code", "codeDescription", "message",
                                         "moreInfo", "context", "uuid"]


def test_mapping_file_campaign_default_custom_fields_and_encoding(tmp_path: Path) -> None:
    text = ("E-mail Address,Full name,Labels,customFieldValues.kL6Nh,Internal\n"
            "zoé@exämple.com,Zoé Müller,vip,Gdynia|Sopot,x\n"
            "joe@example.com,Joe,,,y\n")
    source = tmp_path / "export.csv"
    source.write_bytes(text.encode("cp1252"))
    mapping = tmp_path / "map.json"
    mapping.write_text(json.dumps({"E-mail Address": "email", "Full name": "name",
                                   "Labels": "tags", "Internal": None}))
    result = run(source, "--no-check-mx", "-j", "1", "--mapping", mapping, "--campaign-id",
                 "Xa91", "--value-separator", "|", "--rejects", tmp_path / "bad.jsonl",
                 "--report", tmp_path / "r.json", "-q")
    assert result.returncode == 0, (result.stderr, (tmp_path / "bad.jsonl").read_text())
    assert report(tmp_path / "r.json")["rows"]["valid"] == 2


def test_custom_field_values_are_built_from_columns(tmp_path: Path) -> None:
    source = tmp_path / "c.tsv"
    # --delimiter given as backslash-t means a tab; a comma inside a cell is then just text.
    source.write_text("email\tcampaign.campaignId\tcustomFieldValues.kL6Nh\tscoring\n"
                      "a@example.com\tpV3r\tred, dark|green\t1e2\n"
                      "b@example.com\tpV3r\tblue\tNaN\n", encoding="utf-8")
    result = run(source, "--no-check-mx", "-j", "1", "--delimiter", "\\t", "--rejects",
                 tmp_path / "bad.jsonl", "-q")
    assert result.returncode == 1
    (reject,) = jsonl(tmp_path / "bad.jsonl")
    assert reject["line"] == 3
    assert [c["fieldName"] for c in reject["error"]["context"]] == [["scoring"]]


def test_undecodable_bytes_reject_their_row_only(tmp_path: Path) -> None:
    source = tmp_path / "mixed.csv"
    lines = [b"email,campaign.campaignId"] + [f"u{i}@example.com,pV3r".encode() for i in range(3)]
    lines[2] = b"caf\xe9@example.com,pV3r"
    source.write_bytes(b"\n".join(lines) + b"\n")
    result = run(source, "--no-check-mx", "-j", "1", "--encoding", "utf-8", "--rejects",
                 tmp_path / "bad.jsonl", "--report", tmp_path / "r.json", "-q")
    assert result.returncode == 1
    (reject,) = jsonl(tmp_path / "bad.jsonl")
    assert reject["line"] == 3 and "not valid" in reject["error"]["message"]
    assert report(tmp_path / "r.json")["rows"] == {"read": 3, "valid": 2, "invalid": 1,
                                                   "unverified": 0}


# --------------------------------------------------------------------------------------------
# JSON Lines, JSON arrays, gzip, stdin
# --------------------------------------------------------------------------------------------
def test_jsonl_with_a_bad_line(tmp_path: Path) -> None:
    source = tmp_path / "dump.jsonl"
    source.write_text("\n".join([json.dumps(contact(1)), '{"email": "a@b.com",', "",
                                 json.dumps(contact(2, scoring="9")), "[1, 2]"]) + "\n")
    result = run(source, "--no-check-mx", "-j", "1", "--valid", tmp_path / "ok.jsonl",
                 "--rejects", tmp_path / "bad.jsonl", "--report", tmp_path / "r.json", "-q")
    assert result.returncode == 1
    assert result.stderr == b""
    assert report(tmp_path / "r.json")["rows"] == {"read": 4, "valid": 1, "invalid": 3,
                                                   "unverified": 0}
    assert jsonl(tmp_path / "ok.jsonl") == [contact(1)]
    rejects = jsonl(tmp_path / "bad.jsonl")
    assert [r["line"] for r in rejects] == [2, 4, 5]
    assert rejects[0]["row"] == '{"email": "a@b.com",'
    assert rejects[0]["error"]["code"] == 1000
    assert rejects[0]["error"]["context"][0]["fieldName"] == []
    assert rejects[1]["error"]["code"] == 1006
    assert rejects[2]["error"]["code"] == 1006 and rejects[2]["row"] == [1, 2]


def test_json_array_gzip_from_stdin_keeps_its_format(tmp_path: Path) -> None:
    items = [contact(1), contact(2, scoring=1.5), {"email": "x"}, contact(3)]
    text = "[\n" + ",\n".join("  " + json.dumps(i) for i in items) + "\n]\n"
    result = run("-", "--no-check-mx", "-j", "1", "--valid", tmp_path / "ok.json.gz",
                 "--rejects", tmp_path / "bad.jsonl", "-q",
                 stdin=gzip.compress(text.encode()))
    assert result.returncode == 1, result.stderr
    valid = json.loads(gzip.decompress((tmp_path / "ok.json.gz").read_bytes()))
    assert valid == [contact(1), contact(2, scoring=1.5), contact(3)]
    (reject,) = jsonl(tmp_path / "bad.jsonl")
    assert reject["source"] == "<stdin>" and reject["line"] == 4
    assert {c["fieldName"][0] for c in reject["error"]["context"]} == {"email", "campaign"}


def test_broken_json_array_is_a_rejected_row_and_exit_2(tmp_path: Path) -> None:
    source = tmp_path / "a.json"
    source.write_text('[\n{"email": "a@example.com", "campaign": {"campaignId": "pV3r"}},\n'
                      '{"email": tru},\n{"email": "c@example.com"}\n]')
    result = run(source, "--no-check-mx", "-j", "1", "--valid", tmp_path / "ok.json",
                 "--rejects", tmp_path / "bad.jsonl", "--report", tmp_path / "r.json", "-q")
    assert result.returncode == 2
    assert b"breaks off at line 3" in result.stderr
    assert report(tmp_path / "r.json")["rows"] == {"read": 2, "valid": 1, "invalid": 1,
                                                   "unverified": 0}
    (reject,) = jsonl(tmp_path / "bad.jsonl")
    assert reject["line"] == 3 and reject["error"]["code"] == 1000


# --------------------------------------------------------------------------------------------
# Exit codes and arguments
# --------------------------------------------------------------------------------------------
def test_exit_0_when_all_valid_and_2_for_unusable_arguments(tmp_path: Path) -> None:
    source = tmp_path / "ok.jsonl"
    source.write_text("".join(json.dumps(contact(i)) + "\n" for i in range(5)))
    suppress = tmp_path / "s.txt"
    suppress.write_text("not-an-address\n")
    runs: list[tuple[str | Path, ...]] = [
        (source, "--no-check-mx", "-j", "1"),
        (source, "--no-check-mx", "-j", "1", "--quiet"),
        (tmp_path / "missing.csv", "--no-check-mx", "-j", "1"),
        (source, "--schema", "no.such.schema", "--no-check-mx"),
        (source, "--jobs", "0"),
        (source, "--valid", tmp_path / "x.csv", "--rejects", tmp_path / "x.csv"),
        (source, "--valid", source),
        (source, "--suppress", suppress, "--no-check-mx"),
    ]
    # Started together: each costs mostly the interpreter's start-up.
    processes = [subprocess.Popen([*CHECK, *map(str, args)], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE) for args in runs]
    results = []
    for process in processes:
        out, err = process.communicate(timeout=60)
        results.append((process.returncode, out, err))
    (ok, _, ok_err), (quiet, quiet_out, quiet_err), *refused = results
    assert ok == 0, ok_err
    assert b"rows read 5 = valid 5 + invalid 0 + unverified 0" in ok_err
    assert (quiet, quiet_out, quiet_err) == (0, b"", b"")
    assert [code for code, _, _ in refused] == [2] * len(refused), refused
    # Nothing was written for the refused runs.
    assert not (tmp_path / "x.csv").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]


# --------------------------------------------------------------------------------------------
# Whole-run checks: 1008, suppression
# --------------------------------------------------------------------------------------------
def test_repeat_of_an_email_in_a_campaign_is_1008(tmp_path: Path) -> None:
    rows = [contact(1), contact(2), {**contact(1), "email": "USER1@example1.com"},
            contact(1, campaign="Xa91"), {**contact(3), "scoring": "x"}, contact(3)]
    source = tmp_path / "d.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = run(source, "--no-check-mx", "-j", "1", "--rejects", tmp_path / "bad.jsonl",
                 "--report", tmp_path / "r.json", "-q")
    assert result.returncode == 1
    rejects = jsonl(tmp_path / "bad.jsonl")
    # Line 6 repeats line 5, which the API would refuse anyway: no 1008 there.
    assert [r["line"] for r in rejects] == [3, 5]
    duplicate = rejects[0]["error"]
    assert (duplicate["code"], duplicate["httpStatus"]) == (1008, 409)
    assert "line 1" in duplicate["context"][0]["errorDescription"]
    assert report(tmp_path / "r.json")["byCode"] == {"1006": 1, "1008": 1}

    no_dedupe = run(source, "--no-check-mx", "-j", "1", "--no-dedupe", "--rejects",
                    tmp_path / "bad2.jsonl", "-q")
    assert no_dedupe.returncode == 1
    assert [r["line"] for r in jsonl(tmp_path / "bad2.jsonl")] == [5]


def test_suppression_list_gives_1002(tmp_path: Path) -> None:
    suppress = tmp_path / "suppress.txt"
    suppress.write_text("# unsubscribed\nuser1@example1.com\n@EXAMPLE2.com\n")
    source = tmp_path / "s.jsonl"
    source.write_text("".join(json.dumps(contact(i)) + "\n" for i in range(4))
                      + json.dumps({**contact(9), "email": "x@example2.com", "scoring": "a"})
                      + "\n")
    result = run(source, "--no-check-mx", "-j", "1", "--suppress", suppress, "--rejects",
                 tmp_path / "bad.jsonl", "-q")
    assert result.returncode == 1
    rejects = jsonl(tmp_path / "bad.jsonl")
    assert [r["line"] for r in rejects] == [2, 3, 5]
    assert rejects[0]["error"]["code"] == 1002
    assert "user1@example1.com" in rejects[0]["error"]["context"][0]["errorDescription"]
    assert "@example2.com" in rejects[1]["error"]["context"][0]["errorDescription"]
    mixed = rejects[2]["error"]
    assert mixed["code"] == 1000
    assert [(c["fieldName"], c["code"]) for c in mixed["context"]] == [
        (["email"], 1002), (["scoring"], 1006)]


# --------------------------------------------------------------------------------------------
# MX checks against the local DNS server
# --------------------------------------------------------------------------------------------
def test_mx_on_undeliverable_invalid_and_dns_failure_unverified(
        tmp_path: Path, dnslib_server: ZoneServer) -> None:
    domains = ["mx", "null-mx", "servfail", "a-only", "mx", "mx"]
    rows = [{"email": f"u{i}@{d}.dnstest.example", "campaign": {"campaignId": "pV3r"}}
            for i, d in enumerate(domains)]
    source = tmp_path / "mx.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = run(source, "--dns-server", f"127.0.0.1:{dnslib_server.port}", "--dns-timeout",
                 "2", "-j", "2", "--chunk-size", "2", "--rejects", tmp_path / "bad.jsonl",
                 "--unverified", tmp_path / "unv.jsonl", "--report", tmp_path / "r.json")
    assert result.returncode == 1, result.stderr
    data = report(tmp_path / "r.json")
    assert data["rows"] == {"read": 6, "valid": 4, "invalid": 1, "unverified": 1}
    assert data["dns"]["domainsLookedUp"] == 4
    (bad,) = jsonl(tmp_path / "bad.jsonl")
    assert bad["line"] == 2 and bad["error"]["code"] == 1002
    (unverified,) = jsonl(tmp_path / "unv.jsonl")
    assert unverified["line"] == 3 and unverified["error"]["code"] == 1010


def test_dns_outage_makes_rows_unverified_and_says_so_once(
        tmp_path: Path, black_hole: BlackHole) -> None:
    source = tmp_path / "o.jsonl"
    source.write_text("".join(
        json.dumps({"email": f"u{i}@d{i % 3}.dnstest.example", "campaign": {"campaignId": "pV3r"}})
        + "\n" for i in range(30)))
    result = run(source, "--dns-server", f"127.0.0.1:{black_hole.port}", "--dns-timeout",
                 "0.3", "-j", "1", "--unverified", tmp_path / "unv.jsonl")
    assert result.returncode == 0, result.stderr
    assert len(jsonl(tmp_path / "unv.jsonl")) == 30
    assert result.stderr.count(b"could not be checked") == 1
    assert b"unverified 30" in result.stderr


# --------------------------------------------------------------------------------------------
# All cores, big files, interruption
# --------------------------------------------------------------------------------------------
def _big_csv(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8") as out:
        out.write("email,name,campaign.campaignId,scoring\n")
        for i in range(rows):
            if i % 97 == 0:
                out.write(f"user{i}.example.com,Name {i},pV3r,{i % 100}\n")
            elif i % 89 == 0:
                out.write(f"user{i}@example{i % 50}.com,Name {i},pV3r,n/a\n")
            else:
                out.write(f"user{i}@example{i % 50}.com,Name {i},pV3r,{i % 100}\n")


def test_jobs_give_the_same_outputs_in_the_same_order(tmp_path: Path) -> None:
    source = tmp_path / "big.csv"
    _big_csv(source, 12_000)
    outputs = {}
    for jobs in ("1", "2"):
        result = run(source, "--no-check-mx", "--jobs", jobs, "--chunk-size", "500",
                     "--valid", tmp_path / f"ok{jobs}.csv", "--rejects",
                     tmp_path / f"bad{jobs}.jsonl", "--report", tmp_path / f"r{jobs}.json",
                     "-q")
        assert result.returncode == 1, result.stderr
        rejects = jsonl(tmp_path / f"bad{jobs}.jsonl")
        outputs[jobs] = ((tmp_path / f"ok{jobs}.csv").read_bytes(),
                         [(r["line"], r["error"]["code"]) for r in rejects],
                         report(tmp_path / f"r{jobs}.json")["rows"])
    assert outputs["1"] == outputs["2"]
    expected_invalid = sum(1 for i in range(12_000) if i % 97 == 0 or i % 89 == 0)
    assert outputs["1"][2] == {"read": 12_000, "valid": 12_000 - expected_invalid,
                               "invalid": expected_invalid, "unverified": 0}


@pytest.fixture(scope="module")
def big_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("big") / "big.csv"
    _big_csv(path, 400_000)
    return path


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_interrupted_run_leaves_no_file_under_a_final_name(tmp_path: Path, big_csv: Path,
                                                           sig: int) -> None:
    source = big_csv
    finals = [tmp_path / "ok.csv", tmp_path / "bad.jsonl", tmp_path / "r.json"]
    process = subprocess.Popen(
        [*CHECK, str(source), "--no-check-mx", "--jobs", "2", "--valid", str(finals[0]),
         "--rejects", str(finals[1]), "--report", str(finals[2]), "-q"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 30
    # Wait until the run is writing: a partial output has data in it.
    while time.monotonic() < deadline:
        partial = [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]
        if any(p.stat().st_size > 0 for p in partial):
            break
        assert process.poll() is None, process.stderr.read() if process.stderr else b""
        time.sleep(0.05)
    else:
        pytest.fail("the run never started writing")
    # SIGKILL to the whole group (nothing can clean up); SIGTERM to the command alone, as a
    # service manager sends it, and the command stops its workers itself.
    if sig == signal.SIGKILL:
        os.killpg(process.pid, sig)
    else:
        os.kill(process.pid, sig)
    process.wait(timeout=20)
    assert process.poll() is not None
    for final in finals:
        assert not final.exists(), final
    if sig == signal.SIGTERM:
        assert process.returncode == 130
        # A catchable interruption also removes the partial files.
        assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]
    if process.stderr is not None:
        process.stderr.close()


# --------------------------------------------------------------------------------------------
# The bundled sample
# --------------------------------------------------------------------------------------------
def test_bundled_sample_has_the_known_mix(tmp_path: Path) -> None:
    sample = REPO / "samples" / "contacts.csv"
    expected = json.loads((REPO / "samples" / "contacts.expected.json").read_text())
    result = run(sample, "--no-check-mx", "-j", "1", "--report", tmp_path / "r.json")
    assert result.returncode == 1
    rows = report(tmp_path / "r.json")["rows"]
    # Without MX checks the undeliverable domains pass; every other fault is refused.
    assert rows["read"] == sum(expected.values())
    assert rows["valid"] == expected["valid"] + expected.get("undeliverable", 0)
    assert rows["invalid"] == rows["read"] - rows["valid"]


def test_several_inputs_share_one_run(tmp_path: Path) -> None:
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    first.write_text(json.dumps(contact(1)) + "\n" + json.dumps(contact(2)) + "\n")
    second.write_text(json.dumps(contact(3)) + "\n" + json.dumps(contact(1)) + "\n")
    as_csv = tmp_path / "c.csv"
    as_csv.write_text("email,campaign.campaignId\nuser9@example.com,pV3r\n")
    result = run(first, second, "--no-check-mx", "-j", "1", "--valid", tmp_path / "ok.jsonl",
                 "--rejects", tmp_path / "bad.jsonl", "--report", tmp_path / "r.json", "-q")
    assert result.returncode == 1
    assert jsonl(tmp_path / "ok.jsonl") == [contact(1), contact(2), contact(3)]
    (repeat,) = jsonl(tmp_path / "bad.jsonl")
    assert (repeat["source"], repeat["line"]) == (str(second), 2)
    assert f"line 1 of {first}" in repeat["error"]["context"][0]["errorDescription"]
    assert report(tmp_path / "r.json")["files"][str(second)] == {
        "read": 2, "valid": 1, "invalid": 1, "unverified": 0}
    # One --valid file cannot hold rows of two formats: refused, and nothing is written.
    mixed = run(first, as_csv, "--no-check-mx", "-j", "1", "--valid", tmp_path / "mixed.jsonl")
    assert mixed.returncode == 2 and b"one format" in mixed.stderr
    assert not (tmp_path / "mixed.jsonl").exists()


# --------------------------------------------------------------------------------------------
# Blocks: the reading process cuts the input into byte blocks at record boundaries
# --------------------------------------------------------------------------------------------
def _tricky_csv() -> bytes:
    rows = ["email,name,campaign.campaignId,scoring,tags"]
    for i in range(60):
        if i % 7 == 0:
            # A quoted field holding newlines (LF and CRLF) and escaped quotes.
            rows.append(f'u{i}@example.com,"Ann\nSays ""hi""\r\nagain",pV3r,{i},vip')
        elif i % 11 == 0:
            rows.append(f'"u{i}@example.com"x,Bad,pV3r,1,')   # bad quoting
        elif i % 13 == 0:
            rows.append(f"u{i}@example.com,Short")              # wrong column count
        elif i % 17 == 0:
            rows.append("")                                      # blank: not a row
        elif i % 5 == 0:
            rows.append(f"u{i - 1}@example.com,Repeat,pV3r,1,")  # 1008 of the row before
        else:
            rows.append(f'u{i}@example.com,"Name, {i}",pV3r,{i},a|b')
    # A stray quote in an unquoted field is text to the CSV reader, and makes the quote
    # count odd for the cutter from here on: the rest is one block, the outputs the same.
    rows += ['u98@example.com,Tom 6" tall,pV3r,1,', "u99@example.com,Last,pV3r,2,"]
    return ("\r\n".join(rows) + "\r\n").encode()


def _outputs(tmp_path: Path, source: Path, tag: str, *args: str,
             env: dict[str, str] | None = None) -> tuple[bytes, list[Any], dict[str, Any]]:
    ok, bad, rep = (tmp_path / f"ok{tag}{source.suffix}", tmp_path / f"bad{tag}.jsonl",
                    tmp_path / f"r{tag}.json")
    result = subprocess.run(
        [*CHECK, str(source), "--no-check-mx", "--valid", str(ok), "--rejects", str(bad),
         "--report", str(rep), "-q", *args], capture_output=True, timeout=60, check=False,
        env={**os.environ, **(env or {})})
    assert result.returncode == 1, result.stderr
    rejects = [(r["line"], r["row"], r["error"]["code"],
                [c["errorDescription"] for c in r["error"]["context"]]) for r in jsonl(bad)]
    data = report(rep)
    return ok.read_bytes(), rejects, {k: data[k] for k in ("rows", "byCode", "byField",
                                                           "topReasons", "files")}


@pytest.mark.parametrize("block_bytes", ["1", "37", "200"])
def test_csv_records_straddling_block_boundaries(tmp_path: Path, block_bytes: str) -> None:
    source = tmp_path / "tricky.csv"
    source.write_bytes(_tricky_csv())
    expected = _outputs(tmp_path, source, "one", "-j", "1")
    valid, rejects, counts = expected
    assert b'"Ann\nSays ""hi""\r\nagain"' in valid
    assert {code for _, _, code, _ in rejects} == {1000, 1008}
    assert counts["rows"]["read"] == 62 - 3  # three blank lines
    for jobs in ("1", "2"):
        got = _outputs(tmp_path, source, f"{jobs}-{block_bytes}", "-j", jobs,
                       env={"VALIDATOR_BLOCK_BYTES": block_bytes})
        assert got == expected


def test_jsonl_block_boundaries_and_repeats_across_blocks(tmp_path: Path) -> None:
    source = tmp_path / "many.jsonl"
    lines = []
    for i in range(300):
        if i % 29 == 0:
            lines.append('{"email": "broken",')
        elif i % 31 == 0:
            lines.append("")
        elif i % 10 == 3:
            lines.append(json.dumps(contact(i - 2)))  # 1008, often in an earlier block
        else:
            lines.append(json.dumps(contact(i, name=f"Zoë {i}")))
    source.write_bytes(codecs.BOM_UTF8 + ("\r\n".join(lines) + "\r\n").encode())
    expected = _outputs(tmp_path, source, "one", "-j", "1")
    repeats = [i for i in range(300) if i % 10 == 3 and i % 29 and i % 31
               and (i - 2) % 29 and (i - 2) % 31]
    assert expected[2]["byCode"]["1008"] == len(repeats) > 20
    assert expected[0].startswith(b'{"email": "user1@')
    for block_bytes in ("1", "500"):
        got = _outputs(tmp_path, source, block_bytes, "-j", "2", "--chunk-size", "7",
                       env={"VALIDATOR_BLOCK_BYTES": block_bytes})
        assert got == expected


def test_check_block_is_a_pure_function_of_picklable_arguments(tmp_path: Path) -> None:
    """What a distributed engine needs: blocks and their spec pickle, ``check_block`` maps
    over them anywhere, and folding the results in order gives the run's rows."""
    import pickle

    from validator.batch import Block, RunConfig, block_spec, byte_blocks, check_block, open_source

    path = tmp_path / "tricky.csv"
    path.write_bytes(_tricky_csv())
    config = RunConfig(inputs=[str(path)])
    source = open_source(str(path))
    try:
        spec = block_spec(config, source)
        blocks = [Block(line, data) for line, data in byte_blocks(source, 64)]
    finally:
        source.close()
    assert len(blocks) > 5
    verdicts: dict[str, Any] = {}
    arguments = ("contacts.create", config.options, config.batch, verdicts)
    results = [pickle.loads(pickle.dumps(check_block(
        *pickle.loads(pickle.dumps((block, spec, *arguments)))))) for block in blocks]
    again = [check_block(block, spec, *arguments) for block in blocks]
    assert [(r.valid, r.valid_lines, r.valid_keys, r.reject_lines) for r in results] == [
        (r.valid, r.valid_lines, r.valid_keys, r.reject_lines) for r in again]
    whole = check_block(Block(2, b"".join(b.data for b in blocks)), spec, *arguments)
    assert b"".join(r.valid for r in results) == whole.valid
    assert [n for r in results for n in r.reject_lines] == list(whole.reject_lines)
    assert sum(r.rows for r in results) == whole.rows


def test_compiled_csv_plan_matches_the_plain_one() -> None:
    from validator import default_registry
    from validator.batch._plan import build_plan
    from validator.rules import SchemaView

    registry = default_registry()
    document, base_uri = registry.get("contacts.create")
    view = SchemaView(document, base_uri, registry.resources())
    header = ["email", "customFieldValues.a1", "campaign.campaignId", "tags", "scoring",
              "customFieldValues", "campaign", "customFieldValues.b2", "dayOfCycle", "x.y.z"]
    plan = build_plan(header, view, {}, "|", ";")
    samples = [
        ["a@b.com", "red;blue", "pV3r", "t1|t2", "12", "", "", "x", "3", "deep"],
        ["", "", "", "", "", "", "", "", "", ""],
        ["a@b.com", " one ", "", "|", "1.5e3", "oops", "pV3r", "", "x", ""],
        ["a@b.com", "", "Xa91", "only", "null", "", "text", "y;", "", "z"],
    ]
    for _ in range(2):  # the second time, converted cells come from the column's cache
        for cells in samples:
            assert plan.compiled()(cells) == plan.payload_slow(cells)
            assert list(plan.compiled()(cells)) == list(plan.payload_slow(cells))


def test_inputs_read_record_by_record_still_go_through_blocks(tmp_path: Path) -> None:
    """UTF-16 CSV (not cut as bytes) and JSON arrays: records are read here and sent to the
    workers in blocks; repeats across blocks are still 1008."""
    text = ("email,name,campaign.campaignId\n"
            'zoé@example.com,"Zoé\nM.",pV3r\n'
            "bob@example.com,Bob,pV3r\n"
            "ZOÉ@example.com,Again,pV3r\n")
    utf16 = tmp_path / "u16.csv"
    utf16.write_bytes(text.encode("utf-16"))
    items = [contact(1), contact(2), contact(1), {"email": "x"}]
    array_file = tmp_path / "a.json"
    array_file.write_text("[\n" + ",\n".join(json.dumps(i) for i in items) + "\n]\n")
    for source, valid_rows, line in ((utf16, 2, 5), (array_file, 2, 4)):
        for jobs in ("1", "2"):
            ok = tmp_path / f"ok{jobs}{source.suffix}"
            bad = tmp_path / f"bad{jobs}.jsonl"
            result = run(source, "--no-check-mx", "-j", jobs, "--chunk-size", "1", "--valid",
                         ok, "--rejects", bad, "--report", tmp_path / "r.json", "-q")
            assert result.returncode == 1, result.stderr
            assert report(tmp_path / "r.json")["rows"]["valid"] == valid_rows
            codes = {r["line"]: r["error"]["code"] for r in jsonl(bad)}
            assert codes[line] == 1008
        if source is utf16:
            assert ok.read_text(encoding="utf-8") == ("email,name,campaign.campaignId\n"
                                                      'zoé@example.com,"Zoé\nM.",pV3r\n'
                                                      "bob@example.com,Bob,pV3r\n")
        else:
            assert json.loads(ok.read_text()) == [contact(1), contact(2)]


def test_truncated_gzip_keeps_the_rows_before_the_break(tmp_path: Path) -> None:
    source = tmp_path / "cut.csv.gz"
    _big_csv(tmp_path / "whole.csv", 20_000)
    packed = gzip.compress((tmp_path / "whole.csv").read_bytes())
    source.write_bytes(packed[: len(packed) // 2])
    result = run(source, "--no-check-mx", "-j", "2", "--chunk-size", "1000", "--valid",
                 tmp_path / "ok.csv", "--rejects", tmp_path / "bad.jsonl", "--report",
                 tmp_path / "r.json", "-q")
    assert result.returncode == 2, result.stderr
    assert b"cannot read" in result.stderr
    rows = report(tmp_path / "r.json")["rows"]
    assert 1000 < rows["read"] < 20_000
    valid = (tmp_path / "ok.csv").read_bytes()
    assert valid.count(b"\n") - 1 == rows["valid"]
    # No row is made of a line the break cut short: every row read was a whole line.
    whole = set((tmp_path / "whole.csv").read_bytes().split(b"\n"))
    assert all(line in whole for line in valid.split(b"\n"))
    bad = jsonl(tmp_path / "bad.jsonl")
    assert all(r["error"]["code"] != 1000 for r in bad)


# --------------------------------------------------------------------------------------------
# Input formats: one reader each, in one table
# --------------------------------------------------------------------------------------------
def test_every_format_is_a_reader_in_the_table_and_nowhere_else() -> None:
    import ast

    from validator.batch import FORMATS, READERS

    assert FORMATS == tuple(READERS) == ("csv", "jsonl", "json", "parquet")
    for name, reader in READERS.items():
        assert reader.name == name
    # Outside the readers' module, no code names a format: it asks the source's reader.
    package = REPO / "validator"
    for path in [*sorted((package / "batch").glob("*.py")), package / "cli" / "_check.py"]:
        if path.name == "_readers.py":
            continue
        named = [node.value for node in ast.walk(ast.parse(path.read_text()))
                 if isinstance(node, ast.Constant) and node.value in READERS]
        assert named == [], f"{path.name} names formats {named}"


class _PairsReader:
    """A format for this test only: ``EMAIL CAMPAIGN`` a line, after a ``#pairs`` line."""

    name = "pairs"
    tabular = False

    def sniff(self, sample: bytes) -> int:
        return 3 if sample.startswith(b"#pairs\n") else 0

    def open(self, source: Any, stream: Any, sample: bytes, *, delimiter: str | None,
             encoding: str | None) -> None:
        stream.readline()
        source.cut_into_blocks(stream, self, 2, sample)

    def cut(self, buf: bytes, target: int) -> int:
        return buf.find(b"\n", target - 1) + 1

    def count_lines(self, data: bytes) -> int:
        return data.count(b"\n")

    def parse(self, data: bytes, first_line: int, dialect: Any, lines: list[int],
              raws: list[Any], rows: list[Any]) -> None:
        from validator.batch import Malformed

        for number, line in enumerate(data.decode().splitlines(), first_line):
            lines.append(number)
            raws.append(line)
            email, _, campaign = line.partition(" ")
            rows.append({"email": email, "campaign": {"campaignId": campaign}} if campaign
                        else Malformed("Malformed pair: no campaign", line))

    def valid_bytes(self, raw: Any, newline: str) -> bytes:
        return f"{raw}\n".encode()

    def newline(self, dialect: Any) -> str:
        return "\n"

    def start_output(self, out: Any, dialect: Any) -> None:
        out.write(b"#pairs\n")

    def mismatch(self, name: str, dialect: Any, first: Any) -> str | None:
        return None

    def write_rows(self, out: Any, data: bytes, ends: Any, written: int) -> None:
        out.write(data)

    def end_output(self, out: Any, written: int) -> None:
        out.write(f"#{written} pairs\n".encode())


def test_a_reader_registered_in_the_table_is_sniffed_read_and_written_back(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from validator import ValidationOptions
    from validator.batch import READERS, BatchOptions, BlockReader, RunConfig, run

    reader: BlockReader = _PairsReader()
    monkeypatch.setitem(READERS, "pairs", reader)
    monkeypatch.setenv("VALIDATOR_BLOCK_BYTES", "10")  # a block a line or so
    source = tmp_path / "list.txt"
    source.write_text("#pairs\nann@example.com pV3r\nbob@example pV3r\nnothing\n"
                      "ANN@example.com pV3r\ncid@example.com pV3r\n")
    config = RunConfig(inputs=[str(source)], options=ValidationOptions(),
                       batch=BatchOptions(), valid_path=str(tmp_path / "ok.txt"),
                       rejects_path=str(tmp_path / "bad.jsonl"))
    summary = run(config)
    assert (summary.rows_read, summary.valid, summary.invalid) == (5, 2, 3)
    assert (tmp_path / "ok.txt").read_text() == ("#pairs\nann@example.com pV3r\n"
                                                 "cid@example.com pV3r\n#2 pairs\n")
    rejects = {r["line"]: r for r in jsonl(tmp_path / "bad.jsonl")}
    assert sorted(rejects) == [3, 4, 5]
    assert rejects[3]["error"]["context"][0]["fieldName"] == ["email"]
    assert rejects[4]["row"] == "nothing" and rejects[4]["error"]["code"] == 1000
    # The repeat's body is built from the row re-read through the reader.
    assert rejects[5]["error"]["code"] == 1008
    assert rejects[5]["row"] == {"email": "ANN@example.com", "campaign": {"campaignId": "pV3r"}}
    assert "line 2" in rejects[5]["error"]["context"][0]["errorDescription"]
