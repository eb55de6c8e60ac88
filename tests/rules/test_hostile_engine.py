"""Hostile input against the engine: runaway patterns, deep nesting, values orjson cannot
write, bad engine keywords in user schemas, huge schemas and fresh format functions. Each
answer is a documented outcome (README "Limits"), never an exception or an unbounded cost."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from fuzzing import build

import validator
from validator import SchemaError, SchemaRegistry, Validator, _api, register_schema, validate
from validator._aggregate import aggregate
from validator._catalog import DEFAULT_CATALOG, Code
from validator._results import TOO_DEEP, Failure
from validator.rules._patterns import PATTERN_TIMEOUT_MS
from validator.rules._quick import MAX_DEPTH, _too_deep, too_deep

RUNAWAY = "^(a|aa)+$"  # exponential backtracking, also on the `regex` engine
ATTACK = "a" * 40 + "!"


def nest(levels: int, leaf: Any = 0) -> Any:
    value = leaf
    for _ in range(levels):
        value = [value]
    return value


def descriptions(result: validator.Result) -> list[str]:
    return [f.description for f in result.failures]


# -- 1. patterns under a time bound --------------------------------------------------------

@pytest.mark.parametrize("extra", [{}, {"unevaluatedProperties": False}],
                         ids=["compiled", "fallback"])
def test_a_runaway_pattern_is_a_1003_that_says_so_within_the_bound(extra: dict[str, Any]
                                                                     ) -> None:
    schema = {"properties": {"a": {"type": "string", "pattern": RUNAWAY}}, **extra}
    started = time.monotonic()
    result = validate({"a": ATTACK}, schema)
    assert time.monotonic() - started < 10  # `re` alone: hours
    assert not result.ok
    [entry] = result.error.to_dict()["context"]  # type: ignore[union-attr]
    assert entry["code"] == Code.WRONG_FORMAT and entry["fieldName"] == ["a"]
    assert entry["regex"] == RUNAWAY
    assert entry["errorDescription"] == (f"The value could not be matched against the pattern "
                                         f"{RUNAWAY} within {PATTERN_TIMEOUT_MS} ms")


def test_a_property_name_that_outruns_its_pattern_is_reported_not_let_through() -> None:
    schema = {"patternProperties": {RUNAWAY: {"type": "integer"}}, "additionalProperties": False}
    started = time.monotonic()
    result = validate({ATTACK: 1}, schema)
    assert time.monotonic() - started < 10
    [failure] = result.failures
    assert failure.field_name == (ATTACK,) and failure.code == Code.WRONG_FORMAT
    assert "could not be matched" in failure.description


def test_the_classic_nested_quantifier_is_answered_at_once_with_both_failures() -> None:
    # `^(a+)+$` was 90 s on `re`; the regex engine answers it at once. Both failures of the
    # value are reported (SPEC §4: all failures), the pattern one a true mismatch.
    schema = {"properties": {"a": {"type": "string", "pattern": "^(a+)+$", "maxLength": 5}}}
    started = time.monotonic()
    result = validate({"a": "a" * 30 + "!"}, schema)
    assert time.monotonic() - started < 5
    assert [f.keyword for f in result.failures] == ["maxLength", "pattern"]
    assert result.failures[1].description == "Value does not match the pattern ^(a+)+$"


def test_format_regex_of_500_parentheses_is_a_1003() -> None:
    result = validate({"a": "(" * 500}, {"properties": {"a": {"format": "regex"}}})
    [failure] = result.failures
    assert failure.code == Code.WRONG_FORMAT and "groups" in failure.description
    assert validate({"a": "^(a)+$"}, {"properties": {"a": {"format": "regex"}}}).ok
    assert not validate({"a": "(("}, {"properties": {"a": {"format": "regex"}}}).ok


# -- 2. nesting depth ------------------------------------------------------------------------

def _deep_payload(levels: int) -> dict[str, Any]:
    return {"x": nest(levels - 1)}


@pytest.mark.parametrize("form", ["dict", "plain", "text", "bytes"])
@pytest.mark.parametrize("schema", ["contacts.create", {}, {
    "$defs": {"n": {"type": ["array", "integer", "object"], "items": {"$ref": "#/$defs/n"},
                    "additionalProperties": {"$ref": "#/$defs/n"}}},
    "$ref": "#/$defs/n"}], ids=["shipped", "empty", "recursive"])
def test_the_nesting_limit_holds_for_every_kind_of_payload(form: str, schema: Any) -> None:
    check = Validator(schema)

    def run(levels: int) -> validator.Result:
        # orjson writes at most 254 levels: the text is spelled out.
        text = '{"x":' + "[" * (levels - 1) + "0" + "]" * (levels - 1) + "}"
        payload: Any = {"text": text, "bytes": text.encode()}.get(form)
        if payload is None:
            payload = _deep_payload(levels)
        return check.validate(payload, plain=form == "plain")

    within = run(MAX_DEPTH)
    assert all("deeper than" not in d for d in descriptions(within))
    for levels in (MAX_DEPTH + 1, 1000 if form in ("text", "bytes") else 100_000):
        result = run(levels)
        assert result.error is not None
        assert result.error.to_dict()["context"] == [{
            "validationType": "body", "fieldName": [], "originalValue": None,
            "errorDescription": f"The payload nests objects and arrays deeper than "
                                f"{MAX_DEPTH} levels", "code": Code.VALIDATION_ERROR}]
    if schema == {}:
        assert within.ok


class _Dict(dict[str, Any]):
    pass


class _List(list[Any]):
    pass


def _nested(levels: int, wrap: Any) -> Any:
    value: Any = 0
    for _ in range(levels):
        value = wrap(value)
    return value


_SHAPES = {
    "dict": lambda v: {"a": v}, "list": lambda v: [v], "dict subclass": lambda v: _Dict(a=v),
    "list subclass": lambda v: _List([v]), "tuple": lambda v: (v,),
    "tuples in a list": lambda v: [(v,)], "a Decimal leaf": lambda v: [v, Decimal("1.5")],
    "a set leaf": lambda v: [v, {1, 2}], "an object leaf": lambda v: [v, object()],
}


@pytest.mark.parametrize("shape", sorted(_SHAPES))
@pytest.mark.parametrize("levels", [MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1, 3 * MAX_DEPTH])
def test_the_depth_test_in_rust_says_what_the_python_walk_says(shape: str, levels: int) -> None:
    # jsonschema-rs answers first; it must never call "within the limit" what the walk (the
    # definition: dicts and lists of any class count, tuples do not) calls too deep.
    payload = _nested(levels, _SHAPES[shape])
    assert too_deep(payload) == _too_deep(payload, MAX_DEPTH)


def test_a_payload_that_holds_itself_is_too_deep() -> None:
    loop: list[Any] = []
    loop.append(loop)
    assert too_deep(loop) and too_deep({"a": loop})


def test_the_nesting_limit_holds_with_mx_checks_and_in_chunks() -> None:
    check = Validator({}, check_mx=True, dns_timeout=0.1, nameservers=["127.0.0.1"])
    results = check.validate_many([_deep_payload(MAX_DEPTH + 1), {"a": 1}])
    assert [r.ok for r in results] == [False, True]
    assert results[0].failures[0].keyword == "maxDepth"


def test_a_deep_query_is_refused_as_a_query() -> None:
    query = "query" + "[a]" * (MAX_DEPTH + 5) + "=1"
    result = validate(query, "contacts.list.query")
    [failure] = result.failures
    assert failure.keyword == "maxDepth" and failure.validation_type == "query"


@pytest.mark.parametrize("depth", [MAX_DEPTH, 2_000])
def test_a_deep_nested_query_mapping_is_refused_not_a_recursion_error(depth: int) -> None:
    # Found by benchmarks/fuzz.py: a nested mapping given as the query was converted to the
    # schema's types by a walk that ran before the depth check.
    query: Any = "1"
    for _ in range(depth):
        query = {"a": query}
    result = validate({"query": query}, "contacts.list.query")
    [failure] = result.failures
    assert failure.keyword == "maxDepth" and failure.validation_type == "query"


def test_the_old_recursion_errors_are_gone() -> None:
    deep = nest(400)
    payload = {"email": "a@b.cd", "campaign": {"campaignId": "x"}, "name": deep}
    assert validate(payload, "contacts.create").failures[0].keyword == "maxDepth"
    text = '{"name":' + "[" * 256 + "]" * 256 + "}"
    body = orjson.loads(validate(text, "contacts.create").error.to_json())  # type: ignore[union-attr]
    assert body["code"] == Code.VALIDATION_ERROR


# -- 3. error bodies always serialise ------------------------------------------------------

def _body(result: validator.Result) -> dict[str, Any]:
    assert result.error is not None
    written = result.error.to_json()
    indented = result.error.to_json(indent=True)
    assert json.loads(written) == json.loads(indented)
    parsed: dict[str, Any] = json.loads(written)
    return parsed


def test_integers_past_64_bits_are_written_as_the_same_numbers() -> None:
    [entry] = _body(validate({"email": 2**70}, "contacts.create"))["context"][:1]
    assert entry["originalValue"] == 2**70
    entry = _body(validate({"a": 1}, {"properties": {"a": {"enum": [2**70, -(2**80)]}}})
                  )["context"][0]
    assert entry["allowedValues"] == [2**70, -(2**80)]
    entry = _body(validate({"a": 2**90}, {"properties": {"a": {"maximum": 2**65}}}))["context"][0]
    assert entry["limits"] == {"max": 2**65} and entry["originalValue"] == 2**90
    const = {"properties": {"a": {"const": {"k": 2**70}}}}
    entry = _body(validate({"a": "x"}, const))["context"][0]
    assert entry["allowedValues"] == [{"k": 2**70}]


def test_lone_surrogates_become_replacement_characters() -> None:
    payload = json.loads('{"email": "\\ud800", "name": {"\\udfff": 1}}')
    body = _body(validate(payload, "contacts.create"))
    values = {tuple(e["fieldName"]): e["originalValue"] for e in body["context"]}
    assert values[("email",)] == "\ufffd"
    assert values[("name",)] == {"\ufffd": 1}


def test_a_value_too_deep_to_write_is_a_marker() -> None:
    failure = Failure(Code.WRONG_FORMAT, ("a",), nest(300), "Too deep", keyword="x")
    error = aggregate([failure], DEFAULT_CATALOG)
    body = json.loads(error.to_json())
    marker = body["context"][0]["originalValue"]
    depth = 0
    while isinstance(marker, list):
        marker, depth = marker[0], depth + 1
    assert marker == TOO_DEEP and depth < 254


def test_python_objects_orjson_does_not_know_are_written_too() -> None:
    body = _body(validate({"email": Decimal("1.5"), "name": {1, 2}}, "contacts.create"))
    values = {tuple(e["fieldName"]): e["originalValue"] for e in body["context"]}
    assert values[("email",)] == 1.5 and sorted(values[("name",)]) == [1, 2]


def _cli(*args: str, stdin: bytes) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "validator.cli", "validate", *args],
                          input=stdin, capture_output=True, timeout=60, check=False)


def test_the_cli_answers_deep_and_undecodable_payloads_with_a_body(tmp_path: Path) -> None:
    deep = _cli("--schema", "contacts.create",
                stdin=b'{"name":' + b"[" * 300 + b"]" * 300 + b"}")
    assert deep.returncode == 1, deep.stderr
    assert json.loads(deep.stdout)["context"][0]["errorDescription"].endswith(
        f"deeper than {MAX_DEPTH} levels")
    lone = _cli("--schema", "contacts.create", "--pretty", stdin=b'{"email": "\\ud800"}')
    assert lone.returncode == 1, lone.stderr
    assert json.loads(lone.stdout)["code"] == Code.VALIDATION_ERROR
    # A schema whose `const` is too deep to write back: the body still comes out.
    (tmp_path / "deep.json").write_text(
        '{"properties": {"a": {"const": ' + "[" * 260 + "]" * 260 + "}}}")
    marked = _cli("--schemas", str(tmp_path), "--schema", "deep", stdin=b'{"a": 1}')
    assert marked.returncode == 1, marked.stderr
    assert TOO_DEEP in marked.stdout.decode()
    assert b"Traceback" not in deep.stderr + lone.stderr + marked.stderr


# -- 5. bad schemas are refused at registration --------------------------------------------

BAD_KEYWORDS = [
    ({"properties": {"a": {"forbiddenWords": [1, 2]}}}, "forbiddenWords", "#/properties/a"),
    ({"properties": {"a": {"reservedWords": [1, None]}}}, "reservedWords", "#/properties/a"),
    ({"items": {"forbiddenCharacters": 5}}, "forbiddenCharacters", "#/items"),
    ({"notBlank": "yes"}, "notBlank", "#"),
    ({"anyOf": [{}, {"noEmoji": 1}]}, "noEmoji", "#/anyOf/1"),
    ({"$defs": {"d": {"mx": "on"}}}, "mx", "#/$defs/d"),
    ({"properties": {"p": {"phoneRegion": "Poland"}}}, "phoneRegion", "#/properties/p"),
    ({"properties": {"a": {"pattern": "("}}}, "pattern", "#/properties/a"),
    ({"patternProperties": {"[": {}}}, "patternProperties", "#"),
    # Schemas for the fallback engine are checked the same way.
    ({"unevaluatedProperties": False, "properties": {"a": {"forbiddenWords": [1]}}},
     "forbiddenWords", "#/properties/a"),
    ({"$dynamicAnchor": "x", "properties": {"a": {"notBlank": "yes"}}}, "notBlank",
     "#/properties/a"),
]


@pytest.mark.parametrize(("schema", "keyword", "where"), BAD_KEYWORDS)
def test_bad_engine_keywords_are_refused_when_registered(schema: dict[str, Any], keyword: str,
                                                         where: str, tmp_path: Path) -> None:
    expected = rf"{keyword}: .*\(at {re.escape(where)}\)"
    with pytest.raises(SchemaError, match=expected):
        register_schema("hostile", schema)
    with pytest.raises(SchemaError, match=expected):
        Validator(schema)
    (tmp_path / "hostile.json").write_bytes(orjson.dumps(schema))
    with pytest.raises(SchemaError, match=expected):
        SchemaRegistry(shipped=False).register_path(tmp_path)


def test_keyword_values_inside_data_are_not_read_as_schemas() -> None:
    register_schema("data-only", {"enum": [{"notBlank": "yes"}], "default": {"mx": 5}})
    assert validate({"notBlank": "yes"}, "data-only").ok


@pytest.mark.parametrize("schema", [
    {"$dynamicAnchor": "a", "$dynamicRef": "#a"},
    {"$defs": {"x": {"$dynamicAnchor": "x", "$ref": "#/$defs/y"}, "y": {"$dynamicRef": "#x"}},
     "$ref": "#/$defs/x"},
    {"unevaluatedProperties": False, "properties": {"a": {"$ref": "#/nowhere"}}},
], ids=["dynamic-loop", "dynamic-loop-via-defs", "unresolvable-ref"])
def test_fallback_schemas_that_cannot_run_are_refused_when_built(schema: dict[str, Any]) -> None:
    registry = SchemaRegistry(shipped=False)
    registry.register("broken", schema)  # a $ref may point at a schema registered later
    with pytest.raises(SchemaError, match=r"without end|cannot resolve"):
        Validator("broken", registry=registry)
    with pytest.raises(SchemaError):
        validate({"a": 1}, schema)


def test_a_schema_of_100k_properties_registers_and_compiles_in_linear_time() -> None:
    def cost(n: int) -> float:
        schema = {"type": "object", "properties": {
            f"p{i}": {"type": "string", "maxLength": 5} for i in range(n)}}
        registry = SchemaRegistry(shipped=False)
        started = time.monotonic()
        registry.register("big", schema)
        check = Validator("big", registry=registry)
        took = time.monotonic() - started
        assert check.validate({"p1": "too long"}).failures[0].keyword == "maxLength"
        return took

    small, large = cost(10_000), cost(100_000)
    # Ten times the properties, about ten times the time (quadratic before: minutes).
    assert large < 25 * max(small, 0.05)


# -- 6. bounded caches -------------------------------------------------------------------

def test_fresh_format_functions_do_not_grow_the_caches() -> None:
    registry = SchemaRegistry(shipped=False)
    registry.register("sku", {"properties": {"sku": {"type": "string", "format": "sku"}}})
    for n in range(2000):
        result = validate({"sku": "x"}, "sku", registry=registry,
                          formats={"sku": lambda value, n=n: f"not {n}"})
        assert result.failures[0].description == f"not {n}"
    assert len(_api._engines) <= _api.ENGINE_CACHE_SIZE
    assert len(_api._validators) <= _api.VALIDATOR_CACHE_SIZE
    # A validator in use stays cached: the same function twice compiles once.
    fixed = {"sku": lambda value: None}
    first = validate({"sku": "x"}, "sku", registry=registry, formats=fixed)
    assert first.ok and len(_api._validators) <= _api.VALIDATOR_CACHE_SIZE
    key_count = len(_api._validators)
    validate({"sku": "x"}, "sku", registry=registry, formats=fixed)
    assert len(_api._validators) == key_count


@pytest.mark.parametrize("registered", [False, True])
def test_a_schema_holding_a_lone_surrogate_registers_and_answers(registered: bool) -> None:
    # Found by the fuzz tests: json.loads lets "\ud800" through, and the metaschema check in
    # Rust raised UnicodeEncodeError on it.
    document = {"type": "object", "properties": {"\ud800": {"enum": ["\udfff"]}},
                "required": ["\ud800"]}
    checker = build(document, registered)
    assert checker.validate({"\ud800": "\udfff"}).ok
    wrong = checker.validate({"\ud800": "x"})
    assert wrong.error is not None and wrong.error.code == Code.WRONG_FORMAT
    assert b'"fieldName":["\xef\xbf\xbd"]' in wrong.error.to_json()


@pytest.mark.parametrize("schema", [
    {"$schema": "http://json-schema.org/draft-07/schema#", "additionalProperties": False,
     "patternProperties": {RUNAWAY: {}}},
    {"$schema": "http://json-schema.org/draft-07/schema#",
     "additionalProperties": {"type": "string"}, "patternProperties": {RUNAWAY: {}}},
    {"unevaluatedProperties": False, "patternProperties": {RUNAWAY: {}}},
    {"unevaluatedProperties": False, "allOf": [{"properties": {"b": {}}}],
     "patternProperties": {RUNAWAY: {}}},
], ids=["additional-false", "additional-schema", "unevaluated", "unevaluated-allOf"])
def test_the_fallback_matches_property_names_under_the_time_bound(schema: dict[str, Any]) -> None:
    # additionalProperties / unevaluatedProperties matched names with jsonschema's own `re`.
    started = time.monotonic()
    result = validate({ATTACK: 1, "b": 2, "aa": 3}, schema)
    assert time.monotonic() - started < 10  # `re` alone: hours
    entries = {(f.field_name, f.code, "could not be matched" in f.description)
               for f in result.failures}
    assert ((ATTACK,), Code.WRONG_FORMAT, True) in entries  # reported, not let through
    assert ((ATTACK,), Code.WRONG_FORMAT, False) not in entries  # and not twice
    assert not any(f.field_name == ("aa",) for f in result.failures)
    unknown_b = schema.get("additionalProperties") is False or (
        "unevaluatedProperties" in schema and "allOf" not in schema)
    assert ((("b",), Code.WRONG_FORMAT, False) in entries) is unknown_b


@pytest.mark.parametrize("schema", [
    {"properties": {"v": {"$ref": "#/properties/v"}}},
    {"properties": {"v": {"$ref": "#/properties/v", "minLength": 1}}},
    {"$defs": {"a": {"anyOf": [{"type": "string"}, {"$ref": "#/$defs/a"}]}},
     "properties": {"v": {"$ref": "#/$defs/a"}}},
    {"properties": {"v": {"oneOf": [{"maxProperties": 0}, {"$ref": "#/properties/v"}]}}},
    {"$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"not": {"$ref": "#/$defs/a"}}},
     "properties": {"v": {"$ref": "#/$defs/a"}}},
    {"properties": {"v": {"if": {"type": "string"}, "then": {"$ref": "#/properties/v"}}}},
    {"$ref": "#"},
], ids=["ref", "ref-beside-a-rule", "anyOf", "oneOf", "ref-not-ref", "if-then", "root"])
def test_compiled_schemas_that_loop_in_place_are_refused_when_built(schema: dict[str, Any]
                                                                    ) -> None:
    # Found by benchmarks/fuzz.py: the compiled engine followed these until RecursionError
    # at validation (README: such loops are refused when a Validator is built).
    for registered in (False, True):
        with pytest.raises(SchemaError, match="refers to itself without end"):
            build(schema, registered)


@pytest.mark.parametrize("schema", [
    {"properties": {"v": {"$ref": "#"}}},
    {"items": {"$ref": "#"}},
    {"$defs": {"node": {"properties": {"next": {"$ref": "#/$defs/node"}}}},
     "$ref": "#/$defs/node"},
    {"additionalProperties": {"anyOf": [{"type": "integer"}, {"$ref": "#"}]}},
], ids=["properties", "items", "linked-list", "additional"])
def test_recursive_schemas_that_read_deeper_still_compile(schema: dict[str, Any]) -> None:
    checker = Validator(schema)
    assert checker.validate({"v": {"v": {}}, "next": {"next": {}}}).ok in (True, False)
    assert checker.validate(nest(MAX_DEPTH + 1)).failures[0].keyword == "maxDepth"


def test_a_schema_too_deep_to_compile_is_a_schema_error() -> None:
    const: Any = 1
    for _ in range(2_000):
        const = {"a": const}
    with pytest.raises(SchemaError, match="too deep"):
        Validator({"properties": {"v": {"not": {"const": const}}}})


@pytest.mark.parametrize("engine", [{}, {"unevaluatedProperties": True}],
                         ids=["compiled", "fallback"])
def test_an_empty_forbidden_character_forbids_nothing(engine: dict[str, Any]) -> None:
    # Found by benchmarks/fuzz.py: forbiddenCharacters [""] compiled to the regex "[]",
    # which raised re.error at validation.
    for chars, refused in (([""], False), (["", "@"], True)):
        checker = Validator({"properties": {"a": {"forbiddenCharacters": chars}}, **engine})
        assert checker.validate({"a": "x@y"}).ok is not refused
        assert checker.validate({"a": "xy"}).ok
