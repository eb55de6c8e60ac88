"""The columnar way is held to the row path, the reference: the same --valid bytes, the same
rejects (but their uuid), the same unverified rows and report counts, on randomised files that
hold every kind of fault, in one block or many, with one or two jobs. And the generated
precheck keeps its promise: precheck-valid rows are engine-valid, for every shipped schema."""

from __future__ import annotations

import codecs
import csv
import io
import json
import random
import re
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from dns_server import ZoneServer

from validator import DNSOptions, ValidationOptions, Validator
from validator._registry import default_registry
from validator.batch import BatchOptions, RunConfig, run
from validator.batch._plan import build_plan
from validator.batch._precheck import build_precheck, cell
from validator.rules import SchemaView, is_query_schema

HEADER = ["email", "name", "campaign.campaignId", "scoring", "tags", "customFieldValues.kL6Nh",
          "ipAddress", "dayOfCycle", "note"]
_NAMES = ["Ann", "Zoë Brontë", "Søren Novák", "李雷", "José, Jr.", 'Tom "T" Lee', "  padded ",
          "Ann\nMulti-line", "🙂 Emoji", "\u00a0", "x" * 130, "Ωmega\r\nCRLF inside", ""]
_EMAILS = ["u{i}@example.com", "U{i}@Example.COM", "u{i}@gmail.com", " u{i}@example.com",
           "u{i}@@example.com", "u{i}@localhost", "u{i}@exa--mple.com", "ü{i}@bücher.de",
           "u{i}@test", "u{i}", "\ufeffu{i}@example.com", ""]
_IPS = ["", "", "1.2.3.4", "256.1.1.1", "::1", "2001:db8::8a2e:370:7334", "fe80::1%eth0",
        "::ffff:1.2.3.4", "1:2:3:4:5:6:7:8:9", "1.2.3"]
_SCORES = ["", "1", "-0", "12.5", "1e3", "abc", " 7 ", "null", "99999999999999999999"]
_TAGS = ["", "vip", "a|b", "a||b", " a | b", "bad tag", "x" * 70, "|", "ok1|ok2|ok3"]
_CUSTOM = ["", "Berlin", "18-35|36-50", " spaced ", "|", "Zürich"]
_WARNED = ["u.{i}@gmail.com", "u{i}@gmail.com", "U{i}+news@GMail.com", "info@example.com",
           "sales+{i}@example.com", "u{i}@mailinator.com", "u{i}@gmaill.com", "İnfo@example.com",
           "dot.ted@gmail.com", "dotted@gmail.com", "Dotted+x@gmail.com", "D.otted@GoogleMail.com",
           "Info+{i}@gmial.com", "+x@gmail.com"]
_CAMPAIGNS = ["pV3r", "pV3r", "kL6Nh", "", "bad id", "x" * 65]


def _random_csv(seed: int, rows: int, crlf: bool, bom: bool) -> bytes:
    rnd = random.Random(seed)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n" if crlf else "\n")
    writer.writerow(HEADER)
    lines = [out.getvalue()]
    for i in range(rows):
        out.seek(0)
        out.truncate()
        email = rnd.choice(_EMAILS).format(i=i if rnd.random() > 0.1 else rnd.randrange(i + 1))
        row = [email, rnd.choice(_NAMES), rnd.choice(_CAMPAIGNS), rnd.choice(_SCORES),
               rnd.choice(_TAGS), rnd.choice(_CUSTOM), rnd.choice(_IPS),
               rnd.choice(["", "3", "x"]), rnd.choice(["", "plain", "a,b", '"q"'])]
        if rnd.random() < 0.5:  # most rows are clean: the columnar way must see them too
            repeat = rnd.randrange(i + 1) if rnd.random() < 0.1 else i  # 1008s across blocks
            # (Some with list-hygiene warnings, which the columnar way notes as the row path.)
            address = rnd.choice([f"u{repeat}@example.com"] * 6 + _WARNED).format(i=repeat)
            row = [address, "Ann", "pV3r", "5", "vip", "Berlin",
                   rnd.choice(["1.2.3.4", "2001:db8::1", ""]), "", ""]
        writer.writerow(row)
        line = out.getvalue()
        fault = rnd.random()
        if fault < 0.03:
            line = line.rstrip("\r\n").rpartition(",")[0] + ("\r\n" if crlf else "\n")
        elif fault < 0.05:
            line = f'"u{i}@example.com"x,Bad,pV3r,1,,,,,' + ("\r\n" if crlf else "\n")
        elif fault < 0.06:
            line = "\n"
        elif fault < 0.07:
            line = line.replace("Ann", 'An"n', 1)  # a stray quote in an unquoted field
        lines.append(line)
    text = "".join(lines)
    return (codecs.BOM_UTF8 if bom else b"") + text.encode()


def _outputs(tmp_path: Path, source: Path, tag: str, **config: Any) -> dict[str, Any]:
    paths = {name: tmp_path / f"{name}-{tag}"
             for name in ("valid", "rejects", "unverified", "report")}
    paths["annotated"] = tmp_path / f"annotated-{tag}.csv"
    summary = run(RunConfig([str(source)], valid_path=str(paths["valid"]),
                            rejects_path=str(paths["rejects"]),
                            unverified_path=str(paths["unverified"]),
                            report_path=str(paths["report"]),
                            annotated_path=str(paths["annotated"]), **config))
    rejects = re.sub(rb'"uuid":"[^"]*"', b"", paths["rejects"].read_bytes())
    data = json.loads(paths["report"].read_text())
    unverified = re.sub(rb'"uuid":"[^"]*"', b"", paths["unverified"].read_bytes())
    return {"valid": paths["valid"].read_bytes(), "rejects": rejects, "unverified": unverified,
            "annotated": paths["annotated"].read_bytes(),
            "report": {k: data[k] for k in ("rows", "byCode", "byField", "byDomain",
                                            "topReasons", "files", "warnings")},
            "exit": summary.exit_code}


OFF = ValidationOptions(check_mx=False)


@pytest.mark.parametrize(("seed", "crlf", "bom"), [(1, False, False), (2, True, False),
                                                    (3, False, True)])
def test_columnar_outputs_equal_the_row_path(tmp_path: Path, seed: int, crlf: bool,
                                             bom: bool, monkeypatch: pytest.MonkeyPatch
                                             ) -> None:
    source = tmp_path / "random.csv"
    source.write_bytes(_random_csv(seed, 600, crlf, bom))
    reference = _outputs(tmp_path, source, "row", options=OFF, columnar=False)
    assert reference["report"]["rows"]["valid"] > 150
    assert {"1000", "1003", "1006", "1008"} <= set(reference["report"]["byCode"])
    assert {"typo", "role", "disposable", "duplicate"} <= set(reference["report"]["warnings"])
    assert _outputs(tmp_path, source, "one", options=OFF) == reference
    # Many blocks: a few hundred bytes each, so records straddle every boundary. (Where a
    # quote is never closed, the cuts decide where its record ends, on both paths alike.)
    monkeypatch.setenv("VALIDATOR_BLOCK_BYTES", "700")
    reference = _outputs(tmp_path, source, "row-many", options=OFF, columnar=False)
    assert _outputs(tmp_path, source, "many", options=OFF) == reference


def test_columnar_outputs_equal_the_row_path_with_two_jobs(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    source = tmp_path / "random.csv"
    source.write_bytes(_random_csv(4, 800, False, False))
    monkeypatch.setenv("VALIDATOR_BLOCK_BYTES", "3000")
    reference = _outputs(tmp_path, source, "row", options=OFF, columnar=False)
    assert _outputs(tmp_path, source, "two", options=OFF, jobs=2) == reference


@pytest.mark.parametrize("delimiter", [";", "\t"])
def test_other_delimiters_and_a_last_line_without_newline(tmp_path: Path, delimiter: str
                                                          ) -> None:
    text = _random_csv(6, 150, False, False).decode()
    rows = list(csv.reader(io.StringIO(text, newline="")))
    rows.append(["last@example.com", "Ann", "pV3r", "5", "vip", "Berlin", "", "", ""])
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="\n").writerows(rows)
    source = tmp_path / "other.csv"
    source.write_text(out.getvalue().rstrip("\n"))
    reference = _outputs(tmp_path, source, "row", options=OFF, columnar=False)
    assert reference["valid"].endswith(b"last@example.com" + delimiter.encode() + b"Ann"
                                       + delimiter.encode() + b"pV3r" + delimiter.encode()
                                       + b"5" + delimiter.encode() + b"vip"
                                       + delimiter.encode() + b"Berlin"
                                       + delimiter.encode() * 3 + b"\n")
    assert reference["report"]["rows"]["valid"] > 40
    assert _outputs(tmp_path, source, "col", options=OFF) == reference


def assert_batch_options_agree(tmp_path: Path, source: Path) -> None:
    """The columnar way gives the row path's outputs under a default campaign with
    suppressions, without 1008, with --dedupe-normalised and without warnings."""
    batch = BatchOptions(suppressed_addresses=frozenset({"u3@example.com", "u8@gmail.com"}),
                         suppressed_domains=frozenset({"gmail.com"}), campaign_id="Cmp1")
    for options in (batch, BatchOptions(dedupe=False), BatchOptions(dedupe_normalised=True),
                    BatchOptions(warnings=False)):
        reference = _outputs(tmp_path, source, "row", options=OFF, batch=options,
                             columnar=False)
        assert _outputs(tmp_path, source, "col", options=OFF, batch=options) == reference


def test_campaign_default_suppression_and_no_dedupe_agree(tmp_path: Path) -> None:
    source = tmp_path / "random.csv"
    source.write_bytes(_random_csv(5, 400, False, False))
    assert_batch_options_agree(tmp_path, source)


def test_mx_verdicts_apply_to_columnar_rows(tmp_path: Path, dnslib_server: ZoneServer) -> None:
    # Domains that take mail, that do not, whose lookup fails (unverified rows), and repeats.
    lines = ["email,campaign.campaignId,name"]
    for i in range(300):
        domain = ["mx", "null-mx", "servfail", "a-only", "mx"][i % 5]
        lines.append(f"u{i % 280}@{domain}.dnstest.example,pV3r,Ann {i}")
    source = tmp_path / "mx.csv"
    source.write_text("\n".join(lines) + "\n")
    dns = DNSOptions(nameservers=("127.0.0.1",), port=dnslib_server.port, timeout=2.0)
    options = ValidationOptions(check_mx=True, dns=dns)
    reference = _outputs(tmp_path, source, "row", options=options, columnar=False)
    got = _outputs(tmp_path, source, "col", options=options)
    assert got == reference
    assert reference["report"]["rows"]["valid"] >= 150
    assert reference["report"]["rows"]["unverified"] >= 50
    assert {"1002", "1008"} <= set(reference["report"]["byCode"])


# --------------------------------------------------------------------------------------------
# The promise, schema by schema: precheck-valid implies engine-valid
# --------------------------------------------------------------------------------------------
_CELLS = ["", "a", "Ann", "  ", "0", "1", "-3", "12.5", "1e3", "null", "true", "x" * 300,
          "u1@example.com", "U@Example.Com", "u@localhost", "a@b", "2024-02-28", "2024-02-30",
          "1.2.3.4", "::1", "pV3r", "a|b", "a||b", " a|b ", "bad id", "ASC", "desc", "🙂",
          "http://example.com", "+48123456789", "#fff", "12:30", "2017-03-02T07:30:49+00:00"]


# Cells that often make a row of the shipped schemas valid, so that many rows pass the precheck.
_LIKELY = {"email": ["u1@example.com", "Ann.Lee@Example.org"], "campaign.campaignId": ["pV3r"],
           "name": ["Ann", "Zoë"], "tags": ["vip", "a|b"], "ipAddress": ["1.2.3.4", "::1"],
           "dayOfCycle": ["3"], "scoring": ["5", "12.5"], "customFieldValues": ["x"]}


def _columns(view: SchemaView, document: dict[str, Any]) -> list[str]:
    names: list[str] = []
    for key, sub in (document.get("properties") or {}).items():
        if isinstance(sub, dict) and isinstance(sub.get("properties"), dict):
            names += [f"{key}.{inner}" for inner in sub["properties"]]
        else:
            names.append(key)
    return names[:40] or ["email"]


def _shipped() -> list[str]:
    registry = default_registry()
    return [name for name in registry.names() if not is_query_schema(registry.get(name)[0])]


@pytest.mark.parametrize("name", _shipped())
def test_precheck_valid_rows_are_engine_valid(name: str) -> None:
    registry = default_registry()
    document, base = registry.get(name)
    view = SchemaView(document, base, registry.resources())
    rnd = random.Random(name)
    header = _columns(view, document)
    plan = build_plan(header, view, {}, "|", "|")
    precheck = build_precheck(document, plan, ValidationOptions(), None)
    if precheck is None:
        return  # every row goes to the engine: nothing to promise
    def pick(column: str) -> str:
        if column in _LIKELY and rnd.random() < 0.7:
            return rnd.choice(_LIKELY[column])
        return rnd.choice(_CELLS) if rnd.random() < 0.4 else ""

    rows = [[pick(column) for column in header] for _ in range(600)]
    frame = pl.DataFrame({cell(i): [r[i] for r in rows] for i in range(len(header))},
                         schema={cell(i): pl.String for i in range(len(header))})
    passed = frame.select(precheck.expression.alias("ok"))["ok"].to_list()
    validator = Validator(name)
    mapper = plan.compiled()
    for row, ok in zip(rows, passed, strict=True):
        if ok:
            assert validator.validate(mapper(row), plain=True).ok, (name, row)
    if name == "contacts.create":  # the precheck is not vacuous where it matters most
        assert sum(passed) > 20


# --------------------------------------------------------------------------------------------
# 1008 keys: first rows across the run, in 16 bytes a distinct key
# --------------------------------------------------------------------------------------------
def test_first_rows_find_every_repeat_as_a_dict_would() -> None:
    from array import array

    from validator.batch._dedupe import FirstRows, dedupe_keys

    rnd = random.Random(3)
    first_rows = FirstRows()
    expected: dict[int, tuple[int, int]] = {}
    line = 0
    for block in range(300):
        texts = [None if rnd.random() < 0.05 else f"u{rnd.randrange(20_000)}@x.com\x00C"
                 for _ in range(rnd.randint(0, 200))]
        keys = dedupe_keys(texts).tolist()
        lines = list(range(line, line + len(keys)))
        line += len(keys)
        file_index = block % 3
        want = []
        for index, (key, at) in enumerate(zip(keys, lines, strict=True)):
            if key == 0:
                continue
            if key in expected:
                want.append((index, *expected[key]))
            else:
                expected[key] = (file_index, at)
        assert first_rows.repeats(file_index, array("Q", keys), array("Q", lines)) == want
    assert first_rows.distinct == len(expected) > 10_000
    assert first_rows.nbytes <= 16 * len(expected)
    assert len(first_rows.runs) <= 20


def test_dedupe_keys_are_the_same_in_every_process() -> None:
    import subprocess
    import sys

    from validator.batch import dedupe_key

    code = "from validator.batch import dedupe_key; print(dedupe_key('A@b.com ', 'C'))"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True, timeout=60)
    assert int(other.stdout) == dedupe_key("a@b.com", "C") != 0
    assert dedupe_key(None, "C") == 0


@pytest.mark.parametrize("text", [
    "note\r\nx\r\nx\r\nx\r\n127.0.0.1\r\nx\r\nx\r\nx",   # found by the fuzz run
    'note\nx\nx\n\nx\n\n"\u01bb\u017b"\nx',
    "email\nu1@example.com\nu2@example.com\n",           # a required field no column reaches
])
def test_a_precheck_that_folds_to_a_constant_still_judges_every_row(tmp_path: Path,
                                                                     text: str) -> None:
    source = tmp_path / "few.csv"
    source.write_text(text, encoding="utf-8", newline="")
    reference = _outputs(tmp_path, source, "row", options=OFF, columnar=False)
    assert _outputs(tmp_path, source, "col", options=OFF) == reference


# --------------------------------------------------------------------------------------------
# List-hygiene notes in columns: equal to RowNotes.warn, row by row, on tricky addresses
# --------------------------------------------------------------------------------------------
_TRICKY = ["J.Smith+news@GMail.com", "jsmith@gmail.com", "j.smith@GOOGLEMAIL.COM.",
           "INFO@example.com", "Info+News@Example.com", "info.@example.com", "+info@gmail.com",
           "sales@gmial.com", "x@mailinator.com", "X.Y@Mailinator.COM", "İnfo@example.com",
           "\u0131nfo@gmail.com", "ΣΑΣ@gmail.com", "Straße@gmail.com", '"a.b"@gmail.com',
           '"info"@example.com', "a@b@gmail.com", "@gmail.com", "nobody", "", " info@x.com",
           "info\x1c@x.com", "info @x.com", "a..b@gmail.com", "...@gmail.com", ".+@gmail.com",
           "a+@hotmail.com", "a.b+c+d@outlook.com", "ü@bücher.de", "u@gmaill.com",
           "role@icloud.com", "Postmaster@ME.com", "a@b.com.", "a@...", "hello@proton.me",
           "\ufeffinfo@example.com", "noreply@gmail.com", "No-Reply+x@gmail.com",
           " Info+x@example.com", " a.b@gmail.com", "\x1cinfo+x@x.com", "a.b\x1f@gmail.com"]


def _hygiene_cases(seed: int) -> list[tuple[str, str]]:
    rnd = random.Random(seed)
    return [(rnd.choice(_TRICKY), rnd.choice(["pV3r", "", "kL6Nh"])) for _ in range(400)]


@pytest.mark.parametrize(("seed", "campaign_id"), [(1, None), (2, "Cmp1")])
def test_notes_in_columns_equal_row_notes_warn(seed: int, campaign_id: str | None) -> None:
    import numpy as np

    from validator.batch._dedupe import dedupe_keys
    from validator.batch._hygiene import RowNotes, valid_rows_notes

    cases = _hygiene_cases(seed)
    emails = [e for e, _ in cases]
    campaigns = [c for _, c in cases]
    lines = np.arange(10, 10 + len(cases), dtype=np.int64) * 3
    keys = dedupe_keys([f"{e}\x00{c}" for e, c in cases])
    reference = RowNotes(None, campaign_id, True, True)
    reference.result.statuses.extend(bytes(len(cases)))
    for index, (email, campaign) in enumerate(cases):
        reference.warn(index, int(lines[index]), email, campaign or campaign_id, True,
                       int(keys[index]))
    reference.exact_keys(None)
    got = valid_rows_notes(pl.Series(emails), pl.Series(campaigns), campaign_id, lines, keys,
                           True, 0)
    want = reference.result
    assert got.statuses == want.statuses
    assert got.counts == want.counts and set(want.counts) == {"typo", "disposable", "role"}
    assert got.rows == want.rows and len(want.rows) > 60
    assert got.provider.tolist() == want.provider.tolist() and len(want.provider) > 100
    # Without a campaign column every row takes the default campaign.
    alone = valid_rows_notes(pl.Series(emails), None, campaign_id, lines, keys, True, 0)
    assert len(alone.provider) == (0 if campaign_id is None else len(want.provider))


def test_provider_normalised_in_columns_is_python_s() -> None:
    from validator.batch._hygiene import provider_normalised_column
    from validator.hygiene import provider_normalised

    emails = [*_TRICKY, "A.B+x@GMAIL.COM", "a.b@googlemail.com", "x@.", "x@gmail.com..."]
    got = provider_normalised_column(pl.Series(emails)).to_list()
    assert [g for g in got if g is None] != []  # (Unicode and spaces: Python makes those)
    assert [g for g, e in zip(got, emails, strict=True) if g is not None
            and g != provider_normalised(e)] == []
    assert sum(g is not None for g in got) > 25


def test_provider_repeats_find_what_a_dict_finds(monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np

    from validator.batch import _hygiene
    from validator.batch._hygiene import ProviderRepeats

    monkeypatch.setattr(_hygiene, "PROVIDER_INDEX_CAP", 1_500)
    rnd = random.Random(7)
    repeats = ProviderRepeats()
    first: dict[int, tuple[int, int, int]] = {}
    files = {0: "a.csv", 1: "b.csv"}
    line = 0
    warned = 0
    for block in range(120):
        size = rnd.randint(0, 60)
        index = sorted(rnd.sample(range(size * 2), size))
        digests = [rnd.randrange(1, 2_500) for _ in range(size)]
        exact = [d * 10 + rnd.randrange(3) for d in digests]
        lines = list(range(line, line + size))
        line += size
        provider = np.array(list(zip(index, lines, digests, exact, strict=True)),
                            np.uint64).reshape(-1, 4)
        dropped = [i for i in index if rnd.random() < 0.05]
        file_index = block % 2
        want = []
        for row, at, key, same in zip(index, lines, digests, exact, strict=True):
            if row in dropped:
                continue
            earlier = first.get(key)
            if earlier is None:
                if len(first) < 1_500:
                    first[key] = (same, file_index, at)
                continue
            if earlier[0] != same:
                where = f"line {earlier[2]}" + (f" of {files[earlier[1]]}"
                                                 if earlier[1] != file_index else "")
                want.append((row, f"duplicate: reaches the same mailbox as the address on "
                                  f"{where} (provider rules: dots, +tags)"))
        warned += len(want)
        assert repeats.take(file_index, provider, np.array(dropped, np.int64), files) == want
    assert len(first) == repeats.size == 1_500 and warned > 500


def test_candidates_in_order_sort_as_tuples_do() -> None:
    from array import array

    from validator.batch._outputs import candidates_in_order, rows_without

    rnd = random.Random(5)
    # Rows of one line (a JSON array on one line) share lines, and some their keys.
    valid_lines = array("Q", sorted(rnd.randrange(50) for _ in range(200)))
    valid_keys = array("Q", [rnd.randrange(1, 30) for _ in valid_lines])
    unverified = [(rnd.randrange(50), rnd.randrange(1, 30), b"", b"") for _ in range(60)]
    checks = array("Q", [rnd.randrange(2**64) for _ in range(len(valid_lines) + 60)])
    want = sorted([(line, key, i, checks[i]) for i, (line, key) in
                   enumerate(zip(valid_lines, valid_keys, strict=True))]
                  + [(line, key, -1 - i, checks[len(valid_lines) + i])
                     for i, (line, key, _, _) in enumerate(unverified)])
    lines, keys, indexes, ordered = candidates_in_order(valid_lines, valid_keys, unverified,
                                                        checks)
    assert list(zip(lines, keys, indexes.tolist(), ordered, strict=True)) == want
    assert set(candidates_in_order(valid_lines, valid_keys, unverified)[3]) == {0}
    data = b"".join(b"r%d\n" % i for i in range(40))
    ends = array("Q", [data.index(b"r%d\n" % i) + len(b"r%d\n" % i) for i in range(40)])
    kept, kept_ends = rows_without(data, ends, [0, 7, 39, 8])
    rows = [r for i, r in enumerate(data.splitlines(keepends=True)) if i not in (0, 7, 8, 39)]
    assert kept == b"".join(rows)
    assert list(kept_ends) == [sum(map(len, rows[:n + 1])) for n in range(len(rows))]


def test_warning_counts_break_ties_in_kinds_order() -> None:
    from collections import Counter

    from validator.batch._hygiene import warning_counts

    # The row path counts kinds in row order, the columnar way engine rows first.
    counts = Counter({"typo": 2, "duplicate": 5, "role": 2, "disposable": 1})
    assert list(warning_counts(counts).items()) == [("duplicate", 5), ("role", 2), ("typo", 2),
                                                    ("disposable", 1)]
