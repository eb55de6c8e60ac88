"""The JSON Lines columnar way is held to the row path, the reference: the same --valid bytes,
the same rejects (but their uuid), the same unverified rows, annotated file and report, on
randomised files that hold every kind of line polars cannot be trusted with, in one block or
many, with one or two jobs. And its precheck keeps the promise: precheck-valid rows are
engine-valid, for every shipped schema."""

from __future__ import annotations

import codecs
import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from dns_server import ZoneServer
from test_columnar import OFF, _outputs, assert_batch_options_agree

from validator import DNSOptions, ValidationOptions, Validator
from validator._registry import default_registry
from validator.batch import BatchOptions
from validator.batch._blocks import judge_rows
from validator.batch._columnar_jsonl import check_columnar_jsonl, json_precheck_for
from validator.batch._readers import JsonLinesReader
from validator.batch._units import Block, BlockSpec
from validator.rules import is_query_schema

_NAMES = ["Ann", "Zoë Brontë", "李雷", 'Tom "T" Lee', "  padded ", "Ann\nTwo lines", "🙂 Emoji",
          "\u00a0", "x" * 130, "tab\there", "back\\slash", "", "Ωmega", "\u2028sep"]
_EMAILS = ["u{i}@example.com", "U{i}@Example.COM", "u{i}@gmail.com", " u{i}@example.com",
           "u{i}@@example.com", "u{i}@localhost", "ü{i}@bücher.de", "u{i}", "", "info@example.com",
           "u.{i}@gmail.com", "U{i}+news@GMail.com", "u{i}@mailinator.com", "u{i}@gmaill.com"]
# Provider-rules spellings of one mailbox (the duplicate warning).
_PROVIDER = ["dot.ted@gmail.com", "dotted@gmail.com", "Dotted+x@gmail.com", "u{i}@gmail.com"]
_IPS = ["1.2.3.4", "256.1.1.1", "::1", "2001:db8::8a2e:370:7334", "fe80::1%eth0", "1.2.3", ""]
_SCORES: list[Any] = [1, 0, -3, 12.5, 1.0, "5", None, True, 10**20, 123456789012345,
                      1234567890123456, -0.0]
_DAYS: list[Any] = ["3", "x", None, 3, "", "007"]
_CAMPAIGNS = ["pV3r", "pV3r", "kL6Nh", "", "bad id", "x" * 65]
_TAGS: list[Any] = [[], [{"tagId": "vip"}], [{"tagId": "a"}, {"tagId": "b"}],
                    [{"tagId": "bad tag"}], [{"tagId": 5}], ["vip"], [{}],
                    [{"tagId": "a", "x": 1}], None, {"tagId": "a"}]
_CUSTOM: list[Any] = [[{"customFieldId": "kL6Nh", "value": ["Berlin"]}],
                      [{"value": ["18-35", ""], "customFieldId": "kL6Nh"}],
                      [{"customFieldId": "kL6Nh", "value": []}],
                      [{"customFieldId": "kL6Nh"}], [{"customFieldId": "bad id", "value": ["x"]}],
                      [{"customFieldId": "kL6Nh", "value": "Berlin"}], [],
                      [{"customFieldId": "kL6Nh", "value": [1]}]]


def _contact(rnd: random.Random, i: int) -> dict[str, Any]:
    if rnd.random() < 0.5:  # most rows are clean: the columnar way must see them too
        repeat = rnd.randrange(i + 1) if rnd.random() < 0.1 else i  # 1008s across blocks
        address = rnd.choice([f"u{repeat}@example.com"] * 6 + _EMAILS[9:] + _PROVIDER
                             ).format(i=repeat)
        row: dict[str, Any] = {"email": address, "name": rnd.choice(["Ann", "Zoë", "李雷"]),
                               "campaign": {"campaignId": "pV3r"}}
        if rnd.random() < 0.5:
            row["tags"] = rnd.choice(_TAGS[:3])
        if rnd.random() < 0.5:
            row["customFieldValues"] = rnd.choice(_CUSTOM[:3])
        if rnd.random() < 0.5:
            row["scoring"] = rnd.choice([5, 0, None, 99])
        if rnd.random() < 0.3:
            row["ipAddress"] = rnd.choice(["1.2.3.4", "2001:db8::1"])
        if rnd.random() < 0.3:
            row["dayOfCycle"] = rnd.choice(["3", None])
        if rnd.random() < 0.1:
            del row["campaign"]
        keys = list(row)
        rnd.shuffle(keys)
        return {k: row[k] for k in keys}
    row = {}
    for key, values in (("email", _EMAILS), ("name", _NAMES), ("scoring", _SCORES),
                        ("dayOfCycle", _DAYS), ("ipAddress", _IPS), ("tags", _TAGS),
                        ("customFieldValues", _CUSTOM)):
        if rnd.random() < 0.6:
            value = rnd.choice(values)
            row[key] = value.format(i=i) if key == "email" else value
    kind = rnd.random()
    if kind < 0.7:
        row["campaign"] = {"campaignId": rnd.choice(_CAMPAIGNS)}
    elif kind < 0.8:
        row["campaign"] = rnd.choice([{}, None, "pV3r", {"campaignId": None},
                                      {"campaignId": "pV3r", "x": 1}])
    if rnd.random() < 0.1:
        row["unknown"] = rnd.choice([1, "x", {"a": [1]}])
    return row


def _line(rnd: random.Random, i: int) -> bytes:
    """One line (its newline included) of a JSON Lines export, or a fault of one."""
    row = _contact(rnd, i)
    text = json.dumps(row, ensure_ascii=rnd.random() < 0.2,
                      separators=rnd.choice([(", ", ": "), (",", ":"), (" ,\t", " :  ")]))
    fault = rnd.random()
    end = b"\n"
    # Two equal keys: polars keeps the first value, orjson (the row path) the last one.
    if fault < 0.01:
        text = '{"email": "dup@example.com", ' + text[1:]
    elif fault < 0.02:
        text = '{"name": "First", ' + text[1:]
    elif fault < 0.03:
        text = text[:-1] + rnd.choice([', "name": ""}', ', "email": "not an e-mail"}'])
    elif fault < 0.04:
        text = text.replace('{"campaignId": ', '{"campaignId": "kL6Nh", "campaignId": ', 1)
    elif fault < 0.05:
        text = text.replace('"email"', '"em\\u0061il"', 1)  # an escaped key
    elif fault < 0.06:
        text = rnd.choice(["[1, 2]", '"text"', "5", "null", "true", "[]", "{}", "{", "",
                           "   ", "\t", '{"email": "a@b.co",}'])
    elif fault < 0.07:
        text = text.replace("Ann", "A\\ud800nn", 1).replace("Zo", "Z\\udc00o", 1)
    elif fault < 0.08:
        text = text.replace("Ann", "\\ud83d\\ude00", 1)  # an escaped surrogate pair
    elif fault < 0.09:
        text = text.replace('"pV3r"', '"p\\u0056\\/3r"', 1)
    elif fault < 0.10:
        text = text.replace('"scoring": 5', '"scoring": NaN', 1).replace(
            '"scoring":5', '"scoring":Infinity', 1) + rnd.choice(["", " "])
    elif fault < 0.11:
        text = '{"email": "u@example.com", "campaign": {"campaignId": "pV3r"}, "scoring": ' \
               + rnd.choice(["1e3", "1E-2", "-0", "0.5", "01", "123456789012345678901234567890",
                             "-9223372036854775809", "18446744073709551616"]) + "}"
    elif fault < 0.12:
        text = '{"email": "u@example.com", "campaign": {"campaignId": "pV3r"}, "x": ' \
               + "[" * 70 + "]" * 70 + "}"
    elif fault < 0.13:
        end = b"\r\n"
    elif fault < 0.14:
        text = "\ufeff" + text  # a BOM inside the file
    elif fault < 0.15:
        return text.encode().replace(b"Ann", b"A\xffnn", 1).replace(b"Zo", b"Z\xc3o", 1) + end
    elif fault < 0.16:
        return b"\n"
    elif fault < 0.17:
        text = " \t" + text + " \t"
    elif fault < 0.18:
        text = text.replace("Ann", "A\x01nn", 1)  # a raw control character
    return text.encode() + end


def _random_jsonl(seed: int, rows: int, bom: bool = False, last_newline: bool = True) -> bytes:
    rnd = random.Random(seed)
    data = b"".join(_line(rnd, i) for i in range(rows))
    if not last_newline:
        data = data.rstrip(b"\r\n") + b'\n{"email": "last@example.com", ' \
            b'"campaign": {"campaignId": "pV3r"}}'
    return (codecs.BOM_UTF8 if bom else b"") + data


def _passed(data: bytes, options: ValidationOptions = OFF,
            batch: BatchOptions | None = None) -> int:
    """How many rows of one block the columnar way wrote without the engine."""
    batch = batch or BatchOptions()
    checker = json_precheck_for("contacts.create", options, batch, ())
    assert checker is not None
    judged: list[int] = []

    def judge(lines: list[int], *rest: Any) -> Any:
        judged.append(len(lines))
        return judge_rows(lines, *rest)

    spec = BlockSpec("x.jsonl", JsonLinesReader(), columnar=True)
    result = check_columnar_jsonl(Block(1, data), spec, "contacts.create", options, batch, {},
                                  checker, judge)
    assert result is not None
    return result.rows - judged[0]


@pytest.mark.parametrize(("seed", "bom", "last_newline"), [(1, False, True), (2, True, True),
                                                           (3, False, False)])
def test_columnar_jsonl_outputs_equal_the_row_path(tmp_path: Path, seed: int, bom: bool,
                                                   last_newline: bool,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "random.jsonl"
    data = _random_jsonl(seed, 700, bom, last_newline)
    source.write_bytes(data)
    reference = _outputs(tmp_path, source, "row", options=OFF, columnar=False)
    assert reference["report"]["rows"]["valid"] > 200
    assert {"1000", "1003", "1005", "1006", "1008"} <= set(reference["report"]["byCode"])
    assert {"typo", "role", "disposable", "duplicate"} <= set(reference["report"]["warnings"])
    assert _outputs(tmp_path, source, "one", options=OFF) == reference
    # The columnar way did the work: most valid rows never met the engine.
    assert _passed(data.removeprefix(codecs.BOM_UTF8)) > reference["report"]["rows"]["valid"] // 2
    # Many blocks of a few hundred bytes.
    monkeypatch.setenv("VALIDATOR_BLOCK_BYTES", "700")
    reference = _outputs(tmp_path, source, "row-many", options=OFF, columnar=False)
    assert _outputs(tmp_path, source, "many", options=OFF) == reference


def test_columnar_jsonl_outputs_equal_the_row_path_with_two_jobs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "random.jsonl"
    source.write_bytes(_random_jsonl(4, 900))
    monkeypatch.setenv("VALIDATOR_BLOCK_BYTES", "4000")
    reference = _outputs(tmp_path, source, "row", options=OFF, columnar=False)
    assert _outputs(tmp_path, source, "two", options=OFF, jobs=2) == reference


def test_campaign_default_suppression_and_no_dedupe_agree_on_jsonl(tmp_path: Path) -> None:
    source = tmp_path / "random.jsonl"
    source.write_bytes(_random_jsonl(5, 500))
    assert_batch_options_agree(tmp_path, source)


def test_every_untrusted_line_goes_to_the_exact_reader() -> None:
    good = b'{"email": "u@example.com", "campaign": {"campaignId": "pV3r"}, "scoring": 5}'
    assert _passed(good + b"\n") == 1
    faults = [
        good.replace(b'"email"', b'"email": "v@example.com", "email"'),  # orjson keeps the last
        good.replace(b'"email"', b'"name": "Ann", "name": "", "email"'),
        good.replace(b'"pV3r"}', b'"pV3r", "campaignId": "bad id"}'),
        good.replace(b'"email"', b'"em\\u0061il"'),
        good.replace(b"5}", b"5.0}"), good.replace(b"5}", b"1e0}"),
        good.replace(b"5}", b"12345678901234567890}"), good.replace(b"5}", b"NaN}"),
        good.replace(b"5}", b"true}"), good.replace(b"5}", b'"5"}'),
        good.replace(b"pV3r", b"p\\ud800"), good.replace(b"pV3r", b"pV\xff3r"),
        codecs.BOM_UTF8 + good, good + b"\r", good[:-1] + b', "x": 1}', b"[" + good + b"]",
        good.replace(b'{"campaignId": "pV3r"}', b"{}"), good.replace(b"u@", b"u\x01@"),
    ]
    for fault in faults:
        assert _passed(fault + b"\n") == 0, fault


def test_a_line_past_the_record_limit_is_refused_as_on_the_row_path(tmp_path: Path) -> None:
    long_name = "x" * (4 << 20)
    lines = [json.dumps({"email": f"u{i}@example.com", "campaign": {"campaignId": "pV3r"},
                         "name": long_name if i == 1 else "Ann"}) for i in range(3)]
    source = tmp_path / "long.jsonl"
    source.write_text("\n".join(lines) + "\n")
    reference = _outputs(tmp_path, source, "row", options=OFF, columnar=False)
    assert reference["report"]["rows"]["invalid"] == 1
    assert _outputs(tmp_path, source, "col", options=OFF) == reference


def test_mx_verdicts_apply_to_columnar_jsonl_rows(tmp_path: Path,
                                                  dnslib_server: ZoneServer) -> None:
    lines = []
    for i in range(300):
        domain = ["mx", "null-mx", "servfail", "a-only", "mx"][i % 5]
        lines.append(json.dumps({"email": f"u{i % 280}@{domain}.dnstest.example",
                                 "campaign": {"campaignId": "pV3r"}, "name": f"Ann {i}"}))
    source = tmp_path / "mx.jsonl"
    source.write_text("\n".join(lines) + "\n")
    dns = DNSOptions(nameservers=("127.0.0.1",), port=dnslib_server.port, timeout=2.0)
    options = ValidationOptions(check_mx=True, dns=dns)
    reference = _outputs(tmp_path, source, "row", options=options, columnar=False)
    assert _outputs(tmp_path, source, "col", options=options) == reference
    assert reference["report"]["rows"]["valid"] >= 150
    assert reference["report"]["rows"]["unverified"] >= 50
    assert {"1002", "1008"} <= set(reference["report"]["byCode"])


# --------------------------------------------------------------------------------------------
# The promise, schema by schema: precheck-valid implies engine-valid
# --------------------------------------------------------------------------------------------
_VALUES: list[Any] = ["", "a", "Ann", "  ", "0", "1", "12.5", "null", "x" * 300,
                      "u1@example.com", "u@localhost", "2024-02-28", "2024-02-30", "1.2.3.4", "::1",
                      "pV3r", "bad id", "ASC", "🙂", "http://example.com", "+48123456789",
                      0, 1, -3, 100, 10**9, None, [], ["a"], [{"tagId": "pV3r"}], {},
                      {"campaignId": "pV3r"}, [{"customFieldId": "pV3r", "value": ["x"]}]]


# Values that often make a member of the shipped schemas valid, so that many rows pass.
_LIKELY: dict[str, list[Any]] = {
    "email": ["u1@example.com", "Ann.Lee@Example.org"], "campaignId": ["pV3r"],
    "name": ["Ann", "Zoë"], "tagId": ["vip1"], "ipAddress": ["1.2.3.4", "::1"],
    "dayOfCycle": ["3", None], "scoring": [5, None], "customFieldId": ["pV3r"],
    "value": [["x"], []]}


def _sample(rnd: random.Random, schema: Any, name: str = "", depth: int = 0) -> Any:
    """A value shaped after ``schema`` (often fitting it), or one of the odd values."""
    if name in _LIKELY and rnd.random() < 0.8:
        return rnd.choice(_LIKELY[name])
    if rnd.random() < 0.15 or not isinstance(schema, dict) or depth > 3:
        return rnd.choice(_VALUES)
    properties = schema.get("properties")
    if isinstance(properties, dict):
        return {k: _sample(rnd, v, k, depth + 1) for k, v in properties.items()
                if rnd.random() < (0.9 if k in schema.get("required", ()) else 0.5)}
    if "array" in str(schema.get("type")):
        return [_sample(rnd, schema.get("items"), "", depth + 1)
                for _ in range(rnd.randrange(3))]
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return rnd.choice(enum)
    return rnd.choice(_VALUES)


def _shipped() -> list[str]:
    registry = default_registry()
    return [name for name in registry.names() if not is_query_schema(registry.get(name)[0])]


@pytest.mark.parametrize("name", _shipped())
def test_jsonl_precheck_valid_rows_are_engine_valid(name: str) -> None:
    document, _ = default_registry().get(name)
    if json_precheck_for(name, OFF, BatchOptions(), ()) is None:
        return  # every row goes to the engine: nothing to promise
    rnd = random.Random(name)
    rows = [_sample(rnd, document) for _ in range(500)]
    data = b"".join(json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in rows)
    checker = json_precheck_for(name, OFF, BatchOptions(), ())
    assert checker is not None
    spec = BlockSpec("x.jsonl", JsonLinesReader(), columnar=True, dedupe=False)
    taken: list[int] = []

    def judge(lines: list[int], *rest: Any) -> Any:
        taken.extend(lines)
        return judge_rows(lines, *rest)

    result = check_columnar_jsonl(Block(1, data), spec, name, OFF, BatchOptions(), {},
                                  checker, judge)
    assert result is not None
    passed = sorted(set(np.frombuffer(result.valid_lines, np.uint64).tolist()) - set(taken))
    validator = Validator(name)
    for line in passed:
        assert validator.validate(rows[line - 1], plain=True).ok, (name, rows[line - 1])
    if name == "contacts.create":  # the precheck is not vacuous where it matters most
        assert len(passed) > 20


# --------------------------------------------------------------------------------------------
# 1008: a repeat the keys find is confirmed by a second hash
# --------------------------------------------------------------------------------------------
def test_first_rows_confirm_a_repeat_on_the_check() -> None:
    from array import array

    from validator.batch._dedupe import FirstRows

    rnd = random.Random(11)
    first_rows = FirstRows()
    expected: dict[tuple[int, int], tuple[int, int]] = {}
    for block in range(200):
        file_index = block // 50  # four inputs, in order
        # Few keys, many checks: most equal keys are different texts (a forced collision).
        pairs = [(rnd.choice([0, 5, 6, 7]), rnd.randrange(40) << 40)
                 for _ in range(rnd.randint(0, 60))]
        lines = sorted(rnd.sample(range(1 + (block % 50) * 100, 101 + (block % 50) * 100),
                                  len(pairs)))
        want = []
        for index, ((key, check), line) in enumerate(zip(pairs, lines, strict=True)):
            if key == 0:
                continue
            # FirstRows keeps the check's top 24 bits: the pairs differ there.
            seen = expected.setdefault((key, check >> 40), (file_index, line))
            if seen != (file_index, line):
                want.append((index, *seen))
        got = first_rows.repeats(file_index, array("Q", [k for k, _ in pairs]),
                                 array("Q", lines), array("Q", [c for _, c in pairs]))
        assert got == want
    assert first_rows.distinct == len(expected) > 100
    assert first_rows.nbytes <= 16 * 3  # the keys 5, 6 and 7; the other texts are "others"


def test_a_collision_of_the_first_hash_is_not_reported_as_1008(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from validator.batch import _dedupe

    rows = [{"email": f"u{i % 40}@example.com", "campaign": {"campaignId": "pV3r"}}
            for i in range(60)]  # 20 true repeats
    source = tmp_path / "few.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    csv_source = tmp_path / "few.csv"
    csv_source.write_text("email,campaign.campaignId\n"
                          + "".join(f"{r['email']},pV3r\n" for r in rows))
    honest = {path: {way: _outputs(tmp_path, path, f"{path.suffix}-{way}", options=OFF,
                                   columnar=way == "col")
                     for way in ("row", "col")} for path in (source, csv_source)}
    real = _dedupe._hash

    def colliding(data: Any, seed: int) -> np.ndarray:
        # Every text gets one first hash: only the check tells them apart.
        return np.full(len(data), 12345, np.uint64) if seed == _dedupe._SEED \
            else real(data, seed)

    monkeypatch.setattr(_dedupe, "_hash", colliding)
    for path in (source, csv_source):
        for way in ("row", "col"):
            got = _outputs(tmp_path, path, f"{path.suffix}-{way}-forced", options=OFF,
                           columnar=way == "col")
            assert got["report"]["byCode"] == {"1008": 20}
            assert got == honest[path][way]


def test_first_rows_refuse_a_place_past_40_bits() -> None:
    from array import array

    from validator.batch._dedupe import MAX_LINES, FirstRows

    first_rows = FirstRows()
    assert first_rows.repeats(0, array("Q", [5]), array("Q", [MAX_LINES - 1])) == []
    assert first_rows.repeats(0, array("Q", [5]), array("Q", [MAX_LINES - 1])) == [
        (0, 0, MAX_LINES - 1)]
    with pytest.raises(OverflowError, match="lines in one run"):
        first_rows.repeats(1, array("Q", [6]), array("Q", [1]))
