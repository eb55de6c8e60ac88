"""Batch runs with an account (custom-field columns by name, the account's rules in every
worker) and the mapping help: joins, checked keys and targets, notes, --suggest-mapping."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from validator import Account, ValidationOptions
from validator.batch import RunConfig, run

FIELDS = [
    {"customFieldId": "fPh", "name": "office_phone", "type": "phone", "format": "text"},
    {"customFieldId": "fAge", "name": "age", "type": "string", "format": "single_select",
     "values": ["18-35", "36-50"]},
]
ACCOUNT = {"campaigns": [{"campaignId": "V3J", "name": "promo"}], "customFields": FIELDS}
CSV = ("Email,First Name,Last Name,Phone,Campaign,age\n"
       "a@example.com,John,Doe,+48600100200,V3J,18-35\n"
       "b@example.com,Ann,,12345,V3J,99\n"
       "c@example.com,,Smith,+48600100200,XYZ,36-50\n")
MAPPING = {"Email": "email", "Phone": "customFieldValues.office_phone",
           "Campaign": "campaign.campaignId", "age": "customFieldValues.age",
           "name": {"join": ["First Name", "Last Name"], "separator": " "}}


def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "validator.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=120, check=False)


def _files(tmp_path: Path, mapping: Any = MAPPING) -> tuple[Path, Path, Path]:
    source = tmp_path / "contacts.csv"
    source.write_text(CSV)
    account = tmp_path / "account.json"
    account.write_text(json.dumps(ACCOUNT))
    mapping_path = tmp_path / "map.json"
    mapping_path.write_text(json.dumps(mapping))
    return source, account, mapping_path


def _rejects(path: Path) -> dict[int, list[tuple[int, list[Any]]]]:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    return {r["line"]: [(e["code"], e["fieldName"]) for e in r["error"]["context"]]
            for r in rows}


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_run_applies_the_account_in_every_worker(tmp_path: Path, jobs: int) -> None:
    source, account, _ = _files(tmp_path)
    config = RunConfig(inputs=[str(source)], mapping=dict(MAPPING), jobs=jobs,
                       options=ValidationOptions(account=Account.load(account)),
                       rejects_path=str(tmp_path / "rejects.jsonl"),
                       valid_path=str(tmp_path / "valid.csv"))
    summary = run(config)
    assert (summary.rows_read, summary.valid, summary.invalid) == (3, 1, 2)
    assert _rejects(tmp_path / "rejects.jsonl") == {
        3: [(1003, ["customFieldValues", 0, "value", 0]),
            (1003, ["customFieldValues", 1, "value", 0])],
        4: [(1001, ["campaign", "campaignId"])],
    }
    assert summary.notices == []


def test_joined_name_and_custom_field_ids_reach_the_payload(tmp_path: Path) -> None:
    from validator import default_registry
    from validator.batch._plan import build_plan
    from validator.rules import SchemaView

    registry = default_registry()
    document, base = registry.get("contacts.create")
    view = SchemaView(document, base, registry.resources())
    plan = build_plan(CSV.splitlines()[0].split(","), view, MAPPING, "|", "|",
                      Account(custom_fields=FIELDS))
    cells = CSV.splitlines()[3].split(",")
    expected = {"email": "c@example.com", "campaign": {"campaignId": "XYZ"}, "name": "Smith",
                "customFieldValues": [{"customFieldId": "fPh", "value": ["+48600100200"]},
                                      {"customFieldId": "fAge", "value": ["36-50"]}]}
    assert plan.payload(cells) == expected == plan.payload_slow(cells)


@pytest.mark.parametrize(("mapping", "words"), [
    ({"Emial": "email"}, "the mapping names the column 'Emial', which is not in the header; "
                         "did you mean 'Email'?"),
    ({"Email": "emial"}, "which is not a field of the schema; did you mean 'email'?"),
    ({"name": {"join": ["First", "Last Name"]}}, "did you mean 'First Name'?"),
    ({"Phone": "customFieldValues.ofice_phone"}, "names no custom field of the account "),
    ({"Email": 3}, "expected a target path, null"),
])
def test_mapping_errors_exit_2_with_did_you_mean(tmp_path: Path, mapping: Any,
                                                 words: str) -> None:
    source, account, mapping_path = _files(tmp_path, mapping)
    done = cli("check", source, "--no-check-mx", "-q", "--mapping", mapping_path,
               "--account", account)
    assert done.returncode == 2, done.stderr
    assert words in done.stderr and "Traceback" not in done.stderr


def test_a_first_run_says_which_header_looks_like_a_required_field(tmp_path: Path) -> None:
    source, _, _ = _files(tmp_path)
    done = cli("check", source, "--no-check-mx", "-q")
    assert done.returncode == 1
    notes = [line for line in done.stderr.splitlines() if "note:" in line]
    assert len(notes) == 3, done.stderr  # each said once
    assert "columns that reach no field of the schema" in notes[0] and "'Email'" in notes[0]
    assert "required field email; the column 'Email' looks like it" in notes[1]
    assert "required field campaign.campaignId; the column 'Campaign'" in notes[2]


def test_suggested_mapping_runs_as_it_is(tmp_path: Path) -> None:
    source, account, mapping_path = _files(tmp_path)
    done = cli("check", source, "--suggest-mapping", "--account", account)
    assert done.returncode == 0, done.stderr
    suggested = json.loads(done.stdout)
    assert suggested == MAPPING
    without = json.loads(cli("check", source, "--suggest-mapping").stdout)
    assert without["Phone"] is None and without["Email"] == "email"
    mapping_path.write_text(done.stdout)
    checked = cli("check", source, "--no-check-mx", "-q", "--account", account, "--mapping",
                  mapping_path, "--report", tmp_path / "report.json")
    assert checked.returncode == 1 and "note:" not in checked.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["rows"] == {"read": 3, "valid": 1, "invalid": 2, "unverified": 0}


def test_a_bad_account_file_is_exit_2_naming_file_and_item(tmp_path: Path) -> None:
    source, account, _ = _files(tmp_path)
    account.write_text(json.dumps({"customFields": [{"customFieldId": "x", "type": "colour",
                                                     "format": "text"}]}))
    done = cli("check", source, "--no-check-mx", "--account", account)
    assert done.returncode == 2
    assert str(account) in done.stderr and "customFields item 1 (x) has type 'colour'" in \
        done.stderr and "Traceback" not in done.stderr


def test_validate_command_takes_an_account(tmp_path: Path) -> None:
    _, account, _ = _files(tmp_path)
    payload = tmp_path / "contact.json"
    payload.write_text(json.dumps({"email": "a@example.com", "campaign": {"campaignId": "X"}}))
    done = cli("validate", "--schema", "contacts.create", "--account", account, payload)
    assert done.returncode == 1 and json.loads(done.stdout)["code"] == 1001
    assert cli("validate", "--schema", "contacts.create", payload).returncode == 0


def test_phone_region_reads_national_numbers_in_a_run(tmp_path: Path) -> None:
    source, account, mapping_path = _files(tmp_path)
    source.write_text("Email,Phone,Campaign\na@example.com,(202) 555-0123,V3J\n")
    mapping_path.write_text(json.dumps({"Email": "email", "Campaign": "campaign.campaignId",
                                        "Phone": "customFieldValues.office_phone"}))
    common = ("check", source, "--no-check-mx", "-q", "--account", account, "--mapping",
              mapping_path)
    assert cli(*common).returncode == 1
    assert cli(*common, "--phone-region", "US").returncode == 0
    bad = cli(*common, "--phone-region", "USA")
    assert bad.returncode == 2 and "two-letter region" in bad.stderr
