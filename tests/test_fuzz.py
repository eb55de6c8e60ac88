"""Property tests over generated inputs: the public API on every shipped schema, random user
schemas, the batch readers and both web adapters (SPEC §2, §4, §5, §6, §8).

The oracles and drivers are in `tests/fuzzing.py`; here hypothesis makes their inputs. The tests
run a bounded, derandomised number of them (`FUZZ_EXAMPLES`, default 60 a test, the whole file
well under a minute on a quiet machine); `benchmarks/fuzz.py` feeds the same drivers a million
inputs from a fast seeded generator.

The strategies deliberately reach past the documented limits (nesting thousands deep, integers
past 64 bits, lone surrogates, catastrophic patterns, huge CSV headers and cells, deep query
brackets): SPEC §8 says such inputs are refused cleanly, never with a traceback or an
unbounded cost.
"""

from __future__ import annotations

import codecs
import gzip
import json
import os
import string
import sys
from decimal import Decimal
from functools import cache
from typing import Any

import pytest
from fuzzing import (
    CATALOG,
    KEY,
    Broken,
    Hang,
    api_call,
    asgi_request,
    batch_call,
    check_body,
    check_result,
    fill_route,
    nest,
    nest_text,
    nonblank_lines,
    property_names,
    route_paths,
    shipped_schemas,
    time_limit,
    user_schema_call,
    wsgi_request,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import validator
from validator import Validator

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "60"))

CI = settings(
    max_examples=EXAMPLES,
    derandomize=True,  # the same inputs on every run: CI failures reproduce
    database=None,
    deadline=None,  # hangs are caught by the drivers' alarm, with the input that caused them
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.filter_too_much, HealthCheck.large_base_example],
)


# --------------------------------------------------------------------------------------------
# Strategies
# --------------------------------------------------------------------------------------------

SURROGATES = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
SPECIAL = st.sampled_from(["\x00", " ", "\t", "\n", "\u2028", "\ufeff", "\U0001f600", "é",
                           '"', "\\", "@", "[", "]", "&", "=", "%", "/", ";", ","])
CHARS = st.one_of(st.characters(), SURROGATES, SPECIAL)
WORDS = st.sampled_from([
    "", " ", "pV3r", "john@example.com", "a@b", "not an address", "true", "false", "null",
    "0", "-1", "1e400", "2024-02-30", "2017-03-02T07:30:49+0000", "+48600100200",
    "http://example.com/x", "127.0.0.1", "::1", "ASC", "DESC", "x" * 129, "\ud800", "a\udfffb",
])
TEXT = st.one_of(WORDS, st.text(CHARS, max_size=12))
BIG_INTS = st.sampled_from([2**63 - 1, 2**63, 2**64, 2**64 + 1, -(2**63) - 1, 10**30,
                            -(10**30), 10**400])
INTS = st.one_of(st.integers(-1000, 1000), st.integers(), BIG_INTS)
FLOATS = st.one_of(st.floats(), st.sampled_from([1e308, -1e308, 5e-324, float("inf"),
                                                 float("nan"), -0.0, 1.5]))
SCALARS = st.one_of(st.none(), st.booleans(), INTS, FLOATS, TEXT)
KEYS = st.one_of(WORDS, st.text(CHARS, max_size=8))
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(KEYS, inner, max_size=4), max_leaves=12)
DEPTHS = st.one_of(st.integers(0, 40), st.integers(0, 20_000))


DEEP = st.builds(nest, DEPTHS, st.sampled_from(["list", "dict"]), SCALARS)


def _resolve(node: Any, root: Any) -> Any:
    ref = node.get("$ref") if isinstance(node, dict) else None
    if isinstance(ref, str) and ref.startswith("#/"):
        target = root
        for part in ref[2:].split("/"):
            target = target.get(part) if isinstance(target, dict) else None
        return target
    return node


def _later(node: Any, root: Any, depth: int) -> st.SearchStrategy[Any]:
    # Deferred: a schema's strategy is only built for the branches hypothesis takes.
    return st.deferred(lambda: shaped(node, root, depth))


def shaped(node: Any, root: Any, depth: int = 0) -> st.SearchStrategy[Any]:
    """Values shaped like the schema (its property names, items, enums) mixed with anything:
    most of a random payload then reaches the rules instead of stopping at the first key."""
    node = _resolve(node, root)
    if not isinstance(node, dict) or depth > 5:
        return JSON
    options: list[st.SearchStrategy[Any]] = [SCALARS, DEEP]
    properties = node.get("properties")
    if isinstance(properties, dict) and properties:
        options.append(st.fixed_dictionaries({}, optional={
            name: _later(sub, root, depth + 1) for name, sub in properties.items()}))
        options.append(st.builds(lambda d, extra: {**d, **extra}, options[-1],
                                 st.dictionaries(KEYS, JSON, max_size=2)))
    items = node.get("items")
    if isinstance(items, dict):
        options.append(st.lists(st.deferred(lambda: shaped(items, root, depth + 1)),
                                max_size=4))
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in node.get(key, ()) if isinstance(node.get(key), list) else ():
            options.append(_later(sub, root, depth + 1))
    enum = node.get("enum")
    if isinstance(enum, list) and enum:
        options.append(st.sampled_from(enum))
    options.append(JSON)
    return st.one_of(options)


def query_strings(names: list[str]) -> st.SearchStrategy[str]:
    """Query strings with the schema's parameter names, random and deep brackets, and
    percent-encoded or raw odd bytes."""
    name = st.one_of(st.sampled_from(names or ["q"]), st.text(string.ascii_letters, max_size=4))
    segment = st.one_of(st.just("[]"), st.builds("[{}]".format, name),
                        st.sampled_from(["[", "]", "][", "[[", "]]", "%5B", "%5D"]))
    brackets = st.one_of(st.lists(segment, max_size=4).map("".join),
                         st.builds(lambda n, k: "[a]" * n if k else "[" * n, DEPTHS,
                                   st.booleans()))
    value = st.one_of(TEXT, st.integers().map(str), st.sampled_from(["", "%FF", "%00", "%"]))
    pair = st.builds(lambda n, b, v, eq: f"{n}{b}={v}" if eq else f"{n}{b}", name, brackets,
                     value, st.booleans())
    return st.lists(pair, max_size=6).map("&".join)


def _dumps(value: Any, ascii_only: bool) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    try:
        return json.dumps(value, ensure_ascii=ascii_only)
    except (RecursionError, ValueError, TypeError):
        return "[]"


def json_texts(values: st.SearchStrategy[Any]) -> st.SearchStrategy[str | bytes]:
    """JSON documents as text or bytes, well-formed or broken: cut, with garbage, deep,
    not UTF-8."""
    dumped = st.builds(_dumps, values, st.booleans())
    cut = st.builds(lambda t, i: t[: i % (len(t) + 1)], dumped, st.integers(0, 1000))
    spliced = st.builds(lambda t, i, g: t[: i % (len(t) + 1)] + g + t[i % (len(t) + 1):],
                        dumped, st.integers(0, 1000), st.text(CHARS, min_size=1, max_size=4))
    deep = st.builds(nest_text, DEPTHS, st.sampled_from(["list", "dict"]))
    text = st.one_of(dumped, cut, spliced, deep, st.text(CHARS, max_size=30))
    as_bytes = st.one_of(
        text.map(lambda t: t.encode("utf-8", "surrogatepass")),
        st.binary(max_size=60),
        st.builds(lambda t: codecs.BOM_UTF8 + t.encode("utf-8", "surrogatepass"), dumped),
    )
    return st.one_of(text, as_bytes)


@cache
def payloads_for(name: str) -> st.SearchStrategy[Any]:
    """Payloads for one shipped schema: shaped values, any JSON, and JSON text; for a query
    schema, query strings and parameter mappings too."""
    checker = Validator(name)
    document = checker.schema
    values = shaped(document, document)
    options: list[st.SearchStrategy[Any]] = [values, JSON, json_texts(values)]
    if checker.is_query:
        names = sorted(property_names(document, set()))
        options.append(query_strings(names))
        options.append(st.dictionaries(st.one_of(st.sampled_from(names or ["q"]), KEYS),
                                       st.one_of(TEXT, st.lists(TEXT, max_size=3)),
                                       max_size=5))
    return st.one_of(options)


@st.composite
def api_inputs(draw: st.DrawFn) -> tuple[str, Any]:
    name = draw(st.sampled_from(shipped_schemas()))
    return name, draw(payloads_for(name))


# -- user schemas ----------------------------------------------------------------------------

TYPES = ["string", "integer", "number", "boolean", "null", "array", "object"]
FORMATS = ["email", "ipv4", "ipv6", "ip", "date", "date-time", "uri", "url", "phone",
           "resource-id", "string-boolean", "uuid", "hostname", "no-such-format"]
# Patterns over a small alphabet: valid and invalid regexes, and the classic catastrophic
# ones (nested quantifiers) that backtrack exponentially on "aaaa…!".
PATTERNS = st.one_of(
    st.text("ab.^$*+?()[]{}|\\d1,", max_size=10),
    st.sampled_from(["^(a+)+$", "(a|aa)+$", "^(a|a?)+$", "(.*a){12}$", "^(\\d+)*$",
                     "^([a-z]+)*@", "(a*)*b", "^[_a-zA-Z0-9]{2,64}$"]),
)
WRONG = st.one_of(st.text(max_size=3), st.floats(), st.booleans(), st.none(),
                  st.lists(st.integers(-3, 3), max_size=2), st.integers(-5, 5),
                  st.dictionaries(st.text(max_size=2), st.integers(), max_size=1))
WORD_LISTS = st.lists(st.text(CHARS, max_size=5), max_size=3)
COUNTS = st.integers(0, 6)
NUMBERS = st.one_of(st.integers(-10, 10), st.floats(-10, 10), BIG_INTS)


def _keyword_values(sub: st.SearchStrategy[Any]) -> dict[str, st.SearchStrategy[Any]]:
    return {
        "type": st.one_of(st.sampled_from(TYPES), st.lists(st.sampled_from(TYPES), min_size=1,
                                                             max_size=3, unique=True)),
        "minLength": COUNTS, "maxLength": COUNTS, "pattern": PATTERNS,
        "enum": st.lists(SCALARS, min_size=1, max_size=4), "const": SCALARS,
        "minimum": NUMBERS, "maximum": NUMBERS, "exclusiveMinimum": NUMBERS,
        "exclusiveMaximum": NUMBERS,
        "multipleOf": st.one_of(st.integers(1, 5), st.floats(0.01, 5), BIG_INTS),
        "minItems": COUNTS, "maxItems": COUNTS, "minProperties": COUNTS,
        "maxProperties": COUNTS, "uniqueItems": st.booleans(), "format": st.sampled_from(FORMATS),
        "items": sub, "contains": sub, "minContains": COUNTS, "maxContains": COUNTS,
        "properties": st.dictionaries(st.sampled_from(["a", "b", "email", "\ud800"]), sub,
                                      max_size=3),
        "patternProperties": st.dictionaries(PATTERNS, sub, max_size=2),
        "required": st.lists(st.sampled_from(["a", "b", "email"]), max_size=3),
        "additionalProperties": st.one_of(st.booleans(), sub),
        "anyOf": st.lists(sub, min_size=1, max_size=3),
        "oneOf": st.lists(sub, min_size=1, max_size=3),
        "allOf": st.lists(sub, min_size=1, max_size=3), "not": sub,
        "$ref": st.sampled_from(["#", "#/$defs/x", "#/properties/v", "urn:nowhere"]),
        "$defs": st.fixed_dictionaries({"x": sub}),
        # The engine's own keywords (README "Schemas").
        "notBlank": st.booleans(), "reservedWords": WORD_LISTS, "forbiddenWords": WORD_LISTS,
        "forbiddenCharacters": st.one_of(st.text(CHARS, max_size=5), WORD_LISTS),
        "noEmoji": st.booleans(), "mx": st.booleans(),
        "phoneRegion": st.sampled_from(["PL", "US", "XX", "", "pl"]),
    }


@st.composite
def _schema_node(draw: st.DrawFn, depth: int = 0) -> Any:
    if depth >= 3 or draw(st.integers(0, 9)) == 0:
        return draw(st.one_of(st.booleans(), st.just({})))
    sub = _schema_node(depth + 1)
    table = _keyword_values(sub)
    keywords = draw(st.lists(st.sampled_from(sorted(table)), min_size=1, max_size=4,
                             unique=True))
    node: dict[str, Any] = {}
    for keyword in keywords:
        # Mostly values of the right type; sometimes of the wrong one (a SchemaError is due).
        node[keyword] = draw(table[keyword] if draw(st.integers(0, 4)) else WRONG)
    return node


SCHEMAS = _schema_node()
VALUES = st.one_of(
    JSON, DEEP,
    st.builds(lambda n, tail: "a" * n + tail, st.integers(0, 60), st.sampled_from("!b1@ ")),
    st.lists(st.builds(lambda n: "a" * n, st.integers(0, 40)), max_size=3),
)


# -- batch files -----------------------------------------------------------------------------

CSV_HEADERS = ["email", "name", "campaign.campaignId", "scoring", "tags", "dayOfCycle",
               "ipAddress", "customFieldValues.pq1", "note", ""]


def _cell(text: str, quote: bool) -> str:
    if quote:
        return '"' + text.replace('"', '""') + '"'
    return text


@st.composite
def csv_files(draw: st.DrawFn) -> bytes:
    """CSV-ish text: the contact columns and random ones, random delimiters, quoting and
    line ends, stray quotes, and sometimes a huge header or a huge cell."""
    delimiter = draw(st.sampled_from([",", ";", "\t", "|"]))
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    headers = draw(st.lists(st.one_of(st.sampled_from(CSV_HEADERS), st.text(CHARS, max_size=6)),
                            min_size=1, max_size=8))
    if draw(st.integers(0, 19)) == 0:
        headers += [f"c{i}" for i in range(draw(st.integers(0, 20_000)))]
    cell = st.one_of(TEXT, st.sampled_from(['"', '""', 'a"b', "a\nb", "a\r\nb", delimiter]))
    rows = draw(st.lists(st.lists(cell, max_size=len(headers) + 2), max_size=6))
    if draw(st.integers(0, 19)) == 0:
        rows.append(["x" * draw(st.integers(0, 300_000))])
    lines = [delimiter.join(_cell(h, draw(st.booleans())) for h in headers)]
    for row in rows:
        lines.append(delimiter.join(_cell(c, draw(st.integers(0, 3)) == 0)
                                    for c in row))
    return newline.join(lines).encode("utf-8", "surrogatepass")


@st.composite
def jsonl_files(draw: st.DrawFn) -> bytes:
    """JSON Lines: contacts shaped by the schema, broken lines, deep rows, big integers."""
    contact = payloads_for("contacts.create")
    line = st.one_of(
        st.builds(_dumps, contact, st.booleans()),
        st.builds(lambda depth, kind: '{"email":"a@b.co","name":' + nest_text(depth, kind)
                  + "}", DEPTHS, st.sampled_from(["list", "dict"])),
        st.text(st.characters(blacklist_characters="\n\r"), min_size=1, max_size=20),
        st.just('{"email":"a@b.co","scoring":123456789012345678901234567890}'),
    )
    lines = draw(st.lists(line, max_size=6))
    blank = draw(st.sampled_from(["", " ", "\r"]))
    if draw(st.booleans()):
        lines.insert(draw(st.integers(0, len(lines))), blank)
    return "\n".join(lines).encode("utf-8", "surrogatepass")


@st.composite
def json_array_files(draw: st.DrawFn) -> bytes:
    items = draw(st.lists(st.builds(_dumps, payloads_for("contacts.create"), st.booleans()),
                          max_size=5))
    text = "[" + ",".join(items) + "]"
    return text[: draw(st.integers(0, len(text)))].encode("utf-8", "surrogatepass") \
        if draw(st.integers(0, 4)) == 0 else text.encode("utf-8", "surrogatepass")


def _wrap(data: bytes, how: str) -> bytes:
    if how == "bom":
        return codecs.BOM_UTF8 + data
    if how == "utf16":
        return data.decode("utf-8", "replace").encode("utf-16")
    if how == "gzip":
        return gzip.compress(data, mtime=0)
    if how == "gzip-cut":
        packed = gzip.compress(data, mtime=0)
        return packed[: max(2, len(packed) // 2)]
    return data


@st.composite
def batch_inputs(draw: st.DrawFn) -> tuple[bytes, str | None, str]:
    kind = draw(st.sampled_from(["csv", "jsonl", "json", "bytes"]))
    if kind == "bytes":
        data = draw(st.binary(max_size=2000))
    else:
        data = draw({"csv": csv_files(), "jsonl": jsonl_files(), "json": json_array_files()}[kind])
    how = draw(st.sampled_from(["plain", "plain", "plain", "bom", "utf16", "gzip", "gzip-cut"]))
    fmt = draw(st.sampled_from([None, kind if kind != "bytes" else None, "csv", "jsonl"]))
    if how != "plain":
        fmt = None if fmt == "jsonl" else fmt  # the rows-lost count is for plain JSON Lines
    suffix = draw(st.sampled_from([".csv", ".jsonl", ".json", ".txt", ".gz"]))
    return _wrap(data, how), fmt, suffix


# -- requests --------------------------------------------------------------------------------


PARAM = st.one_of(st.sampled_from(["abc", "pV3r", "", "a/b", "..", "%2F"]),
                  st.text(CHARS, max_size=6))
TOKENS = st.one_of(st.just(KEY), st.text(string.ascii_letters + string.digits, max_size=12),
                   st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=12))
HEADER_VALUES: dict[str, st.SearchStrategy[str]] = {
    "content-type": st.sampled_from(["application/json", "application/json; charset=utf-8",
                                     "application/json; charset=latin-1", "APPLICATION/JSON",
                                     "text/plain", "application/json;", "", "multipart/x"]),
    "x-auth-token": st.builds("{}{}".format, st.sampled_from(["api-key ", "API-KEY ", "",
                                                              "api-key", "bearer "]), TOKENS),
    "authorization": st.builds("{}{}".format, st.sampled_from(["Bearer ", "bearer ", "Basic ",
                                                               ""]), TOKENS),
    "content-length": st.one_of(st.integers(-1, 2_000_000).map(str),
                                st.sampled_from(["", "abc", "1e3", " 5", "99999999999999999"])),
    "x-forwarded-for": st.text(string.printable, max_size=20),
}
@cache
def list_queries() -> st.SearchStrategy[str]:
    return query_strings(sorted(property_names(Validator("contacts.list.query").schema, set())))


@st.composite
def request_parts(draw: st.DrawFn) -> dict[str, Any]:
    """One request's parts: a route's method and path (or a random one under /v3), query,
    headers, body."""
    if draw(st.integers(0, 4)):
        method, pattern = draw(st.sampled_from(route_paths()))
        path = fill_route(pattern, draw(st.lists(PARAM, max_size=3)))
    else:
        method = draw(st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"]))
        path = "/v3/" + draw(st.text(CHARS, max_size=12))
    if draw(st.integers(0, 9)) == 0:
        method = draw(st.sampled_from(["OPTIONS", "TRACE", "post", "GET ", "X" * 20]))
    query = draw(list_queries())
    headers = []
    for name in draw(st.lists(st.sampled_from(sorted(HEADER_VALUES)), max_size=5)):
        headers.append((name, draw(HEADER_VALUES[name])))
    if draw(st.integers(0, 2)):
        headers += [("content-type", "application/json"), ("x-auth-token", f"api-key {KEY}")]
    body = draw(json_texts(payloads_for("contacts.create")))
    if isinstance(body, str):
        body = body.encode("utf-8", "surrogatepass")
    return {"variant": draw(st.integers(0, 1)), "method": method, "path": path,
            "query": query.encode("utf-8", "surrogatepass"), "headers": headers, "body": body,
            "split": draw(st.lists(st.integers(0, 200), max_size=3)),
            "disconnect": draw(st.integers(0, 9)) == 0}


# --------------------------------------------------------------------------------------------
# The tests
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", shipped_schemas())
@settings(CI, max_examples=max(10, EXAMPLES // 20))
@given(data=st.data())
def test_every_shipped_schema_answers_every_payload_with_the_api_shape(
        name: str, data: st.DataObject) -> None:
    api_call(name, data.draw(payloads_for(name), label="payload"))


@CI
@given(case=api_inputs())
def test_validate_never_raises_and_bodies_keep_the_contract(case: tuple[str, Any]) -> None:
    api_call(*case)


@CI
@given(name=st.sampled_from(shipped_schemas()), depth=st.integers(0, 20_000),
       kind=st.sampled_from(["list", "dict"]), as_text=st.booleans())
def test_deep_nesting_is_refused_cleanly(name: str, depth: int, kind: str,
                                         as_text: bool) -> None:
    payload: Any = nest_text(depth, kind) if as_text else nest(depth, kind)
    api_call(name, {"name": payload, "email": "john@example.com"} if not as_text else payload)


@CI
@given(schema=SCHEMAS, value=VALUES, registered=st.booleans())
def test_user_schemas_are_refused_at_registration_or_answer_well(
        schema: Any, value: Any, registered: bool) -> None:
    user_schema_call(schema, value, registered)


@settings(CI, max_examples=max(20, EXAMPLES // 2))
@given(case=batch_inputs())
def test_batch_readers_lose_no_row_and_raise_only_input_errors(
        case: tuple[bytes, str | None, str]) -> None:
    batch_call(*case)


@CI
@given(parts=request_parts())
def test_asgi_guard_answers_every_request_with_a_catalog_status(parts: dict[str, Any]) -> None:
    asgi_request(parts)


@CI
@given(parts=request_parts())
def test_wsgi_guard_answers_every_request_with_a_catalog_status(parts: dict[str, Any]) -> None:
    wsgi_request(parts)


def test_the_oracles_catch_what_they_claim_to() -> None:
    """The properties are not vacuous: a broken body, a lost row and a hang are each caught."""
    good = validator.validate({"email": "john@example.com"}, "contacts.create")
    assert good.error is not None
    check_result(good)
    body = json.loads(good.error.to_json())
    with pytest.raises(Broken, match="keys out of order"):
        check_body(dict(reversed(list(body.items()))))
    with pytest.raises(Broken, match="status differs"):
        check_body(body, 500)
    mixed = {**body, "context": [*body["context"], {**body["context"][0], "code": 1007,
                                                             "limits": {"max": 1}}]}
    with pytest.raises(Broken, match="several codes"):
        check_body(mixed)
    with pytest.raises(Broken, match="internal fault"):
        check_body({**body, "code": 1, "httpStatus": 500, "codeDescription": "Internal error",
                    "moreInfo": CATALOG.more_info(1), "context": {}})
    assert nonblank_lines(b'{}\n \r\n\r\n{"a":1}\r\n') == 2
    with pytest.raises(Hang), time_limit(0.2):
        while True:
            pass


def _long_run() -> Any:
    """benchmarks/fuzz.py, imported by path (benchmarks/ is no package)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "benchmarks" / "fuzz.py"
    spec = importlib.util.spec_from_file_location("fuzz_long_run", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look themselves up there
    spec.loader.exec_module(module)
    return module


def test_the_long_run_generates_the_same_inputs_for_a_seed_and_counts_them(
        capsys: pytest.CaptureFixture[str]) -> None:
    import random

    run = _long_run()
    for target, (generate, _) in run.TARGETS.items():
        first = [run._show(generate(random.Random(3))) for _ in range(5)]
        again = [run._show(generate(random.Random(3))) for _ in range(5)]
        assert first == again, target
    assert run.main(["--inputs", "120", "--jobs", "1", "--chunk", "20",
                     "--mix", "api=1,schema=1,batch=1,asgi=1,wsgi=1,http=1"]) == 0
    out = capsys.readouterr().out
    assert "fuzz run: 120 inputs asked" in out
    assert [line.split()[1] for line in out.splitlines()
            if line.split()[:1] in (["api"], ["http"], ["all"])] == ["20", "20", "120"]


def test_a_call_interrupted_without_using_the_cpu_is_run_again_not_called_a_hang(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    run = _long_run()
    monkeypatch.setattr(run.fz, "HANG_SECONDS", 0.3)
    calls: list[int] = []

    def starved_once(case: Any) -> None:
        # A host too busy to schedule the call: the wall clock runs, the CPU does not.
        calls.append(1)
        with run.fz.time_limit():
            if len(calls) == 1:
                time.sleep(1)

    def spinning(case: Any) -> None:
        with run.fz.time_limit():
            while True:
                pass

    tally = run.Tally()
    assert run._run_case(starved_once, None, 0.2, tally)[0] is None
    assert (tally.starved, tally.killed, len(calls)) == (1, 0, 2)
    tally = run.Tally()
    assert run._run_case(spinning, None, 0.2, tally)[0] is None
    # Stuck for good: killed, whether or not a busy host starved its first run as well.
    assert tally.killed == 1 and "killed" in tally.examples


# What the 1M-input run found in user schemas, kept as cases (each raised, or answered with a
# broken body, before its fix).
@pytest.mark.parametrize(("schema", "value", "registered"), [
    ({"multipleOf": 1.5}, float("-inf"), True),       # OverflowError (Fraction of infinity)
    ({"multipleOf": 1.5}, float("nan"), False),
    ({"multipleOf": 0.01}, 10**400, True),            # OverflowError (int too large for float)
    ({"multipleOf": 0.01}, 10**400, False),
    ({"propertyNames": {"type": ["number", "integer"]}}, {"tags": "-1"}, True),  # no expectedType
    ({"minimum": 2.5, "oneOf": [False], "unevaluatedProperties": True, "required": ["b"]},
     "{{7*7}}", True),                                # IndexError: a false branch has no path
    ({"oneOf": [False, {"type": "string"}], "unevaluatedProperties": True}, 5, True),
    # The jsonschema-backed engine's own number keywords (unevaluated* sends a schema there):
    ({"not": {"unevaluatedProperties": False, "minimum": 2.5}}, Decimal("NaN"), False),
    ({"maximum": 3, "unevaluatedProperties": True}, Decimal("sNaN"), True),
    ({"unevaluatedProperties": True, "multipleOf": 1e-300}, float("nan"), False),
    ({"multipleOf": 0.01, "unevaluatedProperties": True}, Decimal("1.5"), True),
    ({"multipleOf": 0.01, "unevaluatedProperties": True}, Decimal(10) ** 400, True),
    ({"multipleOf": 10**400}, 1.5, True),             # OverflowError (float % a huge int)
    ({"multipleOf": 10**400}, 1.5, False),
    # Both forms too long: one 1004 summary entry, which had no limits.
    ({"$ref": "", "noEmoji": False, "oneOf": [{"maxItems": 1, "minProperties": 1},
                                              {"maxItems": 1, "minItems": 4, "format": "regex"}]},
     [1, 1, "a"], False),
])
def test_user_schema_cases_found_by_the_long_run(schema: dict[str, Any], value: Any,
                                                 registered: bool) -> None:
    user_schema_call(schema, value, registered)


def test_forms_failing_on_size_alike_give_one_entry_with_the_widest_limits() -> None:
    from validator import validate

    schema = {"oneOf": [{"type": "array", "maxItems": 1}, {"type": "array", "maxItems": 2}]}
    error = validate([1, 2, 3], schema).error
    assert error is not None and error.code == 1004
    (entry,) = error.to_dict()["context"]
    assert entry["limits"] == {"max": 2}, entry
    # One form without an upper bound: no envelope to give, so no single size entry.
    loose = {"properties": {"a": {"anyOf": [{"type": "string", "maxLength": 1},
                                            {"type": "string", "minLength": 9}]}}}
    error = validate({"a": "abc"}, loose).error
    assert error is not None and error.code in (1003, 1004)
    context = error.to_dict()["context"]
    assert context and all("limits" in e for e in context if e["code"] == 1004), context


_DECIMALS = [Decimal("2"), Decimal("2.0"), Decimal("2.5"), Decimal("NaN"), Decimal("sNaN"),
             Decimal("-Infinity"), Decimal("1E+400")]
_NUMBER_RULES: list[dict[str, Any]] = [
    {"type": "integer"}, {"type": "number"}, {"type": "string"}, {"minimum": 3}, {"maximum": 2},
    {"exclusiveMinimum": 2}, {"multipleOf": 2}, {"multipleOf": 0.5}, {"enum": [2, "x"]},
    {"const": 2}, {"type": "array", "uniqueItems": True}]


@pytest.mark.parametrize("rule", _NUMBER_RULES, ids=lambda rule: json.dumps(rule))
def test_a_decimal_is_a_json_number_to_both_engines(rule: dict[str, Any]) -> None:
    """`json.loads(text, parse_float=Decimal)` hands over Decimals: a number (an integer when
    integral) for the compiled engine and the jsonschema-backed one alike, never a traceback."""
    from validator import validate

    compiled = {"properties": {"a": rule}}
    fallback = {**compiled, "unevaluatedProperties": True}
    for value in _DECIMALS:
        payload = {"a": [value, 2] if "uniqueItems" in rule else value}
        one, other = validate(payload, compiled), validate(payload, fallback)
        assert one.ok == other.ok, (value, rule)
        if one.error is not None and other.error is not None:
            assert one.error.to_dict()["context"] == other.error.to_dict()["context"]
            json.loads(one.error.to_json())  # 1E+400 stays a JSON number past the float range
    assert validate({"a": Decimal("2")}, {"properties": {"a": {"type": "integer"}}}).ok
    assert not validate({"a": Decimal("2.5")}, {"properties": {"a": {"maximum": 2}}}).ok


def test_non_finite_numbers_are_no_multiple_of_anything() -> None:
    from validator import validate

    for value in (float("inf"), float("-inf"), float("nan")):
        result = validate(value, {"multipleOf": 1.5})
        assert result.error is not None and result.error.code == 1003, value
    fallback = {"multipleOf": 0.01, "unevaluatedProperties": True}
    for value, ok in ((Decimal("1.5"), True), (Decimal("1.505"), False),
                      (Decimal("NaN"), False), (Decimal("-Infinity"), False)):
        assert validate(value, fallback).ok is ok, value
