"""The columnar way with an account: the precheck keeps its promise (precheck-valid rows are
engine-valid) over every custom-field type and format, unknown IDs, names for IDs and joined
columns; whole runs give the row path's outputs; names in campaign and tag cells become IDs
(1001 for a name the account does not have, 1003 for one it has twice)."""

from __future__ import annotations

import csv
import io
import json
import random
import re
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from validator import Account, ValidationOptions, Validator
from validator._registry import default_registry
from validator.batch import RunConfig, run
from validator.batch._plan import CsvPlan, build_plan
from validator.batch._precheck import Precheck, build_precheck, cell
from validator.rules import SchemaView

TYPES = ("string", "number", "date", "datetime", "country", "currency", "phone", "gender",
         "ip", "url")
FORMATS = ("text", "textarea", "radio", "checkbox", "single_select", "multi_select")
CHOICES = ["18-35", "36-50", "  ", ""]


def _fields() -> list[dict[str, Any]]:
    fields = [{"customFieldId": f"t{n}", "name": f"t_{kind}", "type": kind, "format": "text"}
              for n, kind in enumerate(TYPES)]
    for n, fmt in enumerate(FORMATS):
        fields.append({"customFieldId": f"f{n}", "name": f"f_{fmt}", "type": "string",
                       "format": fmt, "values": CHOICES if fmt != "textarea" else []})
    fields.append({"customFieldId": "cbx", "name": "free_checkbox", "type": "number",
                   "format": "checkbox", "values": []})
    return fields


ACCOUNT = Account(
    campaigns=[{"campaignId": "V3J", "name": "promo"}, {"campaignId": "pV3r", "name": "news"},
               {"campaignId": "Q9", "name": "V3J"}, {"campaignId": "bad-id", "name": "odd"}],
    tags=[{"tagId": "tA", "name": "vip"}, {"tagId": "tB", "name": "vip"},
          {"tagId": "tC", "name": "Lead"}, {"tagId": "tD", "name": "lead_2025"}],
    custom_fields=_fields())

# Cells for each type: valid ones (many), edge cases, and invalid ones.
_VALUES: dict[str, list[str]] = {
    "string": ["Berlin", "Zürich", "-", "…", "\u00a0", " x", "a|b", "\x1c"],
    "number": ["5", "-1.5", ".5", "1e3", "+2", "1.", "abc", "1,5", "e3", " 5"],
    "date": ["2024-02-28", "2024-02-29", "2023-02-29", "2024-12-31", "0999-01-01",
             "2024-13-01", "24-01-01", "2024-1-01"],
    "datetime": ["2017-03-02T07:30:49+00:00", "2017-03-02T07:30:49+0000",
                 "2017-03-02t07:30:49Z", "2017-03-02T07:30:49.123Z", "2016-12-31T23:59:60Z",
                 "2017-03-02T24:00:00Z", "2017-03-02T07:30:49", "2017-03-02 07:30:49Z",
                 "2017-02-30T07:30:49Z", "2017-03-02T07:30:49+24:00"],
    "country": ["PL", "US", "pl", "XX", "POL", "Poland"],
    "currency": ["PLN", "EUR", "pln", "XYZ", "zł"],
    "phone": ["+48600100200", "+1 202 555 0123", "12345", "(202) 555-0123", "+999"],
    "gender": ["Male", "Female", "Prefer not to say", "male", "Other"],
    "ip": ["1.2.3.4", "::1", "2001:db8::1", "::ffff:1.2.3.4", "256.1.1.1", "01.2.3.4",
           "1.2.3", "fe80::1%eth0"],
    "url": ["https://example.com", "http://a.b/c?d=e", "ftp://example.com", "example.com",
            "https://", "http://[::1]/"],
}
_CHOICE_CELLS = ["18-35", "36-50", "18-35|36-50", "18-35|18-35", "99", "18-35|", "|", " 18-35",
                 "18-35 |36-50", "Berlin"]
_CAMPAIGNS = ["promo", "pV3r", "news", "Q9", "V3J", "PROMO", "Promo", "nope", "no such list",
              "bad-id", "odd", "", "V3J"]
_TAGS = ["Lead|lead_2025", "tC", "", "vip", "Lead", "lead", "LEAD", "lead_2025", "unknown_tag",
         "tC|tD", "tA", "tA|nope", "", " tC", "tC||tD"]
_EMAILS = ["u{i}@example.com", "u{i}@example.com", "u{i}@gmail.com", "bad", "", "u{i}@test"]
_NAMES = ["Ann", "Zoë", "", " padded", "Lee ", "\u00a0", "🙂", "Ann\tLee"]


def _header() -> list[str]:
    return ["email", "campaign.campaignId", "tags", "First", "Last",
            *(f"customFieldValues.{f['name']}" for f in _fields())]


MAPPING = {"name": {"join": ["First", "Last"], "separator": " "}}


def _plan(account: Account | None = ACCOUNT) -> CsvPlan:
    registry = default_registry()
    document, base = registry.get("contacts.create")
    view = SchemaView(document, base, registry.resources())
    return build_plan(_header(), view, MAPPING, "|", "|", account)


def _row(rnd: random.Random, i: int) -> list[str]:
    def pick(pool: list[str]) -> str:
        # The first values of a pool are good ones: most rows should be able to pass.
        return rnd.choice(pool[:3] if rnd.random() < 0.6 else pool)

    row = [pick(_EMAILS).format(i=i), pick(_CAMPAIGNS), pick(_TAGS), pick(_NAMES),
           pick(_NAMES)]
    for field in _fields():
        if rnd.random() < 0.9:  # most custom fields absent, so that rows can pass
            row.append("")
            continue
        kind = field["type"] if field["format"] in ("text", "textarea") else None
        if field["customFieldId"] == "cbx":
            pool = ["1", "2|3", "x", "1|", "4.5"]
        elif kind is not None:
            pool = _VALUES[kind]
        else:
            pool = _CHOICE_CELLS
        value = rnd.choice(pool)
        # A valid-looking first value most of the time.
        row.append(value if rnd.random() < 0.7 else rnd.choice([*pool, "", "|", "  "]))
    return row


def _passed(precheck: Precheck, rows: list[list[str]], width: int) -> list[bool]:
    frame = pl.DataFrame({cell(i): [r[i] for r in rows] for i in range(width)},
                         schema={cell(i): pl.String for i in range(width)})
    return frame.select(precheck.expression.alias("ok"))["ok"].to_list()


def _wrongly_passed(precheck: Precheck, rows: list[list[str]], plan: CsvPlan,
                    validator: Validator) -> list[list[str]]:
    mapper = plan.compiled()
    passed = _passed(precheck, rows, len(plan.header))
    return [row for row, ok in zip(rows, passed, strict=True)
            if ok and not validator.validate(mapper(row), plain=True).ok]


@pytest.mark.parametrize("region", [None, "US"])
def test_precheck_valid_rows_are_engine_valid_with_an_account(region: str | None) -> None:
    plan = _plan()
    assert plan.takes_names
    options = ValidationOptions(account=ACCOUNT, phone_region=region)
    document = default_registry().get("contacts.create")[0]
    precheck = build_precheck(document, plan, options, None)
    assert precheck is not None
    rnd = random.Random(f"account-{region}")
    rows = [_row(rnd, i) for i in range(3000)]
    validator = Validator("contacts.create", plan.options(options))
    assert _wrongly_passed(precheck, rows, plan, validator) == []
    passed = _passed(precheck, rows, len(plan.header))
    # Not vacuous: rows pass with names for IDs, joined names and custom fields of every
    # type the precheck can translate.
    assert sum(passed) > 150
    columns = {name: i for i, name in enumerate(plan.header)}
    ok_rows = [r for r, ok in zip(rows, passed, strict=True) if ok]
    assert {r[columns["campaign.campaignId"]] for r in ok_rows} >= {"promo", "news", "V3J"}
    assert {"Lead", "lead_2025"} <= {r[columns["tags"]] for r in ok_rows}
    for field in _fields():
        if field["type"] not in ("phone", "url"):
            assert any(r[columns[f"customFieldValues.{field['name']}"]] for r in ok_rows), field
        else:  # phonenumbers' and RFC 3986's verdicts: always the engine's
            assert not any(r[columns[f"customFieldValues.{field['name']}"]] for r in ok_rows)


@pytest.mark.parametrize(("kind", "lax"), [
    (None, None),  # no account rules at all
    ("phone", {}), ("date", {"pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}),
    ("datetime", {"pattern": "T"}), ("ip", {"pattern": "^[0-9.:]+$"}),
])
def test_the_differential_test_can_fail(kind: str | None, lax: dict[str, Any] | None,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    # A precheck that lost the account's rules, or a translation of a type that is too lax,
    # passes rows the engine refuses: the test above would catch either.
    from validator.rules import _account_rules

    plan = _plan()
    options = ValidationOptions(account=ACCOUNT)
    document = default_registry().get("contacts.create")[0]
    if kind is None:
        broken = build_precheck(document, _plan(None), ValidationOptions(), None)
    else:
        monkeypatch.setitem(_account_rules._QUICK_VALUE, kind, lambda: lax)
        broken = build_precheck(document, plan, options, None)
    assert broken is not None
    rnd = random.Random(f"broken-{kind}")
    rows = [_row(rnd, i) for i in range(3000)]
    wrong = _wrongly_passed(broken, rows, plan, Validator("contacts.create",
                                                           plan.options(options)))
    assert len(wrong) >= 3


# --------------------------------------------------------------------------------------------
# Whole runs: the columnar way gives the row path's outputs
# --------------------------------------------------------------------------------------------
def _csv(seed: int, rows: int) -> str:
    rnd = random.Random(seed)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(_header())
    for i in range(rows):
        row = _row(rnd, i)
        if rnd.random() < 0.15:  # repeats of one address in one campaign, by name and by ID
            row[0], row[1] = f"same{i % 7}@example.com", rnd.choice(["promo", "V3J", "PROMO"])
        writer.writerow(row)
        if rnd.random() < 0.02:
            out.write('"broken,quote\n')
    return out.getvalue()


def _outputs(tmp_path: Path, source: Path, tag: str, **config: Any) -> dict[str, Any]:
    paths = {name: tmp_path / f"{name}-{tag}" for name in ("valid", "rejects", "report")}
    summary = run(RunConfig([str(source)], valid_path=str(paths["valid"]),
                            rejects_path=str(paths["rejects"]),
                            report_path=str(paths["report"]), mapping=dict(MAPPING),
                            **config))
    report = json.loads(paths["report"].read_text())
    return {"valid": paths["valid"].read_bytes(),
            "rejects": re.sub(rb'"uuid":"[^"]*"', b"", paths["rejects"].read_bytes()),
            "report": {k: report[k] for k in ("rows", "byCode", "byField", "byDomain",
                                              "topReasons", "files", "warnings")},
            "exit": summary.exit_code}


@pytest.mark.parametrize("region", [None, "US"])
def test_columnar_outputs_equal_the_row_path_with_an_account(
        tmp_path: Path, region: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "contacts.csv"
    source.write_text(_csv(7 if region else 8, 1500))
    options = ValidationOptions(check_mx=False, account=ACCOUNT, phone_region=region)
    monkeypatch.setenv("VALIDATOR_BLOCK_BYTES", "40000")  # several blocks
    reference = _outputs(tmp_path, source, "row", options=options, columnar=False)
    assert {"1001", "1003", "1004", "1005", "1008"} <= set(reference["report"]["byCode"])
    assert reference["report"]["rows"]["valid"] > 100
    assert _outputs(tmp_path, source, "col", options=options) == reference
    assert _outputs(tmp_path, source, "two", options=options, jobs=2) == reference


def test_a_run_with_an_account_takes_the_columnar_way() -> None:
    from validator.batch._columnar import precheck_for
    from validator.batch._options import BatchOptions

    options = ValidationOptions(check_mx=False, account=ACCOUNT)
    assert precheck_for("contacts.create", options, BatchOptions(), _plan(), ()) is not None


# --------------------------------------------------------------------------------------------
# Names for IDs
# --------------------------------------------------------------------------------------------
def _judge(rows: list[list[str]]) -> list[list[tuple[int, list[Any], Any]]]:
    plan = _plan()
    validator = Validator("contacts.create", plan.options(ValidationOptions(account=ACCOUNT)))
    found = []
    for cells in rows:
        result = validator.validate(plan.payload(cells), plain=True)
        body = result.error.to_dict() if result.error is not None else {"context": []}
        found.append([(e["code"], e["fieldName"], e["originalValue"])
                      for e in body["context"]])
    return found


def _cells(campaign: str, tags: str = "") -> list[str]:
    return ["a@example.com", campaign, tags, "Ann", "", *([""] * len(_fields()))]


def test_campaign_and_tag_names_become_ids() -> None:
    plan = _plan()
    payload = plan.payload(_cells("promo", "Lead|lead_2025|tA"))
    assert payload["campaign"] == {"campaignId": "V3J"}
    assert payload["tags"] == [{"tagId": "tC"}, {"tagId": "tD"}, {"tagId": "tA"}]
    assert payload["name"] == "Ann"
    # An ID first (the campaign named "V3J" does not hide the campaign V3J), then the exact
    # name, then the one name in another case.
    assert plan.payload(_cells("V3J"))["campaign"]["campaignId"] == "V3J"
    assert plan.payload(_cells("PROMO", "LEAD"))["campaign"]["campaignId"] == "V3J"
    assert plan.payload(_cells("x", "LEAD"))["tags"] == [{"tagId": "tC"}]
    assert _judge([_cells("promo", "Lead"), _cells("Promo", "lead")]) == [[], []]


def test_an_unknown_name_is_1001_as_written_and_an_ambiguous_one_1003() -> None:
    unknown, tag, ambiguous, malformed = _judge([
        _cells("no such list"), _cells("news", "tC|new_leads"), _cells("news", "vip"),
        _cells("odd")])
    assert unknown == [(1001, ["campaign", "campaignId"], "no such list")]
    assert tag == [(1001, ["tags", 1, "tagId"], "new_leads")]
    assert ambiguous == [(1003, ["tags", 0, "tagId"], "vip")]
    # A known ID that is not well-formed stays the format's 1003, as in validate().
    assert malformed == [(1003, ["campaign", "campaignId"], "bad-id")]
    plan = _plan()
    validator = Validator("contacts.create", plan.options(ValidationOptions(account=ACCOUNT)))
    error = validator.validate(plan.payload(_cells("news", "vip")), plain=True).error
    assert error is not None
    assert "ambiguous: the account has 2 tags of that name ('tA', 'tB')" in \
        error.to_dict()["context"][0]["errorDescription"]


def test_validate_keeps_to_ids() -> None:
    # The API takes IDs: validate() maps no names, and a malformed ID stays the format's.
    payload = {"email": "a@example.com", "campaign": {"campaignId": "promo"},
               "tags": [{"tagId": "no such"}]}
    error = Validator("contacts.create", account=ACCOUNT).validate(payload).error
    assert error is not None
    assert [(e["code"], e["fieldName"]) for e in error.to_dict()["context"]] == [
        (1001, ["campaign", "campaignId"]), (1003, ["tags", 0, "tagId"])]


def test_suggest_mapping_finds_campaign_and_tag_columns_by_their_names(tmp_path: Path
                                                                      ) -> None:
    import subprocess
    import sys

    source = tmp_path / "names.csv"
    source.write_text("Email,Newsletter,Labels\na@example.com,promo,Lead|vip\n"
                      "b@example.com,NEWS,lead_2025\nc@example.com,V3J,x_y\n"
                      "d@example.com,nope,\ne@example.com,promo,Lead\n")
    account = tmp_path / "account.json"
    account.write_text(json.dumps(ACCOUNT.to_dict()))
    done = subprocess.run([sys.executable, "-m", "validator.cli", "check", str(source),
                           "--suggest-mapping", "--account", str(account)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"Email": "email", "Newsletter": "campaign.campaignId",
                                       "Labels": "tags"}
    notes = done.stderr
    assert "the column 'Newsletter' holds the account's campaigns" in notes
    assert "names campaigns ('NEWS', 'promo')" in notes
    assert "no campaign of the account: 'nope' (their rows will be 1001)" in notes
    assert "no tag of the account: 'x_y'" in notes
    assert "name several tags of the account: 'vip'" in notes
    # Without the account the header alone decides: 'Newsletter' is no known header.
    plain = subprocess.run([sys.executable, "-m", "validator.cli", "check", str(source),
                            "--suggest-mapping"], capture_output=True, text=True,
                           timeout=120, check=False)
    assert json.loads(plain.stdout)["Newsletter"] is None


def test_an_e_mail_joined_from_two_columns_is_read_on_both_paths(tmp_path: Path) -> None:
    # (Once a traceback: the list-hygiene notes read the joined e-mail past the row's cells.)
    source = tmp_path / "split.csv"
    source.write_text("user,domain,campaign.campaignId\nann,example.com,V3J\n"
                      "info,example.com,V3J\nbob, gmail.com,V3J\nann,example.com,V3J\n")
    mapping = {"email": {"join": ["user", "domain"], "separator": "@"}}
    found = []
    for columnar in (True, False):
        report = tmp_path / f"report-{columnar}.json"
        summary = run(RunConfig([str(source)], mapping=mapping, columnar=columnar,
                                options=ValidationOptions(check_mx=False),
                                report_path=str(report)))
        data = json.loads(report.read_text())
        found.append((summary.valid, summary.invalid, data["byCode"], data["warnings"]))
    assert found[0] == found[1]
    assert found[0][:3] == (3, 1, {"1008": 1})
    assert found[0][3].get("role") == 1
