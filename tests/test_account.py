"""Account data (the API's own list responses): loading, and the one-sentence errors for bad
files."""

from __future__ import annotations

import pickle
from pathlib import Path

import orjson
import pytest

from validator import Account, AccountError, ValidationOptions

CAMPAIGNS = [{"campaignId": "V3J", "name": "promo"}]
TAGS = [{"tagId": "vBd5", "name": "My_Tag"}]
FIELDS = [{"customFieldId": "pas", "name": "office_phone", "type": "phone", "format": "text",
           "values": []}]


def _write(path: Path, data: object) -> Path:
    path.write_bytes(orjson.dumps(data))
    return path


def test_a_file_and_a_folder_give_the_same_account(tmp_path: Path) -> None:
    one = _write(tmp_path / "account.json",
                 {"campaigns": CAMPAIGNS, "tags": TAGS, "customFields": FIELDS})
    folder = tmp_path / "lists"
    folder.mkdir()
    _write(folder / "campaigns.json", CAMPAIGNS)
    _write(folder / "tags.json", TAGS)
    _write(folder / "custom-fields.json", FIELDS)
    a, b = Account.load(one), Account.load(folder)
    assert a == b and a.fingerprint == b.fingerprint
    assert a.campaigns == {"V3J"} and a.tags == {"vBd5"}
    assert a.custom_field_named("office_phone") is not None
    assert a.campaign_named("promo") == "V3J" and a.tag_named("My_Tag") == "vBd5"


def test_absent_kinds_are_none(tmp_path: Path) -> None:
    account = Account.load(_write(tmp_path / "a.json", {"tags": TAGS}))
    assert account.campaigns is None and account.custom_fields is None
    assert account.tags == {"vBd5"}


def test_an_account_pickles_and_keys_the_options() -> None:
    account = Account(campaigns=CAMPAIGNS, custom_fields=FIELDS)
    again = pickle.loads(pickle.dumps(account))
    assert again == account and again.custom_fields == account.custom_fields
    other = Account(campaigns=[{"campaignId": "X"}])
    assert ValidationOptions(account=account).rules_key() == \
        ValidationOptions(account=again).rules_key()
    assert ValidationOptions(account=account).rules_key() != \
        ValidationOptions(account=other).rules_key()


def test_options_take_a_path(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.json", {"campaigns": CAMPAIGNS})
    assert ValidationOptions(account=str(path)).account == Account(campaigns=CAMPAIGNS)  # type: ignore[arg-type]


@pytest.mark.parametrize(("data", "words"), [
    ([], "must hold a JSON object"),
    ({"campaign": []}, "unknown key 'campaign'"),
    ({"campaigns": {"campaignId": "V3J"}}, "campaigns must be a list"),
    ({"campaigns": [{"name": "x"}]}, "campaigns item 1 has no campaignId"),
    ({"tags": [{"tagId": "a"}, "b"]}, "tags item 2 is not an object"),
    ({"customFields": [{"customFieldId": "f", "type": "colour", "format": "text"}]},
     "customFields item 1 (f) has type 'colour'"),
    ({"customFields": [{"customFieldId": "f", "type": "string", "format": "box"}]},
     "customFields item 1 (f) has format 'box'"),
    ({"customFields": [{"customFieldId": "f", "type": "string", "format": "radio",
                        "values": [1, 2]}]}, "has values [1, 2]"),
    ({"customFields": [{"customFieldId": "f", "type": "string", "format": "text"},
                       {"customFieldId": "f", "type": "phone", "format": "text"}]},
     "customFields item 2 (f) repeats a customFieldId"),
])
def test_bad_files_are_one_sentence_naming_file_and_item(tmp_path: Path, data: object,
                                                         words: str) -> None:
    path = _write(tmp_path / "bad.json", data)
    with pytest.raises(AccountError) as caught:
        Account.load(path)
    message = str(caught.value)
    assert str(path) in message and words in message and "\n" not in message


def test_bad_folder_files_name_the_file(tmp_path: Path) -> None:
    _write(tmp_path / "tags.json", [{"tagId": ""}])
    with pytest.raises(AccountError, match=r"tags\.json item 1 has no tagId"):
        Account.load(tmp_path)
    (tmp_path / "tags.json").write_text("{nope")
    with pytest.raises(AccountError, match="is not JSON"):
        Account.load(tmp_path)
    with pytest.raises(AccountError, match="holds none of"):
        Account.load(_empty(tmp_path))
    with pytest.raises(AccountError, match="cannot read"):
        Account.load(tmp_path / "nothing.json")


def _empty(tmp_path: Path) -> Path:
    folder = tmp_path / "empty"
    folder.mkdir()
    return folder


@pytest.mark.parametrize(("item", "kind", "fmt"), [
    ({"type": "phone", "format": "text"}, "phone", "text"),
    ({"type": "single_select", "valueType": "string", "values": ["a", "b"]}, "string",
     "single_select"),
    ({"type": "text", "format": "text", "valueType": "number"}, "number", "text"),
    ({"type": "phone", "format": "phone"}, "phone", "text"),
    ({"type": "date"}, "date", "text"),
    ({"type": "multi_select", "fieldType": "multi_select"}, "string", "multi_select"),
])
def test_both_readings_of_type_and_format(item: dict[str, object], kind: str, fmt: str) -> None:
    account = Account(custom_fields=[{"customFieldId": "f", "name": "f", **item}])
    field = (account.custom_fields or {})["f"]
    assert (field.type, field.format) == (kind, fmt)
