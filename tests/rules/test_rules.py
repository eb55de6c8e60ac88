"""SPEC §3 (which rule yields which code) and §4 (how failures combine), row by row."""

from __future__ import annotations

from typing import Any

import pytest

from validator import Validator, validate

STRING = {"type": "string"}


def check(schema: dict[str, Any], value: Any) -> list[dict[str, Any]]:
    """The context entries for `{"v": value}` against a schema for `v`."""
    result = Validator({"type": "object", "properties": {"v": schema}}).validate({"v": value})
    return result.error.to_dict()["context"] if result.error else []


def codes(schema: dict[str, Any], value: Any) -> list[int]:
    return [entry["code"] for entry in check(schema, value)]


# -- 1005: empty values ---------------------------------------------------------------------

def test_missing_required_field_is_1005_at_the_path_it_should_have_had() -> None:
    result = validate({"email": "a@example.com", "campaign": {}}, "contacts.create")
    (entry,) = result.error.to_dict()["context"]
    assert entry["code"] == 1005
    assert entry["fieldName"] == ["campaign", "campaignId"]
    assert entry["originalValue"] is None


@pytest.mark.parametrize(("schema", "value"), [
    (STRING, None),
    ({"type": "integer"}, None),
    ({"type": "string", "minLength": 1}, ""),
    ({"type": "string", "format": "email"}, ""),
    ({"type": "string", "enum": ["a", "b"]}, ""),
    ({"type": "integer"}, ""),
    ({"type": "array", "minItems": 1}, []),
    ({"type": "object", "minProperties": 1}, {}),
    ({"type": "object", "required": ["x"]}, {}),
])
def test_null_and_empty_values_where_a_value_is_needed_are_1005(schema: dict[str, Any],
                                                                value: Any) -> None:
    entries = check(schema, value)
    assert [e["code"] for e in entries] == [1005]
    assert entries[0]["fieldName"] == (["v", "x"] if "required" in schema else ["v"])


def test_an_empty_value_breaking_several_rules_is_reported_once() -> None:
    assert codes({"type": "string", "minLength": 2, "pattern": "^a", "format": "email"}, "") \
        == [1005]


def test_whitespace_only_is_1005_only_where_the_schema_says_not_blank() -> None:
    assert codes({"type": "string", "notBlank": True, "format": "resource-id"}, "   ") == [1005]
    assert codes({"type": "string", "minLength": 1}, "   ") == []
    result = validate({"email": "a@example.com", "campaign": {"campaignId": "C"}, "name": " \t"},
                      "contacts.create")
    assert [e["code"] for e in result.error.to_dict()["context"]] == [1005]


def test_nullable_fields_accept_null() -> None:
    payload = {"email": "a@example.com", "campaign": {"campaignId": "C"}, "scoring": None,
               "dayOfCycle": None}
    assert validate(payload, "contacts.create").ok


# -- 1006: wrong type -----------------------------------------------------------------------

@pytest.mark.parametrize(("schema", "value", "expected"), [
    (STRING, 5, ["string"]),
    ({"type": "integer"}, 1.5, ["integer"]),
    ({"type": "integer"}, True, ["integer"]),
    ({"type": "number"}, "8", ["number"]),
    ({"type": "boolean"}, "true", ["boolean"]),
    ({"type": "array"}, {"a": 1}, ["array"]),
    ({"type": ["number", "null"]}, "x", ["number", "null"]),
])
def test_wrong_type_is_1006_with_expected_type(schema: dict[str, Any], value: Any,
                                               expected: list[str]) -> None:
    (entry,) = check(schema, value)
    assert entry["code"] == 1006
    assert entry["expectedType"] == expected
    assert entry["originalValue"] == value


def test_integral_float_is_an_integer() -> None:
    assert codes({"type": "integer"}, 3.0) == []


def test_a_body_that_is_not_an_object_is_1006() -> None:
    for body in ([], "null", "[1]", 5, "\"text\""):
        error = validate(body, "contacts.create").error
        assert error.code == 1006
        assert error.to_dict()["context"][0]["fieldName"] == []


def test_malformed_json_is_1000_with_the_parser_position() -> None:
    error = validate(b'{"email": "a@example.com",', "contacts.create").error
    body = error.to_dict()
    assert body["code"] == 1000 and body["httpStatus"] == 400
    (entry,) = body["context"]
    assert entry["fieldName"] == []
    assert "line 1 column" in entry["errorDescription"]


# -- 1007: length ---------------------------------------------------------------------------

def test_length_is_1007_with_limits_and_counts_code_points() -> None:
    (entry,) = check({"type": "string", "minLength": 1, "maxLength": 3}, "abcd")
    assert entry["code"] == 1007
    assert entry["limits"] == {"min": 1, "max": 3}
    assert entry["errorDescription"] == "Expected string length between 1 and 3, got 4"
    # Three code points (one of them an emoji outside the BMP) fit a limit of three.
    assert codes({"type": "string", "maxLength": 3}, "ż😀a") == []
    (entry,) = check({"type": "string", "maxLength": 255}, "x" * 256)
    assert entry["limits"] == {"max": 255}


# -- 1004: number of values -----------------------------------------------------------------

@pytest.mark.parametrize(("schema", "value", "limits"), [
    ({"type": "array", "minItems": 2}, ["a"], {"min": 2}),
    ({"type": "array", "maxItems": 2}, [1, 2, 3], {"max": 2}),
    ({"type": "object", "minProperties": 2, "maxProperties": 3}, {"a": 1}, {"min": 2, "max": 3}),
    ({"type": "object", "maxProperties": 1}, {"a": 1, "b": 2}, {"max": 1}),
])
def test_counts_are_1004_with_limits(schema: dict[str, Any], value: Any,
                                     limits: dict[str, int]) -> None:
    (entry,) = check(schema, value)
    assert entry["code"] == 1004
    assert entry["limits"] == limits


def test_select_custom_fields_need_two_values() -> None:
    body = {"name": "size", "type": "string", "format": "single_select", "hidden": "false",
            "values": ["M"]}
    (entry,) = validate(body, "custom-fields.create").error.to_dict()["context"]
    assert (entry["code"], entry["fieldName"], entry["limits"]) == (1004, ["values"], {"min": 2})
    assert validate({**body, "format": "text"}, "custom-fields.create").ok
    assert validate({**body, "values": ["M", "L"]}, "custom-fields.create").ok


# -- 1003: format -----------------------------------------------------------------------------

@pytest.mark.parametrize(("fmt", "bad", "good"), [
    ("resource-id", "pV3r!", "pV3r"),
    ("email", "john..doe@example.com", "john.doe@example.com"),
    ("email", "john@localhost", "john@example.com"),
    ("ipv4", "256.1.1.1", "1.2.3.4"),
    ("ipv4", "01.2.3.4", "10.2.3.4"),
    ("ipv6", "1::2::3", "2001:db8::1"),
    ("ip", "1.2.3", "::1"),
    ("date", "2021-02-29", "2020-02-29"),
    ("date-time", "2017-03-02 07:30:49", "2017-03-02T07:30:49+0000"),
    ("date-time", "2017-13-02T07:30:49Z", "2017-03-02T07:30:49.5+01:00"),
    ("phone", "600100200", "+48600100200"),
    ("phone", "+4860010", "+14155552671"),
    ("url", "example.com/page", "https://example.com/page?q=1"),
    ("url", "ftp://example.com", "http://example.com"),
    ("uri", "//no-scheme", "urn:isbn:0451450523"),
    ("string-boolean", "yes", "true"),
])
def test_formats_are_1003(fmt: str, bad: str, good: str) -> None:
    schema = {"type": "string", "format": fmt}
    (entry,) = check(schema, bad)
    assert entry["code"] == 1003
    assert entry["originalValue"] == bad
    assert codes(schema, good) == []


def test_email_syntax_message_is_email_validators() -> None:
    (entry,) = check({"type": "string", "format": "email"}, "john@@example.com")
    assert entry["errorDescription"] == (
        "The part after the @-sign contains invalid characters: '@'.")


def test_phone_region_lets_national_numbers_through() -> None:
    schema = {"type": "string", "format": "phone", "phoneRegion": "PL"}
    assert codes(schema, "600 100 200") == []
    assert Validator({"type": "string", "format": "phone"}, phone_region="PL").validate(
        '"600100200"').ok


def test_pattern_is_1003_with_the_regex() -> None:
    (entry,) = check({"type": "string", "pattern": "^[a-z]+$"}, "ABC")
    assert entry["code"] == 1003 and entry["regex"] == "^[a-z]+$"


@pytest.mark.parametrize(("schema", "value", "allowed"), [
    ({"enum": ["single", "double"]}, "triple", ["single", "double"]),
    ({"const": "single"}, "double", ["single"]),
    ({"type": "string", "enum": ["true", "false"]}, "yes", ["true", "false"]),
    ({"enum": [1, 2]}, True, [1, 2]),
])
def test_dictionary_values_are_1003_with_allowed_values(schema: dict[str, Any], value: Any,
                                                        allowed: list[Any]) -> None:
    (entry,) = check(schema, value)
    assert entry["code"] == 1003 and entry["allowedValues"] == allowed


def test_import_opt_in_is_single_only() -> None:
    body = {"name": "My list", "optinTypes": {"import": "double", "email": "double"}}
    (entry,) = validate(body, "campaigns.create").error.to_dict()["context"]
    assert entry["fieldName"] == ["optinTypes", "import"]
    assert entry["allowedValues"] == ["single"]


def test_reserved_words_are_1003() -> None:
    body = {"name": "email", "type": "string", "format": "text", "hidden": "false", "values": []}
    (entry,) = validate(body, "custom-fields.create").error.to_dict()["context"]
    assert entry["code"] == 1003 and "reserved word" in entry["errorDescription"]
    assert codes({"type": "string", "reservedWords": ["Name"]}, "NAME") == [1003]


def test_forbidden_words_characters_and_emoji_are_1003() -> None:
    assert codes({"type": "string", "forbiddenWords": ["spam"]}, "no SPAM here") == [1003]
    assert codes({"type": "string", "forbiddenWords": ["spam"]}, "spamalot") == []
    for name in ("a/b list", "list@home", "back\\slash", "[list]", "party 🎉 list"):
        entries = validate({"name": name}, "campaigns.create").error.to_dict()["context"]
        assert [e["code"] for e in entries] == [1003], name
    assert validate({"name": "Ünïcödé list — ok"}, "campaigns.create").ok


def test_numeric_range_is_1003_with_limits() -> None:
    (entry,) = check({"type": "integer", "minimum": 1, "maximum": 5}, 7)
    assert entry["code"] == 1003 and entry["limits"] == {"min": 1, "max": 5}
    (entry,) = check({"type": "number", "exclusiveMinimum": 0}, 0)
    assert entry["limits"] == {"min": 0} and "greater than 0" in entry["errorDescription"]
    assert codes({"type": "number", "multipleOf": 0.5}, 1.25) == [1003]


def test_duplicate_items_are_1003() -> None:
    (entry,) = check({"type": "array", "uniqueItems": True}, [1, {"a": [1]}, {"a": [1.0]}])
    assert entry["code"] == 1003 and "item 2 repeats item 1" in entry["errorDescription"]
    assert codes({"type": "array", "uniqueItems": True}, [1, True]) == []


def test_unknown_property_is_1003_where_the_schema_forbids_them() -> None:
    schema = {"type": "object", "properties": {"a": STRING}, "additionalProperties": False}
    result = Validator(schema).validate({"a": "x", "b": "", "c": 1})
    entries = result.error.to_dict()["context"]
    assert [(e["code"], e["fieldName"], e["originalValue"]) for e in entries] == [
        (1003, ["b"], ""), (1003, ["c"], 1)]


def test_alternatives_report_the_closest_form() -> None:
    schema = {"anyOf": [{"type": "string", "format": "ipv4"}, {"type": "string",
                                                                "format": "ipv6"}]}
    (entry,) = check(schema, "1.2.3")
    assert entry["code"] == 1003
    (entry,) = check(schema, 12)
    assert entry["code"] == 1006 and entry["expectedType"] == ["string"]
    (entry,) = check({"oneOf": [{"type": "integer"}, {"minimum": 0}]}, 5)
    assert entry["code"] == 1003 and "exactly one" in entry["errorDescription"]


# -- §4: how failures combine -----------------------------------------------------------------

def test_failures_of_one_code_give_that_code() -> None:
    body = {"email": "a@example.com", "campaign": {"campaignId": "C"}, "name": "x" * 129,
            "customFieldValues": [{"customFieldId": "abc", "value": ["v"]}]}
    assert validate(body, "contacts.create").error.code == 1007
    body["tags"] = [{}]
    body["name"] = ""
    error = validate(body, "contacts.create").error
    assert error.code == 1005 and len(error.context) == 2


def test_failures_of_several_codes_give_1000_each_entry_with_its_code() -> None:
    body = {"email": "not-an-email", "campaign": {"campaignId": 5}, "name": "x" * 200,
            "tags": [{"tagId": ""}]}
    error = validate(body, "contacts.create").error
    assert (error.code, error.http_status) == (1000, 400)
    assert error.code_description == "General error of validation process"
    assert [(e["fieldName"], e["code"]) for e in error.to_dict()["context"]] == [
        (["email"], 1003), (["campaign", "campaignId"], 1006), (["name"], 1007),
        (["tags", 0, "tagId"], 1005)]


def test_always_combine_gives_1000_even_for_one_code() -> None:
    error = validate({"email": "a@example.com"}, "contacts.create", always_combine=True).error
    assert error.code == 1000
    assert error.to_dict()["context"][0]["code"] == 1005


def test_entries_follow_the_payload_order_then_rule_order() -> None:
    # The same failures, keys sent in two orders: the context follows each payload.
    first = {"name": "", "scoring": "x", "email": "bad"}
    second = {"email": "bad", "scoring": "x", "name": ""}
    names = [[e["fieldName"][0] for e in validate(p, "contacts.create").error.to_dict()["context"]]
             for p in (first, second)]
    # The missing campaign, absent from the payload, comes after every present field.
    assert names[0] == ["name", "scoring", "email", "campaign"]
    assert names[1] == ["email", "scoring", "name", "campaign"]


def test_checks_never_stop_at_the_first_failure() -> None:
    body = {"email": "x", "campaign": {"campaignId": "!"}, "tags": [{"tagId": "!"}] * 50}
    assert len(validate(body, "contacts.create").error.context) == 52


def test_results_are_deterministic() -> None:
    body = {"email": "x", "name": 5, "tags": [{"tagId": 1}, {}], "scoring": "s"}
    contexts = {str(validate(body, "contacts.create").error.to_dict()["context"])
                for _ in range(5)}
    assert len(contexts) == 1


def test_an_empty_object_reports_each_missing_field() -> None:
    body = {"email": "a@example.com", "campaign": {"campaignId": "C"},
            "customFieldValues": [{}]}
    entries = validate(body, "contacts.create").error.to_dict()["context"]
    assert [e["fieldName"] for e in entries] == [["customFieldValues", 0, "customFieldId"],
                                                 ["customFieldValues", 0, "value"]]


# -- the keyword table (validator/rules/_dialect.py) ---------------------------------------

def _digits_node(value: Any, path: Any, out: list[Any]) -> None:
    from validator.rules import _keywords as kw
    from validator.rules._nodes import flat

    if isinstance(value, str) and any(c in "0123456789" for c in value):
        out.append(kw.bad_format(flat(path), value, "Value contains a digit", "noDigits"))


def _digits_rule(value: Any, instance: str) -> Any:
    from validator.rules import _keywords as kw

    if value is True and any(c in "0123456789" for c in instance):
        return lambda path: kw.bad_format(path, instance, "Value contains a digit", "noDigits")
    return None


@pytest.fixture
def no_digits(monkeypatch: pytest.MonkeyPatch) -> None:
    """A keyword of the engine's, added as one table entry."""
    from validator.rules._dialect import KEYWORDS, FastRefusal, Keyword, string_keyword

    monkeypatch.setitem(KEYWORDS, "noDigits", Keyword(
        compile=lambda v: _digits_node if v is True else None,
        fallback=string_keyword(_digits_rule),
        quick=lambda v: {"pattern": "^[^0-9]*$"} if v is True else {},
        fast=lambda v: FastRefusal(pattern="[0-9]") if v is True else None,
        check=lambda v: None if isinstance(v, bool) else "expected true or false"))


@pytest.mark.usefixtures("no_digits")
def test_a_keyword_added_to_the_table_is_honoured_by_every_consumer() -> None:
    from validator import SchemaError
    from validator.rules._quick import quick_check

    schema = {"type": "object", "properties": {"code": {"type": "string", "noDigits": True}}}
    # The compiler: its fast path and its full rules.
    compiled = Validator(schema)
    compiled._quick = None
    assert compiled.validate({"code": "abc"}).ok
    (failure,) = compiled.validate({"code": "ab1"}).failures
    assert (failure.code, failure.field_name, failure.keyword) == (1003, ("code",), "noDigits")
    # The fallback engine (a draft the compiler leaves to it), with the same failure.
    fallback = Validator({**schema, "$schema": "http://json-schema.org/draft-07/schema#"})
    assert fallback.validate({"code": "abc"}).ok
    assert fallback.validate({"code": "ab1"}).failures == (failure,)
    # The quick test: what it accepts, the engine accepts; a digit goes to the engine.
    quick = quick_check(schema)
    assert quick is not None
    assert quick({"code": "abc"}, True) and not quick({"code": "ab1"}, True)
    # Its check, when the schema is compiled.
    with pytest.raises(SchemaError, match="noDigits: expected true or false"):
        Validator({"noDigits": "yes"})


def test_a_keyword_the_quick_test_cannot_translate_goes_to_the_engine(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from validator.rules._dialect import KEYWORDS, Keyword, string_keyword
    from validator.rules._quick import quick_check

    monkeypatch.setitem(KEYWORDS, "noDigits", Keyword(
        compile=lambda v: _digits_node, fallback=string_keyword(_digits_rule), quick=None,
        fast=None))
    schema = {"type": "object", "properties": {"code": {"type": "string", "noDigits": True},
                                               "n": {"type": "integer"}}}
    quick = quick_check(schema)
    assert quick is not None
    assert quick({"n": 1}, True) and not quick({"code": "abc"}, True)
    # Without a fast form the compiler takes the full rules, which still decide.
    assert Validator(schema).validate({"code": "abc"}).ok
    assert not Validator(schema).validate({"code": "a1"}).ok


def test_no_consumer_of_the_table_names_an_engine_keyword_or_format_itself() -> None:
    """The compiler, the fallback and the quick test read `_dialect`; a keyword or format
    name spelled out in one of them would be a list of its own, free to drift."""
    import ast
    from pathlib import Path

    from validator.rules._dialect import FORMATS, KEYWORDS

    names = set(KEYWORDS) | set(FORMATS)
    rules = Path(__file__).resolve().parents[2] / "validator" / "rules"
    for module in ("_compile.py", "_fallback.py", "_quick.py"):
        tree = ast.parse((rules / module).read_text())
        docstrings = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Expr)}
        spelled = {node.value for node in ast.walk(tree) if isinstance(node, ast.Constant)
                   and isinstance(node.value, str) and id(node) not in docstrings}
        assert not spelled & names, (module, spelled & names)


@pytest.mark.parametrize(("schema", "message"), [
    ({"reservedWords": "email"}, "reservedWords: expected an array of strings"),
    ({"forbiddenWords": ["ok", 3]}, "forbiddenWords: expected an array of strings"),
    ({"forbiddenCharacters": 5}, "forbiddenCharacters: expected a string or an array"),
    ({"notBlank": "true"}, "notBlank: expected true or false"),
    ({"format": "phone", "phoneRegion": "Poland"}, "phoneRegion: expected a two-letter"),
])
def test_engine_keywords_with_malformed_values_are_refused(schema: dict[str, Any],
                                                           message: str) -> None:
    from validator import SchemaError

    with pytest.raises(SchemaError, match=message):
        Validator({"type": "object", "properties": {"x": schema}})
