"""The account's rules: 1001 for each kind of unknown reference, each custom-field type and
format, and the quick test that never passes what they refuse."""

from __future__ import annotations

from typing import Any

import pytest

from validator import Account, Validator, validate

FIELDS: list[dict[str, Any]] = [
    {"customFieldId": "fPhone", "name": "office_phone", "type": "phone", "format": "text"},
    {"customFieldId": "fNum", "name": "amount", "type": "number", "format": "text"},
    {"customFieldId": "fDate", "name": "birthday", "type": "date", "format": "text"},
    {"customFieldId": "fTime", "name": "seen", "type": "datetime", "format": "text"},
    {"customFieldId": "fCountry", "name": "country", "type": "country", "format": "text"},
    {"customFieldId": "fCur", "name": "currency", "type": "currency", "format": "text"},
    {"customFieldId": "fGender", "name": "gender", "type": "gender", "format": "radio",
     "values": ["Male", "Female", "Prefer not to say"]},
    {"customFieldId": "fGen2", "name": "gender_text", "type": "gender", "format": "text"},
    {"customFieldId": "fIp", "name": "ip", "type": "ip", "format": "text"},
    {"customFieldId": "fUrl", "name": "site", "type": "url", "format": "text"},
    {"customFieldId": "fText", "name": "notes", "type": "string", "format": "textarea"},
    {"customFieldId": "fLine", "name": "line", "type": "string", "format": "text"},
    {"customFieldId": "fSel", "name": "age", "type": "string", "format": "single_select",
     "values": ["18-35", "36-50"]},
    {"customFieldId": "fMulti", "name": "hobbies", "type": "string", "format": "multi_select",
     "values": ["ski", "golf", "chess"]},
    {"customFieldId": "fBox", "name": "agree", "type": "string", "format": "checkbox",
     "values": []},
    {"customFieldId": "fBoxes", "name": "topics", "type": "string", "format": "checkbox",
     "values": ["news", "offers"]},
]
ACCOUNT = Account(campaigns=[{"campaignId": "V3J", "name": "promo"}],
                  tags=[{"tagId": "vBd5", "name": "My_Tag"}], custom_fields=FIELDS)
BASE = {"email": "john@example.com", "campaign": {"campaignId": "V3J"}}


def _with(field: str, *values: Any) -> dict[str, Any]:
    return {**BASE, "customFieldValues": [{"customFieldId": field, "value": list(values)}]}


def _entries(payload: Any, account: Account = ACCOUNT, **options: Any) -> list[tuple[Any, ...]]:
    result = validate(payload, "contacts.create", account=account, **options)
    return [(f.code, f.field_name) for f in result.failures]


GOOD = [
    ("fPhone", "+48600100200"), ("fNum", "12.5"), ("fNum", "-3"), ("fDate", "2024-02-29"),
    ("fTime", "2017-03-02T07:30:49+0000"), ("fCountry", "PL"), ("fCur", "PLN"),
    ("fGender", "Female"), ("fGen2", "Prefer not to say"), ("fIp", "10.0.0.1"),
    ("fIp", "2001:db8::1"), ("fUrl", "https://example.com/a"), ("fText", "any text"),
    ("fLine", "x"), ("fSel", "36-50"), ("fMulti", "golf"), ("fBox", "yes"), ("fBoxes", "news"),
]
BAD = [
    ("fPhone", "12345"), ("fPhone", "+1 000"), ("fNum", "twelve"), ("fNum", "1,5"),
    ("fDate", "2023-02-29"), ("fDate", "02/03/2024"), ("fTime", "2017-03-02"),
    ("fCountry", "Poland"), ("fCountry", "pl"), ("fCur", "ZZZ"), ("fGender", "male"),
    ("fGen2", "other"), ("fIp", "300.1.1.1"), ("fUrl", "ftp://example.com"),
    ("fUrl", "example.com"), ("fSel", "99"), ("fMulti", "tennis"), ("fBoxes", "spam"),
]


@pytest.mark.parametrize(("field", "value"), GOOD)
def test_values_that_fit_their_field_pass(field: str, value: str) -> None:
    assert _entries(_with(field, value)) == []


@pytest.mark.parametrize(("field", "value"), BAD)
def test_values_that_do_not_fit_are_1003_at_the_value(field: str, value: str) -> None:
    result = validate(_with(field, value), "contacts.create", account=ACCOUNT)
    assert [(f.code, f.field_name) for f in result.failures] == \
        [(1003, ("customFieldValues", 0, "value", 0))]
    assert result.failures[0].original_value == value


def test_select_values_say_what_is_allowed() -> None:
    failure = validate(_with("fSel", "99"), "contacts.create", account=ACCOUNT).failures[0]
    assert failure.allowed_values == ["18-35", "36-50"]
    assert failure.to_context()["allowedValues"] == ["18-35", "36-50"]


@pytest.mark.parametrize("field", ["fLine", "fText", "fGender", "fSel", "fPhone"])
def test_single_value_formats_take_exactly_one(field: str) -> None:
    value = {"fLine": "a", "fText": "a", "fGender": "Male", "fSel": "18-35",
             "fPhone": "+48600100200"}[field]
    result = validate(_with(field, value, value), "contacts.create", account=ACCOUNT)
    assert [(f.code, f.field_name, f.limits) for f in result.failures] == \
        [(1004, ("customFieldValues", 0, "value"), {"min": 1, "max": 1})]
    assert result.error is not None and result.error.code == 1004


@pytest.mark.parametrize("field", ["fMulti", "fBoxes"])
def test_multi_value_formats_take_several(field: str) -> None:
    values = {"fMulti": ("ski", "golf"), "fBoxes": ("news", "offers")}[field]
    assert _entries(_with(field, *values)) == []


@pytest.mark.parametrize(("values", "where"), [
    ((), ("customFieldValues", 0, "value")),
    (("",), ("customFieldValues", 0, "value", 0)),
    (("  ",), ("customFieldValues", 0, "value", 0)),
])
def test_empty_values_are_1005(values: tuple[str, ...], where: tuple[Any, ...]) -> None:
    assert _entries(_with("fLine", *values)) == [(1005, where)]


def test_phone_region_option_reads_national_numbers() -> None:
    assert _entries(_with("fPhone", "2025550123")) != []
    assert _entries(_with("fPhone", "2025550123"), phone_region="US") == []


@pytest.mark.parametrize(("payload", "where", "value"), [
    ({**BASE, "campaign": {"campaignId": "nope"}}, ("campaign", "campaignId"), "nope"),
    ({**BASE, "tags": [{"tagId": "vBd5"}, {"tagId": "zzz"}]}, ("tags", 1, "tagId"), "zzz"),
    ({**BASE, "customFieldValues": [{"customFieldId": "unknown", "value": ["a"]}]},
     ("customFieldValues", 0, "customFieldId"), "unknown"),
])
def test_each_unknown_reference_is_1001(payload: dict[str, Any], where: tuple[Any, ...],
                                        value: str) -> None:
    result = validate(payload, "contacts.create", account=ACCOUNT)
    assert result.error is not None and result.error.code == 1001
    (entry,) = result.error.to_dict()["context"]
    assert entry["fieldName"] == list(where) and entry["originalValue"] == value
    assert entry["code"] == 1001 and "cannot be found in the account" in \
        entry["errorDescription"]


def test_failures_of_several_codes_combine_into_1000() -> None:
    payload = {**BASE, "campaign": {"campaignId": "nope"},
               "customFieldValues": [{"customFieldId": "fNum", "value": ["x"]}]}
    result = validate(payload, "contacts.create", account=ACCOUNT)
    assert result.error is not None and result.error.code == 1000
    assert [e["code"] for e in result.error.to_dict()["context"]] == [1001, 1003]


def test_only_the_kinds_given_are_checked() -> None:
    tags_only = Account(tags=[{"tagId": "vBd5"}])
    payload = {**BASE, "campaign": {"campaignId": "any"}, "tags": [{"tagId": "zzz"}],
               "customFieldValues": [{"customFieldId": "whatever", "value": ["x", "y"]}]}
    assert _entries(payload, tags_only) == [(1001, ("tags", 0, "tagId"))]
    assert _entries(payload, Account()) == []
    assert validate(payload, "contacts.create").ok


def test_a_malformed_id_is_the_formats_not_1001() -> None:
    payload = {**BASE, "campaign": {"campaignId": "a b"}}
    assert _entries(payload) == [(1003, ("campaign", "campaignId"))]


def test_every_schema_with_references_gets_the_rules() -> None:
    upsert = {"tags": [{"tagId": "zzz"}]}
    assert [f.code for f in validate(upsert, "contacts.upsert-tags", account=ACCOUNT).failures] \
        == [1001]
    fields = {"customFieldValues": [{"customFieldId": "fNum", "value": ["x"]}]}
    assert [f.code for f in validate(fields, "contacts.upsert-custom-fields",
                                     account=ACCOUNT).failures] == [1003]


def test_the_fallback_engine_reports_the_same() -> None:
    # `$dynamicRef` makes the jsonschema-backed engine run the schema.
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema",
              "$dynamicAnchor": "node", "type": "object", "properties": {
                  "campaign": {"type": "object",
                               "properties": {"campaignId": {"type": "string"}}},
                  "customFieldValues": {"type": "array", "items": {
                      "type": "object", "properties": {
                          "customFieldId": {"type": "string"},
                          "value": {"type": "array", "items": {"type": "string"}}}}}}}
    payload = {"campaign": {"campaignId": "nope"},
               "customFieldValues": [{"customFieldId": "fNum", "value": ["x"]},
                                     {"customFieldId": "fLine", "value": ["a", "b"]}]}
    result = Validator(schema, account=ACCOUNT).validate(payload)
    assert sorted((f.code, f.field_name) for f in result.failures) == [
        (1001, ("campaign", "campaignId")),
        (1003, ("customFieldValues", 0, "value", 0)),
        (1004, ("customFieldValues", 1, "value"))]


def _payloads() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = [BASE, {**BASE, "campaign": {"campaignId": "nope"}},
                                   {**BASE, "tags": [{"tagId": "vBd5"}]},
                                   {**BASE, "tags": [{"tagId": "zzz"}]}]
    for field, value in GOOD + BAD:
        found.append(_with(field, value))
        found.append(_with(field, value, value))
        found.append(_with(field))
    found.append(_with("fSel", " "))
    found.append({**BASE, "customFieldValues": [{"customFieldId": "other", "value": ["1"]}]})
    return found


@pytest.mark.parametrize("region", [None, "US"])
def test_the_quick_test_never_passes_what_the_account_rules_refuse(region: str | None) -> None:
    checker = Validator("contacts.create", account=ACCOUNT, phone_region=region)
    quick = checker._quick
    assert quick is not None
    passed = 0
    for payload in _payloads():
        engine_ok = not checker._engine(payload)
        if quick(payload, True, True):
            passed += 1
            assert engine_ok, payload
    assert passed >= 10  # the quick test still lets most valid contacts through


def test_engines_are_cached_per_account() -> None:
    other = Account(campaigns=[{"campaignId": "nope"}])
    payload = {**BASE, "campaign": {"campaignId": "nope"}}
    assert not validate(payload, "contacts.create", account=ACCOUNT).ok
    assert validate(payload, "contacts.create", account=other).ok
    assert validate(payload, "contacts.create").ok


def test_validate_many_applies_the_account() -> None:
    checker = Validator("contacts.create", account=ACCOUNT)
    results = checker.validate_many([BASE, {**BASE, "campaign": {"campaignId": "nope"}},
                                     _with("fNum", "x")])
    assert [r.error.code if r.error else None for r in results] == [None, 1001, 1003]


def test_batch_and_import_shapes_of_references() -> None:
    payload = {"campaignId": "nope", "contacts": [
        {"email": "a@example.com", "tags": {"ids": ["vBd5", "zzz"]},
         "customFieldValues": [{"customFieldId": "fNum", "value": ["x"]}]}]}
    result = validate(payload, "contacts.create-batch", account=ACCOUNT)
    assert [(f.code, f.field_name) for f in result.failures] == [
        (1001, ("campaignId",)), (1001, ("contacts", 0, "tags", "ids", 1)),
        (1003, ("contacts", 0, "customFieldValues", 0, "value", 0))]


def test_query_parameters_are_not_references() -> None:
    assert validate("query[campaignId]=nope", "contacts.list.query", account=ACCOUNT).ok


@pytest.mark.parametrize(("keyword", "value"), [
    ("accountIds", {"kind": "tag", "ids": [1]}),
    ("accountIds", ["a"]),
    ("accountCustomFields", {"fields": {"f": {"name": "f"}}}),
])
def test_malformed_account_keywords_are_refused_at_registration(keyword: str,
                                                                value: Any) -> None:
    from validator import SchemaError, SchemaRegistry

    with pytest.raises(SchemaError, match=keyword):
        SchemaRegistry().register("bad", {"properties": {"a": {keyword: value}}})


def test_hand_written_account_keywords_work() -> None:
    schema = {"type": "object", "properties": {"list": {
        "type": "string", "accountIds": {"kind": "campaign", "ids": ["A1"]}}}}
    assert [f.code for f in validate({"list": "B2"}, schema).failures] == [1001]
    assert validate({"list": "A1"}, schema).ok
